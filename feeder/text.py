"""Making untrusted text safe to publish.

Three jobs: drop what XML 1.0 cannot carry (control characters, lone
surrogates), turn HTML-ish titles and excerpts into plain text, and render
Markdown bodies to sanitized HTML whose URLs are all absolute.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["escape_html", "is_http_url", "plain_text", "render_markdown", "sanitize_html", "xml_safe"]

# Everything outside XML 1.0's Char production, plus U+FFFE/U+FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# What a feed reader may render from an article body.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "time", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def xml_safe(text: str) -> str:
    """Remove characters that XML 1.0 cannot represent."""
    if text.isascii() and text.isprintable():
        return text  # the common case, checked in C without a regex
    return _NOT_XML_CHAR.sub("", text)


def plain_text(text: str) -> str:
    """Text with any HTML tags removed, entities decoded and whitespace collapsed.

    The result is plain text: renderers escape it again on output.
    """
    text = xml_safe(text)
    if "<" in text or "&" in text:
        import nh3  # loaded on first use: most titles and excerpts never need it

        text = html.unescape(nh3.clean(text, tags=set()))
        text = xml_safe(text)  # an entity such as &#1; may decode to a control character
    return " ".join(text.split())


def escape_html(text: str) -> str:
    """Plain text as an HTML fragment."""
    return html.escape(text, quote=False)


# scheme://authority[/?#rest], nothing that ends a URL in text or a header.
_HTTP_URL = re.compile(r"(?i:https?)://([^\s/?#\x00-\x1f\x7f]+)(?:[/?#][^\s\x00-\x1f\x7f]*)?\Z")


def is_http_url(value: str) -> bool:
    m = _HTTP_URL.match(value)
    if m is None:
        return False
    if "[" in m.group(1) or "@" in m.group(1):
        try:  # bracketed IPv6 and user-info are rare: let the standard parser judge them
            return bool(urlsplit(value).hostname)
        except ValueError:
            return False
    return True


def sanitize_html(fragment: str, base_url: str | None) -> str:
    """Sanitize an HTML fragment, resolving relative URLs against `base_url`.

    Relative URLs are dropped when there is no base, because a reader or an
    e-mail client would resolve them against the wrong site.
    """
    import nh3

    return nh3.clean(
        xml_safe(fragment),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
        link_rel="noopener noreferrer",
    )


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def render_markdown(source: str, base_url: str | None) -> str:
    """Markdown (raw HTML allowed) to sanitized HTML with absolute URLs."""
    if not source.strip():
        return ""
    return sanitize_html(_markdown().render(xml_safe(source)), base_url).strip()

