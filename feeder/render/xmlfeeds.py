"""RSS 2.0 and Atom 1.0 documents of one feed plan, written with feedgen.

Everything in the output is derived from the articles and the settings, so
the same input always gives the same bytes: dates come from the articles
(never the clock) and entries are added in the plan's order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from feeder.config import SiteSettings
from feeder.model import EMPTY_FEED_DATE, FeedPlan, Item, Topic
from feeder.output.layout import MEDIA_TYPES, FeedFiles
from feeder.render._extension import FeederEntryExtension, FeederExtension, History, Show
from feeder.render.items import provider_url
from feeder.text import escape_html

__all__ = ["GENERATOR", "feed_texts", "feed_updated", "hex_references", "render_xml_feeds"]

# The generator deliberately carries no version: upgrading feeder must not
# change the bytes (and ETags) of feeds whose rendering did not change.
GENERATOR = "feeder"


def feed_updated(items: Sequence[Item], empty: datetime = EMPTY_FEED_DATE) -> datetime:
    """A feed's date: its newest item's, or `empty` for a feed without items."""
    return max((i.article.modified_at for i in items), default=empty)


# RSS elements that hold plain text. RSS never says whether a title is text
# or HTML, so readers guess; the RSS Best Practices Profile (and the W3C
# validator) ask for `&` and `<` in plain text as hexadecimal character
# references, which every reader shows as the characters themselves. The
# channel's description is text too; an item's is HTML, and stays escaped.
_TEXT_TAGS = rb"title|category|dc:creator|itunes:author|itunes:name|itunes:title|itunes:summary"
_RSS_TEXT = re.compile(rb"(<(" + _TEXT_TAGS + rb")>)([^<]*)(</\2>)")
_CHANNEL_TEXT = re.compile(rb"(<(" + _TEXT_TAGS + rb"|description)>)([^<]*)(</\2>)")


def hex_references(document: bytes) -> bytes:
    """An RSS document with `&` and `<` in its plain-text elements written as `&#x26;` and `&#x3C;`."""
    if b"&" not in document:
        return document

    def fix(m: re.Match[bytes]) -> bytes:
        text = m.group(3).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
        return m.group(1) + text + m.group(4)

    head, item, rest = document.partition(b"<item>")
    return _CHANNEL_TEXT.sub(fix, head) + item + _RSS_TEXT.sub(fix, rest)


def feed_texts(topic: Topic | None, site: SiteSettings) -> tuple[str, str]:
    """A feed's title and description."""
    if topic is None:
        return site.title, site.description or f"The latest from {site.title}"
    if topic.custom:
        return topic.title, topic.description  # a custom feed is titled on its own
    return f"{site.title}: {topic.title}", topic.description


def _fill_entry(fe: FeedEntry, item: Item, topic_names: dict[str, str], episode: bool) -> None:
    article = item.article
    fe.id(article.guid)
    fe.title(article.title)
    fe.link(href=article.original_url)
    fe.published(article.published_at)
    fe.updated(article.modified_at)
    if item.teaser:
        # An RSS description is HTML: escaped text shows as the literal text.
        fe.summary(escape_html(item.teaser), type="html")
    if item.content_html:
        fe.content(item.content_html, type="html")
    terms = dict.fromkeys(topic_names.get(name, name) for name in article.topics)
    if terms:
        # One call: feedgen rebuilds its RSS list of an entry's categories on each.
        fe.category([{"term": term} for term in terms])
    if article.provider:
        author = {"name": article.provider.name}
        home = provider_url(article.provider)
        if home:
            author["uri"] = home
        fe.author(author)
    ext = cast(FeederEntryExtension, fe.feeder).extras  # type: ignore[attr-defined]
    ext.creator = article.provider.name if article.provider else None
    ext.image = article.images[0] if article.images else None
    ext.enclosure = article.enclosure
    ext.episode = episode
    ext.episode_type = article.episode_type


def render_xml_feeds(
    plan: FeedPlan[Item],
    files: FeedFiles,
    site: SiteSettings,
    topic_names: dict[str, str] | None = None,
    hubs: Sequence[str] = (),
    show: Show | None = None,
    empty_date: datetime = EMPTY_FEED_DATE,
    history: History | None = None,
) -> dict[str, bytes]:
    """{'rss': bytes, 'atom': bytes} for one feed plan.

    `topic_names` maps an article's topic spelling to the topic's display name,
    so categories are spelled the same way in every item. With `show`, the RSS
    feed is a podcast feed.
    """
    names = topic_names or {}
    fg = FeedGenerator()
    fg.register_extension("feeder", FeederExtension, FeederEntryExtension, atom=True, rss=True)
    feeder_ext = cast(FeederExtension, fg.feeder)  # type: ignore[attr-defined]
    feeder_ext.hubs = list(hubs)
    feeder_ext.show = show
    feeder_ext.history = history
    title, description = feed_texts(plan.topic, site)
    fg.id(files.urls["atom"])
    fg.title(title)
    fg.subtitle(description)
    fg.description(description)
    fg.language(show.settings.language or site.language if show else site.language)
    if show is not None:
        fg.image(url=show.settings.image, title=title, link=site.home)
    fg.generator(GENERATOR)
    fg.author({"name": site.author or site.title, **({"email": site.author_email} if site.author_email else {})})
    fg.updated(feed_updated(plan.items, empty_date))
    for item in plan.items:
        _fill_entry(fg.add_entry(order="append"), item, names, show is not None)

    out: dict[str, bytes] = {}
    for fmt in ("rss", "atom"):
        # RSS takes the channel <link> from the last link given, so the
        # alternate (the site) goes last and the self link first.
        # Hub links are written by the extension: feedgen drops rel="hub" from RSS.
        fg.link(
            [
                {"href": files.urls[fmt], "rel": "self", "type": MEDIA_TYPES[fmt]},
                {"href": site.home, "rel": "alternate", "type": "text/html"},
            ],
            replace=True,
        )
        out[fmt] = hex_references(fg.rss_str(pretty=True)) if fmt == "rss" else fg.atom_str(pretty=True)
    return out
