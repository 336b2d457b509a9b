"""A minimal HTTP/1.1 server for benchmarks: answers every request after a
fixed delay, on many loopback addresses at once (127.0.0.2, 127.0.0.3, ...).

    python benchmarks/slow_server.py --hosts 100 --port 8800 --delay 0.02

It is deliberately tiny (asyncio protocols, keep-alive, no parsing beyond the
request line) so that the client, not the server, is what gets measured.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n"
    b"Connection: keep-alive\r\n\r\n"
)


class SlowHTTP(asyncio.Protocol):
    def __init__(self, delay: float):
        self.delay = delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        loop = asyncio.get_running_loop()
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            loop.call_later(self.delay, self._respond)

    def _respond(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def loopback_hosts(n: int) -> list[str]:
    return [f"127.0.{(i + 2) // 256}.{(i + 2) % 256}" for i in range(n)]


async def serve(hosts: list[str], port: int, delay: float, ready: object = None) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: SlowHTTP(delay), host, port, backlog=1024) for host in hosts]
    if ready is not None:
        ready.set()  # type: ignore[attr-defined]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def run(hosts: int, port: int, delay: float, ready: object = None) -> None:
    asyncio.run(serve(loopback_hosts(hosts), port, delay, ready))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--port", type=int, default=8800)
    ap.add_argument("--delay", type=float, default=0.02)
    a = ap.parse_args()
    run(a.hosts, a.port, a.delay)
