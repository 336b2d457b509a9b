"""`feeder check`: a link-check round over the published articles' URLs,
with what the command line reports (which files use each URL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from feeder.config import Settings
from feeder.content.catalog import open_catalog
from feeder.links.policy import LinkRecord
from feeder.links.rounds import RoundReport, check_links, check_media
from feeder.net.guard import Resolver
from feeder.storage.lock import locked_state
from feeder.storage.state import State

__all__ = ["CheckOutcome", "check_content_links", "check_shared_links"]


@dataclass
class CheckOutcome:
    report: RoundReport
    records: dict[str, LinkRecord]  # every published article's URL that has been checked
    users: dict[str, list[str]]  # URL → the files that use it


def check_content_links(
    settings: Settings, *, everything: bool, budget: float, progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None, resolver: Resolver | None = None, cancel: threading.Event | None = None,
) -> CheckOutcome:
    """Check the due URLs (every URL with `everything`) within `budget` seconds and store the results."""
    now = now or datetime.now(timezone.utc)
    with locked_state(settings.state_dir, settings.state.url, timeout=settings.lock_timeout, cancel=cancel) as state:
        catalog, _ = open_catalog(state, settings.content_dir, max_size=settings.max_file_size,
                                  timezone_name=settings.timezone, cancel=cancel,
                                  follow_links=settings.follow_symlinks)
        report = check_links(settings.links, state, now=now, everything=everything, budget=budget,
                             resolver=resolver, progress=progress, cancel=cancel)
        if check_media(settings.links, state, now=now, resolver=resolver, cancel=cancel):
            report.holds_changed = True  # podcast feeds must be rendered with what was learned
        if report.holds_changed:
            state.request("reselect")  # the next build must select again
        users: dict[str, list[str]] = {}
        for e in catalog.entries(with_urls=True):
            if e.published:
                users.setdefault(e.original_url, []).append(e.source)
        catalog.settle()  # the listing it kept is in place before the lock is let go
        return CheckOutcome(report, state.link_records(users), users)


def check_shared_links(settings: Settings, *, budget: float, now: datetime | None = None,
                       resolver: Resolver | None = None, cancel: threading.Event | None = None) -> RoundReport:
    """A daemon's link-check round on a state several instances share.

    No build lock (checks take long, and every instance runs them) and no
    rescan (the publisher keeps the catalog): hosts are claimed instead, see
    `check_links`. A verdict that changes what is held back is left for the
    publisher's next build to act on.
    """
    now = now or datetime.now(timezone.utc)
    with State.open(settings.state_dir, settings.state.url) as state:
        report = check_links(settings.links, state, now=now, budget=budget, resolver=resolver, cancel=cancel)
        if report.holds_changed:
            state.request("reselect")
    return report
