"""index.html: what there is and how to subscribe, for people.

Plain, accessible HTML with a little inline CSS and no JavaScript. Every text
that comes from content is escaped; every link is absolute; nothing depends
on the build time, so an unchanged site gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from feeder.config import SiteSettings
from feeder.model import Item
from feeder.output.layout import FORMATS, HEADLINES, MEDIA_TYPES, OPML_NAME, FeedFiles, public_url

__all__ = ["LandingFeed", "render_landing"]

FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}

CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:46rem;margin:0 auto;
padding:1rem;color:#1a1a1a;background:#fff}
a{color:#0645ad}a:focus{outline:3px solid #f90}
header,section{border-bottom:1px solid #ddd;padding-bottom:1rem;margin-bottom:1rem}
h1{margin:.5rem 0}h2{margin:.5rem 0 .25rem}
.count,.meta{color:#555;font-size:.9rem}time{white-space:nowrap}
.subscribe a{display:inline-block;margin-right:.75rem;padding:.1rem .5rem;border:1px solid #0645ad;border-radius:4px}
ol{padding-left:1.25rem}
@media (prefers-color-scheme:dark){body{color:#eee;background:#111}a{color:#8ab4f8}
.subscribe a{border-color:#8ab4f8}.count,.meta{color:#aaa}header,section{border-color:#333}}
""".strip()


@dataclass(frozen=True, slots=True)
class LandingFeed:
    title: str  # the feed's own title, for autodiscovery links
    description: str  # shown under the heading; "" for none
    files: FeedFiles
    count: int  # items in the feed
    newest: Sequence[Item]  # newest first
    digest: FeedFiles | None = None
    digest_kind: str = "off"
    heading: str = ""  # the section's heading (default: the title)


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _head_links(feeds: Sequence[LandingFeed]) -> list[str]:
    """Autodiscovery: one `<link rel="alternate">` per feed and format."""
    return [
        f'<link rel="alternate" type="{MEDIA_TYPES[fmt]}" title="{_attr(f"{feed.title} ({FORMAT_NAMES[fmt]})")}" '
        f'href="{_attr(feed.files.urls[fmt])}">'
        for feed in feeds for fmt in FORMATS
    ] + [
        f'<link rel="alternate" type="{MEDIA_TYPES[fmt]}" '
        f'title="{_attr(f"{feed.title}, {feed.digest_kind} digest ({FORMAT_NAMES[fmt]})")}" '
        f'href="{_attr(feed.digest.urls[fmt])}">'
        for feed in feeds if feed.digest is not None for fmt in feed.digest.urls
    ]


def _section(i: int, feed: LandingFeed) -> str:
    anchor = f"feed-{i}"
    heading = feed.heading or feed.title
    items = "\n".join(
        f'<li><a href="{_attr(a.original_url)}">{escape(a.title)}</a> '
        f'<span class="meta">{escape(a.provider.name) + ", " if a.provider else ""}'
        f'<time datetime="{a.published_at.isoformat()}">{a.published_at.date().isoformat()}</time></span></li>'
        for a in (item.article for item in feed.newest[:HEADLINES])
    )
    subscribe = " ".join(
        f'<a href="{_attr(feed.files.urls[fmt])}" type="{MEDIA_TYPES[fmt]}">{FORMAT_NAMES[fmt]}</a>'
        for fmt in FORMATS
    )
    if feed.digest is not None:
        digest = " ".join(
            f'<a href="{_attr(feed.digest.urls[fmt])}" type="{MEDIA_TYPES[fmt]}">{FORMAT_NAMES[fmt]}</a>'
            for fmt in feed.digest.urls
        )
        subscribe += f'</p>\n<p class="subscribe">{escape(feed.digest_kind.capitalize())} digest: {digest}'
    count = f"{feed.count} item{'s' if feed.count != 1 else ''}"
    return (
        f'<section aria-labelledby="{anchor}">\n<h2 id="{anchor}">{escape(heading)}</h2>\n'
        + (f'<p>{escape(feed.description)}</p>\n' if feed.description else "")
        + f'<p class="count">{count}</p>\n'
        f'<p class="subscribe">Subscribe: {subscribe}</p>\n'
        + (f'<ol aria-label="Newest in {_attr(heading)}">\n{items}\n</ol>\n' if items else "")
        + "</section>"
    )


def render_landing(feeds: Sequence[LandingFeed], site: SiteSettings) -> bytes:
    head_links = _head_links(feeds)
    sections = [_section(i, feed) for i, feed in enumerate(feeds)]
    opml = public_url(site.base_url, OPML_NAME)
    page = f"""<!doctype html>
<html lang="{_attr(site.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(site.title)}: feeds</title>
<link rel="icon" href="data:,">
{chr(10).join(head_links)}
<style>
{CSS}
</style>
</head>
<body>
<header>
<h1>{escape(site.title)}</h1>
<p>{escape(site.description or f"The latest from {site.title}")}</p>
<p><a href="{_attr(site.home)}">Visit the site</a> · <a href="{_attr(opml)}" type="text/x-opml">All feeds (OPML)</a></p>
</header>
<main>
{chr(10).join(sections)}
</main>
<footer class="meta"><p>Feeds published by feeder.</p></footer>
</body>
</html>
"""
    return page.encode("utf-8")
