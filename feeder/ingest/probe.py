"""Checking an address before it is followed (`feeder sources add`): fetch
it once through the same guard and limits as ingest; a web page is searched
for the feeds it names (or the usual feed paths tried), and the feed is
parsed, for the operator to see what they subscribe to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone

from feeder.config import Settings
from feeder.errors import FeederError
from feeder.ingest.discover import FeedLink, common_candidates, feed_links, is_feed, is_html
from feeder.ingest.fetch import Fetcher, FetchResult
from feeder.ingest.parse import BadFeed, ParsedFeed, parse_feed
from feeder.net.guard import AddressGuard, Resolver
from feeder.net.http import make_resolver

__all__ = ["NoFeed", "Probe", "probe"]


class NoFeed(FeederError):
    """The address is not a feed and names none; `url` is the address."""

    def __init__(self, url: str, problem: str):
        self.url, self.problem = url, problem
        super().__init__(f"{url}: {problem}")


@dataclass
class Probe:
    url: str  # the feed's address (after redirects)
    feed: ParsedFeed
    found: list[FeedLink] = field(default_factory=list)  # what the page named, when it was a page
    guessed: bool = False  # found at one of the usual paths, the page naming none

    @property
    def newest(self) -> datetime | None:
        dates = [d for item in self.feed.items for d in (item.published, item.updated) if d is not None]
        return max(dates, default=None)


def _problem(result: FetchResult) -> str | None:
    if result.error:
        return f"could not be fetched ({result.error})"
    if result.status != 200 or result.body is None:
        return f"answered HTTP {result.status}"
    return None


def probe(settings: Settings, url: str, *, pick: int | None = None, resolver: Resolver | None = None) -> Probe:
    """The feed at `url`, or the one the page at `url` names (the `pick`th,
    counting from 1; else the first by preference: RSS, Atom, JSON Feed).
    Raises `NoFeed` saying why there is none."""
    return asyncio.run(_probe(settings, url, pick, resolver or make_resolver(settings.links)))


async def _probe(settings: Settings, url: str, pick: int | None, resolver: Resolver) -> Probe:
    guard = AddressGuard(resolver, allow_private=settings.links.allow_private)
    now = datetime.now(timezone.utc)
    async with Fetcher(settings.links, settings.ingest, guard) as fetcher:
        first = await fetcher.fetch(url, etag=None, last_modified=None, now=now)
        problem = _problem(first)
        if problem is not None:
            raise NoFeed(url, problem)
        assert first.body is not None
        if not is_html(first.content_type, first.body):
            return Probe(first.url, _parse(first))
        found = feed_links(first.body, first.url)
        if found:
            if pick is not None and not 1 <= pick <= len(found):
                raise NoFeed(url, f"--pick {pick}: the page names {len(found)} feed(s)")
            chosen = found[(pick or 1) - 1]
            result = await fetcher.fetch(chosen.url, etag=None, last_modified=None, now=now)
            problem = _problem(result)
            if problem is not None:
                raise NoFeed(chosen.url, f"the feed the page names {problem}")
            return Probe(result.url, _parse(result), found)
        # The page names no feed: the usual addresses, in order.
        for candidate in common_candidates(first.url):
            result = await fetcher.fetch(candidate, etag=None, last_modified=None, now=now)
            if _problem(result) is None and result.body is not None and is_feed(result.content_type, result.body):
                try:
                    return Probe(result.url, parse_feed(result.body, url=result.url,
                                                        content_type=result.content_type), guessed=True)
                except BadFeed:
                    continue
        raise NoFeed(url, "is a web page that names no feed (no <link rel=\"alternate\">), and none of "
                          "/feed, /rss.xml, /atom.xml, /index.xml is one: give the feed's own address")


def _parse(result: FetchResult) -> ParsedFeed:
    assert result.body is not None
    try:
        return parse_feed(result.body, url=result.url, content_type=result.content_type)
    except BadFeed as exc:
        raise NoFeed(result.url, f"is not a feed feeder can read: {exc}") from None
