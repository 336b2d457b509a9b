"""The state database: what feeder must remember between runs.

By default one SQLite file in `state_dir`, created on first use; with
`state.url` (or FEEDER_STATE_URL) a PostgreSQL database that several
instances share. One schema and one migration history serve both: the
migrations below are written for SQLite and mapped to PostgreSQL's types by
`_postgres_ddl`. The version is SQLite's `PRAGMA user_version`, or the
`feeder_schema` table. Writes happen in transactions, so a crash loses at
most the transaction in progress and never leaves the state inconsistent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from feeder.errors import NotPublisher, StateError, describe_os_error
from feeder.model import LinkRecord, LinkResult, Topic, Verdict
from feeder.storage.db import Database, connect, database_errors, describe_database_error

__all__ = ["DB_NAME", "TABLES", "State", "instance_id", "upsert"]

log = logging.getLogger(__name__)

DB_NAME = "feeder.sqlite3"

# Each entry moves the schema from version i to i + 1. Never edit a released
# entry: add a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE feeds (
        key TEXT PRIMARY KEY,      -- topic key (case-folded name)
        name TEXT NOT NULL,        -- display name when first published
        first_seen TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE links (
        url TEXT PRIMARY KEY,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        status INTEGER,
        final_url TEXT,
        redirects TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        checked_at TEXT NOT NULL,
        first_checked TEXT NOT NULL,
        next_due TEXT NOT NULL,
        dead_count INTEGER NOT NULL DEFAULT 0,
        first_dead_at TEXT,
        last_dead_at TEXT,
        unknown_count INTEGER NOT NULL DEFAULT 0,
        ever_alive INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX links_next_due ON links (next_due);
    CREATE TABLE hosts (
        host TEXT PRIMARY KEY,
        needs_get INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE in_feed (
        article_id TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE files (
        path TEXT PRIMARY KEY,     -- relative to the content folder
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        article_id TEXT,
        published INTEGER,
        published_at REAL,         -- POSIX timestamp
        topics TEXT,               -- JSON list
        original_url TEXT,
        digest TEXT,               -- hash of the file's bytes: changes whenever its rendering may
        error TEXT                 -- why the file is not an article, or NULL
    );
    CREATE INDEX files_published_at ON files (published, published_at);
    CREATE INDEX files_original_url ON files (original_url);
    CREATE INDEX files_article_id ON files (article_id, path);
    CREATE TABLE snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        data BLOB NOT NULL         -- marshal of the files table's selection columns (feeder.content.catalog)
    );
    CREATE TABLE snapshot_delta (
        path TEXT PRIMARY KEY,
        data BLOB                  -- the row since the snapshot, NULL when the file is gone
    );
    CREATE TABLE rendered (
        feed TEXT PRIMARY KEY,     -- topic slug, '' for all topics
        fingerprint TEXT NOT NULL,
        updated TEXT NOT NULL      -- the feed's newest item date, for the OPML file
    );
    """,
    """
    ALTER TABLE files ADD COLUMN media_url TEXT;  -- an enclosure whose type or length must be asked for
    CREATE TABLE media (
        url TEXT PRIMARY KEY,
        type TEXT,
        length INTEGER,
        status INTEGER,
        error TEXT,
        checked_at TEXT NOT NULL,
        next_due TEXT NOT NULL
    );
    CREATE TABLE podcasts (
        feed TEXT PRIMARY KEY,     -- topic slug
        guid TEXT NOT NULL         -- podcast:guid, fixed when first published
    );
    CREATE TABLE digests (
        feed TEXT NOT NULL,
        kind TEXT NOT NULL,        -- daily or weekly
        period TEXT NOT NULL,      -- start of the period, ISO 8601
        item TEXT NOT NULL,        -- the item as first published (JSON), never changed after
        PRIMARY KEY (feed, kind, period)
    );
    """,
    """
    CREATE TABLE sources (
        key TEXT PRIMARY KEY,          -- the source's slug
        configured TEXT NOT NULL,      -- the URL in the configuration
        url TEXT NOT NULL,             -- where it is fetched now (moved by permanent redirects)
        etag TEXT,
        last_modified TEXT,
        next_fetch TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        gone INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        last_fetch TEXT
    );
    CREATE TABLE ingested (
        source TEXT NOT NULL,
        entry TEXT NOT NULL,           -- the entry's own id, or its link
        article_id TEXT NOT NULL,
        path TEXT,                     -- relative to content_dir; NULL for a duplicate of another entry
        canonical TEXT NOT NULL,       -- the normalised link, to spot one story in two feeds
        hash TEXT NOT NULL,            -- of the source's version of the entry
        written TEXT NOT NULL,         -- JSON: the fields as feeder last wrote them
        first_seen TEXT NOT NULL,
        PRIMARY KEY (source, entry)
    );
    CREATE INDEX ingested_canonical ON ingested (canonical);
    """,
    """
    ALTER TABLE files ADD COLUMN warnings TEXT;  -- optional fields left out, one per line, or NULL
    """,
    """
    -- Few files have an incomplete enclosure: every selecting build asks for them.
    CREATE INDEX files_media_url ON files (media_url) WHERE media_url IS NOT NULL;
    """,
    """
    -- Work claimed by one of several instances sharing this state: a host whose
    -- links it checks, a source it fetches. A lease ends at `until` (ISO 8601,
    -- UTC) if its owner dies; '' once given back.
    CREATE TABLE leases (
        kind TEXT NOT NULL,            -- host or source
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        until TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    """
    -- What each output folder was rendered from: one folder per state, or one
    -- per instance when several render their own (state.output: own).
    CREATE TABLE output_feeds (
        output TEXT NOT NULL,          -- '' for the one output folder
        feed TEXT NOT NULL,            -- topic slug, '' for all topics
        fingerprint TEXT NOT NULL,
        updated TEXT NOT NULL,         -- the feed's newest item date, for the OPML file
        PRIMARY KEY (output, feed)
    );
    INSERT INTO output_feeds (output, feed, fingerprint, updated) SELECT '', feed, fingerprint, updated FROM rendered;
    DROP TABLE rendered;
    """,
]


# Every table of the schema above (what `feeder state copy` copies).
TABLES = ("feeds", "links", "hosts", "in_feed", "meta", "files", "snapshot", "snapshot_delta", "output_feeds",
          "media", "podcasts", "digests", "sources", "ingested", "leases")

_PG_TYPES = [(re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
             (re.compile(r"\bBLOB\b"), "BYTEA"),
             # Byte order, as SQLite compares: ORDER BY gives the same rows on both.
             (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"')]


def _postgres_ddl(statement: str) -> str:
    """A migration statement with PostgreSQL's types: 64-bit integers (times in
    nanoseconds), double precision, bytea, and byte-order text."""
    lines = []
    for line in statement.splitlines():
        code, sep, comment = line.partition("--")
        for pattern, replacement in _PG_TYPES:
            code = pattern.sub(replacement, code)
        lines.append(code + sep + comment)
    return "\n".join(lines)


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """INSERT that replaces the row with the same `key` (SQLite's and PostgreSQL's ON CONFLICT)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(key)}) {action}")


