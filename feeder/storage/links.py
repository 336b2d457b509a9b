"""Link-check records of the published articles' original URLs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from feeder.storage.base import Store
from feeder.storage.schema import dt, ts, upsert

if TYPE_CHECKING:
    from feeder.model import LinkRecord

__all__ = ["LinkRow", "LinkStore"]

class LinkRow(NamedTuple):
    """One row of the `links` table, as stored (times as ISO 8601 text in UTC)."""

    url: str
    verdict: str
    reason: str
    status: int | None
    final_url: str | None
    redirects: str  # JSON list
    error: str | None
    checked_at: str
    first_checked: str
    next_due: str
    dead_count: int
    first_dead_at: str | None
    last_dead_at: str | None
    unknown_count: int
    ever_alive: int

    @classmethod
    def of(cls, rec: LinkRecord) -> LinkRow:
        r = rec.last
        return cls(r.url, r.verdict.value, r.reason, r.status, r.final_url, json.dumps(list(r.redirects)), r.error,
                   ts(r.checked_at) or "", ts(rec.first_checked) or "", ts(rec.next_due) or "", rec.dead_count,
                   ts(rec.first_dead_at), ts(rec.last_dead_at), rec.unknown_count, int(rec.ever_alive))

    def record(self) -> LinkRecord:
        # Not at the top: opening the state does not load the model.
        from feeder.model import LinkRecord, LinkResult, Verdict

        result = LinkResult(url=self.url, verdict=Verdict(self.verdict), reason=self.reason,
                            checked_at=datetime.fromisoformat(self.checked_at), status=self.status,
                            final_url=self.final_url, redirects=tuple(json.loads(self.redirects)), error=self.error)
        return LinkRecord(last=result, first_checked=datetime.fromisoformat(self.first_checked),
                          next_due=datetime.fromisoformat(self.next_due), dead_count=self.dead_count,
                          first_dead_at=dt(self.first_dead_at), last_dead_at=dt(self.last_dead_at),
                          unknown_count=self.unknown_count, ever_alive=bool(self.ever_alive))


_LINK_COLUMNS = ", ".join(LinkRow._fields)


class LinkStore(Store):
    def link_records(self, urls: Iterable[str] | None = None) -> dict[str, LinkRecord]:
        """Records for the given URLs (all of them when `urls` is None)."""
        if urls is None:
            every = self.conn.execute(f"SELECT {_LINK_COLUMNS} FROM links")  # noqa: S608 - constant columns
            return {row[0]: LinkRow(*row).record() for row in every}
        some = self.rows_in(f"SELECT {_LINK_COLUMNS} FROM links WHERE url IN ({{marks}})", urls)  # noqa: S608
        return {row[0]: LinkRow(*row).record() for row in some}

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
            (ts(now),),
        )
        return list(dict.fromkeys(u for u, _ in rows))

    def link_counts(self) -> dict[str, int]:
        """Verdicts of the published articles' URLs."""
        return dict(self.conn.execute(
            "SELECT l.verdict, COUNT(*) FROM links l WHERE l.url IN "
            "(SELECT original_url FROM files WHERE published = 1) GROUP BY l.verdict"))

    def save_link_records(self, records: Iterable[LinkRecord]) -> None:
        rows = [LinkRow.of(r) for r in records]
        with self.transaction() as conn:
            conn.executemany(upsert("links", LinkRow._fields, ("url",)), rows)

    def hosts_needing_get(self) -> dict[str, bool]:
        return {h: True for (h,) in self.conn.execute("SELECT host FROM hosts WHERE needs_get <> 0")}

    def save_hosts_needing_get(self, hosts: dict[str, bool]) -> None:
        with self.transaction() as conn:
            conn.executemany(upsert("hosts", ("host", "needs_get"), ("host",)),
                             [(h, int(v)) for h, v in hosts.items()])

