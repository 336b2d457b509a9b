"""A link-check round: pick the URLs that are due, check them, remember the
results, and say which articles the policy holds back."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from feeder.config import LinkSettings
from feeder.links.checker import LinkChecker, MediaInfo, RoundResult
from feeder.links.policy import LinkRecord, holds_back, record
from feeder.model import Verdict
from feeder.net.guard import Resolver
from feeder.net.http import make_resolver
from feeder.storage.state import State

__all__ = ["RoundReport", "check_links", "check_media", "dead_or_unknown", "held_back"]

log = logging.getLogger(__name__)


class _UsesURL(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def published(self) -> bool: ...
    @property
    def original_url(self) -> str: ...


@dataclass
class RoundReport:
    urls: int = 0  # distinct URLs of published articles
    checked: int = 0  # checked in this round
    unfinished: int = 0  # due but not reached within the budget
    network_down: bool = False
    holds_changed: bool = False  # some result changed what the policy holds back
    counts: Counter[str] = field(default_factory=Counter)  # verdicts over all `urls`
    checked_urls: frozenset[str] = frozenset()  # the URLs this round checked
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (verdict, reason) of this round's checks


    def summary(self) -> str:
        c = self.counts
        unchecked = self.urls - sum(c.values())
        text = (f"{self.urls} URLs, {self.checked} checked: {c['alive']} alive, {c['dead']} dead, "
                f"{c['unknown']} unknown, {unchecked} not checked yet")
        if self.unfinished:
            text += f" ({self.unfinished} left for the next round)"
        # An offline round is said once, by the link checker's warning, not here again.
        return text


def check_links(
    links: LinkSettings,
    state: State,
    *,
    now: datetime,
    everything: bool = False,
    budget: float | None = None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RoundReport:
    """Check the published articles' due URLs (all of them with `everything`) and store the results."""
    due = state.published_urls() if everything else state.due_urls(now)
    report = RoundReport(urls=len(due) if everything else state.published_url_count())
    if due:
        before = state.link_records(due)
        result = asyncio.run(_round(links, resolver or make_resolver(links), state, due, now, budget, progress,
                                    cancel))
        updated = [record(before.get(url), res, links) for url, res in result.results.items()]
        state.save_link_records(updated)
        state.save_hosts_needing_get(result.needs_get)
        report.checked = len(updated)
        report.checked_urls = frozenset(r.url for r in updated)
        report.reasons = Counter((r.last.verdict.value, r.last.reason) for r in updated)
        report.unfinished = len(result.unfinished)
        report.network_down = result.network_down
        report.holds_changed = any(
            holds_back(before.get(r.url), in_feed, links) != holds_back(r, in_feed, links)
            for r in updated for in_feed in (False, True)
        )
    report.counts = Counter(state.link_counts())
    return report


async def _round(links: LinkSettings, resolver: Resolver, state: State, urls: Sequence[str], now: datetime,
                 budget: float | None, progress: Callable[[int, int], None] | None,
                 cancel: threading.Event | None) -> RoundResult:
    async with LinkChecker(links, resolver, clock=lambda: now, needs_get=state.hosts_needing_get()) as checker:
        return await checker.run(urls, budget=budget, progress=progress, cancel=cancel)


def check_media(
    links: LinkSettings, state: State, *, now: datetime, resolver: Resolver | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Ask for the type and length of enclosures that do not give them; returns how many were asked."""
    due = state.media_due(now)
    if not due:
        return 0

    async def probe() -> dict[str, MediaInfo]:
        async with LinkChecker(links, resolver or make_resolver(links), clock=lambda: now) as checker:
            if cancel is not None and cancel.is_set():
                return {}
            return await checker.probe_media(due)

    found = asyncio.run(probe())
    state.save_media(
        (m.url, m.type, m.length, m.status, m.error, now,
         now + (links.recheck_after if m.length is not None else links.unknown_retry))
        for m in found.values()
    )
    return len(found)


def held_back(
    articles: Iterable[_UsesURL], records: dict[str, LinkRecord], in_feed: Collection[str], links: LinkSettings
) -> set[str]:
    """Ids of the published articles the link policy keeps out of the feeds."""
    return {
        a.id for a in articles
        if a.published and holds_back(records.get(a.original_url), a.id in in_feed, links)
    }


def dead_or_unknown(records: dict[str, LinkRecord]) -> list[LinkRecord]:
    order = {Verdict.DEAD: 0, Verdict.UNKNOWN: 1}
    return sorted((r for r in records.values() if r.last.verdict is not Verdict.ALIVE),
                  key=lambda r: (order[r.last.verdict], r.last.reason, r.url))
