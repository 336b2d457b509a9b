"""Reading other sites' feeds: RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 with
feedparser, JSON Feed 1.x with json, into plain `FeedItem`s.

Hostile XML never reaches a parser that would act on it: a document that
declares entities (external ones, or the nested ones of an "entity bomb") is
refused by defusedxml's checks first, and the caller limits the size of what
it hands over.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

import defusedxml.ElementTree as SafeET
import feedparser
from defusedxml import DefusedXmlException

from feeder.errors import FeederError
from feeder.model import Enclosure, Image
from feeder.text import clean_text, html_to_text, sanitize_html, text_to_html, trim_text
from feeder.urls import http_uri

__all__ = ["BadFeed", "FeedItem", "ParsedFeed", "parse_feed"]

EXCERPT_LENGTH = 300
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
_ABSOLUTE_HTTP = re.compile(r"(?i)https?://")


class BadFeed(FeederError):
    """A fetched document that is not a feed feeder can read (or will not read)."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    key: str  # the entry's own id, or its link
    title: str  # plain text
    link: str  # an absolute URI, or "" when the entry has none
    summary: str  # plain text, trimmed
    content_html: str  # sanitized, with absolute URLs
    published: datetime | None
    updated: datetime | None
    images: tuple[Image, ...] = ()
    enclosure: Enclosure | None = None
    has_id: bool = False  # `key` is the entry's own id (not its link): two ids of one source are two entries


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    home: str | None
    ttl_minutes: int | None
    items: tuple[FeedItem, ...]
    problems: tuple[str, ...] = ()  # what was wrong with the document, for the source's report
    hub: str | None = None  # the WebSub hub it advertises (rel="hub"), absolute
    self_url: str | None = None  # its own address (rel="self"): the topic a hub knows it by


def _when(parsed: Any) -> datetime | None:
    # feedparser gives UTC struct_times; calendar.timegm reads them as UTC.
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


def _refuse_hostile_xml(data: bytes) -> Any:
    """The document's root element (None when it is not well-formed); raises
    `BadFeed` for one that declares entities."""
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadFeed(f"hostile XML refused ({type(exc).__name__}): entity declarations are not allowed") from None
    except Exception:  # not well-formed: feedparser's lenient parser gets its chance
        return None


def _names_only(root: Any) -> list[bool] | None:
    """For each RSS item, whether its guid only names it: a permalink guid
    (the default) that is no absolute http(s) URL ("ep-12"), which feedparser
    resolves into a URL on the feed's own host and offers as the link."""
    if root is None or root.tag != "rss":
        return None
    flags = []
    for item in root.findall("channel/item"):
        guid = item.find("guid")
        text = (guid.text or "").strip() if guid is not None else ""
        flags.append(bool(text) and not _ABSOLUTE_HTTP.match(text))
    return flags


def _as_text(value: str, kind: str | None) -> str:
    """A field as plain text, read by its declared type: text is text (its
    `<` and `&` are characters), HTML is turned into the text it shows."""
    if kind and kind.lower() in _HTML_TYPES:
        return html_to_text(value)
    return clean_text(value)


def _as_html(value: str, kind: str | None, base: str) -> str:
    """A field as sanitized HTML: HTML is sanitized, text is escaped to show literally."""
    if not value.strip():
        return ""
    if kind and kind.lower() in _HTML_TYPES:
        return sanitize_html(value, base)
    return text_to_html(value)


def _detail_type(entry: Any, name: str) -> str | None:
    detail = entry.get(f"{name}_detail")
    return detail.get("type") if detail else None


def _entry_link(e: Any, base: str, *, guid_names_only: bool = False) -> str:
    """The entry's page: its first `rel="alternate"` link that has an href
    (HTML preferred), not feedparser's pick, which may be an enclosure or a
    link without an address."""
    alternates = [lk for lk in e.get("links") or [] if lk.get("rel", "alternate") == "alternate" and lk.get("href")]
    html = [lk for lk in alternates if (lk.get("type") or "text/html") in ("text/html", "application/xhtml+xml")]
    chosen = (html or alternates or [None])[0]
    href = chosen.get("href", "") if chosen else ""
    if not href:
        enclosures = {lk.get("href") for lk in e.get("links") or [] if lk.get("rel") == "enclosure"}
        href = e.get("link") or ""
        if href in enclosures:
            href = ""
        elif guid_names_only and e.get("guidislink") and href == e.get("id"):
            # An RSS guid is a permalink unless it says otherwise; one that is
            # no absolute URL ("ep-12") names the entry, it is not its page.
            href = ""
    href = href.strip()
    return http_uri(urljoin(base, href)) or "" if href else ""