def _statements(script: str) -> list[str]:
    """The statements of a script, split where SQLite's own lexer says one ends
    (a `;` in a comment or a string does not end one)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer)
            buffer = ""
    if buffer.strip():
        statements.append(buffer)
    return statements


def instance_id() -> str:
    """This process among the instances sharing a state: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _ts(dt: datetime | None) -> str | None:
    # One fixed format in UTC, so that text order is time order in SQL.
    return None if dt is None else dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_LINK_COLUMNS = ("url, verdict, reason, status, final_url, redirects, error, checked_at, first_checked, next_due, "
                 "dead_count, first_dead_at, last_dead_at, unknown_count, ever_alive")
_LINK_COLUMN_NAMES = tuple(c.strip() for c in _LINK_COLUMNS.split(","))


def _link_row(rec: LinkRecord) -> tuple[object, ...]:
    r = rec.last
    return (r.url, r.verdict.value, r.reason, r.status, r.final_url, json.dumps(list(r.redirects)), r.error,
            _ts(r.checked_at), _ts(rec.first_checked), _ts(rec.next_due), rec.dead_count,
            _ts(rec.first_dead_at), _ts(rec.last_dead_at), rec.unknown_count, int(rec.ever_alive))


def _link_record(row: tuple) -> LinkRecord:  # type: ignore[type-arg]
    (url, verdict, reason, status, final_url, redirects, error, checked_at, first_checked, next_due,
     dead_count, first_dead_at, last_dead_at, unknown_count, ever_alive) = row
    result = LinkResult(url=url, verdict=Verdict(verdict), reason=reason, checked_at=_dt(checked_at),  # type: ignore[arg-type]
                        status=status, final_url=final_url, redirects=tuple(json.loads(redirects)), error=error)
    return LinkRecord(last=result, first_checked=_dt(first_checked), next_due=_dt(next_due),  # type: ignore[arg-type]
                      dead_count=dead_count, first_dead_at=_dt(first_dead_at), last_dead_at=_dt(last_dead_at),
                      unknown_count=unknown_count, ever_alive=bool(ever_alive))


