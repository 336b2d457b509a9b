"""PostgreSQL advisory locks: one build at a time across machines, and one
publishing daemon among several.

Session-level locks belong to a connection: PostgreSQL frees them when the
session ends, however it ends (a crash, a `kill -9`, a machine whose TCP
keepalives stop answering). A lock is therefore only as good as its
connection, and each holder confirms it on that same connection before it
writes (`holds`).

Keys are two 32-bit integers: feeder's own class, and a hash of the schema and
the lock's name, so that deployments in different schemas of one database
never block each other.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib

from feeder.errors import LockTimeout, check_cancel
from feeder.storage.db import PostgresDatabase, database_errors, describe_database_error

__all__ = ["Leadership", "advisory_key", "holds", "lock", "unlock"]

log = logging.getLogger(__name__)

_CLASS = 0x66656564  # "feed"

# Client keepalives plus the server's, set for this session: either end
# notices a vanished peer within about 9 s, and the server frees the lock.
_KEEPALIVE = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 2")


def advisory_key(db: PostgresDatabase, name: str) -> tuple[int, int]:
    schema = db.execute("SELECT current_schema()").fetchone()[0] or ""
    return _CLASS, zlib.crc32(f"{schema}:{name}".encode()) & 0x7FFFFFFF


def try_lock(db: PostgresDatabase, key: tuple[int, int]) -> bool:
    return bool(db.execute("SELECT pg_try_advisory_lock(?, ?)", key).fetchone()[0])


def lock(db: PostgresDatabase, name: str, *, timeout: float, cancel: threading.Event | None = None,
         poll: float = 0.1) -> tuple[int, int]:
    """Take the lock `name` on this connection, waiting at most `timeout` seconds."""
    key = advisory_key(db, name)
    deadline = time.monotonic() + timeout
    told = False
    while not try_lock(db, key):
        if time.monotonic() >= deadline:
            raise LockTimeout(f"{db.label} (lock {name})", timeout)
        if not told:
            holder = db.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = ?::oid "
                                "AND objid = ?::oid AND granted", key).fetchone()
            log.warning("another feeder build holds the %s lock of %s (PostgreSQL backend %s); waiting up to %g s",
                        name, db.label, holder[0] if holder else "?", timeout)
            told = True
        check_cancel(cancel)
        time.sleep(poll)
    return key


def holds(db: PostgresDatabase, key: tuple[int, int]) -> bool:
    """Whether this connection still holds the lock: False when the connection is gone."""
    try:
        row = db.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                         "AND classid = ?::oid AND objid = ?::oid AND objsubid = 2 AND granted", key).fetchone()
    except database_errors():
        return False
    return bool(row and row[0])


def unlock(db: PostgresDatabase, key: tuple[int, int]) -> None:
    try:
        db.execute("SELECT pg_advisory_unlock(?, ?)", key)
    except database_errors() as exc:
        log.debug("advisory unlock: %s", exc)  # the session is gone: so is the lock


class Leadership:
    """Which daemon publishes: the one whose connection holds the `publisher` lock.

    `poll` (from the standby loop) takes the lock when it is free, and tells a
    publisher that has lost its connection (hence its lock) that it has.
    `poll` runs in the scheduler's threads and `release` in the daemon's main
    thread at shutdown, while a last poll may still run: they take turns.
    """

    def __init__(self, url: str, *, timeout: float, cooldown: float = 0.0):
        self.url = url
        self.timeout = timeout  # seconds for connecting and for each query
        # After losing the lock, stand by this long before competing again:
        # a standby that is reachable takes over meanwhile.
        self.cooldown = cooldown
        self._db: PostgresDatabase | None = None
        self._key: tuple[int, int] | None = None
        self._lost_at: float | None = None
        self._unreachable = False
        self._turn = threading.Lock()
        self.leading = False

    def poll(self) -> bool:
        """Confirm or seek leadership; returns whether this instance leads now."""
        with self._turn:
            return self._poll()

    def _poll(self) -> bool:
        if self.leading:
            assert self._db is not None and self._key is not None
            if holds(self._db, self._key):
                return True
            log.error("lost the connection that holds the publisher lock: standing by")
            self._drop()
            self._lost_at = time.monotonic()
        if self._lost_at is not None and time.monotonic() - self._lost_at < self.cooldown:
            return False
        try:
            if self._db is None:
                self._db = PostgresDatabase.open(self.url, connect_timeout=self.timeout,
                                                 application="feeder publisher lock")
                for statement in _KEEPALIVE:
                    self._db.execute(statement)
                self._db.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")
                self._key = advisory_key(self._db, "publisher")
            assert self._key is not None
            self.leading = try_lock(self._db, self._key)
        except database_errors() as exc:
            # Said once per outage; the daemon keeps trying every poll.
            (log.debug if self._unreachable else log.warning)(
                "cannot reach the state database to claim publishing: %s (retrying every %g s)",
                describe_database_error(exc, self.url), self.timeout)
            self._unreachable = True
            self._drop()
            return self.leading
        if self._unreachable:
            log.info("the state database is reachable again")
            self._unreachable = False
        return self.leading

    def _drop(self) -> None:
        self.leading = False
        if self._db is not None:
            try:
                self._db.close()
            except database_errors():
                pass
        self._db = None

    def release(self) -> None:
        with self._turn:
            if self._db is not None and self._key is not None and self.leading:
                unlock(self._db, self._key)
            self._drop()
