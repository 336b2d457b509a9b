"""Finding a site's feeds from its address, as feed readers do: the
`<link rel="alternate">` tags of its page, else the paths most sites use.
Pure functions: the fetching is the caller's."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

__all__ = ["COMMON_PATHS", "FEED_TYPES", "FeedLink", "common_candidates", "feed_links", "is_feed", "is_html"]

# Media types of feeds, in the order of preference when a page offers several.
FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",  # JSON Feed 1.0's advice; JSON Feed 1.1 names feed+json
}
_PREFERENCE = {"rss": 0, "atom": 1, "json": 2}

# Tried, in this order, only when a page names no feed.
COMMON_PATHS = ("/feed", "/rss.xml", "/atom.xml", "/index.xml", "/feed.xml", "/rss", "/feed.json")


@dataclass(frozen=True, slots=True)
class FeedLink:
    url: str  # absolute
    kind: str  # rss, atom or json
    title: str = ""


def is_html(content_type: str, body: bytes) -> bool:
    """Whether a fetched document is a web page rather than a feed."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return True
    if kind:
        return False
    head = body.lstrip()[:512].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def is_feed(content_type: str, body: bytes) -> bool:
    """Whether a document looks like a feed (an RSS, Atom or JSON Feed document)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    head = body.lstrip()[:2048]
    if kind in FEED_TYPES or kind.endswith("+xml") or kind in ("application/xml", "text/xml") or not kind:
        return (b"<rss" in head or b"<feed" in head or b"<rdf:RDF" in head
                or (head.startswith(b"{") and b"jsonfeed.org" in head))
    return False


def feed_links(html: bytes, base_url: str) -> list[FeedLink]:
    """The feeds a page names with `<link rel="alternate" type=...>`, absolute
    (against the page's `<base href>` if any), each once, RSS first, then
    Atom, then JSON Feed, in the page's order within each kind."""
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(html)
    except Exception:  # lxml: empty or unreadable document
        return []
    base = base_url
    for el in doc.iter("base"):
        href = (el.get("href") or "").strip()
        if href:
            base = urljoin(base_url, href)
            break
    found: dict[str, FeedLink] = {}
    for el in doc.iter("link"):
        rels = (el.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((el.get("type") or "").split(";", 1)[0].strip().lower())
        href = (el.get("href") or "").strip()
        if "alternate" not in rels or kind is None or not href:
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme not in ("http", "https") or url in found:
            continue
        found[url] = FeedLink(url, kind, " ".join((el.get("title") or "").split()))
    order = list(found)
    return sorted(found.values(), key=lambda f: (_PREFERENCE[f.kind], order.index(f.url)))


def common_candidates(page_url: str) -> list[str]:
    """The usual feed addresses of the site a page belongs to."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}"
    return [root + path for path in COMMON_PATHS]
