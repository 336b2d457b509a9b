"""Whether an output folder is behind: the decision on its own, fact by fact."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from feeder.output.freshness import FOREIGN, RenderedFrom, why_behind

pytestmark = pytest.mark.no_state

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
LAST = RenderedFrom(True, "settings-1", "catalog-1", "3", T0, "stamp-1")


def decide(current: RenderedFrom, *, last: RenderedFrom = LAST, due: bool = False, closed: bool = False,
           present: bool = True) -> str | None:
    asked: list[str] = []

    def publication_due(then: datetime, now: datetime) -> bool:
        asked.append("due")
        assert (then, now) == (last.clock, current.clock)
        return due

    def period_closed(then: datetime, now: datetime) -> bool:
        asked.append("closed")
        return closed

    def files_present() -> bool:
        asked.append("present")
        return present

    return why_behind(last, current, publication_due=publication_due, period_closed=period_closed,
                      files_present=files_present)


def test_the_same_facts_later_are_current():
    assert decide(replace(LAST, clock=T0 + timedelta(hours=1))) is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"settings": "settings-2"}, "configuration"),
    ({"catalog": "catalog-2"}, "catalog"),
    ({"reselect": "4"}, "link verdicts"),
    ({"stamp": "stamp-2"}, FOREIGN),
    ({"stamp": None}, FOREIGN),
    ({"clock": T0 - timedelta(seconds=1)}, "clock went back"),
])
def test_each_fact_that_changed_is_a_reason(change: dict, reason: str):
    found = decide(replace(LAST, **change))
    assert found is not None and reason in found


def test_an_unfinished_or_foreign_rendering_is_behind_whatever_else_agrees():
    assert decide(LAST, last=replace(LAST, complete=False)) == "the last rendering did not finish"
    assert decide(LAST, last=replace(LAST, stamp=None)) == FOREIGN


@pytest.mark.parametrize(("facts", "reason"), [
    ({"due": True}, "publication time came"),
    ({"closed": True}, "digest period closed"),
    ({"present": False}, "file is missing"),
])
def test_what_needs_the_disk_or_the_database_is_asked_last(facts: dict, reason: str):
    found = decide(replace(LAST, clock=T0 + timedelta(minutes=5)), **facts)
    assert found is not None and reason in found
