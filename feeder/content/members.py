"""Each feed's newest published articles, asked of the state database.

A build that does not keep the catalog in memory (a cron run) would read
every file's row to select a handful of items per feed. The catalog keeps
each published article's topic names in `file_topics`, indexed by name and
date, so that a feed's newest items are an indexed range read and the
spelling counts one pass over an index, in the database's own code.
`Members` answers the questions of `feeder.selection.feeds.select_indexed`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Sequence

from feeder.content.catalog import Entry
from feeder.content.parsing import TOPIC_SEP
from feeder.selection.custom import Facets, Query, matches
from feeder.storage.base import Store

__all__ = ["Candidates", "Members"]

_ROW = "f.path, f.article_id, f.published_at, f.topics"


def _order(e: Entry) -> tuple[float, str]:
    return (-e.timestamp, e.id)


class Members:
    """The published articles of a catalog, but the files `dropped` (the
    duplicates of another file's id), as selection sees them."""

    def __init__(self, state: Store, dropped: Collection[str] = (), held: Collection[str] = ()):
        self._state = state
        self._conn = state.conn
        self._dropped = frozenset(dropped)
        self._held = frozenset(held)  # ids the link policy holds back (only `every` leaves them out)
        self._topics: dict[str, tuple[str, ...]] = {}  # few distinct topic lists: each split once
        self._dropped_entries: list[Entry] | None = None

    def spelling_counts(self, until: float) -> dict[str, int]:
        """How many articles visible at `until` carry each topic name."""
        counts: dict[str, int] = dict(self._conn.execute(
            "SELECT name, COUNT(*) FROM file_topics WHERE published_at <= ? GROUP BY name", (until,)))
        for e in self._dropped_visible(until):
            for name in e.topics:
                counts[name] -= 1
        return {name: n for name, n in counts.items() if n > 0}

    def visible_count(self, until: float) -> int:
        found = self._conn.execute(
            "SELECT COUNT(*) FROM files WHERE published = 1 AND published_at <= ?", (until,)).fetchone()[0]
        return int(found) - len(self._dropped_visible(until))

    def newest(self, names: Sequence[str] | None, until: float, limit: int | None) -> list[Entry]:
        """The `limit` newest articles visible at `until` (with one of `names`, unless None; every one
        with no limit)."""
        # A dropped file may take a place: ask for as many more as there are.
        return self._take(self._ordered(names, until, None, None if limit is None else limit + len(self._dropped)),
                          limit)

    def since(self, names: Sequence[str] | None, until: float, since: float) -> list[Entry]:
        """Every article visible at `until` published at `since` or later (with one of `names`, unless None)."""
        return self._take(self._ordered(names, until, since, None), None)

    def _ordered(self, names: Sequence[str] | None, until: float, since: float | None,
                 limit: int | None) -> Iterable[Entry]:
        """Visible articles newest first, from `since` on, at most `limit` from each read."""
        bounds, params = ["published_at <= ?"], [until]
        if since is not None:
            bounds.append("published_at >= ?")
            params.append(since)
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        if names is None:
            where = " AND ".join(f"f.{b}" for b in bounds)
            return self._entries(self._conn.execute(
                f"SELECT {_ROW} FROM files f WHERE f.published = 1 AND {where} "  # noqa: S608
                f"ORDER BY f.published_at DESC, f.article_id{tail}", params))
        # One ordered, limited read per spelling, merged: an IN list would make
        # the database sort every member of the topic. The index holds every
        # column read: no row of `files` is looked up.
        where = " AND ".join(bounds)
        return heapq.merge(*(self._entries(self._conn.execute(
            "SELECT path, article_id, published_at, topics FROM file_topics "  # noqa: S608
            f"WHERE name = ? AND {where} ORDER BY published_at DESC, article_id{tail}", [name, *params]))
            for name in names), key=_order)

    def every(self, names: Sequence[str] | None, until: float) -> list[Entry]:
        """Every article visible at `until` (with one of `names`, unless None), newest first, none held back."""
        return [e for e in self._take(self._ordered(names, until, None, None), None) if e.id not in self._held]

    def _take(self, entries: Iterable[Entry], limit: int | None) -> list[Entry]:
        """Entries in order, each once (an article may carry two spellings of a topic), none dropped."""
        found: list[Entry] = []
        seen: set[str] = set()
        for e in entries:
            if limit is not None and len(found) == limit:
                break
            if e.source in seen or e.source in self._dropped:
                continue
            seen.add(e.source)
            found.append(e)
        return found

    def _entries(self, rows: Iterable[tuple[str, str, float, str | None]]) -> Iterable[Entry]:
        topics = self._topics
        for path, aid, at, names in rows:
            key = names or ""
            split = topics.get(key)
            if split is None:
                split = topics[key] = tuple(key.split(TOPIC_SEP)) if key else ()
            yield Entry(aid, path, True, at, split, "")

    def _dropped_visible(self, until: float) -> list[Entry]:
        if self._dropped_entries is None:
            self._dropped_entries = list(self._entries(self._state.rows_in(
                f"SELECT {_ROW} FROM files f WHERE f.published = 1 AND f.path IN ({{marks}})",  # noqa: S608
                sorted(self._dropped))))
        return [e for e in self._dropped_entries if e.timestamp <= until]


class Candidates:
    """The visible articles, newest first, with what custom feeds ask of
    them: each custom feed's matches, read from `files` in date order and
    judged by `feeder.selection.custom.matches` until the feed is full."""

    def __init__(self, state: Store, dropped: Collection[str] = (), held: Collection[str] = ()):
        self._conn = state.conn
        self._dropped = frozenset(dropped)  # duplicates of another file's id
        self._held = frozenset(held)  # ids the link policy holds back

    def newest(self, query: Query, key_of: Callable[[str], str], until: float, limit: int | None, *,
               since: float | None = None) -> list[Entry]:
        bounds, params = ["published_at <= ?"], [until]
        if since is not None:
            bounds.append("published_at >= ?")
            params.append(since)
        # What the database can judge itself narrows the rows read; `matches` decides.
        if query.min_quality is not None:
            bounds.append("quality >= ?")
            params.append(query.min_quality)
        if query.min_heat is not None:
            bounds.append("heat >= ?")
            params.append(query.min_heat)
        where = " AND ".join(bounds)  # our own column names, values as parameters
        rows = self._conn.execute(
            "SELECT path, article_id, published_at, topics, original_url, quality, heat, category, kind, "  # noqa: S608
            f"provider FROM files WHERE published = 1 AND {where} ORDER BY published_at DESC, article_id", params)
        found: list[Entry] = []
        for path, aid, at, names, url, quality, heat, category, kind, provider in rows:
            if limit is not None and len(found) == limit:
                break
            if path in self._dropped or aid in self._held:
                continue
            topics = tuple(names.split(TOPIC_SEP)) if names else ()
            facets = Facets(topics, quality, heat, category, kind,
                            tuple(provider.split(TOPIC_SEP)) if provider else ())
            if matches(query, facets, key_of):
                found.append(Entry(aid, path, True, at, topics, url or ""))
        return found
