"""`select_feeds`, kept up to date by the articles that change instead of
computed again from all of them.

A long-lived process (the daemon) sees a few articles change at a time, and
selecting every feed again from every article costs time in proportion to
the folder (4.6 s a change at 1,000,000 articles). A `LiveSelection` keeps
each feed's candidates in order and how articles spell each topic, and
updates both with the articles that changed: a change costs a binary search
and a list insertion per feed the article is in, a selection a binary search
and a slice per feed. What it selects equals `select_feeds` on the same
articles (tests compare the two after random sequences of changes).

Candidates are the articles marked published and not held back, whatever
their time: the lists are ordered newest first, so the scheduled articles
whose time has not come are a prefix, cut off at selection time.

Pure: no I/O, no clock. Ids must be unique among the articles it holds (the
catalog's entries are).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Generic

from feeder.model import FeedPlan, Topic
from feeder.selection.feeds import Selectable, Selection, T, _order, assemble
from feeder.selection.topics import TopicIndex

__all__ = ["LiveSelection"]


def _age(article: Selectable) -> float:
    return -article.timestamp


class LiveSelection(Generic[T]):
    def __init__(self, index: TopicIndex, articles: Iterable[T] = (), held_back: Collection[str] = ()):
        self._index = index
        self._key_of: dict[str, str] = {}  # few distinct spellings, many articles
        self._by_source: dict[str, T] = {}
        self._source_of: dict[str, str] = {}  # id → source
        self._held: frozenset[str] = frozenset(held_back)
        self._everything: list[T] = []
        self._members: dict[str, list[T]] = {}
        self._spellings: dict[str, Counter[str]] = {}  # over every candidate, future ones included
        for a in articles:
            self._by_source[a.source] = a
            self._source_of[a.id] = a.source
        # Built in one pass over the sorted candidates, as select_feeds does:
        # appending in order is cheaper than inserting one by one.
        self._everything = sorted((a for a in self._by_source.values() if self._candidate(a)), key=_order)
        for a in self._everything:
            for key in self._count(a, 1):
                members = self._members.get(key)
                if members is None:
                    self._members[key] = [a]
                else:
                    members.append(a)

    def __len__(self) -> int:
        return len(self._by_source)

    @property
    def index(self) -> TopicIndex:
        return self._index

    def put(self, article: T) -> None:
        """Add an article, or replace the one from the same source."""
        self.discard(article.source)
        self._by_source[article.source] = article
        self._source_of[article.id] = article.source
        if self._candidate(article):
            self._insert(article)

    def discard(self, source: str) -> None:
        """Forget the article from `source`, if there is one."""
        old = self._by_source.pop(source, None)
        if old is None:
            return
        if self._source_of.get(old.id) == source:
            del self._source_of[old.id]
        if self._candidate(old):
            self._delete(old)

    def update(self, changes: Mapping[str, T | None]) -> None:
        """Apply source → article now (None: gone). All are taken out before
        any is put back, so an id that moved from one source to another is
        never held twice."""
        for source in changes:
            self.discard(source)
        for article in changes.values():
            if article is not None:
                self.put(article)

    def hold(self, held_back: Collection[str]) -> None:
        """Keep these ids out of every feed (and let go of those held before and not now)."""
        held = frozenset(held_back)
        released, caught = self._held - held, held - self._held
        self._held = held
        for aid in caught:
            a = self._article(aid)
            if a is not None and a.published:
                self._delete(a)
        for aid in released:
            a = self._article(aid)
            if a is not None and self._candidate(a):
                self._insert(a)

    def held_visible(self, now: datetime) -> int:
        """How many held-back articles would be visible if they were not held."""
        now_ts = now.timestamp()
        return sum(1 for aid in self._held if (a := self._article(aid)) is not None
                   and a.published and a.timestamp <= now_ts)

    def select(self, *, now: datetime, max_items: int, retained: Mapping[str, str] | None = None,
               keep_since: datetime | None = None) -> Selection[T]:
        """What `select_feeds` would plan for the articles held (see there)."""
        now_ts = now.timestamp()
        everything = self._everything
        cut = bisect_left(everything, -now_ts, key=_age)
        # The scheduled articles are few: their spellings are taken off the counts.
        future: dict[str, Counter[str]] = {}
        for a in everything[:cut]:
            for name in a.topics:
                key = self._key(name)
                if key:
                    future.setdefault(key, Counter())[name] += 1
        counts = {key: counter - future[key] if key in future else counter
                  for key, counter in self._spellings.items()}
        since = keep_since.timestamp() if keep_since is not None else None

        def plan(topic: Topic | None, key: str) -> FeedPlan[T]:
            members = everything if topic is None else self._members.get(key, [])
            start = cut if topic is None else bisect_left(members, -now_ts, key=_age)
            recent: tuple[T, ...] = ()
            if since is not None:
                recent = tuple(members[start:bisect_right(members, -since, key=_age)])
            limit = max_items if topic is None else self._index.limit(key, max_items)
            return FeedPlan(topic, tuple(members[start:] if limit is None else members[start:start + limit]),
                            recent)

        return assemble(self._index, retained, counts, plan, len(everything) - cut)

    # -- keeping the lists and counts --------------------------------------

    def _candidate(self, a: T) -> bool:
        return a.published and a.id not in self._held

    def _article(self, aid: str) -> T | None:
        source = self._source_of.get(aid)
        return None if source is None else self._by_source.get(source)

    def _key(self, name: str) -> str:
        key = self._key_of.get(name)
        if key is None:
            key = self._key_of[name] = self._index.key(name)
        return key

    def _count(self, a: T, step: int) -> set[str]:
        """Count (or, with -1, uncount) the article's spellings; returns its topic keys."""
        keys: set[str] = set()
        for name in a.topics:
            key = self._key(name)
            if not key:
                continue
            keys.add(key)
            counter = self._spellings.get(key)
            if counter is None:
                counter = self._spellings[key] = Counter()
            counter[name] += step
            if counter[name] <= 0:
                del counter[name]
                if not counter:
                    del self._spellings[key]
        return keys

    def _insert(self, a: T) -> None:
        insort(self._everything, a, key=_order)
        for key in self._count(a, 1):
            insort(self._members.setdefault(key, []), a, key=_order)

    def _delete(self, a: T) -> None:
        _remove(self._everything, a)
        for key in self._count(a, -1):
            members = self._members[key]
            _remove(members, a)
            if not members:
                del self._members[key]


def _remove(ordered: list[T], a: T) -> None:
    i = bisect_left(ordered, _order(a), key=_order)
    if i == len(ordered) or ordered[i].id != a.id:
        raise KeyError(a.id)  # held lists and counts disagree: a bug, not bad input
    del ordered[i]
