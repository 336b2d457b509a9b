"""Custom feeds (queries over the articles' fields), feed sizes per topic and
per custom feed, and podcasts that list every episode."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from feeder.app.pipeline import build
from feeder.config import CustomFeed, TopicSettings, parse_config
from feeder.errors import ConfigError
from feeder.model import item_id
from feeder.selection.custom import Facets, compile_query, matches
from feeder.selection.topics import TopicIndex

from conftest import Site, good_fields, public_files, run_feeder
from feeds import ids, parse_feed

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
INDEX = TopicIndex({"AI": TopicSettings(aliases=("Machine Learning",))}, "Site")


def query(**kw):
    return compile_query(CustomFeed(slug="q", title="Q", description="Q", **kw), INDEX)


@pytest.mark.no_state
@pytest.mark.parametrize(("q", "facets", "expected"), [
    ({"topics": ("AI",)}, Facets(("ai",)), True),  # case-insensitive
    ({"topics": ("AI",)}, Facets(("Machine Learning",)), True),  # an alias
    ({"topics": ("AI", "Space")}, Facets(("Space",)), True),  # any of them
    ({"topics": ("AI",)}, Facets(("Space",)), False),
    ({"all_topics": ("AI", "Space")}, Facets(("AI",)), False),
    ({"all_topics": ("AI", "Space")}, Facets(("space", "machine learning")), True),
    ({"topics": ("AI",), "exclude_topics": ("Crypto",)}, Facets(("AI", "crypto")), False),
    ({"min_quality": 60}, Facets((), quality=60), True),
    ({"min_quality": 60}, Facets((), quality=59), False),
    ({"min_quality": 60}, Facets(()), False),  # no quality never meets a minimum
    ({"min_heat": 0}, Facets((), heat=-1), False),
    ({"category": "News"}, Facets((), category="news"), True),
    ({"type": "article"}, Facets((), type="video"), False),
    ({"providers": ("TechCrunch",)}, Facets((), provider=("techcrunch", "techcrunch.com")), True),
    ({"providers": ("nature.com",)}, Facets((), provider=("nature", "nature.com")), True),
    ({"providers": ("nature.com",)}, Facets((), provider=()), False),
    ({"topics": ("AI",), "min_quality": 50, "category": "news"}, Facets(("AI",), quality=70, category="news"), True),
    ({"topics": ("AI",), "min_quality": 50, "category": "news"}, Facets(("AI",), quality=70, category="blog"), False),
])
def test_a_query_matches_what_each_of_its_parts_allows(q, facets, expected):
    assert matches(query(**q), facets, INDEX.key) is expected


def custom_config(site: Site, custom: dict, **extra) -> Path:
    return site.config_file({"feeds": {"custom": custom, **extra.pop("feeds", {})}, **extra})


def corpus(site: Site) -> None:
    site.article("1.md", **good_fields(1, topics=["AI"], quality=90, category="news", type="article",
                                       provider={"name": "TechCrunch", "domain": "techcrunch.com"}))
    site.article("2.md", **good_fields(2, topics=["ai", "Crypto"], quality=95, category="news"))
    site.article("3.md", **good_fields(3, topics=["Machine Learning"], quality=40, category="blog"))
    site.article("4.md", **good_fields(4, topics=["Space"], category="news",
                                       provider={"name": "Nature", "domain": "nature.com"}))
    site.article("5.md", **good_fields(5, topics=["AI"], quality=80, published=False))


def test_custom_feeds_are_published_listed_and_read_back(site: Site):
    corpus(site)
    cfg = custom_config(site, {
        "top-ai": {"title": "Top AI stories", "description": "The best-rated AI coverage.", "topics": ["AI"],
                   "exclude_topics": ["Crypto"], "min_quality": 60},
        "nature": {"title": "From Nature", "providers": ["nature.com"]},
        "news": {"title": "News", "category": "NEWS", "max_items": 2},
        "nothing": {"title": "Nothing yet", "min_heat": 1000},
    })
    done = run_feeder("build", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    top = parse_feed(site.output / "topics" / "top-ai" / "atom.xml")
    assert top.feed.title == "Top AI stories" and top.feed.subtitle == "The best-rated AI coverage."
    assert [e.id for e in top.entries] == [item_id("1")]
    assert ids(site.output / "topics" / "nature" / "rss.xml") == [item_id("4")]
    assert ids(site.output / "topics" / "news" / "rss.xml") == [item_id("4"), item_id("2")]  # newest two
    empty = parse_feed(site.output / "topics" / "nothing" / "rss.xml")
    assert empty.entries == [] and empty.feed.title == "Nothing yet"  # stays, valid and empty
    import json

    assert json.loads((site.output / "topics" / "top-ai" / "feed.json").read_bytes())["title"] == "Top AI stories"
    opml = (site.output / "index.opml").read_text()
    landing = (site.output / "index.html").read_text()
    for slug, title in (("top-ai", "Top AI stories"), ("nature", "From Nature"), ("nothing", "Nothing yet")):
        assert f"topics/{slug}/rss.xml" in opml and title in opml
        assert f'type="application/rss+xml" title="{title}' in landing or f"topics/{slug}/rss.xml" in landing
    assert 'rel="alternate"' in landing and "topics/top-ai/atom.xml" in landing


def test_an_edit_that_changes_what_a_query_matches_equals_a_cold_build(site: Site, tmp_path: Path):
    corpus(site)
    custom = {"top-ai": {"title": "Top AI", "topics": ["AI"], "min_quality": 60}}
    cfg = custom_config(site, custom)
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    site.article("3.md", **good_fields(3, topics=["AI", "Machine Learning"], quality=99))  # now it matches
    site.article("1.md", **good_fields(1, topics=["AI"], quality=10))  # and this no longer
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    assert ids(site.output / "topics" / "top-ai" / "rss.xml") == [item_id("3"), item_id("2")]
    cold = Site(tmp_path / "cold")
    shutil.rmtree(cold.content)
    shutil.copytree(site.content, cold.content)
    cold_cfg = custom_config(cold, custom)
    assert run_feeder("build", "-q", "--config", str(cold_cfg)).returncode == 0
    assert site.outputs() == cold.outputs()


@pytest.mark.no_state
@pytest.mark.parametrize(("custom", "problem"), [
    ({"top": {"title": "T", "topics": ["AI"], "colour": "red"}}, "feeds.custom.top.colour: unknown setting"),
    ({"top": {"title": "T"}}, "feeds.custom.top.topics: a custom feed needs a query"),
    ({"top": {"topics": ["AI"]}}, "feeds.custom.top.title: is required"),
    ({"ai": {"title": "T", "min_quality": 1}}, "feeds.custom.ai: the topic 'AI' has this folder already"),
    ({"Top AI": {"title": "T", "topics": ["AI"]}}, "lower-case letters, digits and hyphens"),
    ({"top": {"title": "T", "min_quality": "high"}}, "feeds.custom.top.min_quality: must be a whole number"),
])
def test_custom_feed_mistakes_are_configuration_errors_naming_the_key(tmp_path: Path, custom, problem):
    with pytest.raises(ConfigError) as err:
        parse_config({"topics": {"AI": {}}, "feeds": {"custom": custom}}, base=tmp_path)
    assert problem in str(err.value)


def test_a_topic_found_in_articles_never_takes_a_custom_feeds_folder(site: Site):
    site.article("1.md", **good_fields(1, topics=["Top AI"]))
    cfg = custom_config(site, {"top-ai": {"title": "Top AI", "min_quality": 1}})
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    assert parse_feed(site.output / "topics" / "top-ai" / "rss.xml").feed.title == "Top AI"
    topic = [p for p in (site.output / "topics").iterdir() if p.name.startswith("top-ai-")]
    assert len(topic) == 1 and ids(topic[0] / "rss.xml") == [item_id("1")]


def test_feed_sizes_per_topic_and_a_podcast_lists_every_episode(site: Site):
    import podcastparser

    for n in range(120):
        site.article(f"ep/{n:03d}.md", **good_fields(n, topics=["Show"], enclosure={
            "url": f"https://media.example.org/{n}.mp3", "type": "audio/mpeg", "length": 1000 + n}))
    for n in range(200, 260):
        site.article(f"news/{n}.md", **good_fields(n, topics=["Brief"]))
    cfg = site.config_file({
        "feeds": {"max_items": 50},
        "topics": {"Show": {"podcast": {"image": "https://example.org/cover.jpg", "category": "News"}},
                   "Brief": {"max_items": 7}},
    })
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    with open(site.output / "topics" / "show" / "rss.xml", "rb") as fh:
        show = podcastparser.parse("https://feeds.example.net/news/topics/show/rss.xml", fh)
    assert len(show["episodes"]) == 120  # every episode, not the newest 50
    assert len(ids(site.output / "topics" / "brief" / "rss.xml")) == 7
    assert len(ids(site.output / "rss.xml")) == 50
    limited = site.config_file({"topics": {"Show": {"max_items": 10, "podcast": {
        "image": "https://example.org/cover.jpg", "category": "News"}}}})
    assert run_feeder("build", "-q", "--config", str(limited)).returncode == 0
    assert len(ids(site.output / "topics" / "show" / "rss.xml")) == 10


def test_every_selection_path_gives_the_custom_feeds_the_same_items(site: Site, tmp_path: Path, now):
    """Without link checks a cron build asks the database; with them, or resident, selection is in memory."""
    from dataclasses import replace

    from feeder.config import LinkSettings

    corpus(site)
    custom = (CustomFeed(slug="top-ai", title="Top AI", description="d", topics=("AI",), min_quality=60),
              CustomFeed(slug="news", title="News", description="d", category="news"))
    outputs = []
    for links in (False, True):
        out = tmp_path / f"out-{links}"
        settings = replace(site.settings, custom_feeds=custom, output_dir=out, state_dir=tmp_path / f"s-{links}",
                           links=LinkSettings(enabled=links, system_dns=False, budget=0.1))
        build(settings, now=now)
        outputs.append(public_files(out))
    assert outputs[0] == outputs[1]
