"""The last look at a rendered document before it replaces the public one.

A renderer's defect (a library upgrade, a character it mishandles) must
never reach subscribers: every feed is parsed back before it is written, its
root checked (RSS `rss/channel`, Atom `feed`, JSON Feed's `version` and
`items`, every item's `id`) and its items counted against what selection
planned. A document that fails keeps the old file in place. Parsing our own
output costs a few per cent of rendering it (benchmarks/rescan_bench.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from lxml import etree

__all__ = ["document_problem", "feed_problems"]

_ATOM = "{http://www.w3.org/2005/Atom}"
# Our own documents: no entities to resolve, nothing to fetch, no size to fear.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def document_problem(kind: str, data: bytes, items: int | None = None) -> str | None:
    """Why `data` is not a sound document of `kind` ('rss', 'atom', 'json' or
    'opml') with `items` items (None: any number), or None when it is."""
    if kind == "json":
        return _json_problem(data, items)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        return f"not well-formed XML ({exc})"
    if kind == "rss":
        if root.tag != "rss" or root.find("channel") is None:
            return f"the root is <{_name(root.tag)}>, not <rss> with a <channel>"
        found = len(root.findall("channel/item"))
    elif kind == "atom":
        if root.tag != f"{_ATOM}feed":
            return f"the root is <{_name(root.tag)}>, not an Atom <feed>"
        found = len(root.findall(f"{_ATOM}entry"))
    elif kind == "opml":
        if root.tag != "opml" or root.find("body") is None:
            return f"the root is <{_name(root.tag)}>, not <opml> with a <body>"
        return None
    else:
        raise ValueError(f"unknown document kind {kind!r}")
    if items is not None and found != items:
        return f"{found} item{'s' if found != 1 else ''} where {items} {'was' if items == 1 else 'were'} planned"
    return None


def feed_problems(documents: Mapping[str, bytes], items: int | None) -> dict[str, str]:
    """The problem of each of a feed's formats (by format) that fails its check."""
    return {fmt: problem for fmt, data in documents.items()
            if (problem := document_problem(fmt, data, items)) is not None}


def _json_problem(data: bytes, items: int | None) -> str | None:
    try:
        feed = json.loads(data)
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith("https://jsonfeed.org/version/1"):
        return "not a JSON Feed (no version)"
    entries = feed.get("items")
    if not isinstance(entries, list):
        return "a JSON Feed without an items list"
    if any(not isinstance(e, dict) or not isinstance(e.get("id"), str) or not e["id"] for e in entries):
        return "a JSON Feed item without an id"
    if items is not None and len(entries) != items:
        n = len(entries)
        return f"{n} item{'s' if n != 1 else ''} where {items} {'was' if items == 1 else 'were'} planned"
    return None


def _name(tag: object) -> str:
    text = str(tag)
    return text.split("}", 1)[-1] if text.startswith("{") else text
