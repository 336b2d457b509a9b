"""feeder: publish RSS 2.0 and Atom 1.0 feeds from a folder of articles.

The public API is what this module exports; everything else is private.
Names are imported on first use, so that a rescan with nothing to do does
not pay for loading the feed, HTTP and Markdown libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# yaml-rs, the front-matter parser, must first be imported by a thread that
# lives as long as the process: once the thread that imported it has ended, a
# call from any other thread crashes the interpreter (yaml-rs 0.1.6). This
# package is imported by the main thread, the parsing stack often later by a
# worker (the daemon builds in its scheduler's threads). About 2 ms.
import yaml_rs  # noqa: F401

from feeder._version import __version__

_EXPORTS = {
    "Article": "model", "Enclosure": "model", "FeedPlan": "model", "Image": "model", "LinkResult": "model",
    "Provider": "model", "Related": "model", "Topic": "model", "Verdict": "model", "item_id": "model",
    "BuildReport": "app.pipeline", "Problem": "app.pipeline", "build": "app.pipeline",
    "check_content_links": "links.check",
    "Settings": "config", "load_config": "config",
    "parse_article": "content.reader", "read_article": "content.reader", "scan_folder": "content.scan",
    "IngestReport": "ingest.run", "ingest": "ingest.run",
    "ConfigError": "errors", "ContentError": "errors", "FeederError": "errors", "LockTimeout": "errors",
    "OutputError": "errors", "StateError": "errors",
}

__all__ = [
    "Article",
    "BuildReport",
    "ConfigError",
    "ContentError",
    "Enclosure",
    "FeedPlan",
    "FeederError",
    "Image",
    "IngestReport",
    "LinkResult",
    "LockTimeout",
    "OutputError",
    "Problem",
    "Provider",
    "Related",
    "Settings",
    "StateError",
    "Topic",
    "Verdict",
    "__version__",
    "build",
    "check_content_links",
    "ingest",
    "item_id",
    "load_config",
    "parse_article",
    "read_article",
    "scan_folder",
]

if TYPE_CHECKING:
    from feeder.app.pipeline import BuildReport, Problem, build
    from feeder.config import Settings, load_config
    from feeder.content.reader import parse_article, read_article
    from feeder.content.scan import scan_folder
    from feeder.errors import ConfigError, ContentError, FeederError, LockTimeout, OutputError, StateError
    from feeder.model import Article, Enclosure, FeedPlan, Image, LinkResult, Provider, Related, Topic, Verdict, item_id


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'feeder' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
