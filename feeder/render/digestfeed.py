"""RSS and Atom documents of a digest feed (see feeder.selection.digests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feedgen.feed import FeedGenerator

from feeder.config import SiteSettings
from feeder.model import EMPTY_FEED_DATE
from feeder.output.layout import MEDIA_TYPES, FeedFiles
from feeder.render.xmlfeeds import GENERATOR, hex_references
from feeder.selection.digests import DigestItem

__all__ = ["render_digest_feeds"]


def render_digest_feeds(items: Sequence[DigestItem], files: FeedFiles, site: SiteSettings, title: str,
                        description: str, empty_date: datetime = EMPTY_FEED_DATE) -> dict[str, bytes]:
    fg = FeedGenerator()
    fg.id(files.urls["atom"])
    fg.title(title)
    fg.subtitle(description)
    fg.description(description)
    fg.language(site.language)
    fg.generator(GENERATOR)
    fg.author({"name": site.author or site.title})
    fg.updated(max((i.date for i in items), default=empty_date))
    for item in items:
        fe = fg.add_entry(order="append")
        fe.id(item.id)
        fe.title(item.title)
        fe.link(href=site.home)
        fe.published(item.date)
        fe.updated(item.date)
        fe.summary(f"{item.count} article{'s' if item.count != 1 else ''}", type="text")
        fe.content(item.html, type="html")
    out = {}
    for fmt in ("rss", "atom"):
        fg.link([{"href": files.urls[fmt], "rel": "self", "type": MEDIA_TYPES[fmt]},
                 {"href": site.home, "rel": "alternate", "type": "text/html"}], replace=True)
        out[fmt] = hex_references(fg.rss_str(pretty=True)) if fmt == "rss" else fg.atom_str(pretty=True)
    return out
