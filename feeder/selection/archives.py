"""Archived feeds (RFC 5005): a feed's whole history in documents of one
period each, behind the subscription feed. Pure functions: no I/O, no clock.

Periods are calendar months (or ISO weeks) of the configured time zone, so
their boundaries never move when articles come and go. The subscription
feed holds the newest `max_items` articles and the rest of the oldest
period it reaches into; every older period is an archive document holding
all of that period's articles. So the subscription feed and its archives
hold every published article of the feed exactly once, and an archive
document, once its period is behind the subscription feed, changes only
when one of its own articles does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from feeder.selection.feeds import T

__all__ = ["ARCHIVE_KINDS", "period_of", "split_archive"]

ARCHIVE_KINDS = ("off", "monthly", "weekly")


def period_of(timestamp: float, kind: str, tz: tzinfo) -> str:
    """The period an article published at `timestamp` belongs to: '2025-06'
    (monthly) or '2025-W23' (weekly, ISO weeks); names sort as time does."""
    moment = datetime.fromtimestamp(timestamp, tz)
    if kind == "monthly":
        return f"{moment.year:04d}-{moment.month:02d}"
    if kind == "weekly":
        year, week, _ = moment.isocalendar()
        return f"{year:04d}-W{week:02d}"
    raise ValueError(f"unknown archive period {kind!r}")


def split_archive(members: Sequence[T], max_items: int | None, kind: str, tz: tzinfo
                  ) -> tuple[tuple[T, ...], tuple[tuple[str, tuple[T, ...]], ...]]:
    """Every visible member of a feed, newest first, as (the subscription
    feed's items, the archive periods newest first with their items)."""
    if max_items is None or len(members) <= max_items:
        return tuple(members), ()
    # The subscription feed reaches back to the start of its oldest item's period.
    edge = period_of(members[max_items - 1].timestamp, kind, tz)
    cut = max_items
    while cut < len(members) and period_of(members[cut].timestamp, kind, tz) == edge:
        cut += 1
    periods: list[tuple[str, list[T]]] = []
    for member in members[cut:]:
        name = period_of(member.timestamp, kind, tz)
        if periods and periods[-1][0] == name:
            periods[-1][1].append(member)
        else:
            periods.append((name, [member]))
    return tuple(members[:cut]), tuple((name, tuple(items)) for name, items in periods)
