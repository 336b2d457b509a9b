"""Reading generated feeds back with real parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import feedparser
from lxml import etree


def parse_feed(path: Path) -> Any:
    data = path.read_bytes()
    etree.fromstring(data)  # well-formed XML, or this raises
    parsed = feedparser.parse(data)
    assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
    return parsed


def ids(path: Path) -> list[str]:
    return [e.id for e in parse_feed(path).entries]


def titles(path: Path) -> list[str]:
    return [e.title for e in parse_feed(path).entries]
