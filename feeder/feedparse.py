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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

import defusedxml.ElementTree as SafeET
import feedparser
from defusedxml import DefusedXmlException

from .errors import FeederError
from .model import Enclosure, Image
from .text import is_http_url, plain_text, sanitize_html

__all__ = ["BadFeed", "FeedItem", "ParsedFeed", "parse_feed"]

EXCERPT_LENGTH = 300


class BadFeed(FeederError):
    """A fetched document that is not a feed feeder can read (or will not read)."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    key: str  # the entry's own id, or its link
    title: str
    link: str
    summary: str  # plain text, trimmed
    content_html: str  # sanitized, with absolute URLs
    published: datetime | None
    updated: datetime | None
    images: tuple[Image, ...] = ()
    enclosure: Enclosure | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    home: str | None
    ttl_minutes: int | None
    items: tuple[FeedItem, ...]


def _trim(text: str, length: int = EXCERPT_LENGTH) -> str:
    if len(text) <= length:
        return text
    cut = text.rfind(" ", 0, length)
    return text[: cut if cut > length // 2 else length].rstrip(" ,;:") + "…"


def _when(parsed: Any) -> datetime | None:
    # feedparser gives UTC struct_times; calendar.timegm reads them as UTC.
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None


def _int(value: Any) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


def _refuse_hostile_xml(data: bytes) -> None:
    try:
        SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadFeed(f"hostile XML refused ({type(exc).__name__}): entity declarations are not allowed") from None
    except Exception:  # noqa: S110 - not well-formed: feedparser's lenient parser gets its chance
        pass


def parse_feed(data: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Parse a fetched document (`url` is where it came from, for relative links)."""
    head = data.lstrip()[:1]
    if "json" in content_type or head in (b"{", b"["):
        return _parse_json(data, url)
    _refuse_hostile_xml(data)
    d = feedparser.parse(data, response_headers={"content-location": url, "content-type": content_type or
                                                 "application/xml"})
    if not d.get("version") and not d.entries:
        problem = d.get("bozo_exception")
        raise BadFeed(f"not an RSS, Atom or JSON feed{': ' + str(problem)[:200] if problem else ''}")
    items = []
    for e in d.entries:
        link = (e.get("link") or "").strip()
        if link and not is_http_url(link):
            link = urljoin(url, link)
        key = (e.get("id") or link or "").strip()
        contents = e.get("content") or []
        html = contents[0].get("value", "") if contents else e.get("summary", "")
        images, enclosure = _media(e)
        items.append(FeedItem(
            key=key,
            title=plain_text(e.get("title", "")),
            link=link,
            summary=_trim(plain_text(e.get("summary", "") or html)),
            content_html=sanitize_html(html, link or url) if html else "",
            published=_when(e.get("published_parsed")),
            # dict.get: feedparser's own .get would hand back the published date
            # (with a DeprecationWarning) for an entry that has no updated date.
            updated=_when(dict.get(e, "updated_parsed")),
            images=images,
            enclosure=enclosure,
        ))
    feed = d.feed
    return ParsedFeed(plain_text(feed.get("title", "")), feed.get("link"), _int(feed.get("ttl")), tuple(items))


def _media(e: Any) -> tuple[tuple[Image, ...], Enclosure | None]:
    images: list[Image] = []
    enclosure = None
    for m in [*e.get("media_thumbnail", []), *e.get("media_content", [])]:
        url = m.get("url", "")
        kind = m.get("medium") or (m.get("type") or "").split("/")[0]
        if is_http_url(url) and (kind in ("image", "") or "thumbnail" in m) and not any(i.url == url for i in images):
            images.append(Image(url, _int(m.get("width")), _int(m.get("height"))))
    for enc in e.get("enclosures", []):
        url, kind = enc.get("href", ""), (enc.get("type") or "")
        if not is_http_url(url):
            continue
        if kind.startswith("image/") and not any(i.url == url for i in images):
            images.append(Image(url))
        elif kind.startswith(("audio/", "video/")) and enclosure is None:
            enclosure = Enclosure(url, kind, _int(enc.get("length")) or None)
    return tuple(images), enclosure


def _parse_json(data: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadFeed(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/1"):
        raise BadFeed("not a JSON Feed (no https://jsonfeed.org/version/1.x version)")
    items = []
    for item in doc.get("items") or []:
        if not isinstance(item, dict):
            continue
        link = str(item.get("url") or item.get("external_url") or "")
        link = urljoin(url, link) if link else ""
        html = str(item.get("content_html") or "")
        text = str(item.get("content_text") or "")
        summary = str(item.get("summary") or "") or plain_text(html) or text
        images = [Image(urljoin(url, str(item["image"])))] if item.get("image") else []
        enclosure = None
        for att in item.get("attachments") or []:
            if isinstance(att, dict) and str(att.get("mime_type", "")).startswith(("audio/", "video/")):
                enclosure = Enclosure(urljoin(url, str(att.get("url", ""))), str(att["mime_type"]),
                                      _int(att.get("size_in_bytes")), _int(att.get("duration_in_seconds")))
                break
        items.append(FeedItem(
            key=str(item.get("id") or link),
            title=plain_text(str(item.get("title") or "")),
            link=link,
            summary=_trim(plain_text(summary)),
            content_html=sanitize_html(html, link or url) if html else "",
            published=_iso(item.get("date_published")),
            updated=_iso(item.get("date_modified")),
            images=tuple(i for i in images if is_http_url(i.url)),
            enclosure=enclosure if enclosure and is_http_url(enclosure.url) else None,
        ))
    return ParsedFeed(plain_text(str(doc.get("title") or "")), doc.get("home_page_url"), None, tuple(items))


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


