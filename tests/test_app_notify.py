"""systemd's notify protocol, heard by the test on its own datagram socket."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from feeder.app.notify import Notifier

from conftest import Site, good_fields, wait_until


def listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def received(sock: socket.socket, into: list[str]) -> list[str]:
    try:
        while True:
            into.extend(sock.recv(65536).decode().splitlines())
    except TimeoutError:
        return into


def test_a_daemon_under_systemd_says_ready_status_watchdog_and_stopping(site: Site, tmp_path: Path, daemons):
    site.article("a.txt", **good_fields(1))
    sock = listen(tmp_path / "notify.sock")
    cfg = site.config_file({"schedule": {"rescan": "1s"}})
    d = daemons(cfg, tmp_path / "daemon.log",
                env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"})
    lines: list[str] = []
    wait_until(lambda: "READY=1" in received(sock, lines), 20, "READY=1")
    ready = lines.index("READY=1")
    assert lines[ready + 1].startswith("STATUS=rescan: 1 file read")  # with the first round's summary
    wait_until(lambda: received(sock, lines).count("WATCHDOG=1") >= 3, 20, "watchdog pings")
    wait_until(lambda: sum(line.startswith("STATUS=rescan") for line in received(sock, lines)) >= 3, 20,
               "a status line after each round")
    d.signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    assert "STOPPING=1" in received(sock, lines)
    assert lines.count("READY=1") == 1


def test_the_notifier_is_silent_without_systemd_and_speaks_to_abstract_sockets(tmp_path: Path):
    assert not Notifier({}).enabled and not Notifier({}).send("READY=1")
    name = f"feeder-test-{tmp_path.name}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog is None  # meant for another process
    notifier.status("hello\nworld")
    assert sock.recv(100) == b"STATUS=hello world"
    sock.close()
