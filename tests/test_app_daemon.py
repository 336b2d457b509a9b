"""The daemon and cron mode as real processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from feeder.app.daemon import make_trigger
from feeder.config import Every
from feeder.model import item_id
from feeder.storage.lock import BuildLock

from conftest import DaemonProcess, Site, article_text, good_fields, open_state, run_feeder, wait_until
from feeds import ids, parse_feed


@pytest.fixture
def daemon(site: Site, tmp_path: Path, daemons):
    """Starts a daemon on the test site, rescanning every second (with any extra configuration)."""
    count = [0]

    def start(**extra) -> DaemonProcess:
        cfg = site.config_file({"schedule": {"rescan": "1s", "link_check": "1h"}, **extra})
        count[0] += 1
        return daemons(cfg, tmp_path / f"daemon{count[0]}.log")

    return start


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".feeder-")]


def test_daemon_publishes_edits_and_deletions_then_stops_cleanly(site: Site, daemon):
    draft = site.article("a.txt", **good_fields(1, published=False))
    other = site.article("b.txt", **good_fields(2))
    d = daemon()
    rss = site.output / "rss.xml"
    wait_until(lambda: ids(rss) == [item_id("b")], what="the first rescan")

    draft.write_text(article_text(**good_fields(1, published=True)))
    started = time.monotonic()
    wait_until(lambda: item_id("a") in ids(rss), timeout=5, what="the published article")
    assert time.monotonic() - started < 2 * 1.0 + 1.5  # within two intervals (plus process slack)

    other.unlink()
    wait_until(lambda: ids(rss) == [item_id("a")], timeout=5, what="the deleted article to go")

    started = time.monotonic()
    assert d.stop() == 0, d.text()[-4000:]
    assert time.monotonic() - started < 5
    assert temporaries(site.output) == []
    log = d.text()
    assert "received SIGTERM" in log and "feeder daemon stopped" in log
    assert " INFO " in log and log[:4].isdigit()  # timestamps for the journal


def test_a_failing_round_is_logged_and_the_next_succeeds(site: Site, daemon, tmp_path: Path):
    site.article("a.txt", **good_fields(1))
    d = daemon()
    wait_until(lambda: (site.output / "rss.xml").exists(), what="the first rescan")
    aside = tmp_path / "feeds-aside"
    with BuildLock(site.state, timeout=10):  # no rescan may run while the folder is swapped
        site.output.rename(aside)
        site.output.write_text("a file where the output folder should be")
    wait_until(lambda: "rescan failed" in d.text(), what="the failure to be logged")
    site.article("b.txt", **good_fields(2))
    with BuildLock(site.state, timeout=10):
        site.output.unlink()
        aside.rename(site.output)
    wait_until(lambda: item_id("b") in ids(site.output / "rss.xml"), what="recovery")
    assert d.proc.poll() is None
    assert d.stop() == 0, d.text()[-4000:]


def test_a_job_that_raises_is_logged_with_traceback_and_the_daemon_carries_on(site: Site, daemon):
    site.article("a.txt", **good_fields(1))
    d = daemon()
    wait_until(lambda: (site.output / "rss.xml").exists(), what="the first rescan")
    # Damage a value the next (no-change) rescan reads: an unexpected error
    # inside the job, not one of feeder's own.
    with BuildLock(site.state, timeout=10), open_state(site.state) as state:
        state.conn.execute("UPDATE meta SET value = 'not a date' WHERE key = 'last_now'")
    wait_until(lambda: "Traceback" in d.text(), what="the traceback")
    assert "rescan failed" in d.text() and "ValueError" in d.text()
    site.article("b.txt", **good_fields(2))  # a change: the next rescan selects again and recovers
    wait_until(lambda: item_id("b") in ids(site.output / "rss.xml"), what="recovery")
    assert d.stop() == 0, d.text()[-4000:]


def test_sighup_reloads_and_keeps_the_old_configuration_when_the_new_is_bad(site: Site, daemon):
    site.article("a.txt", **good_fields(1))
    d = daemon()
    rss = site.output / "rss.xml"
    wait_until(lambda: rss.exists(), what="the first rescan")
    cfg = site.root / "feeder.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["site"]["title"] = "Renamed Site"
    cfg.write_text(yaml.safe_dump(data))
    d.signal(signal.SIGHUP)
    wait_until(lambda: parse_feed(rss).feed.title == "Renamed Site", what="the new title")

    cfg.write_text("site: [this is: not valid\n")
    d.signal(signal.SIGHUP)
    wait_until(lambda: "keeping the old one" in d.text(), what="the bad configuration to be reported")
    site.article("b.txt", **good_fields(2))
    wait_until(lambda: item_id("b") in ids(rss), what="rescans to go on")
    assert parse_feed(rss).feed.title == "Renamed Site"
    assert d.stop() == 0, d.text()[-4000:]


def test_sigterm_during_a_large_build_exits_promptly_without_temporaries(site: Site, daemon):
    for n in range(3000):
        site.article(f"bulk/{n:05d}.txt", **good_fields(n, topics=[f"topic {n % 300}"]))
    d = daemon()
    wait_until(lambda: "rescan" in d.text() or any(site.output.rglob("*.xml")) or site.state.exists(),
               timeout=20, what="the build to start")
    time.sleep(0.3)
    started = time.monotonic()
    assert d.stop(timeout=15) == 0
    assert time.monotonic() - started < 10
    assert temporaries(site.output) == []
    for path in site.output.rglob("*.xml"):
        parse_feed(path)


def test_kill_9_mid_build_leaves_only_whole_feeds_and_the_next_build_recovers(site: Site, tmp_path: Path):
    def write_corpus(suffix: str) -> None:
        for n in range(800):
            site.article(f"bulk/{n:05d}.txt", **good_fields(n, title=f"Article {n}{suffix}",
                                                               topics=[f"topic {n % 400}", "all"]))

    write_corpus("")
    cfg = site.config_file()
    for attempt, suffix in enumerate(["", " (edited)"]):
        if attempt:
            write_corpus(suffix)  # every feed must be written again
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "feeder", "build", "-q", "--config", str(cfg)])
        def fresh(since: float = started) -> list[Path]:
            return [p for p in site.output.rglob("*.xml") if p.stat().st_mtime >= since]

        wait_until(lambda fresh=fresh: len(fresh()) >= 100, timeout=60, what="the build to be writing feeds")
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
        assert 100 <= len(fresh()) < 2 * 402  # killed in the middle of publishing
        for path in site.output.rglob("*.xml"):
            parse_feed(path)  # every feed on disk is complete and valid
    proc = run_feeder("build", "-q", "--config", str(cfg), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert temporaries(site.output) == []
    # The recovered output is exactly what a cold build of the same folder gives.
    cold = Site(tmp_path / "cold")
    shutil.copytree(site.content, cold.content, dirs_exist_ok=True)
    proc = run_feeder("build", "-q", "--config", str(cold.config_file()), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert site.outputs() == cold.outputs()
    assert parse_feed(site.output / "topics/all/rss.xml").entries[0].title.endswith("(edited)")


def test_a_second_build_waits_or_exits_with_status_4(site: Site):
    site.article("a.txt", **good_fields(1))
    cfg = site.config_file()
    with BuildLock(site.state, timeout=1):
        proc = run_feeder("build", "--wait", "0.3", "--config", str(cfg))
        assert proc.returncode == 4
        assert "another feeder build holds" in proc.stderr
        assert not (site.output / "rss.xml").exists()
    procs = [subprocess.Popen([sys.executable, "-m", "feeder", "build", "-q", "--config", str(cfg)]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert ids(site.output / "rss.xml") == [item_id("a")]


def test_a_lock_left_by_a_killed_process_does_not_block(site: Site):
    site.article("a.txt", **good_fields(1))
    site.state.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from feeder.storage.lock import BuildLock; "
        f"l = BuildLock(Path({str(site.state)!r}), timeout=1); l.acquire(); print('locked', flush=True); "
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    proc = run_feeder("build", "--wait", "0", "--config", str(site.config_file()))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("spec", "kind"), [("90s", "interval"), ("5m", "interval"), ("1h", "interval"),
                                            ("*/5 * * * *", "cron"), ("0 6 * * 1-5", "cron")])
def test_schedule_specs(spec, kind):
    every = Every.parse(spec)
    assert str(every) == spec
    assert type(make_trigger(every)).__name__.lower().startswith(kind)


@pytest.mark.parametrize("spec", ["soon", "0s", "* * *", "61 * * * *"])
def test_bad_schedule_specs_are_configuration_errors(site: Site, spec):
    cfg = site.config_file()
    cfg.write_text(cfg.read_text() + f"schedule:\n  rescan: '{spec}'\n")
    proc = run_feeder("daemon", "--config", str(cfg), timeout=20)
    assert proc.returncode == 2
    assert "schedule.rescan" in proc.stderr


def test_a_stop_asked_before_the_scheduler_starts_ends_the_daemon_before_its_first_round(site: Site,
                                                                                           monkeypatch):
    from feeder.app.daemon import Daemon
    from feeder.app.signals import SignalInbox

    site.article("a.txt", **good_fields(1))
    d = Daemon(site.settings, None)
    watch = d._start_watching

    def signalled_while_watching() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        watch()

    started: list[bool] = []
    monkeypatch.setattr(d, "_start_watching", signalled_while_watching)
    monkeypatch.setattr(d.scheduler, "start", lambda *a, **kw: started.append(True))
    with SignalInbox((signal.SIGTERM,)) as inbox:
        assert d._run_scheduler(inbox) == 0
    assert started == []  # no round was scheduled


def test_a_stop_asked_while_the_scheduler_starts_is_not_lost(site: Site, monkeypatch):
    """SIGTERM a few milliseconds after start once found the scheduler not yet
    running, so nothing shut it down and the daemon never exited."""
    import threading

    from feeder.app.daemon import Daemon
    from feeder.app.signals import SignalInbox

    d = Daemon(site.settings, None)
    start = d.scheduler.start

    def signalled_while_starting(*args, **kw):
        os.kill(os.getpid(), signal.SIGTERM)  # caught by the inbox, as the daemon's own signals are
        return start(*args, **kw)

    monkeypatch.setattr(d.scheduler, "start", signalled_while_starting)
    with SignalInbox((signal.SIGTERM,)) as inbox:
        # Were the signal lost, this would block for good: a timer ends it and the test fails on the time.
        watchdog = threading.Timer(15, inbox.post, (signal.SIGTERM,))
        watchdog.start()
        started = time.monotonic()
        try:
            assert d._run_scheduler(inbox) == 0
        finally:
            watchdog.cancel()
    assert time.monotonic() - started < 10


def test_a_reload_keeps_what_only_a_restart_can_change(tmp_path: Path):
    from dataclasses import replace

    from feeder.app.daemon import keep_restart_only
    from feeder.config import HaSettings, ServeSettings, Settings, SiteSettings, StateSettings

    old = Settings(state_dir=tmp_path / "s1", state=StateSettings(url=None), serve=ServeSettings(max_age=300))
    new = replace(old, site=SiteSettings(title="New"), state_dir=tmp_path / "s2",
                  state=StateSettings(url="postgresql://db/x"), ha=HaSettings(output="own"),
                  serve=ServeSettings(max_age=600, admin_listen=("127.0.0.1", 9100), metrics=False))
    applied, kept = keep_restart_only(old, new, serving=True)
    assert kept == ["state_dir", "state.url", "ha", "serve.admin_listen", "serve.metrics"]
    assert applied.site.title == "New" and applied.serve.max_age == 600  # the rest applies
    assert (applied.state_dir, applied.state, applied.ha) == (old.state_dir, old.state, old.ha)
    assert (applied.serve.admin_listen, applied.serve.metrics) == (None, True)
    assert keep_restart_only(old, replace(old, site=SiteSettings(title="x")), serving=False)[1] == []


def test_a_long_ingest_round_never_holds_up_publishing(site: Site, tmp_path: Path, daemons, http_server):
    from httpserver import Reply

    rss = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>Slow</title><link>http://x.test/</link>"
           b"<description>d</description></channel></rss>")
    http_server.route("/slow.xml", Reply(200, {"Content-Type": "application/rss+xml"}, rss, delay=8.0))
    site.article("a.txt", **good_fields(1))
    cfg = site.config_file({"schedule": {"rescan": "1h", "ingest": "1s", "watch": True},
                            "sources": [{"url": http_server.url("/slow.xml"), "name": "Slow"}],
                            "links": {"enabled": False, "allow_private": True},
                            "ingest": {"timeout": "30s", "min_interval": "1s"}})
    d = daemons(cfg, tmp_path / "daemon.log", "-v")
    wait_until(lambda: http_server.hits("/slow.xml"), 20, "an ingest round to be under way")
    site.article("b.txt", **good_fields(2))
    wait_until(lambda: item_id("b") in ids(site.output / "rss.xml"), 20, "publishing during the ingest round")
    # Published while the source had not yet answered: the round that fetches it has not ended.
    assert "ingest: 1 source" not in d.text(), d.text()[-3000:]
    assert d.stop(timeout=30) == 0, d.text()[-4000:]
