"""What rendering and selecting depend on besides the articles, as
fingerprints: when one changes, the feeds are rendered again. Kept light (no
rendering stack), since every rescan computes them."""

from __future__ import annotations

from dataclasses import asdict

from feeder._version import __version__
from feeder.config import Settings
from feeder.fingerprint import hash_of

__all__ = ["RENDER_VERSION", "render_fingerprint", "selection_fingerprint"]

# Bump when a change to feeder alters the bytes of rendered feeds.
RENDER_VERSION = "3"


def render_fingerprint(settings: Settings) -> str:
    """Everything outside the articles that rendering depends on."""
    topics = {k: asdict(v) for k, v in sorted(settings.topics.items())}
    return hash_of(RENDER_VERSION, __version__, asdict(settings.site), topics, settings.max_items,
                   settings.timezone, settings.max_file_size, list(settings.websub.hubs), settings.digest,
                   [asdict(feed) for feed in settings.custom_feeds], settings.archive)


def selection_fingerprint(settings: Settings) -> str:
    """Everything outside the articles that selecting and rendering depend on."""
    lk = settings.links
    return hash_of(render_fingerprint(settings), lk.enabled, lk.dead_after, str(lk.recheck_after), lk.require_alive)
