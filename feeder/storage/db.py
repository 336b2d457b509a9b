"""One connection to the state database, SQLite or PostgreSQL, behind one interface.

feeder writes one SQL for both engines: `?` placeholders, `INSERT ... ON
CONFLICT`, integers for flags. The few things only one engine understands
are mapped here, in one place: PostgreSQL gets `%s` placeholders and loses
SQLite's `INDEXED BY` hints; SQLite loses PostgreSQL's `FOR UPDATE SKIP
LOCKED` (its writers take turns anyway). Errors of either driver become
`StateError`, naming the database without its password.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from feeder.errors import StateError

__all__ = ["Cursor", "Database", "PostgresDatabase", "SqliteDatabase", "connect", "database_errors",
           "describe_database_error", "is_postgres_url", "redact_url", "secondary_indexes"]

POSTGRES_SCHEMES = ("postgresql", "postgres")


class Cursor(Protocol):
    @property
    def description(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    dialect: str  # "sqlite" or "postgresql"
    target: str  # what `connect` opens again: a file path or a URL
    label: str  # for messages: the path, or the URL without its password

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def transaction(self) -> contextlib.AbstractContextManager[Database]: ...
    def close(self) -> None: ...


def is_postgres_url(target: str) -> bool:
    return urlsplit(target).scheme in POSTGRES_SCHEMES


def redact_url(url: str) -> str:
    """The URL as it may appear in a log: without its password, wherever it was given."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = "&".join(f"{k}={'***' if k == 'password' else v}" for k, v in parse_qsl(parts.query))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions either driver raises (psycopg's only when it is installed)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


# -- SQLite ---------------------------------------------------------------------

_SKIP_LOCKED = re.compile(r"\s+FOR UPDATE SKIP LOCKED", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _sqlite_sql(sql: str) -> str:
    return _SKIP_LOCKED.sub("", sql)


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.target = str(path)
        self.label = str(path)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, timeout: float = 30) -> SqliteDatabase:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
            return cls(conn, path)
        for name in (path, _sibling(path, "-wal"), _sibling(path, "-shm")):
            # Opening a file feeder cannot write leaves -wal and -shm files behind
            # with its permissions, which break the next run even once fixed.
            if name.exists() and not os.access(name, os.R_OK | os.W_OK):
                raise sqlite3.OperationalError(f"attempt to write a readonly database ({name.name} is not writable)")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise sqlite3.OperationalError(f"attempt to write a readonly database ({path.parent} is not writable)")
        before = {suffix: _sibling(path, suffix).exists() for suffix in ("-wal", "-shm")}
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            for suffix, existed in before.items():  # what this failed open made, and nothing else
                made = _sibling(path, suffix)
                if not existed and (suffix == "-shm" or (made.exists() and made.stat().st_size == 0)):
                    with contextlib.suppress(OSError):
                        made.unlink()
            raise
        return cls(conn, path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(_sqlite_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(_sqlite_sql(sql), rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqliteDatabase]:
        # IMMEDIATE takes the write lock at once: two writers never both read
        # and then fail to upgrade.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


# -- PostgreSQL -------------------------------------------------------------------

_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _postgres_sql(sql: str) -> str:
    # No feeder statement has a `?` or `%` inside a string literal.
    return _INDEXED_BY.sub("", sql).replace("%", "%%").replace("?", "%s")


def _postgres_params(params: Sequence[Any]) -> Sequence[Any]:
    # Flags are integer columns (as in SQLite); psycopg would send a bool as boolean.
    if any(type(p) is bool for p in params):
        return [int(p) if type(p) is bool else p for p in params]
    return params


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, conn: Any, url: str):
        self.conn = conn
        self.target = url
        self.label = redact_url(url)

    @classmethod
    def open(cls, url: str, *, connect_timeout: float = 10, application: str = "feeder") -> PostgresDatabase:
        try:
            import psycopg
        except ImportError:
            raise StateError(redact_url(url), "PostgreSQL needs psycopg: pip install 'feeder[postgresql]'") from None
        # Keepalives let the server notice a vanished machine within seconds,
        # which frees its advisory locks (see feeder.storage.advisory).
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout)),
                               application_name=application, keepalives=1, keepalives_idle=5,
                               keepalives_interval=2, keepalives_count=2)
        return cls(conn, url)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(_postgres_sql(sql), _postgres_params(params))  # type: ignore[no-any-return]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_postgres_sql(sql), [_postgres_params(r) for r in rows])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresDatabase]:
        with self.conn.transaction():
            yield self

    def close(self) -> None:
        self.conn.close()


def connect(target: str | Path, *, readonly: bool = False, timeout: float = 30) -> Database:
    """Open the database `target` names: a PostgreSQL URL, or an SQLite file."""
    target_text = str(target)
    postgres = is_postgres_url(target_text)
    try:
        if postgres:
            return PostgresDatabase.open(target_text)
        return SqliteDatabase.open(Path(target_text), readonly=readonly, timeout=timeout)
    except database_errors() as exc:
        label = redact_url(target_text) if postgres else target_text
        raise StateError(label, f"cannot open the state database: {describe_database_error(exc, target_text)}") \
            from None


def secondary_indexes(db: Database, tables: Sequence[str]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes on `tables` that may be
    dropped and made again (not those behind a primary key or a unique
    constraint)."""
    marks = ", ".join("?" * len(tables))
    if db.dialect == "postgresql":
        rows = db.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "  # noqa: S608
            f"AND i.tablename IN ({marks}) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname", tables)
    else:
        rows = db.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({marks}) "  # noqa: S608
                          "AND sql IS NOT NULL ORDER BY name", tables)
    return [(name, sql) for name, sql in rows]


def describe_database_error(exc: BaseException, url: str = "") -> str:
    """One line for an error of either driver, never with a password in it,
    and for SQLite's what to do about a damaged, read-only or locked file."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    password = urlsplit(url).password if url else None
    if password:
        text = text.replace(password, "***")
    if isinstance(exc, sqlite3.Error):
        return _sqlite_advice(text)
    if "password authentication failed" in text:
        return f"cannot connect: {text} (check the user and password of state.url or FEEDER_STATE_URL)"
    if "does not exist" in text and "database" in text:
        return f"cannot connect: {text} (create it with createdb, or fix the URL)"
    if "Connection refused" in text or "timeout expired" in text or "could not translate host" in text:
        return f"cannot connect: {text} (is PostgreSQL running and reachable?)"
    return text


def _sqlite_advice(text: str) -> str:
    low = text.lower()
    if "malformed" in low or "not a database" in low or "encrypted" in low:
        return (f"the database is damaged ({text}): restore it from a backup, or move it away (with its -wal and "
                "-shm files) and run feeder build, which rebuilds it from the content folder (link-check "
                "history, podcast guids and ingest records start afresh)")
    if "readonly" in low or "read-only" in low:
        return (f"the database cannot be written ({text}): let the user feeder runs as write to it, to its "
                "-wal and -shm files and to its folder")
    if "locked" in low or "busy" in low:
        return f"the database is locked ({text}) by another program for longer than feeder waits: close it and retry"
    if "unable to open" in low:
        return f"cannot open the database file ({text}): check that its folder exists and is writable"
    if "disk i/o" in low or "full" in low:
        return f"the disk failed ({text}): check the file system it is on, and its free space"
    return text
