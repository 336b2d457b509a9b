"""Link-check throughput: 10,000 distinct URLs over ~100 loopback hosts that
answer after a fixed delay. Prints checks per second, the ratio to the ideal
(concurrency / delay) and peak memory.

    python benchmarks/linkcheck_bench.py                # feeder's checker
    python benchmarks/linkcheck_bench.py --compare      # plus plain-httpx baselines, same run

Each client does one warm-up round, then `--runs` measured rounds; the
median is printed with the range.

The server runs in its own process (benchmarks/slow_server.py) on
127.0.0.2 ... 127.0.0.101. Nothing is asserted: the figures are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import socket
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feeder.config import LinkSettings
from feeder.links.checker import LinkChecker
from feeder.net.guard import StaticResolver

import slow_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def feeder_checker(urls: list[str], hosts: dict[str, tuple[str, ...]], concurrency: int, per_host: int) -> int:
    links = replace(LinkSettings(), allow_private=True, system_dns=False, hosts=hosts, retries=0,
                    concurrency=concurrency, per_host=per_host, budget=600, timeout=30)
    now = datetime.now(timezone.utc)
    async with LinkChecker(links, StaticResolver(hosts), clock=lambda: now) as checker:
        result = await checker.run(urls)
    return sum(1 for r in result.results.values() if r.verdict.value == "alive")


async def httpx_baseline(urls: list[str], concurrency: int, per_host: int, per_host_clients: bool) -> int:
    import httpx

    glob = asyncio.Semaphore(concurrency)
    host_sems: dict[str, asyncio.Semaphore] = {}
    clients: dict[str, httpx.AsyncClient] = {}
    shared = None if per_host_clients else httpx.AsyncClient(
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))

    ssl_context = httpx.create_ssl_context()  # one for all clients: building one costs ~20 ms

    async def one(url: str) -> int:
        host = url.split("/")[2]
        if host not in host_sems:
            host_sems[host] = asyncio.Semaphore(per_host)
        async with host_sems[host], glob:
            client = shared or clients.get(host)
            if client is None:
                client = clients[host] = httpx.AsyncClient(verify=ssl_context, limits=httpx.Limits(
                    max_connections=per_host, max_keepalive_connections=per_host))
            r = await client.head(url)
            return r.status_code

    codes = await asyncio.gather(*(one(u) for u in urls))
    for c in [*clients.values(), *([shared] if shared else [])]:
        await c.aclose()
    return sum(1 for c in codes if c == 200)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--urls", type=int, default=10_000)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--per-host", type=int, default=4)
    ap.add_argument("--compare", action="store_true", help="also run plain httpx (shared client, client per host)")
    ap.add_argument("--runs", type=int, default=3, help="measured runs of each client (after one warm-up)")
    a = ap.parse_args()

    port = free_port()
    ready = mp.Event()
    server = mp.Process(target=slow_server.run, args=(a.hosts, port, a.delay, ready), daemon=True)
    server.start()
    ready.wait(30)
    addresses = slow_server.loopback_hosts(a.hosts)
    hosts = {f"h{i}.bench": (addr,) for i, addr in enumerate(addresses)}
    urls = [f"http://h{i % a.hosts}.bench:{port}/article/{i}" for i in range(a.urls)]
    ideal = a.concurrency / a.delay
    print(f"{a.urls} URLs over {a.hosts} hosts, {a.delay * 1000:g} ms per answer, concurrency {a.concurrency}, "
          f"{a.per_host} per host; ideal {ideal:,.0f} checks/s")

    runs = [("feeder (httpx over aiohttp transport)", lambda: feeder_checker(urls, hosts, a.concurrency, a.per_host))]
    if a.compare:
        ip_urls = [f"http://{addresses[i % a.hosts]}:{port}/article/{i}" for i in range(a.urls)]
        runs += [
            ("httpx, one shared AsyncClient", lambda: httpx_baseline(ip_urls, a.concurrency, a.per_host, False)),
            ("httpx, one AsyncClient per host", lambda: httpx_baseline(ip_urls, a.concurrency, a.per_host, True)),
        ]
    try:
        for name, make in runs:
            asyncio.run(make())  # warm-up: imports, first connections, code paths
            rates = []
            for _ in range(a.runs):
                started = time.perf_counter()
                ok = asyncio.run(make())
                rates.append(a.urls / (time.perf_counter() - started))
            rate = statistics.median(rates)
            spread = f"{min(rates) / ideal:.0%}-{max(rates) / ideal:.0%}"
            print(f"{name:<40} {rate:8,.0f} checks/s  {rate / ideal:5.0%} of ideal (runs {spread})  "
                  f"{ok} alive  peak RSS {peak_mb():.0f} MB")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
