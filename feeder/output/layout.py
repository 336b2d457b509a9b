"""Where each file lives in the output folder and under the public base URL.

    rss.xml, atom.xml, feed.json           all topics
    topics/<slug>/rss.xml, atom.xml, ...   one topic (or custom feed)
    .../archive/<period>/rss.xml, ...      a feed's archive of one period (RFC 5005)
    digest/rss.xml, topics/<slug>/digest/  digest feeds (when configured)
    index.opml                             every feed
    index.html                             the landing page

Every file also gets a gzip-compressed copy beside it (`rss.xml.gz`), for
`feeder serve` and nginx's `gzip_static`. These names are part of the public
interface: subscribers have them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urljoin

__all__ = ["FORMATS", "INDEX_NAME", "MEDIA_TYPES", "OPML_NAME", "FeedFiles", "content_type", "feed_files",
           "public_url"]

FORMATS = ("rss", "atom", "json")
FILE_NAMES = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
OPML_NAME = "index.opml"
INDEX_NAME = "index.html"
HEADLINES = 5  # newest headlines per feed on the landing page

# By file name, then by extension: rss.xml and atom.xml share an extension.
_TYPES_BY_NAME = {name: MEDIA_TYPES[fmt] for fmt, name in FILE_NAMES.items()}
_TYPES_BY_SUFFIX = {
    ".opml": "text/x-opml", ".html": "text/html", ".css": "text/css", ".xml": "application/xml",
    ".json": "application/json", ".txt": "text/plain", ".gz": "application/gzip",
}
_TEXT = ("text/", "application/rss+xml", "application/atom+xml", "application/feed+json", "application/xml",
         "application/json")


def content_type(name: str) -> str:
    """The Content-Type header for a published file, with a charset for text."""
    media = _TYPES_BY_NAME.get(name)
    if media is None:
        dot = name.rfind(".")
        media = _TYPES_BY_SUFFIX.get(name[dot:].lower(), "application/octet-stream") if dot >= 0 else \
            "application/octet-stream"
    return f"{media}; charset=utf-8" if media.startswith(_TEXT) else media


@dataclass(frozen=True, slots=True)
class FeedFiles:
    """The output paths (relative, POSIX) and public URLs of one feed's formats."""

    paths: dict[str, str]
    urls: dict[str, str]


def feed_files(slug: str, base_url: str, *, digest: bool = False, archive: str | None = None) -> FeedFiles:
    """`slug` is '' for the all-topics feed; a digest feed lives in a `digest/` folder beside it (RSS, Atom),
    the archive of a period in `archive/<period>/` (RFC 5005)."""
    folder = f"topics/{slug}/" if slug else ""
    if digest:
        folder += "digest/"
    if archive is not None:
        folder += f"archive/{archive}/"
    paths = {fmt: folder + FILE_NAMES[fmt] for fmt in (("rss", "atom") if digest else FORMATS)}
    urls = {fmt: public_url(base_url, path) for fmt, path in paths.items()}
    return FeedFiles(paths, urls)


def public_url(base_url: str, rel_path: str) -> str:
    return urljoin(base_url, quote(rel_path))
