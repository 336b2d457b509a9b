"""What link-check results mean for an article. Pure functions, no I/O.

Three rules keep a live article from vanishing on a hiccup and a dead one
from lingering:

* An article never yet in a feed is held back while its URL is dead.
* An article already in a feed is removed only after `dead_after`
  consecutive dead verdicts, the first and the last at least
  `recheck_after` apart. An alive verdict resets the count.
* Unknown never removes anything and never counts towards `dead_after`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from feeder import backoff
from feeder.config import LinkSettings
from feeder.model import LinkRecord, LinkResult, Verdict

__all__ = ["LinkRecord", "holds_back", "record"]


def _unknown_delay(count: int, links: LinkSettings) -> timedelta:
    # 1×, 2×, 4×, ... the base, never beyond the alive cadence.
    return backoff.delay(count, links.unknown_retry, links.recheck_after)


def record(prev: LinkRecord | None, result: LinkResult, links: LinkSettings) -> LinkRecord:
    """The record after one more result for the same URL."""
    now = result.checked_at
    first_checked = prev.first_checked if prev else now
    if result.verdict is Verdict.ALIVE:
        return LinkRecord(result, first_checked, now + links.recheck_after, ever_alive=True)
    base = prev if prev is not None else LinkRecord(result, first_checked, now)
    if result.verdict is Verdict.DEAD:
        dead_count = base.dead_count + 1
        first_dead = base.first_dead_at if base.dead_count and base.first_dead_at else now
        # Recheck once the confirmation window has passed, not before.
        next_due = max(first_dead + links.recheck_after, now + links.unknown_retry)
        if dead_count >= links.dead_after and now - first_dead >= links.recheck_after:
            next_due = now + links.recheck_after
        return replace(base, last=result, first_checked=first_checked, next_due=next_due,
                       dead_count=dead_count, first_dead_at=first_dead, last_dead_at=now, unknown_count=0)
    unknown_count = base.unknown_count + 1
    return replace(base, last=result, first_checked=first_checked,
                   next_due=now + _unknown_delay(unknown_count, links), unknown_count=unknown_count)


def holds_back(rec: LinkRecord | None, was_in_feed: bool, links: LinkSettings) -> bool:
    """True when the article using this URL must stay out of the feeds."""
    if not links.enabled:
        return False
    if rec is None:
        return links.require_alive
    if links.require_alive and not rec.ever_alive:
        return True
    if not was_in_feed:
        return rec.last.verdict is Verdict.DEAD
    if rec.dead_count < links.dead_after or rec.first_dead_at is None or rec.last_dead_at is None:
        return False
    return rec.last_dead_at - rec.first_dead_at >= links.recheck_after
