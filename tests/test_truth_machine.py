"""One truth, hunted for counter-examples: after any sequence of what people
and programs do to a site, the published feeds equal a cold build of the
same content, configuration and clock, byte for byte.

Hypothesis's `RuleBasedStateMachine` drives the real command line and a
real daemon (separate processes, as in production) through random
sequences: articles added, edited, deleted, renamed, moved, unpublished and
republished, scheduled and their time let pass, duplicate ids appearing and
going, `feeder check`, `feeder ingest` from a loopback source, builds, the
daemon started and stopped, rounds that fail (output or state unusable,
then usable again), the content folder deleted and made again, and
configuration changes with SIGHUP. After a `feeder build` the output must
equal the cold build at once; a running daemon must reach it within
seconds.

The reference cold build runs in this process, into a folder and SQLite
state of its own, with the history the README promises to keep given to it:
the topics that have had a feed keep one, empty, forever, dated by the
newest item it last showed (README, "Topics").

CI runs a few sequences per state backend. A soak is one command (README,
"Development"):

    FEEDER_TRUTH_EXAMPLES=400 FEEDER_TRUTH_STEPS=25 .venv/bin/python -m pytest tests/test_truth_machine.py -s

which prints the steps, sequences and seconds at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from feeder.app.pipeline import build
from feeder.config import StateSettings, load_config
from feeder.model import Topic
from feeder.storage.lock import BuildLock
from feeder.storage.state import DB_NAME, State

from conftest import DaemonProcess, article_text, fresh_state_url, public_files, run_feeder
from httpserver import Reply, ScriptedServer

EXAMPLES = int(os.environ.get("FEEDER_TRUTH_EXAMPLES", "5"))
STEPS = int(os.environ.get("FEEDER_TRUTH_STEPS", "25"))

TOPICS = ["AI", "Climate", "Space", "ai"]  # "ai": another spelling of AI
FOLDERS = ["", "news", "news/deep", "other"]
TITLES = ["Markets rally", "Rates <hold>", "Chips & wafers", "Ünïcode ✓ news"]
AHEAD = 1.5  # seconds: how far ahead a scheduled article is dated
CATCH_UP = 20.0  # seconds a running daemon may take to publish what is there

# What the soak run reports at the end.
_TOTALS: Counter[str] = Counter()


class Truth(RuleBasedStateMachine):
    """The site, the processes that act on it, and the reference they must equal."""

    def __init__(self, state_url: str | None) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="feeder-truth-"))
        self.content, self.output, self.state_dir = self.root / "content", self.root / "feeds", self.root / "state"
        self.content.mkdir()
        self.state_url = state_url
        self.server = ScriptedServer()
        self.server.default = Reply(200, {"Content-Type": "text/html"}, b"<p>alive</p>")
        self.source: list[tuple[int, str, datetime]] = []  # the loopback source's entries: (n, title, date)
        self.server.route("/source.xml", lambda _h: Reply(200, {"Content-Type": "application/rss+xml"},
                                                           self._source_document()))
        self.files: dict[str, dict] = {}  # path under content → the fields written there
        self.counter = 0
        self.scheduled: list[float] = []  # publication times still to come (POSIX)
        self.daemon: DaemonProcess | None = None
        self.daemons = 0
        self.config = {
            "site": {"title": "Truth Site", "base_url": "https://feeds.example.net/news/",
                     "link": "https://example.net/"},
            "content_dir": str(self.content), "output_dir": str(self.output), "state_dir": str(self.state_dir),
            "lock_timeout": "60s",
            "links": {"enabled": True, "allow_private": True, "system_dns": False, "budget": "10s", "retries": 0},
            "schedule": {"rescan": "1s", "sweep": "1d", "watch": True, "link_check": "1h", "ingest": "1h"},
            "feeds": {"max_items": 50},
            "topics": {"Space": {"aliases": ["Astronomy"]}},
            "sources": [{"url": self.server.url("/source.xml"), "name": "Wire", "publish": True,
                         "topics": ["Climate"]}],
        }
        self.config_path = self.root / "feeder.yaml"
        self._write_config()
        self.env = {**os.environ}
        self.env.pop("FEEDER_STATE_URL", None)
        if state_url:
            self.env["FEEDER_STATE_URL"] = state_url
        self.started = time.monotonic()

    # -- helpers ------------------------------------------------------------------

    def _write_config(self) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        os.replace(tmp, self.config_path)

    def _source_document(self) -> bytes:
        items = "".join(
            f"<item><title>{escape(title)}</title><link>{self.server.url(f'/s/{n}')}</link>"
            f"<guid isPermaLink='false'>wire-{n}</guid><pubDate>{format_datetime(date)}</pubDate>"
            f"<description>Story {n} from the wire.</description></item>"
            for n, title, date in self.source)
        return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>"
                f"<link>{self.server.url('/')}</link><description>d</description>{items}</channel></rss>").encode()

    def _fields(self, n: int, **over) -> dict:
        url = self.server.url(f"/a/{n}")
        fields = {"title": f"{TITLES[n % len(TITLES)]} {n}", "excerpt": f"Excerpt {n}.",
                  "publishedDateTime": datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=7 * n),
                  "originalUrl": url, "webUrl": url, "published": True, "topics": ["AI"],
                  "provider": {"name": "Example Wire", "domain": "example.org"}, "secured": "TRUTH-SECRET"}
        fields.update(over)
        return fields

    def _write(self, rel: str, fields: dict) -> None:
        path = self.content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.swp")  # as an editor saves: write, then rename
        tmp.write_text(article_text(f"Body of {fields['title']}.\n", **fields), encoding="utf-8")
        os.replace(tmp, path)
        self.files[rel] = fields

    def _feeder(self, *args: str) -> tuple[int, str]:
        done = run_feeder(*args, "--config", str(self.config_path), env=self.env, timeout=120)
        _TOTALS["commands"] += 1
        return done.returncode, done.stdout + done.stderr

    def _history(self) -> tuple[dict[str, str], dict[str, str], str | None]:
        """What the README says outlives the articles: the topics that have had
        a feed, each feed's last date (an emptied feed keeps it), and when the
        output folder was first rendered."""
        with State.open(self.state_dir, self.state_url) as state:
            archived = [(str(feed), str(period)) for feed, period in
                        state.conn.execute("SELECT feed, period FROM archives")]
            return (state.known_topics(), {slug: r.updated for slug, r in state.rendered().items()},
                    state.get_output_meta("first_rendered"), archived)

    def reference(self, now: datetime) -> dict[str, bytes]:
        """A cold build of the content folder as it is, at `now`."""
        ref = self.root / "reference"
        shutil.rmtree(ref, ignore_errors=True)
        cold = load_config(self.config_path)
        cold = replace(cold, output_dir=ref / "feeds", state_dir=ref / "state", state=StateSettings(url=None))
        known, dates, first, archived = self._history()
        with State.open(cold.state_dir) as state:
            state.remember_topics(Topic(key, name, "", "", "") for key, name in known.items())
            for slug, updated in dates.items():
                state.save_rendered(slug, "", updated)
            for feed, period in archived:  # a period once archived keeps a document, emptied or not
                state.save_archived(feed, period, "")
            if first:
                state.set_output_meta("first_rendered", first)
        build(cold, now=now)
        _TOTALS["cold builds"] += 1
        return public_files(ref / "feeds")

    def _due_in(self, start: float, end: float) -> bool:
        """Whether a scheduled time falls in [start, end]: a build within it saw one of two truths."""
        return any(start - 0.05 <= t <= end + 0.05 for t in self.scheduled)

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.files)))

    def _identity(self, rel: str) -> str:
        fields = self.files[rel]
        return str(fields.get("id") or Path(rel).stem)

    # -- what people do to the content -----------------------------------------

    @rule(topics=st.lists(st.sampled_from(TOPICS), max_size=2), published=st.booleans(),
          folder=st.sampled_from(FOLDERS), explicit_id=st.booleans(), then_build=st.booleans())
    def add(self, topics: list[str], published: bool, folder: str, explicit_id: bool, then_build: bool = False) -> None:
        self.counter += 1
        n = self.counter
        over = {"topics": topics, "published": published}
        if explicit_id:
            over["id"] = f"story-{n}"
        self._write(f"{folder}/{n:03d}.md".lstrip("/"), self._fields(n, **over))
        if then_build:
            self._build_and_compare()

    @precondition(lambda self: self.files)
    @rule(data=st.data(), title=st.sampled_from(TITLES), topics=st.lists(st.sampled_from(TOPICS), max_size=3),
          then_build=st.booleans())
    def edit(self, data: st.DataObject, title: str, topics: list[str], then_build: bool = False) -> None:
        rel = self._pick(data)
        self._write(rel, {**self.files[rel], "title": f"{title} (edited)", "topics": topics})
        if then_build:
            self._build_and_compare()

    @precondition(lambda self: self.files)
    @rule(data=st.data(), then_build=st.booleans())
    def delete(self, data: st.DataObject, then_build: bool = False) -> None:
        rel = self._pick(data)
        (self.content / rel).unlink()
        del self.files[rel]
        if then_build:
            self._build_and_compare()

    @precondition(lambda self: self.files)
    @rule(data=st.data(), folder=st.sampled_from(FOLDERS), rename=st.booleans(), then_build=st.booleans())
    def move(self, data: st.DataObject, folder: str, rename: bool, then_build: bool = False) -> None:
        rel = self._pick(data)
        self.counter += 1
        name = f"{self.counter:03d}.md" if rename else Path(rel).name
        target = f"{folder}/{name}".lstrip("/")
        if target in self.files:
            return
        (self.content / target).parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.content / rel, self.content / target)
        self.files[target] = self.files.pop(rel)
        if then_build:
            self._build_and_compare()

    @precondition(lambda self: self.files)
    @rule(data=st.data(), then_build=st.booleans())
    def toggle_published(self, data: st.DataObject, then_build: bool = False) -> None:
        rel = self._pick(data)
        self._write(rel, {**self.files[rel], "published": not self.files[rel]["published"]})
        if then_build:
            self._build_and_compare()

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def schedule(self, data: st.DataObject) -> None:
        rel = self._pick(data)
        when = time.time() + AHEAD
        self.scheduled.append(when)
        self._write(rel, {**self.files[rel], "published": True,
                          "publishedDateTime": datetime.fromtimestamp(when, timezone.utc)})

    @precondition(lambda self: any(t > time.time() for t in self.scheduled))
    @rule()
    def let_the_clock_pass(self) -> None:
        time.sleep(max(0.0, max(self.scheduled) - time.time()) + 0.1)

    @precondition(lambda self: self.files)
    @rule(data=st.data(), folder=st.sampled_from(FOLDERS), then_build=st.booleans())
    def duplicate_an_id(self, data: st.DataObject, folder: str, then_build: bool = False) -> None:
        rel = self._pick(data)
        self.counter += 1
        self._write(f"{folder}/{self.counter:03d}.md".lstrip("/"),
                    self._fields(self.counter, id=self._identity(rel), topics=["Space"]))
        if then_build:
            self._build_and_compare()

    @rule(then_build=st.booleans())
    def replace_the_content_folder(self, then_build: bool = False) -> None:
        aside = self.root / "content-aside"
        os.rename(self.content, aside)
        self.content.mkdir()
        shutil.copytree(aside, self.content, dirs_exist_ok=True)  # new inodes, new times
        shutil.rmtree(aside)
        if then_build:
            self._build_and_compare()

    @rule(title=st.sampled_from(["Truth Site", "Renamed Site"]), max_items=st.sampled_from([3, 50]),
          alias=st.booleans(), archive=st.sampled_from(["off", "monthly"]), then_build=st.booleans())
    def reconfigure(self, title: str, max_items: int, alias: bool, archive: str = "off",
                    then_build: bool = False) -> None:
        self.config["site"]["title"] = title
        self.config["feeds"]["max_items"] = max_items
        self.config["feeds"]["archive"] = archive
        self.config["topics"] = {"Space": {"aliases": ["Astronomy"]}, **({"AI": {"aliases": ["Climate"]}}
                                                                           if alias else {})}
        self._write_config()
        if self.daemon is not None:
            self.daemon.signal(signal.SIGHUP)

    # -- what programs do ---------------------------------------------------------
        if then_build:
            self._build_and_compare()

    @rule(then_build=st.booleans())
    def check(self, then_build: bool = False) -> None:
        code, text = self._feeder("check", "-q")
        assert code == 0, text
        if then_build:
            self._build_and_compare()

    @rule(titles=st.lists(st.sampled_from(TITLES), min_size=1, max_size=2), then_build=st.booleans())
    def ingest(self, titles: list[str], then_build: bool = False) -> None:
        base = len(self.source)
        for i, title in enumerate(titles):
            self.source.append((base + i, title, datetime(2024, 3, 1, tzinfo=timezone.utc) + timedelta(days=base + i)))
        code, text = self._feeder("ingest", "--force", "-q")
        assert code == 0, text
        if then_build:
            self._build_and_compare()

    @rule()
    def cron_build(self) -> None:
        self._build_and_compare()

    def _build_and_compare(self) -> None:
        start = time.time()
        code, text = self._feeder("build", "-q")
        end = time.time()
        assert code == 0, text
        if self._due_in(start, end):
            return  # a scheduled time passed during the build: it saw one of two truths
        if self.daemon is not None:
            # The daemon may publish the same truth again meanwhile: equal, or it catches up.
            self._eventually_equal()
        else:
            now = datetime.fromtimestamp(end, timezone.utc)
            published, expected = public_files(self.output), self.reference(now)
            differing = sorted(k for k in set(published) | set(expected) if published.get(k) != expected.get(k))
            assert not differing, f"a cron build differs from a cold build: {differing[:10]}"
            _TOTALS["cron builds compared"] += 1

    @precondition(lambda self: self.daemon is None)
    @rule()
    def start_daemon(self) -> None:
        self.daemons += 1
        self.daemon = d = DaemonProcess(self.config_path, self.root / f"daemon{self.daemons}.log", "-v", env=self.env)
        _TOTALS["daemons"] += 1
        deadline = time.monotonic() + 30
        while "feeder daemon started" not in d.text():
            assert d.proc.poll() is None and time.monotonic() < deadline, d.text()[-4000:]
            time.sleep(0.05)

    @precondition(lambda self: self.daemon is not None)
    @rule()
    def stop_daemon(self) -> None:
        assert self.daemon is not None
        code = self.daemon.stop(timeout=30)
        assert code == 0, self.daemon.text()[-4000:]
        self.daemon = None

    @precondition(lambda self: self.daemon is not None)
    @rule()
    def daemon_catches_up(self) -> None:
        self._eventually_equal()

    def _eventually_equal(self) -> None:
        assert self.daemon is not None
        deadline = time.monotonic() + CATCH_UP
        while True:
            now = datetime.now(timezone.utc)
            published, expected = public_files(self.output), self.reference(now)
            if published == expected:
                _TOTALS["daemon states compared"] += 1
                return
            if time.monotonic() > deadline or self.daemon.proc.poll() is not None:
                differing = sorted(k for k in set(published) | set(expected) if published.get(k) != expected.get(k))
                raise AssertionError(f"the daemon did not reach the cold build in {CATCH_UP} s; differing: "
                                     f"{differing[:10]}\n{self.daemon.text()[-6000:]}")
            time.sleep(0.3)

    @rule(what=st.sampled_from(["output", "state"]), change_meanwhile=st.booleans())
    def a_round_fails_then_recovers(self, what: str, change_meanwhile: bool) -> None:
        """The output folder or the state database is unusable for a while
        (a full disk, a mount gone, permissions), then usable again."""
        if what == "state" and self.state_url is not None:
            what = "output"  # a shared PostgreSQL state is not broken from here
        if what == "output":
            broken, aside = self.output, self.root / "feeds-aside"
        else:
            broken, aside = self.state_dir / DB_NAME, self.root / "state-aside"
        failures = self.daemon.text().count(" failed") if self.daemon is not None else 0
        with BuildLock(self.state_dir, timeout=60):  # between two rounds
            if broken.exists():
                os.rename(broken, aside)
            broken.parent.mkdir(parents=True, exist_ok=True)
            if what == "output":
                broken.write_text("a file where the output folder should be")
            else:
                broken.mkdir()  # a folder where the database should be
        try:
            if change_meanwhile:
                self.add(topics=["Climate"], published=True, folder="news", explicit_id=False)
            if self.daemon is not None:
                d = self.daemon
                deadline = time.monotonic() + CATCH_UP
                while d.text().count(" failed") <= failures:  # a round ran and failed
                    assert d.proc.poll() is None and time.monotonic() < deadline, d.text()[-4000:]
                    if not change_meanwhile:
                        self.add(topics=["Climate"], published=True, folder="news", explicit_id=False)
                        change_meanwhile = True
                    time.sleep(0.05)
            else:
                code, text = self._feeder("build", "-q")
                assert code == 3, text
        finally:
            with BuildLock(self.state_dir, timeout=60):
                if what == "output":
                    broken.unlink()
                else:
                    broken.rmdir()
                if aside.exists():
                    os.rename(aside, broken)
        _TOTALS["failed rounds"] += 1

    @invariant()
    def count(self) -> None:
        _TOTALS["steps"] += 1

    def teardown(self) -> None:
        try:
            if self.daemon is not None:
                code = self.daemon.stop(timeout=30)
                assert code == 0, self.daemon.text()[-4000:]
        finally:
            if self.daemon is not None and self.daemon.proc.poll() is None:
                self.daemon.proc.kill()
            self.server.close()
            shutil.rmtree(self.root, ignore_errors=True)
            _TOTALS["sequences"] += 1


def test_the_published_feeds_always_equal_a_cold_build(state_backend: str, request: pytest.FixtureRequest):
    server = request.getfixturevalue("postgres_server") if state_backend == "postgresql" else None
    started, before = time.monotonic(), Counter(_TOTALS)

    def machine() -> Truth:
        return Truth(fresh_state_url(server) if server is not None else None)

    run_state_machine_as_test(machine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), print_blob=True))
    done = _TOTALS - before
    print(f"\n{state_backend}: {done['sequences']} sequences, {done['steps']} steps, {done['commands']} commands, "
          f"{done['cron builds compared']} cron builds and {done['daemon states compared']} daemon states compared "
          f"with {done['cold builds']} cold builds, {done['daemons']} daemons, {done['failed rounds']} failed rounds, "
          f"in {time.monotonic() - started:.0f} s")
