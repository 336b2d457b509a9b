"""The OPML 2.0 subscription list of every feed, grouped by format so that
importing one group subscribes to each feed once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from feeder.config import SiteSettings

__all__ = ["FORMAT_LABELS", "OpmlFeed", "render_opml"]

FORMAT_LABELS = {"rss": "RSS 2.0", "atom": "Atom 1.0", "json": "JSON Feed 1.1"}


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    title: str
    description: str
    urls: dict[str, str]  # format → absolute URL


def render_opml(feeds: Sequence[OpmlFeed], site: SiteSettings, modified: datetime) -> bytes:
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{site.title}: feeds"
    # The newest item's date, not the build time, so unchanged input gives unchanged bytes.
    etree.SubElement(head, "dateModified").text = format_datetime(modified)
    if site.author:
        etree.SubElement(head, "ownerName").text = site.author
    body = etree.SubElement(root, "body")
    for fmt in FORMAT_LABELS:
        members = [feed for feed in feeds if fmt in feed.urls]
        if not members:
            continue
        group = etree.SubElement(body, "outline", text=FORMAT_LABELS[fmt])
        for feed in members:
            etree.SubElement(
                group,
                "outline",
                type="rss",
                text=feed.title,
                title=feed.title,
                description=feed.description,
                xmlUrl=feed.urls[fmt],
                htmlUrl=site.home,
                version={"rss": "RSS2", "atom": "ATOM", "json": "JSONFEED"}[fmt],
            )
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
