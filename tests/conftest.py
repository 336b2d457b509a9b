"""Shared fixtures: article files, settings for a temporary site, a clock."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from feeder.config import LinkSettings, Settings, SiteSettings, parse_config

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "content" / "ai" / "000_005fe135b4900bd1.txt"
ATOM_SCHEMA = ROOT / "tests" / "data" / "atom.rnc"
SECRET = "TOP-SECRET-7f3a9c"


def article_text(body: str = "", **fields: Any) -> str:
    """An article file: the given fields as YAML front matter, then `body`."""
    front = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n{textwrap.dedent(body)}"


def good_fields(n: int = 1, **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": f"Article number {n}",
        "excerpt": f"Excerpt of article {n}.",
        "publishedDateTime": datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=n),
        "originalUrl": f"https://news.example.org/{n}",
        "webUrl": f"https://news.example.org/{n}",
        "published": True,
        "provider": {"name": "Example Wire", "domain": "example.org"},
        "topics": ["AI"],
        "secured": SECRET,
    }
    fields.update(over)
    return fields


def public_files(folder: Path) -> dict[str, bytes]:
    """Every file of an output folder that is served, by relative path: dot-files are not."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


class Site:
    """A temporary content folder plus settings pointing at it."""

    def __init__(self, root: Path):
        self.root = root
        self.content = root / "content"
        self.output = root / "feeds"
        self.state = root / "state"
        self.content.mkdir(parents=True)
        self.settings = Settings(
            site=SiteSettings(title="Test Site", base_url="https://feeds.example.net/news/", link="https://example.net/"),
            content_dir=self.content,
            output_dir=self.output,
            state_dir=self.state,
            # Tests of link checks turn them on with their own servers and resolver.
            links=LinkSettings(enabled=False),
        )

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def article(self, rel: str, body: str = "", **fields: Any) -> Path:
        return self.write(rel, article_text(body, **fields))

    def configure(self, **changes: Any) -> Settings:
        self.settings = replace(self.settings, **changes)
        return self.settings

    def outputs(self) -> dict[str, bytes]:
        """Every public file of the output folder (dot-files are never served)."""
        return public_files(self.output)

    def config_file(self, extra: dict[str, Any] | None = None) -> Path:
        data: dict[str, Any] = {
            "site": {"title": "Test Site", "base_url": self.settings.site.base_url},
            "content_dir": str(self.content),
            "output_dir": str(self.output),
            "state_dir": str(self.state),
            "links": {"enabled": False},
        }
        data.update(extra or {})
        path = self.root / "feeder.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        parse_config(data, base=self.root)  # fail early on a bad test configuration
        return path


