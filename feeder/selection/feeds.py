"""Deciding what goes into which feed. Pure functions: no I/O, no clock.

An article is *visible* when it is marked published, its publication time
has come, and nothing (such as a dead original URL) holds it back. Each feed
holds the newest `max_items` visible articles, newest first, ties broken by
id so that the order is total and rebuilds are byte-identical.

Selection works on anything with the fields below: full `Article`s, or the
catalog's light `Entry` rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from feeder.model import FeedPlan, Topic
from feeder.selection.topics import TopicIndex

__all__ = ["Indexed", "Selectable", "Selection", "assemble", "select_feeds", "select_indexed"]


class Selectable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def published(self) -> bool: ...
    @property
    def timestamp(self) -> float: ...  # publishedDateTime as a POSIX timestamp
    @property
    def topics(self) -> tuple[str, ...]: ...


T = TypeVar("T", bound=Selectable)
T_co = TypeVar("T_co", bound=Selectable, covariant=True)


class Indexed(Protocol[T_co]):
    """The published articles as a database with the right indexes holds them
    (see `select_indexed`). Times are POSIX timestamps; `names` are topic
    names as articles spell them, None for every article."""

    def spelling_counts(self, until: float) -> Mapping[str, int]: ...
    def visible_count(self, until: float) -> int: ...
    def newest(self, names: Sequence[str] | None, until: float, limit: int | None) -> Sequence[T_co]: ...
    def since(self, names: Sequence[str] | None, until: float, since: float) -> Sequence[T_co]: ...


def _order(article: Selectable) -> tuple[float, str]:
    return (-article.timestamp, article.id)


@dataclass(frozen=True, slots=True)
class Selection(Generic[T]):
    everything: FeedPlan[T]
    topics: tuple[FeedPlan[T], ...]
    display_names: Mapping[str, str]  # topic spelling in an article → topic display name
    visible: int  # visible articles, before any feed's limit
    custom: tuple[FeedPlan[T], ...] = ()  # custom feeds (feeds.custom), in their configured order

    @property
    def plans(self) -> tuple[FeedPlan[T], ...]:
        return (self.everything, *self.topics, *self.custom)


def assemble(index: TopicIndex, retained: Mapping[str, str] | None, counts: Mapping[str, Counter[str]],
             plan: Callable[[Topic | None, str], FeedPlan[T]], visible: int) -> Selection[T]:
    """A selection, from how the visible articles spell each topic key
    (`counts`) and a way to plan one feed: by its topic and key, None and ''
    for all topics. Shared by every way of selecting, so that they agree on
    which topics get a feed, their names and their order."""
    spellings: dict[str, Counter[str]] = {key: Counter([name]) for key, name in (retained or {}).items()}
    for key, counter in counts.items():
        if counter:
            spellings[key] = spellings[key] + counter if key in spellings else counter
    topics: dict[str, Topic] = index.build(spellings)
    return Selection(
        everything=plan(None, ""),
        topics=tuple(plan(topic, key) for key, topic in sorted(topics.items(), key=lambda kv: kv[1].slug)),
        display_names={name: topics[key].name for key, counter in spellings.items() for name in counter},
        visible=visible,
    )


def select_feeds(
    articles: Sequence[T],
    *,
    index: TopicIndex,
    now: datetime,
    max_items: int,
    held_back: Collection[str] = (),
    retained: Mapping[str, str] | None = None,
    keep_since: datetime | None = None,
) -> Selection[T]:
    """Plan every feed.

    A topic gets a feed once it has a visible article or is configured;
    `retained` (key → name) lists topics that had a feed before, which keep
    it, empty if need be, so that no subscriber ever gets a 404. With
    `keep_since`, each plan also lists all its visible members since then.
    """
    now_ts = now.timestamp()
    # Visible: marked published, its time has come, and nothing holds it back.
    visible = [a for a in articles if a.published and a.timestamp <= now_ts and a.id not in held_back]
    visible.sort(key=_order)  # once: every feed is then a prefix of its members
    spellings: dict[str, Counter[str]] = {}
    members: dict[str, list[T]] = {}
    recent: dict[str, list[T]] = {}
    since = keep_since.timestamp() if keep_since is not None else None
    key_of: dict[str, str] = {}  # few distinct spellings, many articles
    limits: dict[str, int | None] = {}  # topics whose feed is not max_items long
    for article in visible:
        keys: set[str] = set()
        for name in article.topics:
            key = key_of.get(name)
            if key is None:
                key = key_of[name] = index.key(name)
            if key:
                counter = spellings.get(key)
                if counter is None:
                    counter = spellings[key] = Counter()
                    limit = index.limit(key, max_items)
                    if limit != max_items:
                        limits[key] = limit
                counter[name] += 1
                keys.add(key)
        for key in keys:
            feed = members.get(key)
            if feed is None:
                members[key] = [article]
            else:
                limit = limits.get(key, max_items) if limits else max_items
                if limit is None or len(feed) < limit:
                    feed.append(article)
            if since is not None and article.timestamp >= since:
                recent.setdefault(key, []).append(article)

    def plan(topic: Topic | None, key: str) -> FeedPlan[T]:
        if topic is None:
            return FeedPlan(None, tuple(visible[:max_items]),
                            tuple(a for a in visible if since is not None and a.timestamp >= since))
        return FeedPlan(topic, tuple(members.get(key, ())), tuple(recent.get(key, ())))

    return assemble(index, retained, spellings, plan, len(visible))


def select_indexed(
    articles: Indexed[T],
    *,
    index: TopicIndex,
    now: datetime,
    max_items: int,
    retained: Mapping[str, str] | None = None,
    keep_since: datetime | None = None,
) -> Selection[T]:
    """What `select_feeds` plans for the same articles (nothing held back),
    asking `articles` for each feed's newest members and for the spelling
    counts instead of going through every article: its cost grows with the
    number of feeds, not of articles."""
    now_ts = now.timestamp()
    spellings: dict[str, Counter[str]] = {}
    for name, count in sorted(articles.spelling_counts(now_ts).items()):
        key = index.key(name)
        if key and count > 0:
            spellings.setdefault(key, Counter())[name] += count
    since = keep_since.timestamp() if keep_since is not None else None

    def plan(topic: Topic | None, key: str) -> FeedPlan[T]:
        names = None if topic is None else list(spellings.get(key, ()))
        if names == []:
            return FeedPlan(topic)  # configured or retained, with no visible article
        recent = () if since is None else tuple(articles.since(names, now_ts, since))
        limit = max_items if topic is None else index.limit(key, max_items)
        return FeedPlan(topic, tuple(articles.newest(names, now_ts, limit)), recent)

    return assemble(index, retained, spellings, plan, articles.visible_count(now_ts))