@dataclass
class SourceRow:
    """A followed source, as the last ingest left it."""

    key: str  # the source's slug
    configured: str  # the URL in the configuration
    url: str  # where it is fetched now (moved by permanent redirects)
    etag: str | None = None
    last_modified: str | None = None
    next_fetch: str | None = None  # ISO 8601, UTC
    failures: int = 0
    gone: bool = False
    last_status: int | None = None
    last_error: str | None = None
    last_fetch: str | None = None


@dataclass(frozen=True, slots=True)
class IngestedRow:
    """One entry of a source, as feeder wrote it (or skipped it as a duplicate)."""

    source: str
    entry: str  # the entry's own id, or its link
    article_id: str
    path: str | None  # relative to content_dir; None for a duplicate of another source's story
    canonical: str  # the normalised link, to spot one story in two feeds
    hash: str  # of the source's version of the entry
    written: str  # JSON: the fields as feeder last wrote them
    first_seen: str


class Rendered(NamedTuple):
    fingerprint: str  # of everything the feed was rendered from ('' to render it again)
    updated: str  # the feed's newest item date, ISO 8601


_SOURCE_COLUMNS = tuple(f.name for f in fields(SourceRow))
_INGESTED_COLUMNS = tuple(f.name for f in fields(IngestedRow))