def _malformed(d: Any) -> str | None:
    """The parser's complaint when the document is not well-formed XML (its entries were recovered)."""
    exc = d.get("bozo_exception")
    if not d.get("bozo") or exc is None:
        return None
    import xml.sax

    if isinstance(exc, xml.sax.SAXException):
        line = getattr(exc, "getLineNumber", lambda: None)()
        column = getattr(exc, "getColumnNumber", lambda: None)()
        where = f" at line {line}, column {column}" if line is not None else ""
        message = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)
        return f"malformed XML{where}: {message}"
    return None


def parse_feed(data: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Parse a fetched document (`url` is where it came from, for relative links)."""
    head = data.lstrip()[:1]
    if "json" in content_type or head in (b"{", b"["):
        return _parse_json(data, url)
    root = _refuse_hostile_xml(data)
    d = feedparser.parse(data, response_headers={"content-location": url, "content-type": content_type or
                                                 "application/xml"})
    if not d.get("version") and not d.entries:
        problem = d.get("bozo_exception")
        raise BadFeed(f"not an RSS, Atom or JSON feed{': ' + str(problem)[:200] if problem else ''}")
    problems: list[str] = []
    malformed = _malformed(d)
    if malformed:
        problems.append(f"{malformed} ({len(d.entries)} entries recovered)")
    items = []
    names_only = _names_only(root)
    if names_only is not None and len(names_only) != len(d.entries):
        names_only = None  # the two parsers disagree on the items: no guessing
    for n, e in enumerate(d.entries):
        link = _entry_link(e, url, guid_names_only=bool(names_only and names_only[n]))
        images, enclosure = _media(e, url)
        key = clean_text(e.get("id") or "") or link or (enclosure.url if enclosure else "")
        contents = e.get("content") or []
        if contents:
            body_value, body_type = contents[0].get("value", ""), contents[0].get("type")
        else:
            body_value, body_type = e.get("summary", ""), _detail_type(e, "summary")
        # Each text is read by the type of the element it came from. Without a
        # summary element of its own (no summary_detail), feedparser hands the
        # content over as `summary`: it is that content, HTML when it says so.
        detail = e.get("summary_detail")
        if detail is not None and detail.get("value"):
            summary_value, summary_type = detail.get("value", ""), detail.get("type")
        else:
            summary_value, summary_type = body_value, body_type
        items.append(FeedItem(
            key=key,
            title=_as_text(e.get("title", ""), _detail_type(e, "title")),
            link=link,
            summary=trim_text(_as_text(summary_value, summary_type), EXCERPT_LENGTH),
            content_html=_as_html(body_value, body_type, link or url),
            published=_when(e.get("published_parsed")),
            # dict.get: feedparser's own .get would hand back the published date
            # (with a DeprecationWarning) for an entry that has no updated date.
            updated=_when(dict.get(e, "updated_parsed")),
            images=images,
            enclosure=enclosure,
            has_id=bool(clean_text(e.get("id") or "")),
        ))
    feed = d.feed
    title = _as_text(feed.get("title", ""), _detail_type(feed, "title"))
    return ParsedFeed(title, feed.get("link"), _int(feed.get("ttl")), tuple(items), tuple(problems),
                      *_advertised(feed, url))


def _media(e: Any, base: str) -> tuple[tuple[Image, ...], Enclosure | None]:
    images: list[Image] = []
    enclosure = None
    for m in [*e.get("media_thumbnail", []), *e.get("media_content", [])]:
        url = http_uri(urljoin(base, m.get("url") or "")) if m.get("url") else None
        kind = m.get("medium") or (m.get("type") or "").split("/")[0]
        if url and (kind in ("image", "") or "thumbnail" in m) and not any(i.url == url for i in images):
            images.append(Image(url, _int(m.get("width")), _int(m.get("height"))))
    for enc in e.get("enclosures", []):
        href, kind = (enc.get("href") or "").strip(), (enc.get("type") or "")
        url = http_uri(urljoin(base, href)) if href else None
        if url is None:
            continue  # an enclosure without a usable URL is not an enclosure
        if kind.startswith("image/") and not any(i.url == url for i in images):
            images.append(Image(url))
        elif kind.startswith(("audio/", "video/")) and enclosure is None:
            enclosure = Enclosure(url, kind, _int(enc.get("length")) or None)
    return tuple(images), enclosure


# -- JSON Feed -----------------------------------------------------------------

class _JsonItem:
    """Typed access to one JSON Feed item: a field of the wrong type is
    ignored (never coerced) and noted in `problems`."""

    def __init__(self, item: dict[str, Any], where: str, problems: list[str]):
        self.item = item
        self.where = where
        self.problems = problems

    def text(self, name: str) -> str:
        value = self.item.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.problems.append(f"{self.where}: '{name}' is {_json_kind(value)}, not text; ignored")
            return ""
        return value

    def url(self, name: str, base: str, owner: dict[str, Any] | None = None, where: str | None = None) -> str:
        source = self.item if owner is None else owner
        value = source.get(name)
        label = where or self.where
        if value is None or value == "":
            return ""
        if not isinstance(value, str):
            self.problems.append(f"{label}: '{name}' is {_json_kind(value)}, not a URL; ignored")
            return ""
        uri = http_uri(urljoin(base, value.strip()))
        if uri is None:
            self.problems.append(f"{label}: '{name}' is not an http(s) URL; ignored")
            return ""
        return uri


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _parse_json(data: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadFeed(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/1"):
        raise BadFeed("not a JSON Feed (no https://jsonfeed.org/version/1.x version)")
    problems: list[str] = []
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        if raw_items is not None:
            problems.append(f"'items' is {_json_kind(raw_items)}, not a list; ignored")
        raw_items = []
    items = []
    for n, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            problems.append(f"item {n + 1}: not an object; skipped")
            continue
        item = _parse_json_item(_JsonItem(raw, f"item {n + 1}", problems), url)
        if item is None:
            problems.append(f"item {n + 1}: no usable id or url; skipped")
            continue
        items.append(item)
    title = doc.get("title")
    home = doc.get("home_page_url")
    hubs = doc.get("hubs")
    hub = next((h.get("url") for h in hubs if isinstance(h, dict) and str(h.get("type", "")).lower() == "websub"
                and isinstance(h.get("url"), str)), None) if isinstance(hubs, list) else None
    own = doc.get("feed_url")
    return ParsedFeed(clean_text(title) if isinstance(title, str) else "",
                      home if isinstance(home, str) else None, None, tuple(items), tuple(problems),
                      _absolute(hub, url), _absolute(own if isinstance(own, str) else None, url))


def _absolute(href: str | None, base: str) -> str | None:
    """An absolute http(s) URL, or None."""
    if not href:
        return None
    from urllib.parse import urljoin

    from feeder.urls import http_uri

    return http_uri(urljoin(base, href.strip()))


def _advertised(feed: Any, base: str) -> tuple[str | None, str | None]:
    """The hub and self links of a feedparser feed (Atom links, atom:link in RSS)."""
    hub = own = None
    for link in feed.get("links", []):
        rel, href = link.get("rel"), link.get("href")
        if rel == "hub" and hub is None:
            hub = _absolute(href, base)
        elif rel == "self" and own is None:
            own = _absolute(href, base)
    return hub, own


def _parse_json_item(j: _JsonItem, base: str) -> FeedItem | None:
    link = j.url("url", base) or j.url("external_url", base)
    ident = j.item.get("id")
    key = clean_text(str(ident)) if isinstance(ident, (str, int)) and not isinstance(ident, bool) else ""
    if ident is not None and not key:
        j.problems.append(f"{j.where}: 'id' is {_json_kind(ident)}, not text; ignored")
    has_id = bool(key)
    key = key or link
    if not key:
        return None
    title = clean_text(j.text("title"))
    html = j.text("content_html")
    text = j.text("content_text")
    summary = j.text("summary")
    # content_text is text: it stays the body, shown literally, not only an excerpt.
    body = sanitize_html(html, link or base) if html.strip() else text_to_html(text) if text.strip() else ""
    excerpt = clean_text(summary) or (html_to_text(html) if html else clean_text(text))
    image = j.url("image", base)
    enclosure = None
    attachments = j.item.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        j.problems.append(f"{j.where}: 'attachments' is {_json_kind(attachments)}, not a list; ignored")
        attachments = []
    for i, att in enumerate(attachments or []):
        where = f"{j.where} attachment {i + 1}"
        if not isinstance(att, dict):
            j.problems.append(f"{where}: not an object; ignored")
            continue
        att_url = j.url("url", base, att, where)
        mime = att.get("mime_type")
        if not att_url:
            if att.get("url") is None:
                j.problems.append(f"{where}: no 'url'; ignored")
            continue
        if not isinstance(mime, str):
            j.problems.append(f"{where}: 'mime_type' is missing or not text; ignored")
            continue
        if mime.startswith(("audio/", "video/")):
            enclosure = Enclosure(att_url, mime, _int(att.get("size_in_bytes")), _int(att.get("duration_in_seconds")))
            break
    return FeedItem(
        key=key,
        title=title,
        link=link,
        summary=trim_text(excerpt, EXCERPT_LENGTH),
        content_html=body,
        published=_iso(j.item.get("date_published")),
        updated=_iso(j.item.get("date_modified")),
        images=(Image(image),) if image else (),
        enclosure=enclosure,
        has_id=has_id,
    )


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
