"""A feedgen extension for what feedgen 1.0.0 writes wrongly or not at all.

feedgen drops every attribute but `href` from Atom entry links (its issue
135), so enclosures are written here; RSS has no element for an author's
name (`<author>` must be an e-mail address), so the provider goes to
`dc:creator`; and Media RSS images are written without feedgen's
`media:group` wrapper, which several readers ignore.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from feeder.model import Enclosure, Image

if TYPE_CHECKING:
    from feeder.model import PodcastSettings

ATOM_NS = "http://www.w3.org/2005/Atom"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
# The namespace Podcasting 2.0 defines for podcast:guid.
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005

_IMAGE_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml",
}


def image_type(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    dot = path.rfind(".")
    return _IMAGE_TYPES.get(path[dot:]) if dot != -1 else None


@dataclass(frozen=True)
class Show:
    """A podcast's channel-level data, for its RSS feed."""

    settings: PodcastSettings
    guid: str  # podcast:guid


def podcast_guid(feed_url: str) -> str:
    """Podcasting 2.0's podcast:guid: UUIDv5 of the feed URL without its scheme and trailing slashes."""
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


@dataclass(frozen=True)
class History:
    """A feed document's place among its archives (RFC 5005): the links it
    carries (each a URL by format: the RSS document links RSS documents),
    and whether it is an archive document itself."""

    archive: bool = False  # an archive document: carries fh:archive
    current: dict[str, str] | None = None  # the subscription feed (in an archive document)
    prev_archive: dict[str, str] | None = None  # the next older archive
    next_archive: dict[str, str] | None = None  # the next newer archive

    def links(self, fmt: str) -> list[tuple[str, str]]:
        return [(rel, urls[fmt]) for rel, urls in (("current", self.current), ("prev-archive", self.prev_archive),
                                                   ("next-archive", self.next_archive)) if urls]


class FeederExtension(BaseExtension):
    def __init__(self) -> None:
        self.hubs: list[str] = []
        self.show: Show | None = None
        self.history: History | None = None

    def extend_ns(self) -> dict[str, str]:
        ns = {"dc": DC_NS, "media": MEDIA_NS}
        if self.show is not None:
            ns |= {"itunes": ITUNES_NS, "podcast": PODCAST_NS}
        if self.history is not None and self.history.archive:
            ns |= {"fh": FH_NS}
        return ns

    def _links(self, fmt: str) -> list[tuple[str, str]]:
        return [*(("hub", hub) for hub in self.hubs), *(self.history.links(fmt) if self.history else [])]

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        if channel is not None:
            anchor = channel.find(f"{{{ATOM_NS}}}link")
            at = list(channel).index(anchor) + 1 if anchor is not None else 3
            links = self._links("rss")
            for i, (rel, href) in enumerate(links):
                link = etree.Element(f"{{{ATOM_NS}}}link", {"href": href, "rel": rel})
                channel.insert(at + i, link)
            if self.history is not None and self.history.archive:
                channel.insert(at + len(links), etree.Element(f"{{{FH_NS}}}archive"))
            if self.show is not None:
                self._show(channel, self.show)
        return feed

    @staticmethod
    def _show(channel: etree._Element, show: Show) -> None:
        # Written here rather than with feedgen's podcast extension, which
        # rejects itunes:explicit true/false (what Apple asks for) and drops
        # image URLs whose path does not end in .jpg or .png.
        p = show.settings
        it = f"{{{ITUNES_NS}}}"
        _sub(channel, it + "image", href=p.image)
        # Apple's categories are named by a `text` attribute, not by element text.
        category = etree.SubElement(channel, it + "category", {"text": p.category})
        if p.subcategory:
            etree.SubElement(category, it + "category", {"text": p.subcategory})
        _sub(channel, it + "explicit", "true" if p.explicit else "false")
        if p.author:
            _sub(channel, it + "author", p.author)
        if p.owner_name or p.owner_email:
            owner = _sub(channel, it + "owner")
            if p.owner_name:
                _sub(owner, it + "name", p.owner_name)
            if p.owner_email:
                _sub(owner, it + "email", p.owner_email)
        _sub(channel, it + "type", p.type)
        _sub(channel, f"{{{PODCAST_NS}}}guid", show.guid)
        locked = _sub(channel, f"{{{PODCAST_NS}}}locked", "yes" if p.locked else "no")
        if p.owner_email:
            locked.set("owner", p.owner_email)

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        # After feedgen's own links, before the generator: the unqualified
        # name matches the rest of feedgen's Atom document.
        links = feed.findall("link")
        at = list(feed).index(links[-1]) + 1 if links else len(feed)
        added = self._links("atom")
        for i, (rel, href) in enumerate(added):
            feed.insert(at + i, etree.Element("link", {"href": href, "rel": rel}))
        if self.history is not None and self.history.archive:
            feed.insert(at + len(added), etree.Element(f"{{{FH_NS}}}archive"))
        return feed


@dataclass
class EntryExtras:
    creator: str | None = None
    image: Image | None = None
    enclosure: Enclosure | None = None
    episode: bool = False  # an item of a podcast feed
    episode_type: str | None = None


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
        if not self.extras.episode:
            # Podcast apps (gPodder's parser among them) take every media:content
            # for a file of the episode: in a podcast the image is art, not content.
            etree.SubElement(entry, f"{{{MEDIA_NS}}}content", {**attrs, **size})
        etree.SubElement(entry, f"{{{MEDIA_NS}}}thumbnail", {"url": image.url, **size})

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.extras.creator:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = self.extras.creator
        enc = self.extras.enclosure
        if enc is not None and enc.length is not None and enc.type:
            # Only with a known length and type: never length="None" (feedgen would write it).
            etree.SubElement(item, "enclosure", {"url": enc.url, "length": str(enc.length), "type": enc.type})
        if self.extras.episode:
            it = f"{{{ITUNES_NS}}}"
            if enc is not None and enc.duration is not None:
                h, rest = divmod(enc.duration, 3600)
                _sub(item, it + "duration", f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}")
            _sub(item, it + "episodeType", self.extras.episode_type or "full")
            image = self.extras.image
            if image is not None and image_type(image.url) in ("image/jpeg", "image/png"):
                _sub(item, it + "image", href=image.url)
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
