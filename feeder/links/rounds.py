"""A link-check round: pick the URLs that are due, check them, remember the
results, and say which articles the policy holds back."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from feeder.config import LinkSettings
from feeder.links.checker import LinkChecker, MediaInfo, RoundResult
from feeder.links.policy import LinkRecord, holds_back, record
from feeder.model import Verdict
from feeder.net.guard import Resolver
from feeder.net.http import make_resolver
from feeder.storage.media import MediaRow
from feeder.storage.state import State, instance_id
from feeder.text import plural
from feeder.urls import host_of

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
    elsewhere: int = 0  # due, on hosts another instance is checking (a shared state)
    network_down: bool = False
    holds_changed: bool = False  # some result changed what the policy holds back
    counts: Counter[str] = field(default_factory=Counter)  # verdicts over all `urls`
    checked_urls: frozenset[str] = frozenset()  # the URLs this round checked
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (verdict, reason) of this round's checks


    def summary(self) -> str:
        c = self.counts
        unchecked = self.urls - sum(c.values())
        text = (f"{plural(self.urls, 'URL')}, {self.checked} checked: {c['alive']} alive, {c['dead']} dead, "
                f"{c['unknown']} unknown, {unchecked} not checked yet")
        if self.unfinished:
            text += f" ({self.unfinished} left for the next round)"
        if self.elsewhere:
            text += f" ({self.elsewhere} on hosts another instance is checking)"
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
    """Check the published articles' due URLs (all of them with `everything`) and store the results.

    With a state several instances share, an instance checks only the hosts
    it claims: one instance per host at a time, so per-host limits and
    back-off hold across instances, and no URL is checked twice. It claims as
    many hosts as it can check at once, checks them, and comes back for more,
    so that every instance takes a share."""
    due = state.published_urls() if everything else state.due_urls(now)
    report = RoundReport(urls=len(due) if everything else state.published_url_count())
    if state.dialect != "postgresql":
        if due:
            _check_and_store(links, state, due, report, now=now, budget=budget, resolver=resolver,
                             progress=progress, cancel=cancel)
    elif due:
        _check_claimed(links, state, due, report, now=now, everything=everything, budget=budget,
                       resolver=resolver, progress=progress, cancel=cancel)
    if report.network_down:
        log.warning("the network looks unreachable: %d link check(s) recorded as unknown (network-down)",
                    report.reasons[(Verdict.UNKNOWN.value, "network-down")])
    report.counts = Counter(state.link_counts())
    return report


def _check_claimed(links: LinkSettings, state: State, due: list[str], report: RoundReport, *, now: datetime,
                   everything: bool, budget: float | None, resolver: Resolver | None,
                   progress: Callable[[int, int], None] | None, cancel: threading.Event | None) -> None:
    owner = instance_id()
    batch = None if everything else max(1, links.concurrency // links.per_host)
    started = time.monotonic()
    done: set[str] = set()
    try:
        while due:
            left = None if budget is None else budget - (time.monotonic() - started)
            if (left is not None and left <= 0) or (cancel is not None and cancel.is_set()):
                report.unfinished += len(due)
                break
            lease = now + timedelta(seconds=(left or 3600) + 60)
            hosts = state.claim("host", list(dict.fromkeys(map(host_of, due))), owner=owner, until=lease,
                                now=now, limit=batch)
            mine = [u for u in due if host_of(u) in hosts]
            if not mine:
                report.elsewhere = len(due)
                break
            if not everything:
                # Read after claiming: another instance may have checked them since `due` was read.
                since = state.link_records(mine)
                mine = [u for u in mine if u not in since or since[u].next_due <= now]
            if mine:
                _check_and_store(links, state, mine, report, now=now, budget=left, resolver=resolver,
                                 progress=progress, cancel=cancel)
            state.release("host", owner=owner)
            done.update(hosts)
            if everything:
                break
            # Due again from the state: other instances have been checking meanwhile.
            due = [u for u in state.due_urls(now) if host_of(u) not in done]
    finally:
        state.release("host", owner=owner)


def _check_and_store(links: LinkSettings, state: State, due: list[str], report: RoundReport, *, now: datetime,
                     budget: float | None, resolver: Resolver | None, progress: Callable[[int, int], None] | None,
                     cancel: threading.Event | None) -> None:
    before = state.link_records(due)
    result = asyncio.run(_round(links, resolver or make_resolver(links), state, due, now, budget, progress, cancel))
    updated = [record(before.get(url), res, links) for url, res in result.results.items()]
    state.save_link_records(updated)
    state.save_hosts_needing_get(result.needs_get)
    report.checked += len(updated)
    report.checked_urls |= frozenset(r.url for r in updated)
    report.reasons += Counter((r.last.verdict.value, r.last.reason) for r in updated)
    report.unfinished += len(result.unfinished)
    report.network_down = report.network_down or result.network_down
    report.holds_changed = report.holds_changed or any(
        holds_back(before.get(r.url), in_feed, links) != holds_back(r, in_feed, links)
        for r in updated for in_feed in (False, True)
    )


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
        MediaRow(m.url, m.type, m.length, m.status, m.error, now,
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
