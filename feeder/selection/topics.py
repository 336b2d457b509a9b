"""Topic identity and safe file names.

Topic names are matched case-insensitively (after the configuration's
aliases) and each distinct topic gets a slug that is safe as a single path
segment on every common file system: ASCII letters, digits and hyphens, never
empty, never a reserved device name, never longer than 80 characters.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Mapping

from slugify import slugify

from feeder.config import TopicSettings
from feeder.model import Topic

__all__ = ["TopicIndex", "slug_for", "topic_key"]

MAX_SLUG = 80
# Device names Windows refuses as file names, with or without an extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def topic_key(name: str) -> str:
    """The identity of a topic name: NFKC, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _digest(key: str, n: int = 8) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:n]


def slug_for(key: str) -> str:
    """A file-name-safe slug for a topic key (transliterated, hyphenated)."""
    slug = slugify(key, max_length=0, lowercase=True)
    if not slug:
        return f"topic-{_digest(key)}"
    if len(slug) > MAX_SLUG:
        slug = f"{slug[: MAX_SLUG - 9].rstrip('-')}-{_digest(key)}"
    if slug in _RESERVED:
        slug = f"{slug}-topic"
    return slug


class TopicIndex:
    """Maps the topic names found in articles to `Topic`s with unique slugs.

    Deterministic for a given set of names and configuration: the same input
    always gives the same slugs, whatever order the articles were read in.
    """

    def __init__(self, configured: Mapping[str, TopicSettings], site_title: str, *,
                 reserved: frozenset[str] = frozenset()):
        self._site_title = site_title
        self._reserved = reserved  # slugs of custom feeds: no topic takes them
        self._settings: dict[str, TopicSettings] = {}
        self._alias: dict[str, str] = {}
        self._configured_name: dict[str, str] = {}
        for name, ts in configured.items():
            key = topic_key(name)
            self._settings[key] = ts
            self._configured_name[key] = name.strip()
            for alias in ts.aliases:
                self._alias[topic_key(alias)] = key

    def key(self, name: str) -> str:
        """The topic an article's topic name belongs to ('' when the name is blank)."""
        key = topic_key(name)
        return self._alias.get(key, key)

    def limit(self, key: str, default: int) -> int | None:
        """How many items the topic's feed holds: its own max_items, every
        episode for a podcast, else `default` (feeds.max_items); None: no limit."""
        ts = self._settings.get(key)
        if ts is not None and ts.max_items is not None:
            return ts.max_items
        if ts is not None and ts.podcast is not None:
            return None
        return default


    def build(self, spellings: Mapping[str, Counter[str]]) -> dict[str, Topic]:
        """Topics for the given keys; `spellings` counts how articles spell each key."""
        keys = sorted(set(spellings) | set(self._settings))
        wanted: dict[str, str] = {}
        for key in keys:
            ts = self._settings.get(key)
            wanted[key] = ts.slug if ts and ts.slug else slug_for(key)
        slugs = self._dedupe(wanted, self._reserved)
        topics: dict[str, Topic] = {}
        for key in keys:
            ts = self._settings.get(key, TopicSettings())
            name = self._configured_name.get(key) or _most_common(spellings.get(key)) or key
            title = ts.title or name
            topics[key] = Topic(
                key=key,
                name=name,
                slug=slugs[key],
                title=title,
                description=ts.description or f"{title}: the latest from {self._site_title}",
                podcast=ts.podcast,
                blurb=ts.description or "",
            )
        return topics

    @staticmethod
    def _dedupe(wanted: Mapping[str, str], reserved: frozenset[str] = frozenset()) -> dict[str, str]:
        # Two topics may transliterate to one slug ("C" and "C++"). The topic whose
        # name *is* the slug keeps it, so adding a new lookalike topic never moves
        # an existing feed; otherwise the first key in sorted order keeps it.
        # A custom feed's slug is never a topic's.
        by_slug: dict[str, list[str]] = {}
        for key, slug in wanted.items():
            by_slug.setdefault(slug, []).append(key)
        result: dict[str, str] = {}
        for slug, keys in by_slug.items():
            keys.sort(key=lambda k: (k != slug, k))
            first = 0
            if slug not in reserved:
                result[keys[0]] = slug
                first = 1
            for key in keys[first:]:
                result[key] = f"{slug[: MAX_SLUG - 9]}-{_digest(key)}"
        return result


def _most_common(counter: Counter[str] | None) -> str | None:
    if not counter:
        return None
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]

