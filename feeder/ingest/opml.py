"""Subscription lists as feed readers exchange them: OPML 1.0, 1.1 and 2.0
as Miniflux, FreshRSS, NetNewsWire, Feedly and Inoreader write them (a feed
is an `<outline>` with `xmlUrl`; folders are outlines around them, or a
`category` attribute), read and written. Pure functions on bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from feeder.errors import FeederError
from feeder.text import clean_text

__all__ = ["BadOpml", "Outline", "read_opml", "write_opml"]

# Folders a reader puts every feed in by default: not a topic anyone chose.
_DEFAULT_FOLDERS = frozenset({"uncategorized", "uncategorised", "all", "unfiled", "subscriptions", "feeds"})


class BadOpml(FeederError):
    """A subscription list feeder cannot read."""


@dataclass(frozen=True, slots=True)
class Outline:
    url: str  # xmlUrl
    title: str = ""
    html_url: str = ""
    categories: tuple[str, ...] = ()  # the folders it is in, outermost first, and its own categories


def read_opml(data: bytes) -> list[Outline]:
    """Every feed of an OPML document, in document order; raises `BadOpml`
    (one line saying why) for a document that is not OPML or declares entities."""
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as SafeET

    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadOpml("entity declarations are not allowed in an OPML file") from None
    except SafeET.ParseError as exc:
        raise BadOpml(f"not well-formed XML ({exc})") from None
    if _local(root.tag) != "opml":
        raise BadOpml(f"not an OPML document (its root element is <{_local(root.tag)}>)")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise BadOpml("an OPML document without a <body>")
    found: list[Outline] = []

    def walk(element: object, folders: tuple[str, ...]) -> None:
        for child in element:  # type: ignore[attr-defined]
            if _local(child.tag) != "outline":
                continue
            attrs = {_local(k): v for k, v in child.attrib.items()}
            label = clean_text(attrs.get("title") or attrs.get("text") or "")
            url = (attrs.get("xmlUrl") or attrs.get("xmlurl") or "").strip()
            if url:
                found.append(Outline(url, label, (attrs.get("htmlUrl") or attrs.get("htmlurl") or "").strip(),
                                     _unique((*folders, *_categories(attrs.get("category", ""))))))
            # A folder's outlines, or (rarely) feeds nested under a feed.
            inner = folders if url or not label or label.casefold() in _DEFAULT_FOLDERS else (*folders, label)
            walk(child, inner)

    walk(body, ())
    return found


def _local(tag: object) -> str:
    """A tag or attribute name without its namespace (FreshRSS's frss:, Miniflux's)."""
    return str(tag).rsplit("}", 1)[-1]


def _categories(value: str) -> list[str]:
    """OPML 2.0's `category`: comma-separated, slash-delimited paths ("/Tech/AI,/News")."""
    names: list[str] = []
    for path in value.split(","):
        names += [clean_text(part) for part in path.split("/") if clean_text(part)]
    return [n for n in names if n.casefold() not in _DEFAULT_FOLDERS]


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.casefold(), name)
    return tuple(seen.values())


def write_opml(outlines: Sequence[Outline], title: str) -> bytes:
    """OPML 2.0 that feed readers import: one outline per feed (type, text,
    title, xmlUrl, htmlUrl), inside a folder outline for its first topic, with
    every topic in the `category` attribute. No date: the same sources give
    the same bytes."""
    from lxml import etree

    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    folders: dict[str, etree._Element] = {}
    for o in outlines:
        parent = body
        if o.categories:
            first = o.categories[0]
            if first not in folders:
                folders[first] = etree.SubElement(body, "outline", text=first, title=first)
            parent = folders[first]
        label = o.title or urlsplit(o.url).hostname or o.url
        attrs = {"type": "rss", "text": label, "title": label, "xmlUrl": o.url}
        if o.html_url:
            attrs["htmlUrl"] = o.html_url
        if o.categories:
            attrs["category"] = ",".join(f"/{c.replace('/', ' ').replace(',', ' ')}" for c in o.categories)
        etree.SubElement(parent, "outline", attrs)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
