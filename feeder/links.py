"""A link-check round: pick the URLs that are due, check them, remember the
results, and say which articles the policy holds back."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .config import LinkSettings
from .http import make_resolver
from .linkcheck import LinkChecker
from .linkpolicy import LinkRecord, due_order, holds_back, is_due, record
from .model import Article, Verdict
from .netguard import Resolver
from .state import State

__all__ = ["RoundReport", "check_links", "held_back"]

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    urls: int = 0  # distinct URLs considered
    checked: int = 0  # checked in this round
    unfinished: int = 0  # due but not reached within the budget
    network_down: bool = False
    records: dict[str, LinkRecord] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        return Counter(r.last.verdict.value for r in self.records.values())

    def summary(self) -> str:
        c = self.counts()
        text = (f"{self.urls} URLs, {self.checked} checked: {c['alive']} alive, {c['dead']} dead, "
                f"{c['unknown']} unknown, {self.urls - len(self.records)} not checked yet")
        if self.unfinished:
            text += f" ({self.unfinished} left for the next round)"
        if self.network_down:
            text += "; the network looks unreachable"
        return text


def check_links(
    links: LinkSettings,
    state: State,
    urls: Iterable[str],
    *,
    now: datetime,
    everything: bool = False,
    budget: float | None = None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RoundReport:
    """Check the due URLs (all of them with `everything`) and store the results."""
    distinct = list(dict.fromkeys(urls))
    records = state.link_records(distinct)
    due = [u for u in distinct if everything or is_due(records.get(u), now)]
    due.sort(key=lambda u: due_order(u, records.get(u)))
    report = RoundReport(urls=len(distinct))
    if due:
        result = asyncio.run(_round(links, resolver or make_resolver(links), state, due, now, budget, progress))
        updated = [record(records.get(url), res, links) for url, res in result.results.items()]
        state.save_link_records(updated)
        state.save_hosts_needing_get(result.needs_get)
        records.update({r.url: r for r in updated})
        report.checked = len(updated)
        report.unfinished = len(result.unfinished)
        report.network_down = result.network_down
    report.records = records
    return report


async def _round(links: LinkSettings, resolver: Resolver, state: State, urls: Sequence[str], now: datetime,
                 budget: float | None, progress: Callable[[int, int], None] | None):  # type: ignore[no-untyped-def]
    async with LinkChecker(links, resolver, clock=lambda: now, needs_get=state.hosts_needing_get()) as checker:
        return await checker.run(urls, budget=budget, progress=progress)


def held_back(
    articles: Iterable[Article], records: dict[str, LinkRecord], in_feed: Collection[str], links: LinkSettings
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
