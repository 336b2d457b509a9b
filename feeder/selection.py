"""Deciding what goes into which feed. Pure functions: no I/O, no clock.

An article is *visible* when it is marked published, its publication time
has come, and nothing (such as a dead original URL) holds it back. Each feed
holds the newest `max_items` visible articles, newest first, ties broken by
id so that the order is total and rebuilds are byte-identical.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .model import Article, FeedPlan, Topic
from .topics import TopicIndex

__all__ = ["Selection", "dedupe_ids", "is_visible", "newest_first", "select_feeds"]


def is_visible(article: Article, now: datetime, held_back: Collection[str] = ()) -> bool:
    return article.published and article.published_at <= now and article.id not in held_back


def _order(article: Article) -> tuple[float, str]:
    return (-article.published_at.timestamp(), article.id)


def newest_first(articles: Iterable[Article], limit: int | None = None) -> list[Article]:
    if limit is None:
        return sorted(articles, key=_order)
    return heapq.nsmallest(limit, articles, key=_order)


@dataclass(frozen=True, slots=True)
class Duplicate:
    article_id: str
    kept: str  # source of the article that keeps the id
    dropped: str  # source of the one that is not published


def dedupe_ids(articles: Iterable[Article]) -> tuple[list[Article], list[Duplicate]]:
    """One article per id; the one whose file path sorts first wins.

    Two items with one guid would collapse into one in every reader, so the
    second is reported instead of published.
    """
    by_id: dict[str, Article] = {}
    dupes: list[Duplicate] = []
    for article in sorted(articles, key=lambda a: a.source):
        kept = by_id.setdefault(article.id, article)
        if kept is not article:
            dupes.append(Duplicate(article.id, kept.source, article.source))
    return list(by_id.values()), dupes


@dataclass(frozen=True, slots=True)
class Selection:
    everything: FeedPlan
    topics: tuple[FeedPlan, ...]
    next_change: datetime | None  # when a scheduled article becomes visible
    display_names: Mapping[str, str]  # topic spelling in an article → topic display name
    visible: int  # articles that are in the all-topics selection before the limit

    @property
    def plans(self) -> tuple[FeedPlan, ...]:
        return (self.everything, *self.topics)


def select_feeds(
    articles: Sequence[Article],
    *,
    index: TopicIndex,
    now: datetime,
    max_items: int,
    held_back: Collection[str] = (),
    retained: Mapping[str, str] | None = None,
) -> Selection:
    """Plan every feed.

    A topic gets a feed once it has a visible article or is configured;
    `retained` (key → name) lists topics that had a feed before, which keep
    it, empty if need be, so that no subscriber ever gets a 404.
    """
    visible = [a for a in articles if is_visible(a, now, held_back)]
    spellings: dict[str, Counter[str]] = {key: Counter([name]) for key, name in (retained or {}).items()}
    members: dict[str, list[Article]] = {}
    for article in visible:
        keys: set[str] = set()
        for name in article.topics:
            key = index.key(name)
            if key:
                spellings.setdefault(key, Counter())[name] += 1
                keys.add(key)
        for key in keys:
            members.setdefault(key, []).append(article)
    topics: dict[str, Topic] = index.build(spellings)
    display = {name: topics[key].name for key, counter in spellings.items() for name in counter}
    plans = [
        FeedPlan(topic, tuple(newest_first(members.get(key, ()), max_items)))
        for key, topic in sorted(topics.items(), key=lambda kv: kv[1].slug)
    ]
    upcoming = [a.published_at for a in articles if a.published and a.published_at > now]
    return Selection(
        everything=FeedPlan(None, tuple(newest_first(visible, max_items))),
        topics=tuple(plans),
        next_change=min(upcoming, default=None),
        display_names=display,
        visible=len(visible),
    )
