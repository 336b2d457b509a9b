"""The link policy as pure functions: no network, a controlled clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from feeder.config import LinkSettings
from feeder.links.policy import LinkRecord, holds_back, record
from feeder.model import LinkResult, Verdict

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

T0 = datetime(2025, 6, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
LINKS = LinkSettings()  # dead_after 2, recheck_after 1 day, unknown_retry 15 min
URL = "https://example.org/a"


def res(verdict: str, at: timedelta, reason: str = "") -> LinkResult:
    v = Verdict(verdict)
    return LinkResult(URL, v, reason or {"alive": "ok", "dead": "not-found", "unknown": "timeout"}[verdict], T0 + at)


def history(*steps: tuple[str, timedelta], links: LinkSettings = LINKS) -> LinkRecord | None:
    rec = None
    for verdict, at in steps:
        rec = record(rec, res(verdict, at), links)
    return rec


def test_unchecked_urls_are_published_unless_alive_is_required():
    assert not holds_back(None, False, LINKS)
    assert holds_back(None, False, LinkSettings(require_alive=True))


def test_require_alive_holds_until_the_first_alive():
    strict = LinkSettings(require_alive=True)
    assert holds_back(history(("unknown", timedelta(0)), links=strict), False, strict)
    assert not holds_back(history(("unknown", timedelta(0)), ("alive", DAY), links=strict), False, strict)


def test_never_published_article_is_held_while_dead():
    assert holds_back(history(("dead", timedelta(0))), False, LINKS)
    assert not holds_back(history(("dead", timedelta(0)), ("alive", DAY)), False, LINKS)
    assert not holds_back(history(("unknown", timedelta(0))), False, LINKS)


def test_published_article_needs_two_dead_verdicts_a_day_apart():
    in_feed = True
    assert not holds_back(history(("dead", timedelta(0))), in_feed, LINKS)
    assert not holds_back(history(("dead", timedelta(0)), ("dead", timedelta(hours=23))), in_feed, LINKS)
    assert holds_back(history(("dead", timedelta(0)), ("dead", DAY)), in_feed, LINKS)


def test_one_404_then_alive_again_is_never_removed():
    steps = [("alive", timedelta(0)), ("dead", DAY), ("alive", 2 * DAY), ("dead", 3 * DAY), ("alive", 4 * DAY)]
    rec = None
    for verdict, at in steps:
        rec = record(rec, res(verdict, at), LINKS)
        assert not holds_back(rec, True, LINKS), (verdict, at)
    assert rec and rec.dead_count == 0


def test_alive_resets_the_count():
    rec = history(("dead", timedelta(0)), ("alive", DAY), ("dead", 2 * DAY))
    assert rec and rec.dead_count == 1
    assert not holds_back(rec, True, LINKS)


def test_unknown_neither_counts_nor_resets_nor_removes():
    rec = history(("dead", timedelta(0)), ("unknown", DAY), ("unknown", 2 * DAY))
    assert rec and rec.dead_count == 1 and not holds_back(rec, True, LINKS)
    rec = history(("dead", timedelta(0)), ("unknown", DAY), ("dead", 2 * DAY))
    assert holds_back(rec, True, LINKS)
    # Once removed, unknown results do not bring it back; only alive does.
    rec = record(rec, res("unknown", 3 * DAY), LINKS)
    assert holds_back(rec, True, LINKS)
    rec = record(rec, res("alive", 4 * DAY), LINKS)
    assert not holds_back(rec, True, LINKS)


def test_dead_after_is_configurable():
    three = LinkSettings(dead_after=3)
    rec = history(("dead", timedelta(0)), ("dead", DAY), links=three)
    assert not holds_back(rec, True, three)
    rec = record(rec, res("dead", 2 * DAY), three)
    assert holds_back(rec, True, three)


def test_disabled_links_never_hold_anything_back():
    off = LinkSettings(enabled=False)
    assert not holds_back(history(("dead", timedelta(0)), ("dead", 5 * DAY)), True, off)


def test_recheck_cadence():
    alive = history(("alive", timedelta(0)))
    assert alive and alive.next_due == T0 + DAY
    u1 = history(("unknown", timedelta(0)))
    u3 = history(("unknown", timedelta(0)), ("unknown", timedelta(0)), ("unknown", timedelta(0)))
    assert u1 and u3
    assert u1.next_due == T0 + timedelta(minutes=15)
    assert u3.next_due == T0 + timedelta(minutes=60)  # doubling back-off
    many = history(*[("unknown", timedelta(0))] * 20)
    assert many and many.next_due == T0 + DAY  # capped at the alive cadence
    dead = history(("dead", timedelta(0)))
    assert dead and dead.next_due == T0 + DAY  # recheck when it could be confirmed
