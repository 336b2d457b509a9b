"""`feeder state copy`: move a whole state to another database (SQLite to
PostgreSQL when one machine is no longer enough, and back).

Every table is copied row for row in one transaction of the target, so the
next build on the target behaves as the next build on the source would have:
podcast guids, frozen digest periods, link histories, ingest validators and
which files ingest owns all come along. The target must be empty: merging
two states would mix two histories.
"""

from __future__ import annotations

import logging

from feeder.errors import StateError
from feeder.storage.state import TABLES, State

__all__ = ["copy_state"]

log = logging.getLogger(__name__)


def copy_state(source: State, target: State) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; returns rows per table."""
    if source.conn.target == target.conn.target:
        raise StateError(target.label, "is the state being copied")
    used = [t for t in TABLES if target.conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]  # noqa: S608
    if used:
        raise StateError(target.label, f"is not empty (table {used[0]} has rows): copy into a new database, "
                                       "schema or state_dir")
    counts: dict[str, int] = {}
    with target.transaction():
        for table in TABLES:
            cursor = source.conn.execute(f"SELECT * FROM {table}")  # noqa: S608 - names from the schema
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            if rows:
                target.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                                        f"VALUES ({', '.join('?' * len(columns))})", rows)
            counts[table] = len(rows)
            log.debug("copied %d rows of %s", len(rows), table)
    return counts
