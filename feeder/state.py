"""The state database: what feeder must remember between runs.

One SQLite file in `state_dir`, created on first use, its schema versioned
with `PRAGMA user_version` and migrated forward in order. Writes happen in
transactions, so a crash loses at most the transaction in progress and never
leaves the file inconsistent (SQLite's journal sees to that).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from .errors import StateError, describe_os_error
from .model import Topic

__all__ = ["DB_NAME", "State"]

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
]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class State:
    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> State:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(state_dir, f"cannot create the state folder: {describe_os_error(exc)}") from None
        path = state_dir / DB_NAME
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            state = cls(conn, path)
            state._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(path, f"cannot open the state database: {exc}") from None
        return state

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(
                self.path,
                f"the state database has schema version {version}, newer than this feeder "
                f"understands ({len(MIGRATIONS)}); upgrade feeder or use another state_dir",
            )
        for target in range(version, len(MIGRATIONS)):
            with self.transaction() as conn:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target + 1}")
            log.debug("state database migrated to schema version %d", target + 1)

    # -- feeds that exist ---------------------------------------------------

    def known_topics(self) -> dict[str, str]:
        """Topics that have had a feed (key → name): they keep one forever."""
        return dict(self.conn.execute("SELECT key, name FROM feeds"))

    def remember_topics(self, topics: Iterable[Topic]) -> None:
        rows = [(t.key, t.name, _now()) for t in topics]
        with self.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO feeds (key, name, first_seen) VALUES (?, ?, ?)", rows)
