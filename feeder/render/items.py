"""Articles made ready for every renderer: each article's Markdown body is
rendered to HTML once per build, with its full content and teaser, and the
same `Item` then feeds RSS, Atom, JSON Feed, digests and the landing page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from feeder.model import Article, Item, MediaFacts, Provider
from feeder.text import TooDeep, escape_html, html_to_text, render_html, render_markdown, trim_text
from feeder.urls import http_uri

__all__ = ["TEASER_LENGTH", "article_html", "body_html", "prepare", "provider_url", "teaser", "with_media"]

TEASER_LENGTH = 300

log = logging.getLogger(__name__)

# By URL: what a HEAD of each media file said (feeder.model.MediaFacts).
MediaIndex = Mapping[str, MediaFacts]


def prepare(article: Article, media: MediaIndex | None = None) -> Item:
    """The article as every renderer needs it; `media` fills in what its enclosure leaves out."""
    if media:
        article = with_media(article, media)
    body = body_html(article)
    return Item(article, body, article_html(article, body), teaser(article, body))


def with_media(article: Article, media: MediaIndex) -> Article:
    """The article with its enclosure's type and length filled in from what a HEAD said."""
    enc = article.enclosure
    if enc is None or (enc.length is not None and enc.type):
        return article
    facts = media.get(enc.url)
    mtype, length = (facts.type, facts.length) if facts else (None, None)
    return replace(article, enclosure=replace(enc, type=enc.type or mtype,
                                              length=enc.length if enc.length is not None else length))


def teaser(article: Article, body: str) -> str:
    """The plain-text summary: the excerpt, else the start of the body (`body_html`)."""
    if article.excerpt:
        return article.excerpt
    return trim_text(html_to_text(body), TEASER_LENGTH)


def provider_url(provider: Provider) -> str | None:
    """The provider's home page, from its domain, as a URI (None when the domain is not a host name)."""
    return http_uri(f"https://{provider.domain}/") if provider.domain else None


def body_html(article: Article) -> str:
    """The article's Markdown body as sanitized HTML with absolute URLs ('' when
    it has none, or one too deeply nested to render: its excerpt stands in)."""
    base = article.web_url or article.original_url
    try:
        if article.body_format == "html":
            # An ingested body: HTML as the source sent it, never read as Markdown.
            return render_html(article.body, base)
        return render_markdown(article.body, base)
    except TooDeep as exc:
        log.warning("%s: body left out, %s; the item shows its excerpt", article.source, exc)
        return ""


def article_html(article: Article, body: str) -> str:
    """The item's full content, complete enough for an e-mail: the body (or
    the excerpt), a link to the original, then the related articles."""
    parts = []
    if body:
        parts.append(body)
    elif article.excerpt:
        parts.append(f"<p>{escape_html(article.excerpt)}</p>")
    source = article.provider.name if article.provider else urlsplit(article.original_url).hostname or ""
    href = escape_html(article.original_url).replace('"', "&quot;")
    parts.append(f'<p><a href="{href}">Read more{" at " + escape_html(source) if source else ""}</a></p>')
    if article.related:
        items = []
        for rel in article.related:
            by = f" ({escape_html(rel.provider.name)})" if rel.provider else ""
            href = escape_html(rel.url).replace('"', "&quot;")
            items.append(f'<li><a href="{href}">{escape_html(rel.title)}</a>{by}</li>')
        parts.append("<h2>Related</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>")
    return "\n".join(parts)
