"""What every store of the state database builds on: its connection, its
transactions and its small values (the `meta` table)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from feeder.storage.db import Database
from feeder.storage.schema import upsert

__all__ = ["Store"]


class Store:
    conn: Database

    def transaction(self) -> contextlib.AbstractContextManager[Database]:
        return self.conn.transaction()

    def rows_in(self, sql: str, values: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql`, whose `{marks}` stands for the placeholders of one
        batch of `values` (SQLite limits the number of parameters)."""
        wanted = list(dict.fromkeys(values))
        for i in range(0, len(wanted), 500):
            batch = wanted[i:i + 500]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(batch))), batch)

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        # Callers may already be inside a transaction; a single statement is atomic anyway.
        self.conn.execute(upsert("meta", ("key", "value"), ("key",)), (key, value))

