"""A cron build's head start: the build lock, then the content folder's
listing started under it, before the rest of feeder is imported.

A rescan that finds nothing changed costs little more than listing the
folder, so find walks it while Python imports the pipeline and opens the
state database. This module imports only the lock and the listing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from feeder.config import Settings
from feeder.content.scan import PendingListing, start_listing
from feeder.storage.lock import BuildLock

__all__ = ["HeadStart", "head_start"]


@dataclass(frozen=True)
class HeadStart:
    """What `build` takes over: the lock held, and the listing started under it (None without GNU find)."""

    lock: BuildLock
    listing: PendingListing | None


@contextmanager
def head_start(settings: Settings, *, timeout: float,
               cancel: threading.Event | None = None) -> Iterator[HeadStart | None]:
    """Take the build lock and start listing under it; None with PostgreSQL
    state, whose build also waits for the shared lock (another machine may
    be building) and lists the folder after it."""
    if settings.state.url is not None:
        yield None
        return
    with BuildLock(settings.state_dir, timeout=timeout, cancel=cancel) as held:
        listing = start_listing(settings.content_dir, follow=settings.follow_symlinks)
        try:
            yield HeadStart(held, listing)
        finally:
            if listing is not None:
                listing.close()
