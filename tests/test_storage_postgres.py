"""Several feeder instances sharing one PostgreSQL state: one publisher at a
time, failover after a crash, faults of the database, clear errors.

Each test gets a fresh schema of the session's real PostgreSQL server
(FEEDER_STATE_URL, see conftest); daemons are real processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from feeder.model import item_id

from conftest import (
    DaemonProcess,
    Site,
    good_fields,
    open_state,
    public_files,
    run_feeder,
    wait_until,
    write_corpus,
)
from feeds import ids

pytestmark = pytest.mark.postgresql_only

FAILOVER = 3.0


def instance(site: Site, name: str, *, output: Path | None = None, **extra: Any) -> Path:
    """A configuration of its own (own state_dir) on the shared content folder and database."""
    data: dict[str, Any] = {
        "site": {"title": "Test Site", "base_url": site.settings.site.base_url},
        "content_dir": str(site.content),
        "output_dir": str(output or site.output),
        "state_dir": str(site.root / f"state-{name}"),
        "links": {"enabled": False},
        "schedule": {"rescan": "1s", "link_check": "1h"},
        "ha": {"failover": f"{FAILOVER:g}s"},
    }
    data.update(extra)
    path = site.root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def publisher_of(*ds: DaemonProcess) -> DaemonProcess | None:
    leading = [d for d in ds if "this instance publishes now" in d.text()]
    return leading[0] if len(leading) == 1 else None


def settle(d: DaemonProcess) -> None:
    """Wait for a round that found nothing to do: every file of the last change is on disk."""
    seen = d.text().count("nothing changed")
    wait_until(lambda: d.text().count("nothing changed") > seen, timeout=30, what="a settled round")


def cold_build(site: Site, tmp: Path, new_state) -> dict[str, bytes]:
    new_state()
    cold = Site(tmp)
    cold.content = site.content
    cfg = cold.config_file()
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    return cold.outputs()


def test_one_daemon_publishes_the_other_takes_over_after_kill_9(site: Site, tmp_path: Path, daemons, new_state):
    site.article("a.txt", **good_fields(1))
    one = daemons(instance(site, "one"), tmp_path / "one.log")
    wait_until(lambda: "this instance publishes now" in one.text(), timeout=20, what="the first publisher")
    two = daemons(instance(site, "two"), tmp_path / "two.log")
    wait_until(lambda: "standing by" in two.text(), timeout=20, what="the standby")
    rss = site.output / "rss.xml"
    wait_until(lambda: item_id("a") in ids(rss), timeout=20, what="the first feed")

    site.article("b.txt", **good_fields(2))
    wait_until(lambda: item_id("b") in ids(rss), timeout=20, what="an edit published by the publisher")
    assert "this instance publishes now" not in two.text()
    assert "published" not in two.text().replace("publishes", "")  # the standby wrote nothing

    one.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: "this instance publishes now" in two.text(), timeout=FAILOVER + 20, what="the takeover")
    took = time.monotonic() - killed
    print(f"failover after kill -9: {took:.2f} s (ha.failover {FAILOVER:g} s)")
    assert took < FAILOVER + 10  # generous: the figure itself is the benchmark's

    site.article("c.txt", **good_fields(3))
    wait_until(lambda: item_id("c") in ids(rss), timeout=20, what="an edit published by the new publisher")
    settle(two)
    assert two.stop() == 0, two.text()[-4000:]
    assert site.outputs() == cold_build(site, tmp_path / "cold", new_state)


def test_a_publisher_killed_mid_publish_leaves_the_next_one_a_cold_builds_output(site: Site, tmp_path: Path,
                                                                                    daemons, new_state):
    write_corpus(site.content, 1500)
    one = daemons(instance(site, "one"), tmp_path / "one.log")
    two = daemons(instance(site, "two"), tmp_path / "two.log")
    first = wait_until(lambda: publisher_of(one, two), timeout=30, what="a publisher")
    other = two if first is one else one
    # Killed while it writes: some feeds are on disk, the rest not yet.
    wait_until(lambda: any(site.output.rglob("*.xml")), timeout=60, what="the first feed file")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    wait_until(lambda: "this instance publishes now" in other.text(), timeout=FAILOVER + 20, what="the takeover")
    settle(other)
    assert other.stop() == 0, other.text()[-4000:]
    assert site.outputs() == cold_build(site, tmp_path / "cold", new_state)


def test_a_publisher_that_loses_its_connection_stands_by_and_another_takes_over(site: Site, tmp_path: Path,
                                                                                  daemons):
    import psycopg

    site.article("a.txt", **good_fields(1))
    one = daemons(instance(site, "one"), tmp_path / "one.log")
    wait_until(lambda: "this instance publishes now" in one.text(), timeout=20, what="the publisher")
    two = daemons(instance(site, "two"), tmp_path / "two.log")
    wait_until(lambda: "standing by" in two.text(), timeout=20, what="the standby")
    # The publisher's lock connection dies (a network cut, an administrator): its session and lock end.
    with psycopg.connect(os.environ["FEEDER_STATE_URL"], autocommit=True) as admin:
        pid = one.proc.pid
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                              "'feeder publisher lock' AND client_port IS NOT NULL AND pid IN (SELECT pid FROM "
                              "pg_locks WHERE locktype = 'advisory')").fetchall()
    assert ended == [(True,)], pid
    wait_until(lambda: "lost the connection that holds the publisher lock" in one.text(), timeout=FAILOVER + 10,
               what="the old publisher standing by")
    wait_until(lambda: "this instance publishes now" in two.text(), timeout=FAILOVER + 10, what="the takeover")
    site.article("b.txt", **good_fields(2))
    wait_until(lambda: item_id("b") in ids(site.output / "rss.xml"), timeout=20, what="the new publisher's round")
    assert one.proc.poll() is None and two.proc.poll() is None


def test_builds_on_two_machines_never_overlap(site: Site, tmp_path: Path):
    """The PostgreSQL build lock spans state_dirs (machines): a second build waits, then gives up."""
    import psycopg

    site.article("a.txt", **good_fields(1))
    cfg = instance(site, "one")
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    with open_state(site.root / "state-one") as state:
        from feeder.storage.advisory import advisory_key

        key = advisory_key(state.conn, "build")  # type: ignore[arg-type]
    with psycopg.connect(os.environ["FEEDER_STATE_URL"], autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", key)
        proc = run_feeder("build", "--wait", "1", "--config", str(instance(site, "two")))
    assert proc.returncode == 4, proc.stderr
    assert "lock build" in proc.stderr and "gave up after waiting 1 s" in proc.stderr
    assert "pg-secret" not in proc.stderr
    # Released (the holder's session ended): the other machine builds.
    assert run_feeder("build", "-q", "--wait", "5", "--config", str(instance(site, "two"))).returncode == 0


@pytest.mark.parametrize(("change", "says"), [
    (lambda url: url.replace("pg-secret-7f3a", "wrong-password"), "password authentication failed"),
    (lambda url: url.replace("/feeder?", "/no_such_db?"), 'database "no_such_db" does not exist'),
    (lambda url: re.sub(r"@127\.0\.0\.1:\d+/", "@127.0.0.1:1/", url), "is PostgreSQL running"),
])
def test_a_bad_state_url_is_one_clear_line_without_the_password(site: Site, change, says):
    site.article("a.txt", **good_fields(1))
    cfg = site.config_file()
    bad = change(os.environ["FEEDER_STATE_URL"])
    proc = run_feeder("build", "--config", str(cfg), env={**os.environ, "FEEDER_STATE_URL": bad})
    assert proc.returncode == 3, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert "pg-secret" not in proc.stderr and "wrong-password" not in proc.stderr
    assert "postgresql://postgres:***@127.0.0.1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_restarted_database_fails_a_round_cleanly_and_the_daemon_carries_on(site: Site, tmp_path: Path,
                                                                               daemons, postgres_server,
                                                                               new_state):
    from conftest import free_port, get_url

    site.article("a.txt", **good_fields(1))
    port = free_port()
    d = daemons(instance(site, "one"), tmp_path / "one.log", "--serve", f"127.0.0.1:{port}")
    rss = site.output / "rss.xml"
    wait_until(lambda: "nothing changed" in d.text(), timeout=20, what="the first rounds")
    assert get_url(f"http://127.0.0.1:{port}/healthz")[0] == 200
    before = site.outputs()
    postgres_server.stop()
    try:
        site.article("b.txt", **good_fields(2))
        wait_until(lambda: "cannot reach the state database" in d.text() or "rescan failed" in d.text(),
                   timeout=20, what="a failed round")
        status, _, body = get_url(f"http://127.0.0.1:{port}/healthz")
        assert status == 503 and b"cannot be used" in body and b"pg-secret" not in body
        assert site.outputs() == before  # nothing half-written while the database is down
    finally:
        postgres_server.restart()
    wait_until(lambda: item_id("b") in ids(rss), timeout=30, what="the edit, once the database is back")
    settle(d)
    assert d.proc.poll() is None
    assert "pg-secret" not in d.text()
    assert d.stop() == 0, d.text()[-4000:]
    assert site.outputs() == cold_build(site, tmp_path / "cold", new_state)


def test_a_daemon_started_while_the_database_is_down_waits_for_it(site: Site, tmp_path: Path, daemons,
                                                                  postgres_server):
    site.article("a.txt", **good_fields(1))
    postgres_server.stop()
    try:
        d = daemons(instance(site, "one"), tmp_path / "one.log")
        wait_until(lambda: "cannot reach the state database" in d.text(), timeout=20, what="the clear error")
        assert "127.0.0.1" in d.text() and "pg-secret" not in d.text()
        assert d.proc.poll() is None  # retried, not given up
    finally:
        postgres_server.restart()
    wait_until(lambda: item_id("a") in ids(site.output / "rss.xml"), timeout=30, what="the first feed")
    assert d.stop() == 0, d.text()[-4000:]


def test_state_copy_moves_everything_subscribers_would_notice(site: Site, tmp_path: Path, monkeypatch, http_server):
    """SQLite → PostgreSQL → SQLite: the next build changes no output byte."""
    from httpserver import Reply

    feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Src</title><link>https://src.example/</link>'
            '<description>d</description><item><title>From a source</title><link>https://src.example/1</link>'
            '<guid>urn:src:1</guid><pubDate>Mon, 02 Jun 2025 08:00:00 GMT</pubDate></item></channel></rss>')
    http_server.route("/feed.xml", Reply(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, feed.encode()))
    url = os.environ["FEEDER_STATE_URL"]
    monkeypatch.delenv("FEEDER_STATE_URL")
    site.article("a.txt", **good_fields(1))
    podcast = {"image": "https://example.net/show.jpg", "category": "Technology"}
    cfg = site.config_file({
        "topics": {"AI": {"podcast": podcast}}, "feeds": {"digest": "daily"},
        "sources": [{"url": http_server.url("/feed.xml"), "name": "Src", "publish": True}],
        "ingest": {"min_interval": "1s"},
        "links": {"enabled": False, "allow_private": True},
    })
    assert run_feeder("ingest", "-q", "--config", str(cfg)).returncode == 0
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    before = site.outputs()
    sqlite_file = site.state / "feeder.sqlite3"
    copied = run_feeder("state", "copy", "--to", url, "--config", str(cfg))
    assert copied.returncode == 0, copied.stderr
    assert "pg-secret" not in copied.stdout + copied.stderr

    env = {**os.environ, "FEEDER_STATE_URL": url}
    assert run_feeder("build", "-q", "--config", str(cfg), env=env).returncode == 0
    assert site.outputs() == before
    again = run_feeder("state", "copy", "--to", url, "--config", str(cfg))
    assert again.returncode == 3 and "not empty" in again.stderr  # never merged into a used state

    # The next fetch sends the validator the first state learned.
    requests_before = len(http_server.requests)
    time.sleep(1.1)
    assert run_feeder("ingest", "-q", "--force", "--config", str(cfg), env=env).returncode == 0
    sent = http_server.requests[requests_before:]
    assert sent and sent[-1][2].get("if-none-match") == '"v1"'

    # And back: PostgreSQL → a new SQLite state.
    sqlite_file.rename(sqlite_file.with_suffix(".old"))
    back = run_feeder("state", "copy", "--to", str(site.state), "--config", str(cfg), env=env)
    assert back.returncode == 0, back.stderr
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    assert site.outputs() == before


def test_status_and_health_read_the_shared_state(site: Site, tmp_path: Path):
    site.article("a.txt", **good_fields(1))
    cfg = instance(site, "one")
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    proc = run_feeder("status", "--json", "--config", str(instance(site, "two")))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"] == 1  # another machine's state_dir, the same database


def test_the_publisher_lock_is_released_by_a_clean_stop(site: Site, tmp_path: Path, daemons):
    from conftest import free_port, get_url

    def publishing(port: int) -> bool:
        metrics = get_url(f"http://127.0.0.1:{port}/metrics")[2].decode()
        return re.search(r"^feeder_publisher 1\.0$", metrics, re.M) is not None

    site.article("a.txt", **good_fields(1))
    ports = free_port(), free_port()
    one = daemons(instance(site, "one"), tmp_path / "one.log", "--serve", f"127.0.0.1:{ports[0]}")
    wait_until(lambda: "this instance publishes now" in one.text(), timeout=20, what="the publisher")
    two = daemons(instance(site, "two", output=site.root / "out-two"), tmp_path / "two.log",
                  "--serve", f"127.0.0.1:{ports[1]}")
    wait_until(lambda: "standing by" in two.text(), timeout=20, what="the standby")
    wait_until(lambda: publishing(ports[0]), timeout=10, what="the publisher's gauge")
    assert not publishing(ports[1])
    stopped = time.monotonic()
    assert one.stop() == 0, one.text()[-4000:]
    wait_until(lambda: "this instance publishes now" in two.text(), timeout=FAILOVER + 10, what="the takeover")
    print(f"takeover after a clean stop: {time.monotonic() - stopped:.2f} s")
    wait_until(lambda: publishing(ports[1]), timeout=10, what="the new publisher's gauge")
    assert two.stop() == 0, two.text()[-4000:]


def test_instances_starting_at_once_on_an_empty_database_all_open_it(site: Site, new_state):
    """Several machines started together on a new database each create the
    schema table if it is missing; PostgreSQL's CREATE TABLE IF NOT EXISTS
    lets two pass the check at once and fails the second on its catalog."""
    import threading

    from feeder.storage.state import MIGRATIONS, State

    for _ in range(10):  # a race: each round is a new database
        new_state()
        url = os.environ["FEEDER_STATE_URL"]
        start = threading.Barrier(6)
        failures: list[BaseException] = []

        def open_it(n: int, url: str = url, start: threading.Barrier = start,
                    failures: list[BaseException] = failures) -> None:
            start.wait()
            try:
                with State.open(site.root / f"state-{n}", url) as state:
                    assert state._version() == len(MIGRATIONS)
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=open_it, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []


def test_a_release_at_shutdown_waits_for_a_poll_still_running(site: Site, monkeypatch):
    """The daemon releases the publisher lock in its main thread while a last
    poll may still run in the scheduler's: the two must not share the
    connection (the poll could drop it under the release)."""
    import threading

    import psycopg

    from feeder.storage import advisory

    leadership = advisory.Leadership(os.environ["FEEDER_STATE_URL"], timeout=5)
    assert leadership.poll()  # leads
    entered, go = threading.Event(), threading.Event()
    real_holds = advisory.holds

    def slow_holds(db, key):
        entered.set()
        go.wait(10)
        return real_holds(db, key)

    monkeypatch.setattr(advisory, "holds", slow_holds)
    polled: list[bool] = []
    poller = threading.Thread(target=lambda: polled.append(leadership.poll()))
    poller.start()
    assert entered.wait(10)
    releaser = threading.Thread(target=leadership.release)
    releaser.start()
    releaser.join(0.3)
    assert releaser.is_alive()  # waits for the poll's turn
    go.set()
    poller.join(10)
    releaser.join(10)
    assert polled == [True] and not releaser.is_alive()
    assert not leadership.leading
    with psycopg.connect(os.environ["FEEDER_STATE_URL"], autocommit=True) as admin:
        assert not admin.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchall()


def test_postgresql_columns_hold_64_bit_integers_and_doubles(site: Site):
    """Every table of the schema exists in PostgreSQL with 64-bit integers where SQLite had INTEGER."""
    with open_state(site.state) as state:
        rows = dict(state.conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'files'").fetchall())
    assert rows["mtime_ns"] == "bigint" and rows["published_at"] == "double precision"


# -- work shared among instances ------------------------------------------------------

_WORKER = """
import json, sys
from feeder.config import load_config
from feeder.links.check import check_shared_links
from feeder.ingest.run import ingest
settings = load_config(sys.argv[2])
if sys.argv[1] == "links":
    report = check_shared_links(settings, budget=60)
    print(json.dumps({"checked": report.checked, "elsewhere": report.elsewhere}))
