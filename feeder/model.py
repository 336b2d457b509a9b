"""The immutable values that pass between feeder's stages.

Content scanning produces `Article`s; link checking produces `LinkResult`s;
selection produces a `FeedPlan` per feed, of the catalog's light entries;
rendering fills it with `Item`s (an article with its HTML made once) and
turns it into bytes. None of them holds the article's `secured` field: it is
dropped while the file is read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    import uuid

__all__ = [
    "Article",
    "Enclosure",
    "FeedPlan",
    "Image",
    "Item",
    "LinkRecord",
    "LinkResult",
    "MediaFacts",
    "PodcastSettings",
    "Provider",
    "Related",
    "Topic",
    "Verdict",
    "item_id",
]

# `updated` of an empty feed on a site that has no article at all: a fixed
# date keeps rebuilds identical. (An empty feed on a site with articles takes
# the site's newest publication date; see render.site.quiet_date.) Not 1970, which
# validators and readers flag as implausible.
EMPTY_FEED_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)

# Namespace for item ids. Fixed forever: changing it would change every guid
# every subscriber has seen.
ITEM_ID_NAMESPACE = "4f2c6a8e-3b7d-5e1f-9a0c-6d8b2e4f1a37"


def item_id(article_id: str) -> str:
    """The guid / Atom id / JSON Feed id of an article.

    A `urn:uuid:` IRI derived only from the article's identity, so it is a
    valid Atom id and never depends on URLs, paths or build times.
    """
    # Imported where ids are made: uuid loads `platform`, 8 ms that a rescan
    # with nothing to render would spend beside find.
    import uuid

    return f"urn:uuid:{uuid.uuid5(_namespace(), article_id)}"


@functools.cache
def _namespace() -> uuid.UUID:
    import uuid

    return uuid.UUID(ITEM_ID_NAMESPACE)


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Related:
    title: str
    url: str
    excerpt: str = ""
    published_at: datetime | None = None
    provider: Provider | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media file attached to an article (podcast episode, video)."""

    url: str
    type: str | None = None
    length: int | None = None
    duration: int | None = None  # seconds


@dataclass(frozen=True, slots=True)
class Article:
    """One content file, validated. Text fields hold plain, XML-safe text."""

    id: str
    source: str  # the file's path relative to the content folder, for reports
    title: str
    published_at: datetime
    original_url: str
    published: bool
    excerpt: str = ""
    updated_at: datetime | None = None
    web_url: str | None = None
    type: str | None = None
    category: str | None = None
    quality: int | None = None
    heat: int | None = None
    provider: Provider | None = None
    topics: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    related: tuple[Related, ...] = ()
    enclosure: Enclosure | None = None
    episode_type: str | None = None  # podcasts: full, trailer or bonus
    body: str = ""  # the body's source, in `body_format`
    body_format: str = "markdown"  # or "html": an ingested body, sanitized once, never read as Markdown

    @property
    def guid(self) -> str:
        return item_id(self.id)

    @property
    def modified_at(self) -> datetime:
        return self.updated_at or self.published_at

    @property
    def timestamp(self) -> float:
        return self.published_at.timestamp()


@dataclass(frozen=True, slots=True)
class PodcastSettings:
    """What Apple Podcasts and Podcasting 2.0 ask of a show's RSS feed."""

    image: str  # 1400-3000 px square JPEG or PNG
    category: str  # an Apple Podcasts category, e.g. "Technology"
    subcategory: str | None = None
    explicit: bool = False
    author: str | None = None
    owner_name: str | None = None
    owner_email: str | None = None
    type: str = "episodic"  # or "serial"
    language: str | None = None
    locked: bool = False  # podcast:locked: refuse moves of the show to another host


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic as it appears in the output: one set of feed files."""

    key: str  # case-folded name, the identity used for matching
    name: str  # display spelling
    slug: str  # file-system name, unique among topics
    title: str
    description: str  # the feed's description (a default sentence when none is configured)
    podcast: PodcastSettings | None = None  # the topic's RSS feed is a podcast
    blurb: str = ""  # the configured description only: what the landing page shows
    custom: bool = False  # a custom feed (feeds.custom): a query, titled on its own


@dataclass(frozen=True, slots=True)
class Item:
    """An article ready for every renderer: its HTML is made once per build
    and shared by RSS, Atom, JSON Feed, digests and the landing page."""

    article: Article
    body_html: str  # the Markdown body, sanitized, URLs absolute ('' when it has none)
    content_html: str  # the full content: the body (or the excerpt), a link to the original, related articles
    teaser: str  # plain text: the excerpt, else the start of the body


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FeedPlan(Generic[T]):
    """What one feed (all formats of it) contains, newest first: the
    catalog's entries after selection, `Item`s once rendering has read them."""

    topic: Topic | None  # None for the all-topics feed
    items: tuple[T, ...] = ()
    recent: tuple[T, ...] = ()  # every visible member since the digest window opened, newest first
    # With feeds.archive: every older member, by period, newest period first (RFC 5005).
    archive: tuple[tuple[str, tuple[T, ...]], ...] = ()

    @property
    def slug(self) -> str:
        return self.topic.slug if self.topic else ""


class Verdict(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The outcome of checking one URL once."""

    url: str
    verdict: Verdict
    reason: str
    checked_at: datetime
    status: int | None = None
    final_url: str | None = None
    redirects: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """Everything remembered about one URL."""

    last: LinkResult
    first_checked: datetime
    next_due: datetime
    dead_count: int = 0
    first_dead_at: datetime | None = None
    last_dead_at: datetime | None = None
    unknown_count: int = 0
    ever_alive: bool = False

    @property
    def url(self) -> str:
        return self.last.url


class MediaFacts(NamedTuple):
    """What a HEAD of a media file (a podcast enclosure) said."""

    type: str | None
    length: int | None
    error: str | None
