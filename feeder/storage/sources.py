"""Followed sources and the entries ingest wrote from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields

from feeder.storage.base import Store
from feeder.storage.schema import upsert

__all__ = ["IngestedRow", "SourceRow", "SourceStore", "Subscription"]


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
    title: str | None = None  # the feed's own title, as last fetched
    home: str | None = None  # its site
    hub: str | None = None  # the WebSub hub it advertises (rel="hub")
    self_url: str | None = None  # its rel="self": the topic its hub knows it by


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


@dataclass
class Subscription:
    """A WebSub subscription to a source's hub."""

    source: str  # the source's slug
    hub: str
    topic: str
    token: str  # the last part of its callback URL
    secret: str
    state: str  # pending, active, unsubscribing or failed
    requested: str | None = None  # ISO 8601, UTC
    expires: str | None = None
    lease: int | None = None  # seconds
    failures: int = 0
    retry_at: str | None = None
    last_error: str | None = None


_SOURCE_COLUMNS = tuple(f.name for f in fields(SourceRow))
_SUBSCRIPTION_COLUMNS = tuple(f.name for f in fields(Subscription))
_INGESTED_COLUMNS = tuple(f.name for f in fields(IngestedRow))



class SourceStore(Store):
    def source(self, key: str) -> SourceRow | None:
        row = self.conn.execute(f"SELECT {', '.join(_SOURCE_COLUMNS)} FROM sources WHERE key = ?",  # noqa: S608
                                (key,)).fetchone()
        if row is None:
            return None
        found = SourceRow(*row)
        found.gone = bool(found.gone)
        return found

    def sources(self, keys: Iterable[str]) -> dict[str, SourceRow]:
        """The rows of these sources, by key (those never fetched are missing)."""
        found = {}
        for row in self.rows_in(f"SELECT {', '.join(_SOURCE_COLUMNS)} FROM sources "  # noqa: S608
                                "WHERE key IN ({marks})", keys):
            source = SourceRow(*row)
            source.gone = bool(source.gone)
            found[source.key] = source
        return found

    def save_source(self, row: SourceRow) -> None:
        self.conn.execute(upsert("sources", _SOURCE_COLUMNS, ("key",)), astuple(row))

    def save_sources(self, rows: Iterable[SourceRow]) -> None:
        """Several rows in one transaction (a round of ten thousand sources wrote one at a time)."""
        with self.transaction() as conn:
            conn.executemany(upsert("sources", _SOURCE_COLUMNS, ("key",)), [astuple(r) for r in rows])

    def ingested(self, source: str, entry: str) -> IngestedRow | None:
        row = self.conn.execute(f"SELECT {', '.join(_INGESTED_COLUMNS)} FROM ingested "  # noqa: S608
                                "WHERE source = ? AND entry = ?", (source, entry)).fetchone()
        return None if row is None else IngestedRow(*row)

    def ingested_by_link(self, canonical: str, *, besides: str | None = None) -> tuple[str, str] | None:
        """(source, article id) of an entry already written with this canonical
        link, from a source other than `besides` when given."""
        if besides is None:
            row = self.conn.execute("SELECT source, article_id FROM ingested WHERE canonical = ? LIMIT 1",
                                    (canonical,)).fetchone()
        else:
            row = self.conn.execute("SELECT source, article_id FROM ingested WHERE canonical = ? AND source <> ? "
                                    "LIMIT 1", (canonical, besides)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def ingested_files(self, source: str) -> list[IngestedRow]:
        """The entries of a source that feeder wrote a file for."""
        rows = self.conn.execute(f"SELECT {', '.join(_INGESTED_COLUMNS)} FROM ingested "  # noqa: S608
                                 "WHERE source = ? AND path IS NOT NULL ORDER BY entry", (source,))
        return [IngestedRow(*row) for row in rows]

    def save_ingested(self, row: IngestedRow) -> None:
        self.conn.execute(upsert("ingested", _INGESTED_COLUMNS, ("source", "entry")), astuple(row))

    def all_sources(self) -> list[SourceRow]:
        rows = self.conn.execute(f"SELECT {', '.join(_SOURCE_COLUMNS)} FROM sources ORDER BY key")  # noqa: S608
        found = [SourceRow(*row) for row in rows]
        for row in found:
            row.gone = bool(row.gone)
        return found

    def subscriptions(self) -> dict[str, Subscription]:
        """Every WebSub subscription, by source."""
        rows = self.conn.execute(f"SELECT {', '.join(_SUBSCRIPTION_COLUMNS)} FROM websub")  # noqa: S608
        return {row[0]: Subscription(*row) for row in rows}

    def save_subscription(self, sub: Subscription) -> None:
        self.conn.execute(upsert("websub", _SUBSCRIPTION_COLUMNS, ("source",)), astuple(sub))

    def delete_subscription(self, source: str) -> None:
        self.conn.execute("DELETE FROM websub WHERE source = ?", (source,))

    def count_pushes(self, counts: dict[str, int]) -> None:
        """Add deliveries received, by outcome."""
        with self.transaction() as conn:
            for outcome, n in counts.items():
                row = conn.execute("SELECT count FROM pushes WHERE outcome = ?", (outcome,)).fetchone()
                conn.execute(upsert("pushes", ("outcome", "count"), ("outcome",)),
                             (outcome, (row[0] if row else 0) + n))

    def pushes(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.conn.execute("SELECT outcome, count FROM pushes ORDER BY outcome")}
