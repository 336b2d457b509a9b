"""A feedgen extension for what feedgen 1.0.0 writes wrongly or not at all.

feedgen drops every attribute but `href` from Atom entry links (its issue
135), so enclosures are written here; RSS has no element for an author's
name (`<author>` must be an e-mail address), so the provider goes to
`dc:creator`; and Media RSS images are written without feedgen's
`media:group` wrapper, which several readers ignore.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from ..model import Enclosure, Image

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"

_IMAGE_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml",
}


def image_type(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    dot = path.rfind(".")
    return _IMAGE_TYPES.get(path[dot:]) if dot != -1 else None


class FeederExtension(BaseExtension):
    def __init__(self) -> None:
        self.hubs: list[str] = []

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS, "media": MEDIA_NS}

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        if channel is not None:
            anchor = channel.find(f"{{{ATOM_NS}}}link")
            at = list(channel).index(anchor) + 1 if anchor is not None else 3
            for i, hub in enumerate(self.hubs):
                link = etree.Element(f"{{{ATOM_NS}}}link", {"href": hub, "rel": "hub"})
                channel.insert(at + i, link)
        return feed

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        # After feedgen's own links, before the generator: the unqualified
        # name matches the rest of feedgen's Atom document.
        links = feed.findall("link")
        at = list(feed).index(links[-1]) + 1 if links else len(feed)
        for i, hub in enumerate(self.hubs):
            feed.insert(at + i, etree.Element("link", {"href": hub, "rel": "hub"}))
        return feed


@dataclass
class EntryExtras:
    creator: str | None = None
    image: Image | None = None
    enclosure: Enclosure | None = None


class FeederEntryExtension(BaseEntryExtension):
    def __init__(self) -> None:
        self.extras = EntryExtras()

    def _media(self, entry: etree._Element) -> None:
        image = self.extras.image
        if image is None:
            return
        attrs = {"url": image.url, "medium": "image"}
        mime = image_type(image.url)
        if mime:
            attrs["type"] = mime
        size = {k: str(v) for k, v in (("width", image.width), ("height", image.height)) if v}
        etree.SubElement(entry, f"{{{MEDIA_NS}}}content", {**attrs, **size})
        etree.SubElement(entry, f"{{{MEDIA_NS}}}thumbnail", {"url": image.url, **size})

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.extras.creator:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.extras.creator
        enc = self.extras.enclosure
        if enc is not None and enc.length is not None and enc.type:
            etree.SubElement(item, "enclosure", {"url": enc.url, "length": str(enc.length), "type": enc.type})
        self._media(item)
        return item

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        enc = self.extras.enclosure
        if enc is not None:
            attrs = {"rel": "enclosure", "href": enc.url}
            if enc.type:
                attrs["type"] = enc.type
            if enc.length is not None:
                attrs["length"] = str(enc.length)
            # feedgen builds Atom documents with an `xmlns` attribute rather than
            # namespaced elements, so the link must be unqualified to match.
            etree.SubElement(entry, "link", attrs)
        self._media(entry)
        return entry
