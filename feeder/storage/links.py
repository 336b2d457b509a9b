"""Link-check records of the published articles' original URLs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from feeder.model import LinkRecord, LinkResult, Verdict
from feeder.storage.base import Store
from feeder.storage.schema import dt, ts, upsert

__all__ = ["LinkStore"]

_LINK_COLUMNS = ("url, verdict, reason, status, final_url, redirects, error, checked_at, first_checked, next_due, "
                 "dead_count, first_dead_at, last_dead_at, unknown_count, ever_alive")
_LINK_COLUMN_NAMES = tuple(c.strip() for c in _LINK_COLUMNS.split(","))


def _link_row(rec: LinkRecord) -> tuple[object, ...]:
    r = rec.last
    return (r.url, r.verdict.value, r.reason, r.status, r.final_url, json.dumps(list(r.redirects)), r.error,
            ts(r.checked_at), ts(rec.first_checked), ts(rec.next_due), rec.dead_count,
            ts(rec.first_dead_at), ts(rec.last_dead_at), rec.unknown_count, int(rec.ever_alive))


def _link_record(row: tuple) -> LinkRecord:  # type: ignore[type-arg]
    (url, verdict, reason, status, final_url, redirects, error, checked_at, first_checked, next_due,
     dead_count, first_dead_at, last_dead_at, unknown_count, ever_alive) = row
    result = LinkResult(url=url, verdict=Verdict(verdict), reason=reason, checked_at=dt(checked_at),  # type: ignore[arg-type]
                        status=status, final_url=final_url, redirects=tuple(json.loads(redirects)), error=error)
    return LinkRecord(last=result, first_checked=dt(first_checked), next_due=dt(next_due),  # type: ignore[arg-type]
                      dead_count=dead_count, first_dead_at=dt(first_dead_at), last_dead_at=dt(last_dead_at),
                      unknown_count=unknown_count, ever_alive=bool(ever_alive))



class LinkStore(Store):
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
            (ts(now),),
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

