"""feeder: publish RSS 2.0 and Atom 1.0 feeds from a folder of articles.

The public API is what this module exports; everything else is private.
"""

from ._version import __version__
from .build import BuildReport, Problem, build
from .config import Settings, load_config
from .content import parse_article, read_article, scan_folder
from .errors import ConfigError, ContentError, FeederError, LockTimeout, OutputError, StateError
from .model import Article, Enclosure, FeedPlan, Image, LinkResult, Provider, Related, Topic, Verdict, item_id

__all__ = [
    "Article",
    "BuildReport",
    "ConfigError",
    "ContentError",
    "Enclosure",
    "FeedPlan",
    "FeederError",
    "Image",
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
    "item_id",
    "load_config",
    "parse_article",
    "read_article",
    "scan_folder",
]
