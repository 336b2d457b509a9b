"""The signal inbox: handlers only note a signal; the main thread reads it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from feeder.app.signals import SignalInbox

from conftest import Site, good_fields, wait_until


def test_signals_that_came_before_the_wait_are_read_in_order():
    with SignalInbox((signal.SIGHUP, signal.SIGTERM)) as inbox:
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        seen: list[int] = []
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            seen += inbox.wait(timeout=1)
    assert seen == [signal.SIGHUP, signal.SIGTERM]


def test_nothing_to_read_returns_after_the_timeout():
    with SignalInbox((signal.SIGHUP,)) as inbox:
        started = time.monotonic()
        assert inbox.wait(timeout=0.1) == []
        assert time.monotonic() - started >= 0.09


def test_another_thread_can_post_a_signal():
    with SignalInbox((signal.SIGTERM,)) as inbox:
        threading.Timer(0.1, inbox.post, (signal.SIGTERM,)).start()
        assert inbox.wait(timeout=10) == [signal.SIGTERM]


def test_closing_puts_back_the_handlers_and_wakeup_fd_it_found():
    def before(signum, frame):
        pass

    previous = signal.signal(signal.SIGHUP, before)
    try:
        with SignalInbox((signal.SIGHUP,)):
            assert signal.getsignal(signal.SIGHUP) is not before
        assert signal.getsignal(signal.SIGHUP) is before
        fd = signal.set_wakeup_fd(-1)
        assert fd == -1  # none was set before the inbox, none after
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_burst_of_reloads_then_sigterm_stops_the_daemon_cleanly(site: Site, daemons, tmp_path: Path):
    """Each SIGHUP reloads the configuration and reschedules the jobs while
    rescans run every second; the daemon takes them all, in its main thread,
    and still stops with status 0."""
    site.article("a.txt", **good_fields(1))
    d = daemons(site.config_file({"schedule": {"rescan": "1s", "link_check": "1h"}}), tmp_path / "daemon.log")
    wait_until(lambda: (site.output / "rss.xml").exists(), what="the first rescan")
    for _ in range(40):
        d.signal(signal.SIGHUP)
        time.sleep(0.01)
    wait_until(lambda: d.text().count("configuration reloaded") >= 1, what="the reloads")
    assert d.proc.poll() is None, d.text()[-4000:]
    assert d.stop() == 0, d.text()[-4000:]
    assert "Traceback" not in d.text()