# -- the state database: every test that may touch it runs on SQLite and on PostgreSQL

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--state-backend", choices=("both", "sqlite", "postgresql"), default="both",
                     help="which state databases to run the tests against (default: both)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_state: the test never opens the state database (runs once)")
    config.addinivalue_line("markers", "sqlite_only: the test is about the SQLite state file")
    config.addinivalue_line("markers", "postgresql_only: the test is about PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "state_backend" not in metafunc.fixturenames:
        return
    wanted = metafunc.config.getoption("--state-backend")
    backends = ["sqlite", "postgresql"] if wanted == "both" else [wanted]
    marks = {m.name for m in metafunc.definition.iter_markers()}
    if "no_state" in marks or "sqlite_only" in marks:
        backends = [b for b in backends if b == "sqlite"] or []
    if "postgresql_only" in marks:
        backends = [b for b in backends if b == "postgresql"]
    if "no_state" in marks and not backends:
        backends = ["sqlite"]
    metafunc.parametrize("state_backend", backends, ids=backends, indirect=True)


@pytest.fixture(scope="session")
def postgres_server():
    import pgserver

    if not pgserver.available():
        pytest.fail("PostgreSQL is not installed: run tests/install-system-tools")
    server = pgserver.PostgresServer.start()
    yield server
    server.destroy()


_schemas = iter(range(1, 1_000_000))


@pytest.fixture(autouse=True)
def state_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The state database of this test: SQLite in its state_dir, or a fresh
    schema of the session's PostgreSQL server, named by FEEDER_STATE_URL
    (which feeder processes started by the test inherit)."""
    backend = getattr(request, "param", "sqlite")
    monkeypatch.delenv("FEEDER_STATE_URL", raising=False)
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        url = fresh_state_url(server)
        monkeypatch.setenv("FEEDER_STATE_URL", url)
    return str(backend)


@pytest.fixture
def new_state(request: pytest.FixtureRequest, state_backend: str, monkeypatch: pytest.MonkeyPatch):
    """Call to give what comes next (a Site, a feeder process) a state of its
    own, as a new state_dir does with SQLite."""

    def fresh() -> None:
        if state_backend == "postgresql":
            monkeypatch.setenv("FEEDER_STATE_URL", fresh_state_url(request.getfixturevalue("postgres_server")))

    return fresh


def undo_websub(conn: Any) -> None:
    """Take back what the migration that added WebSub subscriptions made (tests of older schemas)."""
    conn.execute("DROP TABLE websub")
    conn.execute("DROP TABLE pushes")
    for column in ("title", "home", "hub", "self_url"):
        conn.execute(f"ALTER TABLE sources DROP COLUMN {column}")


def open_state(state_dir: Path) -> Any:
    """The state database this test's feeder runs use (SQLite in `state_dir`, or FEEDER_STATE_URL)."""
    import os

    from feeder.storage.state import State

    return State.open(state_dir, os.environ.get("FEEDER_STATE_URL"))


def fresh_state_url(server: Any) -> str:
    """A URL of an empty schema of `server`: a state of its own."""
    import psycopg

    schema = f"t{next(_schemas)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    return str(server.url(schema=schema))


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


@pytest.fixture
def now() -> datetime:
    """The tests' fixed 'now': builds take it explicitly, never the wall clock."""
    return datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def run_feeder(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeder", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def jing_available() -> bool:
    return shutil.which("jing") is not None


def validate_atom(paths: list[Path]) -> None:
    """Validate Atom documents against RFC 4287's RELAX NG schema with jing."""
    if not jing_available():
        pytest.fail("jing is not installed; .ci/run installs it (apt-get install jing)")
    proc = subprocess.run(["jing", "-c", str(ATOM_SCHEMA), *map(str, paths)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


ArticleWriter = Callable[..., Path]


@pytest.fixture
def http_server():
    from httpserver import ScriptedServer

    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def silent_server():
    from httpserver import SilentServer

    server = SilentServer()
    yield server
    server.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`feeder serve` (or another command that serves) as a real process."""

    def __init__(self, args: list[str], port: int, log: Path):
        import time
        import urllib.request

        self.port = port
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "feeder", *args],
                                     stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                urllib.request.urlopen(self.url("/index.opml"), timeout=1)
                return
            except OSError as exc:
                if getattr(exc, "code", None) == 404:
                    return
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


def write_corpus(folder: Path, n: int, *, seed: int = 7) -> None:
    """`n` seed-like articles in folders of 500, spread over a dozen topics."""
    import random

    rng = random.Random(seed)
    topics = [f"Topic {i}" for i in range(12)]
    for i in range(n):
        fields = good_fields(i, title=f"Story {i}: {' '.join(rng.choices(['markets', 'rates', 'chips'], k=6))}",
                             topics=rng.sample(topics, rng.choice([1, 2])), published=rng.random() < 0.8,
                             excerpt=" ".join(rng.choices(["Analysts", "said", "the", "figures", "rose"], k=40)))
        path = folder / f"batch{i // 500:02d}" / f"{i:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text("Body **text** of the story.\n", **fields), encoding="utf-8")


def get_url(url: str, method: str = "GET", timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a request to a server of the tests, errors included."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class DaemonProcess:
    """`feeder daemon` as a real process, its log in a file."""

    def __init__(self, config: Path, log: Path, *extra: str, env: dict[str, str] | None = None):
        import os

        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "feeder", "daemon", "--config", str(config), *extra],
            stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env={**os.environ, **(env or {})},
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll `predicate` until it returns something true; that value is returned."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, AssertionError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def daemons():
    started: list[DaemonProcess] = []

    def start(config: Path, log: Path, *extra: str, env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(config, log, *extra, env=env)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
