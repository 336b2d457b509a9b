"""Work claimed by one of several instances sharing a state: leases on
hosts (link checks) and sources (ingest)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from feeder.storage.base import Store
from feeder.storage.schema import ts

__all__ = ["LeaseStore", "instance_id"]


def instance_id() -> str:
    """This process among the instances sharing a state: host and pid."""
    import socket  # 8 ms to import: only a process that claims work asks

    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseStore(Store):
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
                    "AND (until < ? OR owner = ?) FOR UPDATE SKIP LOCKED", (kind, *batch, ts(now), owner))}
                got.update(k for k in batch if k in free)
                if limit is not None and len(got) >= limit:
                    got = set([k for k in wanted if k in got][:limit])
                    break
            self.conn.executemany("UPDATE leases SET owner = ?, until = ? WHERE kind = ? AND key = ?",
                                  [(owner, ts(until), kind, k) for k in sorted(got)])
        return got

    def release(self, kind: str, *, owner: str) -> None:
        """Give back every lease of `kind` this instance holds."""
        self.conn.execute("UPDATE leases SET until = '' WHERE kind = ? AND owner = ?", (kind, owner))

