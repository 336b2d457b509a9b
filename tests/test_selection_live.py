"""The live selection against `select_feeds`: after any sequence of changes,
both plan the same feeds from the same articles."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.config import TopicSettings
from feeder.content.catalog import Entry
from feeder.selection.feeds import select_feeds
from feeder.selection.live import LiveSelection
from feeder.selection.topics import TopicIndex

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
INDEX = TopicIndex({"Machine Learning": TopicSettings(aliases=("ML",)), "Space": TopicSettings()}, "Site")
IDS = [f"id{i}" for i in range(12)]
# Spellings of one key, an alias, a blank name, and topics nobody configured.
NAMES = ["AI", "ai", "A.I.", "ML", "machine learning", "Space", "  ", "C", "C++", "Politics", "politics"]
HOURS = [-48, -3, -1, 0, 0, 1, 2, 2, 5, 30, 200]  # ties on purpose; negative: scheduled


def entry(aid: str, hours: int, topics: tuple[str, ...], published: bool, folder: str = "") -> Entry:
    return Entry(aid, f"{folder}{aid}.txt", published, (NOW - timedelta(hours=hours)).timestamp(), topics, "")


# An article's id may move to another file ("a/" or "b/"), as when a file is renamed.
entries = st.builds(entry, st.sampled_from(IDS), st.sampled_from(HOURS),
                    st.lists(st.sampled_from(NAMES), max_size=4).map(tuple), st.booleans(),
                    st.sampled_from(["", "", "a/", "b/"]))
changes = st.one_of(
    st.tuples(st.just("put"), entries),
    st.tuples(st.just("discard"), st.sampled_from(IDS)),
    st.tuples(st.just("hold"), st.frozensets(st.sampled_from(IDS), max_size=4)),
)
selections = st.fixed_dictionaries({
    "now": st.sampled_from([NOW, NOW - timedelta(hours=2), NOW + timedelta(hours=24)]),
    "max_items": st.sampled_from([1, 2, 3, 50]),
    "retained": st.sampled_from([None, {}, {"politics": "POLITICS"}, {"gone": "Gone"}]),
    "keep_since": st.sampled_from([None, NOW - timedelta(hours=4), NOW - timedelta(days=30)]),
})


def reference(articles: dict[str, Entry], held: frozenset[str], **kw):
    return select_feeds(list(articles.values()), index=INDEX, held_back=held, **kw)


@settings(max_examples=400, deadline=None)
@given(st.lists(entries, max_size=8), st.lists(st.tuples(changes, selections), max_size=25))
def test_live_selection_equals_select_feeds_after_any_changes(start, steps):
    articles = {e.source: e for e in {e.id: e for e in start}.values()}  # ids are unique, as in the catalog
    held: frozenset[str] = frozenset()
    live = LiveSelection(INDEX, articles.values())
    for (kind, arg), kw in steps:
        if kind in ("put", "discard"):
            # What the catalog reports: every source whose article changed, with its article now.
            aid = arg.id if kind == "put" else arg
            changed: dict[str, Entry | None] = {s: None for s, e in articles.items() if e.id == aid}
            if kind == "put":
                changed[arg.source] = arg
            for source, now_there in changed.items():
                if now_there is None:
                    articles.pop(source, None)
                else:
                    articles[source] = now_there
            live.update(changed)
        else:
            held = arg
            live.hold(held)
        assert live.select(**kw) == reference(articles, held, **kw)
        expected_held = sum(1 for e in articles.values() if e.id in held and e.published
                            and e.timestamp <= kw["now"].timestamp())
        assert live.held_visible(kw["now"]) == expected_held
    # Built afresh from the same articles, it plans the same again.
    again = LiveSelection(INDEX, articles.values(), held)
    assert again.select(now=NOW, max_items=3) == live.select(now=NOW, max_items=3)


def test_a_scheduled_article_appears_when_its_time_comes():
    later = entry("id1", -1, ("AI",), True)
    live = LiveSelection(INDEX, [entry("id0", 1, ("AI",), True), later])
    before = live.select(now=NOW, max_items=10)
    after = live.select(now=NOW + timedelta(hours=1), max_items=10)
    assert [e.id for e in before.everything.items] == ["id0"]
    assert [e.id for e in after.everything.items] == ["id1", "id0"]
    assert (before.visible, after.visible) == (1, 2)


def test_removing_an_article_it_does_not_hold_is_a_bug_not_a_silent_skip():
    live = LiveSelection(INDEX, [entry("id0", 1, ("AI",), True)])
    live._everything.clear()  # the lists and the articles disagree
    with pytest.raises(KeyError):
        live.discard("id0.txt")
