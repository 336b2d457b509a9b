"""Making untrusted text safe to publish.

Text is text: a title or an excerpt is plain text, whatever it looks like
("Using std::vector<int>", "the <blink> tag"), and is escaped by whoever
writes it out, never stripped. Only what is declared HTML (a followed feed's
`type="html"` title, an RSS description, a rendered body) is turned into
text, and then with its word boundaries kept.

The jobs: drop what XML 1.0 cannot carry (control characters, lone
surrogates), tidy plain text, turn HTML into text, turn text into HTML that
shows it literally, and render Markdown bodies to sanitized HTML whose URLs
are all absolute URIs.
"""

from __future__ import annotations

import html
import re

from feeder.urls import to_uri

__all__ = [
    "MAX_DEPTH",
    "TooDeep",
    "clean_text",
    "escape_html",
    "html_to_text",
    "plural",
    "render_html",
    "render_markdown",
    "sanitize_html",
    "text_to_html",
    "trim_text",
    "xml_safe",
]

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
    if text.isprintable():
        # The common case, checked in C without a regex: every character
        # XML cannot carry (controls, surrogates, U+FFFE/U+FFFF) is unprintable.
        return text
    return _NOT_XML_CHAR.sub("", text)


# Runs of whitespace; a no-break space is a character the author chose, not layout.
_SPACES = re.compile(r"[^\S\xa0]+")


def clean_text(text: str) -> str:
    """Plain text made safe and tidy: no control characters, whitespace
    runs (line breaks included) collapsed to one space. Nothing that looks
    like markup is touched: renderers escape it on output."""
    if text.isprintable():
        # Then its only whitespace is the plain space: tidy already, most often.
        if "  " not in text and text[:1] != " " and text[-1:] != " ":
            return text
    else:
        text = xml_safe(text)
    return _SPACES.sub(" ", text).strip()


# Elements after which a reader sees a break between words.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "summary", "table", "td", "th", "tr", "ul",
})
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head", "title", "svg"})  # a drawing is not text


_CHAR_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")


def _xml_safe_references(fragment: str) -> str:
    """Drop character references to what XML cannot carry (`&#1;`): they would
    decode to control characters, which the HTML parser refuses."""
    def keep(m: re.Match[str]) -> str:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        if code > 0x10FFFF:
            return ""
        return m.group() if _NOT_XML_CHAR.match(chr(code)) is None else ""

    return _CHAR_REFERENCE.sub(keep, fragment) if "&#" in fragment else fragment


def html_to_text(fragment: str) -> str:
    """The text a reader sees in an HTML fragment: tags gone, entities decoded
    (`&nbsp;` is a no-break space), block elements and `<br>` as word breaks
    (`<p>First.</p><p>Second.</p>` is "First. Second."), whitespace collapsed."""
    fragment = _xml_safe_references(xml_safe(fragment))
    if "<" not in fragment and "&" not in fragment:
        return clean_text(fragment)
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(fragment)
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        block = tag.lower() in _BLOCKS
        if block:
            parts.append(" ")
        if tag.lower() not in _HIDDEN and isinstance(el.tag, str):
            parts.append(el.text or "")
            for child in el:
                walk(child)
        if block:
            parts.append(" ")
        parts.append(el.tail or "")

    walk(root)
    return clean_text(xml_safe("".join(parts)))


def text_to_html(text: str) -> str:
    """Plain text as HTML (and Markdown) that shows it literally: one `<p>`
    per paragraph, line breaks as `<br>`, `<`, `&` and `>` escaped.

    A Markdown renderer passes an HTML block through untouched, so `*`, `#`
    or `[..](..)` in the text stay characters too.
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", xml_safe(text).replace("\r\n", "\n")) if p.strip()]
    return "\n\n".join(
        "<p>" + "<br>".join(escape_html(line.strip()) for line in p.strip().split("\n")) + "</p>"
        for p in paragraphs
    )


def trim_text(text: str, length: int) -> str:
    """`text` cut to about `length` characters at a word boundary, with an ellipsis."""
    if len(text) <= length:
        return text
    cut = text.rfind(" ", 0, length)
    return text[: cut if cut > length // 2 else length].rstrip(" ,;:") + "…"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """"1 file", "2 files": a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def escape_html(text: str) -> str:
    """Plain text as an HTML fragment."""
    return html.escape(text, quote=False)


def _uri_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute in ("href", "src"):
        try:
            return to_uri(value)
        except ValueError:
            return None  # a host that cannot be a domain name: drop the link, keep the text
    return value


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
        attribute_filter=_uri_attribute,
    )


class TooDeep(ValueError):
    """A body whose elements nest deeper than `MAX_DEPTH`."""


# Elements inside elements, at most: the sanitizer's time grows with the
# square of the depth (50,000 nested quotes: 13 s), and no article needs more.
MAX_DEPTH = 256
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*?(/?)>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


def _check_depth(fragment: str) -> None:
    if fragment.count("<") < 2 * MAX_DEPTH:
        return  # too few tags to nest that deep: the common case, without a scan
    depth = 0
    for m in _TAG.finditer(fragment):
        if m.group(1):
            depth = max(0, depth - 1)
        elif not m.group(3) and m.group(2).lower() not in _VOID:
            depth += 1
            if depth > MAX_DEPTH:
                raise TooDeep(f"its elements nest more than {MAX_DEPTH} levels deep")


def render_markdown(source: str, base_url: str | None) -> str:
    """Markdown (CommonMark with GitHub's tables and strikethrough; raw HTML
    allowed) to sanitized HTML with absolute URLs. Raises `TooDeep` for a
    body whose elements nest deeper than `MAX_DEPTH`.

    cmark-gfm, GitHub's C implementation (as PyPI renders READMEs with), is
    linear on inputs built to be slow: a 1 MiB body of `*a* ` took 5 s in
    markdown-it-py and takes 0.4 s here; ordinary prose is as fast either way.
    """
    if not source.strip():
        return ""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    rendered = cmarkgfm.markdown_to_html_with_extensions(
        xml_safe(source), options=Options.CMARK_OPT_UNSAFE, extensions=["table", "strikethrough"])
    return render_html(rendered, base_url)


def render_html(fragment: str, base_url: str | None) -> str:
    """An HTML body sanitized, with absolute URLs; `TooDeep` past `MAX_DEPTH`."""
    if not fragment.strip():
        return ""
    _check_depth(fragment)
    return sanitize_html(fragment, base_url).strip()