else:
    report = ingest(settings)
    print(json.dumps({s.name: s.status for s in report.sources}))
"""


def _slow_server(http_server, hosts: int, per_host: int, delay: float) -> dict[str, Any]:
    """Routes /pK on every host name hN.test, each answer `delay` s late; tracks
    how many requests each host has in flight at once."""
    import threading
    from collections import Counter

    from httpserver import Reply

    seen: dict[str, Any] = {"inflight": Counter(), "peak": Counter(), "lock": threading.Lock()}

    def slow(handler) -> Reply:
        host = handler.headers["Host"].split(":")[0]
        with seen["lock"]:
            seen["inflight"][host] += 1
            seen["peak"][host] = max(seen["peak"][host], seen["inflight"][host])
        time.sleep(delay)
        with seen["lock"]:
            seen["inflight"][host] -= 1
        return Reply(200, {"Content-Type": "text/html"}, b"<p>ok</p>")

    for k in range(per_host):
        http_server.route(f"/p{k}", slow)
    return seen


def _run_two(config: Path, what: str) -> list[dict[str, Any]]:
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, what, str(config)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def test_two_instances_share_link_checks_one_host_each_at_a_time(site: Site, http_server):
    hosts, per_host = 6, 3
    seen = _slow_server(http_server, hosts, per_host, delay=0.3)
    n = 0
    for h in range(hosts):
        for k in range(per_host):
            n += 1
            site.article(f"a{n}.txt", **good_fields(n, originalUrl=f"http://h{h}.test:{http_server.port}/p{k}"))
    # Two hosts at a time (concurrency / per_host): each instance comes back for more.
    links = {"enabled": True, "allow_private": True, "system_dns": False, "per_host": 1, "concurrency": 2,
             "retries": 0,
             "hosts": {f"h{h}.test": "127.0.0.1" for h in range(hosts)}}
    cfg = instance(site, "one", links=links)
    # The catalog first (a build checks links too: here it may not, so that the two instances find them due).
    off = instance(site, "off", links={**links, "enabled": False})
    assert run_feeder("build", "-q", "--config", str(off)).returncode == 0
    one, two = _run_two(cfg, "links")
    requested = Counter_of(http_server)
    assert len(requested) == hosts * per_host and set(requested.values()) == {1}  # each URL once
    assert max(seen["peak"].values()) == 1  # per_host: 1 held across both instances
    assert one["checked"] + two["checked"] == hosts * per_host
    assert one["checked"] and two["checked"], (one, two)  # both did a share
    with open_state(site.state) as state:
        assert len(state.link_records()) == hosts * per_host
        assert not state.conn.execute("SELECT 1 FROM leases WHERE until <> ''").fetchall()  # all given back


def Counter_of(http_server) -> dict[str, int]:
    from collections import Counter

    return Counter(f"{h['host']}{p}" for _m, p, h in http_server.requests)


def test_two_instances_share_sources_and_fetch_each_once(site: Site, http_server):
    from httpserver import Reply

    names = [f"Src{i}" for i in range(6)]
    for i, _ in enumerate(names):
        feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>S{i}</title><link>https://s{i}.example/'
                f'</link><description>d</description><item><title>Story {i}</title><link>https://s{i}.example/1'
                f'</link><guid>urn:s{i}:1</guid></item></channel></rss>')
        http_server.route(f"/feed{i}.xml", Reply(200, {"Content-Type": "application/rss+xml"}, feed.encode(),
                                                 delay=0.5))
    cfg = instance(site, "one", links={"enabled": False, "allow_private": True, "system_dns": False,
                                       "hosts": {f"s{i}.test": "127.0.0.1" for i in range(6)}},
                   sources=[{"url": f"http://s{i}.test:{http_server.port}/feed{i}.xml", "name": n}
                            for i, n in enumerate(names)])
    one, two = _run_two(cfg, "ingest")
    fetched = [n for n in names if "fetched" in (one[n], two[n])]
    assert fetched == names
    assert all({one[n], two[n]} <= {"fetched", "elsewhere", "not-due"} for n in names), (one, two)
    assert all(list(http_server.hits(f"/feed{i}.xml").values()) == [1] for i in range(6))  # each once
    assert len(list(site.content.rglob("*.md"))) == 6


def test_each_instance_renders_its_own_folder_and_serves_the_same_bytes(site: Site, tmp_path: Path, daemons,
                                                                        new_state):
    from conftest import free_port, get_url

    site.article("a.txt", **good_fields(1))
    outs = {name: site.root / f"out-{name}" for name in ("one", "two")}
    ports = {name: free_port() for name in outs}
    ds = {name: daemons(instance(site, name, output=outs[name], ha={"failover": "3s", "output": "own"}),
                        tmp_path / f"{name}.log", "--serve", f"127.0.0.1:{ports[name]}") for name in outs}
    for name in outs:
        wait_until(lambda n=name: item_id("a") in ids(outs[n] / "rss.xml"), timeout=20, what=f"{name}'s feed")
    site.article("b.txt", **good_fields(2))
    for name in outs:
        wait_until(lambda n=name: item_id("b") in ids(outs[n] / "rss.xml"), timeout=20, what=f"{name}'s edit")
    for d in ds.values():
        settle(d)
    answers = [get_url(f"http://127.0.0.1:{ports[name]}/rss.xml") for name in outs]
    assert answers[0][0] == answers[1][0] == 200
    assert answers[0][2] == answers[1][2]
    assert answers[0][1]["ETag"] == answers[1][1]["ETag"]  # a load balancer may send a reader to either
    for d in ds.values():
        assert d.stop() == 0, d.text()[-4000:]
    one, two = public_files(outs["one"]), public_files(outs["two"])
    assert one == two == cold_build(site, tmp_path / "cold", new_state)
