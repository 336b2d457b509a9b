"""Archived feeds (RFC 5005): a client walks `prev-archive` from each
subscription feed and finds every published article exactly once; closed
archive documents stay byte-identical while other periods change."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from feeder.app.pipeline import build
from feeder.config import CustomFeed, TopicSettings, parse_config
from feeder.errors import ConfigError
from feeder.model import item_id
from feeder.selection.archives import period_of, split_archive

from conftest import Site, good_fields, public_files
from feeds import parse_feed

UTC = timezone.utc
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FH = "{http://purl.org/syndication/history/1.0}"
BASE = "https://feeds.example.net/news/"


# -- choosing the periods: pure --------------------------------------------------------------------------------

class M:
    def __init__(self, when: datetime):
        self.timestamp = when.timestamp()

    def __repr__(self) -> str:
        return datetime.fromtimestamp(self.timestamp, UTC).date().isoformat()


def members(*days: str) -> list[M]:
    return sorted((M(datetime.fromisoformat(d).replace(tzinfo=UTC)) for d in days),
                  key=lambda m: m.timestamp, reverse=True)


@pytest.mark.no_state
def test_periods_are_calendar_months_or_iso_weeks_of_the_time_zone():
    when = datetime(2025, 1, 1, 0, 30, tzinfo=UTC).timestamp()
    assert period_of(when, "monthly", UTC) == "2025-01"
    assert period_of(when, "weekly", UTC) == "2025-W01"
    # 00:30 UTC on New Year's Day is still December in New York.
    from zoneinfo import ZoneInfo

    assert period_of(when, "monthly", ZoneInfo("America/New_York")) == "2024-12"
    assert period_of(datetime(2024, 12, 30, tzinfo=UTC).timestamp(), "weekly", UTC) == "2025-W01"  # ISO year


@pytest.mark.no_state
def test_the_subscription_feed_reaches_back_to_the_start_of_its_oldest_period():
    ms = members("2025-05-20", "2025-05-10", "2025-04-28", "2025-04-03", "2025-04-01", "2025-03-15", "2025-01-02")
    current, archives = split_archive(ms, 3, "monthly", UTC)
    # The third newest is in April: the rest of April stays with it.
    assert [repr(m) for m in current] == ["2025-05-20", "2025-05-10", "2025-04-28", "2025-04-03", "2025-04-01"]
    assert [(name, [repr(m) for m in items]) for name, items in archives] == [
        ("2025-03", ["2025-03-15"]), ("2025-01", ["2025-01-02"])]
    # Every member exactly once.
    assert sorted(map(id, [*current, *(m for _, items in archives for m in items)])) == sorted(map(id, ms))


@pytest.mark.no_state
def test_no_archive_while_the_feed_holds_everything():
    ms = members("2025-05-20", "2024-01-01")
    assert split_archive(ms, 2, "monthly", UTC) == (tuple(ms), ())
    assert split_archive(ms, None, "monthly", UTC) == (tuple(ms), ())  # a podcast lists every episode
    assert split_archive([], 50, "weekly", UTC) == ((), ())


@pytest.mark.no_state
def test_a_new_article_never_moves_an_older_archive_boundary():
    ms = members(*(f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in (5, 20)))
    _, before = split_archive(ms, 4, "monthly", UTC)
    _, after = split_archive(members("2025-01-03", "2025-01-10", *(repr(m) for m in ms)), 4, "monthly", UTC)
    old = {name: [repr(m) for m in items] for name, items in before}
    new = {name: [repr(m) for m in items] for name, items in after}
    # One more period fell behind the feed; every other archive holds what it held.
    assert set(new) - set(old) == {"2024-11"}
    assert all(new[name] == items for name, items in old.items())


# -- configuration ----------------------------------------------------------------------------------------------

@pytest.mark.no_state
@pytest.mark.parametrize(("value", "expected"), [(None, "off"), (False, "off"), ("off", "off"),
                                                 ("monthly", "monthly"), ("weekly", "weekly")])
def test_feeds_archive_setting(tmp_path: Path, value, expected):
    data = {"site": {"title": "T", "base_url": BASE}, "feeds": {} if value is None else {"archive": value}}
    assert parse_config(data, base=tmp_path).archive == expected


@pytest.mark.no_state
@pytest.mark.parametrize("value", [True, "daily", 3])
def test_a_wrong_archive_setting_names_the_key(tmp_path: Path, value):
    with pytest.raises(ConfigError, match=r"feeds\.archive"):
        parse_config({"site": {"title": "T", "base_url": BASE}, "feeds": {"archive": value}}, base=tmp_path)


# -- walking the archives --------------------------------------------------------------------------------------

def local(site: Site, url: str) -> Path:
    assert url.startswith(BASE), url
    return site.output / urlsplit(url).path.removeprefix(urlsplit(BASE).path)


def links(path: Path) -> dict[str, str]:
    """The feed-level links of an RSS or Atom document, by relation, as feedparser reads them."""
    return {link.rel: link.href for link in parse_feed(path).feed.get("links", [])}


def walk(site: Site, start: Path) -> list[tuple[Path, list[str]]]:
    """Each document from the subscription feed back through `prev-archive`, with its item ids."""
    seen: list[tuple[Path, list[str]]] = []
    path: Path | None = start
    while path is not None:
        assert path not in [p for p, _ in seen], f"prev-archive goes round in a circle at {path}"
        seen.append((path, [e.id for e in parse_feed(path).entries]))
        prev = links(path).get("prev-archive")
        path = local(site, prev) if prev else None
    return seen


def walk_json(site: Site, start: Path) -> list[str]:
    ids, path = [], start
    while True:
        doc = json.loads(path.read_text(encoding="utf-8"))
        ids += [item["id"] for item in doc["items"]]
        if "next_url" not in doc:
            return ids
        path = local(site, doc["next_url"])


def history(site: Site, n: int, start: datetime, step: timedelta, **fields) -> None:
    for i in range(n):
        site.article(f"a{i:03d}.md", **good_fields(i, publishedDateTime=start + i * step, **fields))


def feed_ids(site: Site, n: int, keep=lambda i: True) -> set[str]:
    return {item_id(f"a{i:03d}") for i in range(n) if keep(i)}


@pytest.fixture
def archived(site: Site) -> Site:
    # 60 articles over ten months; every third unpublished; topics AI or Space.
    for i in range(60):
        site.article(f"a{i:03d}.md", **good_fields(
            i, publishedDateTime=datetime(2024, 7, 1, tzinfo=UTC) + i * timedelta(days=5),
            topics=["AI"] if i % 2 else ["Space"], published=i % 3 != 0))
    site.configure(max_items=6, archive="monthly")
    return site


def test_walking_prev_archive_finds_every_published_article_once(archived: Site):
    site = archived
    build(site.settings, now=NOW)
    published = {i for i in range(60) if i % 3}
    expected = {
        site.output / "atom.xml": feed_ids(site, 60, lambda i: i in published),
        site.output / "topics" / "ai" / "atom.xml": feed_ids(site, 60, lambda i: i in published and i % 2),
        site.output / "topics" / "space" / "atom.xml": feed_ids(site, 60, lambda i: i in published and not i % 2),
    }
    for start, want in expected.items():
        for fmt in ("atom.xml", "rss.xml"):
            docs = walk(site, start.with_name(fmt))
            got = [i for _, ids in docs for i in ids]
            assert len(got) == len(set(got)), f"an item appears twice walking {start}"
            assert set(got) == want
            assert len(docs) > 3  # the subscription feed and several archives
            assert len(docs[0][1]) >= 6  # the subscription feed: its newest six and the rest of their month
        assert set(walk_json(site, start.with_name("feed.json"))) == want


def test_archive_documents_say_what_they_are(archived: Site):
    site = archived
    build(site.settings, now=NOW)
    subscription = etree.parse(str(site.output / "atom.xml")).getroot()
    assert subscription.find(f"{FH}archive") is None
    for fmt in ("rss.xml", "atom.xml"):
        current = BASE + fmt
        docs = walk(site, site.output / fmt)
        for i, (path, _) in enumerate(docs[1:], start=1):
            root = etree.parse(str(path)).getroot()
            assert root.find(f".//{FH}archive") is not None, path
            rel = links(path)
            assert rel["current"] == current
            assert rel["self"] == BASE + path.relative_to(site.output).as_posix()
            # next-archive is the neighbour the walk came from; the newest archive has none.
            if i > 1:
                assert local(site, rel["next-archive"]) == docs[i - 1][0]
            else:
                assert "next-archive" not in rel
            assert ("prev-archive" in rel) == (i + 1 < len(docs))
        assert (site.output / "archive").is_dir()
    # Each archive is served compressed like every other output.
    for path in (site.output / "archive").rglob("*.xml"):
        assert path.with_name(path.name + ".gz").is_file()


def test_the_w3c_validator_accepts_archive_documents(archived: Site):
    from feedvalidator import problems

    site = archived
    build(site.settings, now=NOW)
    paths = [p for _, p in sorted((p.as_posix(), p) for p in site.output.rglob("*.xml") if "archive" in p.parts)]
    paths = [*paths[:6], site.output / "rss.xml", site.output / "atom.xml"]
    assert problems(paths) == []


def snapshot(site: Site) -> dict[str, bytes]:
    return {k: v for k, v in site.outputs().items() if "/archive/" in f"/{k}"}


def period_files(files: dict[str, bytes], *periods: str) -> set[str]:
    return {k for k in files if any(f"archive/{p}/" in k for p in periods)}


def test_closed_archives_stay_byte_identical_when_other_periods_change(archived: Site, tmp_path: Path):
    site = archived
    build(site.settings, now=NOW)
    before = snapshot(site)
    assert period_files(before, "2024-08", "2024-10")

    # A new article, an edit in August, a back-dated one into September and
    # an article of October withdrawn.
    site.article("new.md", **good_fields(100, publishedDateTime=datetime(2025, 5, 30, tzinfo=UTC)))
    site.article("a007.md", **good_fields(7, title="Edited in August",
                                          publishedDateTime=datetime(2024, 7, 1, tzinfo=UTC) + 7 * timedelta(days=5),
                                          topics=["AI"]))
    site.article("old.md", **good_fields(101, publishedDateTime=datetime(2024, 9, 9, tzinfo=UTC), topics=["Space"]))
    site.article("a020.md", **good_fields(20, publishedDateTime=datetime(2024, 7, 1, tzinfo=UTC)
                                          + 20 * timedelta(days=5), topics=["Space"], published=False))
    build(site.settings, now=NOW)
    after = snapshot(site)

    touched = period_files(before, "2024-08", "2024-09", "2024-10")
    # The newest archive, whose neighbours may change as the feed moves on.
    newest = max(k.split("archive/")[1].split("/")[0] for k in before if k.startswith("archive/"))
    touched |= period_files(before, newest)
    untouched = set(before) - touched
    assert untouched, "the test must leave some periods alone"
    changed = {k for k in untouched if after.get(k) != before[k]}
    assert not changed
    assert b"Edited in August" in after["topics/ai/archive/2024-08/atom.xml"]
    assert b"Edited in August" in after["archive/2024-08/atom.xml"]
    assert b"news.example.org/101" in after["archive/2024-09/rss.xml"]
    assert b"news.example.org/20<" not in after["archive/2024-10/rss.xml"]

    # And what the incremental builds left is what a cold build gives.
    cold = replace(site.settings, state_dir=tmp_path / "cold-state", output_dir=tmp_path / "cold-feeds")
    build(cold, now=NOW)
    assert public_files(cold.output_dir) == site.outputs()


def test_a_one_file_edit_renders_its_own_periods_again_only(archived: Site):
    site = archived
    build(site.settings, now=NOW)
    site.article("a007.md", **good_fields(7, title="Edited",
                                          publishedDateTime=datetime(2024, 7, 1, tzinfo=UTC) + 7 * timedelta(days=5),
                                          topics=["AI"]))
    report = build(site.settings, now=NOW)
    written = {p for p in report.written if "archive/" in p}
    assert written == {f"{feed}archive/2024-08/{name}" for feed in ("", "topics/ai/")
                       for name in ("rss.xml", "atom.xml", "feed.json")}


def test_a_period_whose_articles_are_all_withdrawn_is_emptied(site: Site):
    history(site, 12, datetime(2025, 1, 5, tzinfo=UTC), timedelta(days=10))
    site.configure(max_items=3, archive="monthly")
    build(site.settings, now=NOW)
    january = site.output / "archive" / "2025-01" / "atom.xml"
    assert len(parse_feed(january).entries) == 3
    for i in range(3):  # the three January articles
        site.article(f"a{i:03d}.md", **good_fields(i, publishedDateTime=datetime(2025, 1, 5, tzinfo=UTC)
                                                   + i * timedelta(days=10), published=False))
    build(site.settings, now=NOW)
    assert parse_feed(january).entries == []  # what it listed is not published there any more
    assert "2025-01" not in {urlsplit(links(p).get("prev-archive", "")).path for p, _ in
                             walk(site, site.output / "atom.xml")}


def test_turning_archives_off_leaves_the_feed_without_prev_archive(archived: Site):
    site = archived
    build(site.settings, now=NOW)
    assert "prev-archive" in links(site.output / "rss.xml")
    site.configure(archive="off")
    build(site.settings, now=NOW)
    assert "prev-archive" not in links(site.output / "rss.xml")
    assert len(parse_feed(site.output / "rss.xml").entries) == 6


def test_custom_feeds_and_weekly_archives(site: Site):
    history(site, 40, datetime(2025, 3, 1, tzinfo=UTC), timedelta(days=2), quality=80)
    site.configure(max_items=5, archive="weekly", custom_feeds=(
        CustomFeed(slug="best", title="Best", description="Best", min_quality=70, max_items=4),))
    build(site.settings, now=NOW)
    docs = walk(site, site.output / "topics" / "best" / "rss.xml")
    got = [i for _, ids in docs for i in ids]
    assert sorted(got) == sorted(feed_ids(site, 40))
    assert any("W" in p.parent.name for p, _ in docs[1:])


def test_a_podcast_that_sets_max_items_keeps_its_show_in_every_archive(site: Site):
    import podcastparser
    from test_podcast import SHOW

    history(site, 20, datetime(2025, 1, 1, tzinfo=UTC), timedelta(days=7), topics=["Audio"],
            enclosure={"url": "https://media.example.net/ep.mp3", "type": "audio/mpeg", "length": 1000})
    site.configure(max_items=50, archive="monthly",
                   topics={"Audio": TopicSettings(title="Show", description="A show.", podcast=SHOW, max_items=4)})
    build(site.settings, now=NOW)
    docs = walk(site, site.output / "topics" / "audio" / "rss.xml")
    assert len(docs) > 2
    episodes = 0
    for path, _ in docs:
        with path.open("rb") as fh:
            parsed = podcastparser.parse(BASE + path.relative_to(site.output).as_posix(), fh)
        assert parsed["title"] == "Test Site: Show"
        episodes += len(parsed["episodes"])
    assert episodes == 20


def test_the_sample_site_with_archives(tmp_path: Path):
    from conftest import ROOT, run_feeder

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    cfg = tmp_path / "feeder.yaml"
    cfg.write_text(json.dumps({"site": {"title": "S", "base_url": BASE}, "content_dir": str(content),
                               "output_dir": str(tmp_path / "feeds"), "state_dir": str(tmp_path / "state"),
                               "links": {"enabled": False}, "feeds": {"archive": "monthly", "max_items": 1}}))
    done = run_feeder("build", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    archives = sorted((tmp_path / "feeds" / "archive").iterdir())
    assert archives
    done = run_feeder("build", "--config", str(cfg))  # nothing changed: nothing written
    assert done.returncode == 0, done.stderr
    assert sorted((tmp_path / "feeds" / "archive").iterdir()) == archives
