"""The state database: what feeder must remember between runs.

By default one SQLite file in `state_dir`, created on first use; with
`state.url` (or FEEDER_STATE_URL) a PostgreSQL database that several
instances share. One schema and one migration history serve both: the
migrations (`feeder.storage.schema`) are written for SQLite and mapped to
PostgreSQL's types there. The version is SQLite's `PRAGMA user_version`, or the
`feeder_schema` table. Writes happen in transactions, so a crash loses at
most the transaction in progress and never leaves the state inconsistent.

`State` is one connection and every store's queries, each store in its own
module by what it keeps: sources and ingested entries, link records, media
files, what was published (outputs), and leases on shared work. The content
catalog (`files` and its snapshot) is `feeder.content.catalog`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from feeder.errors import NotPublisher, StateError, describe_os_error
from feeder.storage.db import Database, connect, database_errors, describe_database_error
from feeder.storage.leases import LeaseStore, instance_id
from feeder.storage.links import LinkStore
from feeder.storage.media import MediaStore
from feeder.storage.outputs import OutputStore, Rendered
from feeder.storage.schema import MIGRATIONS, TABLES, postgres_ddl, statements, upsert
from feeder.storage.sources import IngestedRow, SourceRow, SourceStore

__all__ = ["DB_NAME", "MIGRATIONS", "TABLES", "IngestedRow", "Rendered", "SourceRow", "State", "instance_id",
           "upsert"]

log = logging.getLogger(__name__)

DB_NAME = "feeder.sqlite3"

T = TypeVar("T")


class State(SourceStore, LinkStore, MediaStore, OutputStore, LeaseStore):
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
        state = cls(connect(target), state_dir)
        state._checked(state._migrate, target)
        return state

    @classmethod
    def open_readonly(cls, state_dir: Path, url: str | None = None) -> State | None:
        """The database for reading only (`feeder status`, beside a running daemon), or None when
        there is none yet. Nothing is created or migrated; no lock is taken."""
        path = state_dir / DB_NAME
        if url is None and not path.is_file():
            return None
        target = url or str(path)
        state = cls(connect(target, readonly=True), state_dir)
        version = state._checked(state._version, target)
        if version == 0 and url is not None:
            state.close()
            return None
        if version != len(MIGRATIONS):
            state.close()
            raise StateError(state.label, f"the state database has schema version {version}, this feeder "
                                          f"{len(MIGRATIONS)}: run a build (or upgrade feeder) first")
        return state

    def _checked(self, step: Callable[[], T], target: str) -> T:
        """Run a first step on a new connection; on failure close it and say why, once."""
        try:
            return step()
        except database_errors() as exc:
            self.close()
            raise StateError(self.label, f"cannot open the state database: {describe_database_error(exc, target)}") \
                from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.close()
        if exc is not None and isinstance(exc, database_errors()):
            # Whatever step a driver's error struck (a damaged page read in
            # the middle of a build, a read-only file at the first write), it
            # ends the run as one line that names the database and what to do.
            raise StateError(self.label, describe_database_error(exc, self.conn.target)) from None

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
            # CREATE TABLE IF NOT EXISTS lets two of them pass its check together and fails the
            # second on PostgreSQL's catalog: they create the table one at a time.
            from feeder.storage.advisory import advisory_key

            with self.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(?, ?)", advisory_key(self.conn, "schema"))  # type: ignore[arg-type]
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
                for statement in statements(MIGRATIONS[target]):
                    self.conn.execute(postgres_ddl(statement) if postgres else statement)
                log.debug("state database migrated to schema version %d", target + 1)
            if postgres:
                self.conn.execute("DELETE FROM feeder_schema")
                self.conn.execute("INSERT INTO feeder_schema (version) VALUES (?)", (len(MIGRATIONS),))
            else:
                self.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

