"""Is an output folder behind? What it was last rendered from, against what
is there now.

Whether a build must select and render is decided here, and only here, from
what the output folder was last completely rendered from: the content
catalog's generation (which changes whenever any process changes the
catalog: a build, `feeder check`, a failed round, another instance), the
settings' fingerprint, the link verdicts acted on and the clock. A process's
own scan finding nothing new is not enough: another process may have moved
the catalog forward without rendering.

The decision is a pure function of those facts; the pipeline gathers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["FOREIGN", "RenderedFrom", "why_behind"]

# The reason after which no record of earlier renderings can be trusted.
FOREIGN = "the output folder is not the one this state last rendered (new, restored, replaced or shared)"


@dataclass(frozen=True, slots=True)
class RenderedFrom:
    """What an output folder was (or would now be) rendered from."""

    complete: bool  # the last rendering finished (False while one is under way or after one failed)
    settings: str | None  # the settings' fingerprint (configuration, feeder's version)
    catalog: str | None  # the content catalog's generation
    reselect: str  # link-verdict changes acted on: a count that `feeder check` and link rounds raise
    clock: datetime | None  # the build's clock
    # Left in the output folder and kept in the state by each complete
    # rendering: told apart, a folder restored from a backup, replaced, or
    # written from another state is not what this state remembers rendering.
    stamp: str | None = None


def why_behind(
    last: RenderedFrom,
    current: RenderedFrom,
    *,
    publication_due: Callable[[datetime, datetime], bool],
    period_closed: Callable[[datetime, datetime], bool],
    files_present: Callable[[], bool],
) -> str | None:
    """Why the output folder rendered from `last` is not what `current` would
    give, or None when it is exactly that.

    The callables answer what needs the database or the disk, and are asked
    only when everything cheaper agreed: whether an article's publication
    time lies in (then, now]; whether a digest period closed in between;
    whether every file the last rendering wrote is still there.
    """
    if not last.complete:
        return "the last rendering did not finish"
    if last.stamp is None or last.stamp != current.stamp:
        return FOREIGN
    if last.settings != current.settings:
        return "the configuration changed"
    if last.catalog != current.catalog:
        return "the content catalog changed since the output was rendered"
    if last.reselect != current.reselect:
        return "link verdicts changed what is held back"
    if last.clock is None or current.clock is None:
        return "the output's clock is unknown"
    if current.clock < last.clock:
        return "the clock went back"
    if publication_due(last.clock, current.clock):
        return "an article's publication time came"
    if period_closed(last.clock, current.clock):
        return "a digest period closed"
    if not files_present():
        return "a published file is missing"
    return None
