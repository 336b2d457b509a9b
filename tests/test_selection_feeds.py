from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from feeder.config import TopicSettings
from feeder.model import Article
from feeder.selection.feeds import select_feeds
from feeder.selection.topics import TopicIndex

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def art(id: str, days_ago: float, topics=("AI",), published=True, source=None) -> Article:
    return Article(
        id=id, source=source or f"{id}.txt", title=id, published_at=NOW - timedelta(days=days_ago),
        original_url=f"https://example.org/{id}", published=published, topics=tuple(topics),
    )


def select(articles, **kw):
    kw.setdefault("index", TopicIndex({}, "Site"))
    kw.setdefault("now", NOW)
    kw.setdefault("max_items", 50)
    return select_feeds(articles, **kw)


def test_visibility_rules():
    def visible(article, held_back=()):
        return [a.id for a in select([article], held_back=held_back).everything.items] == [article.id]

    assert visible(art("a", 1))
    assert visible(art("a", 0))  # exactly now counts as published
    assert not visible(art("a", -0.001))
    assert not visible(art("a", 1, published=False))
    assert not visible(art("a", 1), held_back={"a"})


def test_newest_first_with_ties_broken_by_id():
    items = [art("b", 1), art("a", 1), art("c", 2), art("d", 0)]
    assert [a.id for a in select(items).everything.items] == ["d", "a", "b", "c"]
    assert [a.id for a in select(items, max_items=2).everything.items] == ["d", "a"]


def test_feeds_hold_only_visible_articles_limited_and_ordered():
    items = [art(f"x{i:02d}", i) for i in range(10)] + [art("future", -1), art("draft", 0.5, published=False)]
    sel = select(items, max_items=3)
    assert [a.id for a in sel.everything.items] == ["x00", "x01", "x02"]
    [ai] = sel.topics
    assert [a.id for a in ai.items] == ["x00", "x01", "x02"]
    assert sel.visible == 10


def test_topics_are_created_only_by_visible_articles():
    sel = select([art("a", 1, topics=["Secret Merger"], published=False), art("b", 1, topics=["Space"])])
    assert [p.topic.name for p in sel.topics] == ["Space"]


def test_retained_and_configured_topics_keep_an_empty_feed():
    index = TopicIndex({"Climate": TopicSettings()}, "Site")
    sel = select([art("a", 1, topics=["Space"], published=False)], index=index, retained={"space": "Space"})
    assert {p.topic.key: len(p.items) for p in sel.topics} == {"climate": 0, "space": 0}


def test_one_article_counted_once_per_topic_whatever_the_spelling():
    sel = select([art("a", 1, topics=["AI", "ai", "A.I."])],
                 index=TopicIndex({"AI": TopicSettings(aliases=("A.I.",))}, "Site"))
    [ai] = sel.topics
    assert [a.id for a in ai.items] == ["a"]
    assert sel.display_names == {"AI": "AI", "ai": "AI", "A.I.": "AI"}


def test_selection_does_not_depend_on_input_order():
    items = [art(f"x{i}", i % 3, topics=["AI", "Space"] if i % 2 else ["Space"]) for i in range(20)]
    a = select(items, max_items=5)
    b = select(list(reversed(items)), max_items=5)
    assert a == b
    assert Counter(p.topic.slug for p in a.topics) == Counter({"ai": 1, "space": 1})