class State:
    """The state database, one connection to it. `conn` is that connection
    (a `feeder.storage.db.Database`), for modules that keep their own SQL."""

    def __init__(self, db: Database, state_dir: Path):
        self.conn = db
        self.state_dir = state_dir
        self.lock_key: tuple[int, int] | None = None  # the PostgreSQL build lock this connection holds
        self.output_key = ""  # the output folder being built, when each instance renders its own

    def confirm_lock(self) -> None:
        """Before output is written: raise `NotPublisher` if the PostgreSQL
        build lock was lost with its connection (another run may hold it now).
        Nothing to confirm with SQLite: the file lock cannot be lost."""
        if self.lock_key is not None:
            from feeder.storage.advisory import holds

            if not holds(self.conn, self.lock_key):  # type: ignore[arg-type]
                raise NotPublisher()

    @property
    def dialect(self) -> str:
        return self.conn.dialect

    @property
    def label(self) -> str:
        """The database for messages: its file, or its URL without a password."""
        return self.conn.label

    @classmethod
    def open(cls, state_dir: Path, url: str | None = None) -> State:
        """The state in `url` (PostgreSQL) or in `state_dir` (SQLite), migrated to this feeder's schema.
        `state_dir` is created either way: it keeps what is local to this machine."""
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(state_dir, f"cannot create the state folder: {describe_os_error(exc)}") from None
        target = url or str(state_dir / DB_NAME)
        db = connect(target)
        try:
            state = cls(db, state_dir)
            state._migrate()
        except database_errors() as exc:
            db.close()
            raise StateError(db.label, f"cannot open the state database: {describe_database_error(exc, target)}") \
                from None
        return state

    @classmethod
    def open_readonly(cls, state_dir: Path, url: str | None = None) -> State | None:
        """The database for reading only (`feeder status`, beside a running daemon), or None when
        there is none yet. Nothing is created or migrated; no lock is taken."""
        path = state_dir / DB_NAME
        if url is None and not path.is_file():
            return None
        target = url or str(path)
        db = connect(target, readonly=True)
        state = cls(db, state_dir)
        try:
            version = state._version()
        except database_errors() as exc:
            db.close()
            raise StateError(db.label, f"cannot open the state database: {describe_database_error(exc, target)}") \
                from None
        if version == 0 and url is not None:
            db.close()
            return None
        if version != len(MIGRATIONS):
            db.close()
            raise StateError(db.label, f"the state database has schema version {version}, this feeder "
                                       f"{len(MIGRATIONS)}: run a build (or upgrade feeder) first")
        return state

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> contextlib.AbstractContextManager[Database]:
        return self.conn.transaction()

    def _version(self) -> int:
        if self.dialect == "sqlite":
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        found = self.conn.execute("SELECT to_regclass('feeder_schema') IS NOT NULL").fetchone()[0]
        if not found:
            return 0
        row = self.conn.execute("SELECT version FROM feeder_schema").fetchone()
        return 0 if row is None else int(row[0])

    def _migrate(self) -> None:
        postgres = self.dialect == "postgresql"
        if postgres:
            # Several instances may start at once: one migrates, the others wait and find it done.
            self.conn.execute("CREATE TABLE IF NOT EXISTS feeder_schema (version BIGINT NOT NULL)")
        version = self._version()
        if version > len(MIGRATIONS):
            raise StateError(
                self.label,
                f"the state database has schema version {version}, newer than this feeder "
                f"understands ({len(MIGRATIONS)}); upgrade feeder or use another state_dir",
            )
        if version == len(MIGRATIONS):
            return
        with self.transaction():
            if postgres:
                self.conn.execute("LOCK TABLE feeder_schema IN EXCLUSIVE MODE")
                version = self._version()
            for target in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[target]):
                    self.conn.execute(_postgres_ddl(statement) if postgres else statement)
                log.debug("state database migrated to schema version %d", target + 1)
            if postgres:
                self.conn.execute("DELETE FROM feeder_schema")
                self.conn.execute("INSERT INTO feeder_schema (version) VALUES (?)", (len(MIGRATIONS),))
            else:
                self.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def rows_in(self, sql: str, values: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql`, whose `{marks}` stands for the placeholders of one
        batch of `values` (SQLite limits the number of parameters)."""
        wanted = list(dict.fromkeys(values))
        for i in range(0, len(wanted), 500):
            batch = wanted[i:i + 500]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(batch))), batch)

    # -- followed sources ------------------------------------------------------

    def source(self, key: str) -> SourceRow | None:
        row = self.conn.execute(f"SELECT {', '.join(_SOURCE_COLUMNS)} FROM sources WHERE key = ?",  # noqa: S608
                                (key,)).fetchone()
        if row is None:
            return None
        found = SourceRow(*row)
        found.gone = bool(found.gone)
        return found

    def save_source(self, row: SourceRow) -> None:
        self.conn.execute(upsert("sources", _SOURCE_COLUMNS, ("key",)), astuple(row))

    def ingested(self, source: str, entry: str) -> IngestedRow | None:
        row = self.conn.execute(f"SELECT {', '.join(_INGESTED_COLUMNS)} FROM ingested "  # noqa: S608
                                "WHERE source = ? AND entry = ?", (source, entry)).fetchone()
        return None if row is None else IngestedRow(*row)

    def ingested_by_link(self, canonical: str) -> str | None:
        row = self.conn.execute("SELECT article_id FROM ingested WHERE canonical = ? LIMIT 1", (canonical,)).fetchone()
        return None if row is None else str(row[0])

    def save_ingested(self, row: IngestedRow) -> None:
        self.conn.execute(upsert("ingested", _INGESTED_COLUMNS, ("source", "entry")), astuple(row))

    # -- small values ----------------------------------------------------------

    # -- media files (podcast enclosures) ---------------------------------------
    # Asked of every selecting build; few files have an incomplete enclosure, so
    # the partial index finds them without reading every published file.

    def media_due(self, now: datetime) -> list[str]:
        """Enclosure URLs of published articles whose type or length is still to be asked for."""
        return [u for (u,) in self.conn.execute(
            "SELECT DISTINCT f.media_url FROM files f INDEXED BY files_media_url "
            "LEFT JOIN media m ON m.url = f.media_url "
            "WHERE f.published = 1 AND f.media_url IS NOT NULL AND (m.url IS NULL OR m.next_due <= ?)",
            (_ts(now),))]

    def media(self) -> dict[str, tuple[str | None, int | None, str | None]]:
        """url → (type, length, error) of every media file asked about."""
        return {url: (t, n, e) for url, t, n, e in self.conn.execute("SELECT url, type, length, error FROM media")}

    def save_media(self, rows: Iterable[tuple[str, str | None, int | None, int | None, str | None, datetime,
                                              datetime]]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                upsert("media", ("url", "type", "length", "status", "error", "checked_at", "next_due"), ("url",)),
                [(u, t, n, s, e, _ts(c), _ts(d)) for u, t, n, s, e, c, d in rows])

    def media_problems(self) -> list[tuple[str, str, bool, str | None]]:
        """(path, enclosure URL, asked?, error) of published articles whose enclosure is still incomplete."""
        return [(p, u, bool(asked), e) for p, u, asked, e in self.conn.execute(
            "SELECT f.path, f.media_url, m.url IS NOT NULL, m.error FROM files f INDEXED BY files_media_url "
            "LEFT JOIN media m ON m.url = f.media_url WHERE f.published = 1 AND f.media_url IS NOT NULL "
            "AND (m.url IS NULL OR m.length IS NULL OR m.type IS NULL) ORDER BY f.path")]

    def media_fingerprint(self) -> str:
        rows = self.conn.execute("SELECT url, type, length FROM media ORDER BY url").fetchall()
        return json.dumps(rows)

    # -- podcasts and digests --------------------------------------------------

    def podcast_guid(self, feed: str, proposed: str) -> str:
        """The show's podcast:guid: the first one proposed for this feed, forever."""
        self.conn.execute("INSERT INTO podcasts (feed, guid) VALUES (?, ?) ON CONFLICT DO NOTHING", (feed, proposed))
        return str(self.conn.execute("SELECT guid FROM podcasts WHERE feed = ?", (feed,)).fetchone()[0])

    def frozen_digests(self, feed: str, kind: str) -> dict[str, str]:
        return dict(self.conn.execute("SELECT period, item FROM digests WHERE feed = ? AND kind = ?", (feed, kind)))

    def freeze_digest(self, feed: str, kind: str, period: str, item: str) -> None:
        self.conn.execute("INSERT INTO digests (feed, kind, period, item) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (feed, kind, period, item))

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        # Callers may already be inside a transaction; a single statement is atomic anyway.
        self.conn.execute(upsert("meta", ("key", "value"), ("key",)), (key, value))

    # -- rendered feeds --------------------------------------------------------

    def rendered(self) -> dict[str, Rendered]:
        """By feed slug ('' for all topics): what each feed of this output folder
        was last rendered from, and its date."""
        return {feed: Rendered(fp, updated) for feed, fp, updated in self.conn.execute(
            "SELECT feed, fingerprint, updated FROM output_feeds WHERE output = ?", (self.output_key,))}

    def save_rendered(self, feed: str, fingerprint: str, updated: str) -> None:
        self.conn.execute(upsert("output_feeds", ("output", "feed", "fingerprint", "updated"), ("output", "feed")),
                          (self.output_key, feed, fingerprint, updated))

    # -- what one output folder was built from ------------------------------------
    # One output folder per state by default. When several instances each render
    # their own (state.output: own), each keeps these facts under its own key.

    def _output_key(self, key: str) -> str:
        return f"{key}@{self.output_key}" if self.output_key else key

    def get_output_meta(self, key: str) -> str | None:
        return self.get_meta(self._output_key(key))

    def set_output_meta(self, key: str, value: str) -> None:
        self.set_meta(self._output_key(key), value)

    # Events that every output folder must act on once: a counter each bumps,
    # and each folder remembers the count it last acted on.

    def request(self, event: str) -> None:
        """`reselect` (link verdicts changed what is held back) or `sweep` (another
        instance wrote into the content folder)."""
        with self.transaction():
            count = int(self.get_meta(f"{event}_requests") or "0")
            self.set_meta(f"{event}_requests", str(count + 1))

    def pending(self, event: str) -> bool:
        return (self.get_meta(f"{event}_requests") or "0") != (self.get_output_meta(f"{event}_done") or "0")

    def done(self, event: str) -> None:
        self.set_output_meta(f"{event}_done", self.get_meta(f"{event}_requests") or "0")

    # -- feeds that exist ---------------------------------------------------

    def known_topics(self) -> dict[str, str]:
        """Topics that have had a feed (key → name): they keep one forever."""
        return dict(self.conn.execute("SELECT key, name FROM feeds"))

    def remember_topics(self, topics: Iterable[Topic]) -> None:
        rows = [(t.key, t.name, _now()) for t in topics]
        with self.transaction() as conn:
            conn.executemany("INSERT INTO feeds (key, name, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows)

    # -- link checks -----------------------------------------------------------

    def link_records(self, urls: Iterable[str] | None = None) -> dict[str, LinkRecord]:
        """Records for the given URLs (all of them when `urls` is None)."""
        if urls is None:
            every = self.conn.execute(f"SELECT {_LINK_COLUMNS} FROM links")  # noqa: S608 - constant columns
            return {row[0]: _link_record(row) for row in every}
        some = self.rows_in(f"SELECT {_LINK_COLUMNS} FROM links WHERE url IN ({{marks}})", urls)  # noqa: S608
        return {row[0]: _link_record(row) for row in some}

    def published_urls(self) -> list[str]:
        """The distinct original URLs of articles marked published."""
        return [u for (u,) in self.conn.execute(
            "SELECT DISTINCT original_url FROM files WHERE published = 1 ORDER BY original_url")]

    def published_url_count(self) -> int:
        return int(self.conn.execute(
            "SELECT COUNT(DISTINCT original_url) FROM files WHERE published = 1").fetchone()[0])

    def due_urls(self, now: datetime) -> list[str]:
        """Published articles' URLs that were never checked, then those overdue, longest overdue first."""
        rows = self.conn.execute(
            "SELECT f.original_url, l.next_due FROM files f LEFT JOIN links l ON l.url = f.original_url "
            "WHERE f.published = 1 AND (l.url IS NULL OR l.next_due <= ?) "
            "ORDER BY l.next_due IS NOT NULL, l.next_due, f.original_url",
            (_ts(now),),
        )
        return list(dict.fromkeys(u for u, _ in rows))

    def link_counts(self) -> dict[str, int]:
        """Verdicts of the published articles' URLs."""
        return dict(self.conn.execute(
            "SELECT l.verdict, COUNT(*) FROM links l WHERE l.url IN "
            "(SELECT original_url FROM files WHERE published = 1) GROUP BY l.verdict"))

    def save_link_records(self, records: Iterable[LinkRecord]) -> None:
        rows = [_link_row(r) for r in records]
        with self.transaction() as conn:
            conn.executemany(upsert("links", _LINK_COLUMN_NAMES, ("url",)), rows)

    def hosts_needing_get(self) -> dict[str, bool]:
        return {h: True for (h,) in self.conn.execute("SELECT host FROM hosts WHERE needs_get <> 0")}

    def save_hosts_needing_get(self, hosts: dict[str, bool]) -> None:
        with self.transaction() as conn:
            conn.executemany(upsert("hosts", ("host", "needs_get"), ("host",)),
                             [(h, int(v)) for h, v in hosts.items()])

    # -- work shared among instances ------------------------------------------

    def claim(self, kind: str, keys: Iterable[str], *, owner: str, until: datetime, now: datetime,
              limit: int | None = None) -> set[str]:
        """Of `keys` (the first `limit` that are free, in their order), those this
        instance now holds a lease on until `until`: free ones, expired ones and
        its own. Rows another instance is claiming at this very moment are
        skipped, not waited for (PostgreSQL's SKIP LOCKED)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        got: set[str] = set()
        with self.transaction():
            self.conn.executemany("INSERT INTO leases (kind, key, owner, until) VALUES (?, ?, '', '') "
                                  "ON CONFLICT DO NOTHING", [(kind, k) for k in wanted])
            for i in range(0, len(wanted), 500):
                batch = wanted[i:i + 500]
                marks = ",".join("?" * len(batch))
                free = {k for (k,) in self.conn.execute(
                    f"SELECT key FROM leases WHERE kind = ? AND key IN ({marks}) "  # noqa: S608
                    "AND (until < ? OR owner = ?) FOR UPDATE SKIP LOCKED", (kind, *batch, _ts(now), owner))}
                got.update(k for k in batch if k in free)
                if limit is not None and len(got) >= limit:
                    got = set([k for k in wanted if k in got][:limit])
                    break
            self.conn.executemany("UPDATE leases SET owner = ?, until = ? WHERE kind = ? AND key = ?",
                                  [(owner, _ts(until), kind, k) for k in sorted(got)])
        return got

    def release(self, kind: str, *, owner: str) -> None:
        """Give back every lease of `kind` this instance holds."""
        self.conn.execute("UPDATE leases SET until = '' WHERE kind = ? AND owner = ?", (kind, owner))

    # -- articles that have been in a feed -------------------------------------

    def in_feed(self) -> set[str]:
        return {a for (a,) in self.conn.execute("SELECT article_id FROM in_feed")}

    def mark_in_feed(self, article_ids: Iterable[str]) -> None:
        now = _now()
        with self.transaction() as conn:
            conn.executemany("INSERT INTO in_feed (article_id, first_seen) VALUES (?, ?) ON CONFLICT DO NOTHING",
                             [(a, now) for a in article_ids])
