"""Custom feeds: each a query over the articles' fields (`feeds.custom`).

Which articles a query matches is decided here, by pure functions; the
candidates, visible articles newest first with the fields a query asks
about, come from the state database (`feeder.content.members.Candidates`).
A custom feed holds the newest `max_items` matches, ties broken by id, as
every feed does, and stays (valid, empty) when nothing matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from feeder.config import CustomFeed
from feeder.model import Topic
from feeder.selection.topics import TopicIndex

__all__ = ["Facets", "Query", "compile_query", "custom_topic", "matches", "reserved_slugs"]


@dataclass(frozen=True, slots=True)
class Facets:
    """What a query may ask of an article."""

    topics: tuple[str, ...]  # as the article spells them
    quality: int | None = None
    heat: int | None = None
    category: str | None = None
    type: str | None = None
    provider: tuple[str, ...] = ()  # its name and domain, case-folded


@dataclass(frozen=True, slots=True)
class Query:
    """A custom feed's query, with topic names as topic keys (aliases applied)."""

    any_topic: frozenset[str]
    all_topics: frozenset[str]
    no_topic: frozenset[str]
    providers: frozenset[str]
    category: str | None
    type: str | None
    min_quality: int | None
    min_heat: int | None


def compile_query(feed: CustomFeed, index: TopicIndex) -> Query:
    return Query(
        any_topic=frozenset(index.key(t) for t in feed.topics) - {""},
        all_topics=frozenset(index.key(t) for t in feed.all_topics) - {""},
        no_topic=frozenset(index.key(t) for t in feed.exclude_topics) - {""},
        providers=frozenset(p.casefold() for p in feed.providers),
        category=feed.category.casefold() if feed.category else None,
        type=feed.type.casefold() if feed.type else None,
        min_quality=feed.min_quality,
        min_heat=feed.min_heat,
    )


def matches(query: Query, facets: Facets, key_of: Callable[[str], str]) -> bool:
    """Whether an article with these facets belongs to the feed. Every part
    of the query must hold; an article without a quality (or heat) never
    meets a minimum; texts compare case-insensitively."""
    if query.min_quality is not None and (facets.quality is None or facets.quality < query.min_quality):
        return False
    if query.min_heat is not None and (facets.heat is None or facets.heat < query.min_heat):
        return False
    if query.category is not None and (facets.category or "").casefold() != query.category:
        return False
    if query.type is not None and (facets.type or "").casefold() != query.type:
        return False
    if query.providers and not query.providers.intersection(facets.provider):
        return False
    if query.any_topic or query.all_topics or query.no_topic:
        keys = {key_of(name) for name in facets.topics}
        if query.any_topic and query.any_topic.isdisjoint(keys):
            return False
        if not query.all_topics <= keys or not query.no_topic.isdisjoint(keys):
            return False
    return True


def custom_topic(feed: CustomFeed) -> Topic:
    """The `Topic` a custom feed is rendered as: its own title and description."""
    return Topic(key=f"custom:{feed.slug}", name=feed.title, slug=feed.slug, title=feed.title,
                 description=feed.description, blurb=feed.description, custom=True)


def reserved_slugs(feeds: Iterable[CustomFeed]) -> frozenset[str]:
    return frozenset(f.slug for f in feeds)
