"""Where each feed lives in the output folder and under the public base URL.

    rss.xml, atom.xml                      all topics
    topics/<slug>/rss.xml, .../atom.xml    one topic
    index.opml                             every feed

These names are part of the public interface: subscribers have them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urljoin

__all__ = ["FORMATS", "MEDIA_TYPES", "OPML_NAME", "FeedFiles", "feed_files"]

FORMATS = ("rss", "atom")
FILE_NAMES = {"rss": "rss.xml", "atom": "atom.xml"}
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
}
OPML_NAME = "index.opml"


@dataclass(frozen=True, slots=True)
class FeedFiles:
    """The output paths (relative, POSIX) and public URLs of one feed's formats."""

    paths: dict[str, str]
    urls: dict[str, str]


def feed_files(slug: str, base_url: str) -> FeedFiles:
    """`slug` is '' for the all-topics feed."""
    folder = f"topics/{slug}/" if slug else ""
    paths = {fmt: folder + FILE_NAMES[fmt] for fmt in FORMATS}
    urls = {fmt: urljoin(base_url, quote(path)) for fmt, path in paths.items()}
    return FeedFiles(paths, urls)


def public_url(base_url: str, rel_path: str) -> str:
    return urljoin(base_url, quote(rel_path))
