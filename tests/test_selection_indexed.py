"""Selection asked of the database (a build that does not keep the catalog
in memory) against `select_feeds` over the catalog's entries: the same
plans, after random edits of a real content folder, on both databases."""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from feeder.config import TopicSettings
from feeder.content import catalog as catalog_module
from feeder.content.catalog import open_catalog
from feeder.content.members import Members
from feeder.content.parsing import TOPIC_SEP
from feeder.content.watch import Changes
from feeder.selection.feeds import select_feeds, select_indexed
from feeder.selection.topics import TopicIndex

from conftest import Site, good_fields, open_state, undo_websub

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
INDEX = TopicIndex({"Machine Learning": TopicSettings(aliases=("ML",)), "Quiet": TopicSettings()}, "Site")
NAMES = ["AI", "ai", "A.I.", "ML", "machine learning", "Space", "SPACE", "C", "C++", "Politik", "Ünïcode"]
FOLDERS = ["", "a/", "a/deep/", "b/", "ab/"]  # "ab/" sorts between "a/" and "b/": a folder range must not take it


def write_random(site: Site, rng: random.Random, path: str) -> None:
    if rng.random() < 0.08:
        site.write(path, "---\ntitle: [broken\n---\n")
        return
    hours = rng.choice([-30, -2, 0, 1, 1, 5, 48, 400])  # ties on purpose; negative: scheduled
    site.article(path, **good_fields(
        rng.randrange(40),
        id=f"id{rng.randrange(30)}",  # some ids on two files: duplicates
        publishedDateTime=NOW - timedelta(hours=hours),
        published=rng.random() < 0.8,
        topics=rng.sample(NAMES, rng.choice([0, 1, 1, 2, 3])),
    ))


def check(state, settings_now_variants) -> None:
    catalog_module._IN_MEMORY.clear()  # the reference reads every row afresh
    catalog, _ = open_catalog(state, state.content_root, max_size=1_000_000, timezone_name="UTC")
    entries = catalog.entries()
    # The duplicates kept up to date change by change are those a full look finds.
    assert catalog.duplicates() == catalog._find_duplicates()
    members = Members(state, [d.dropped for d in catalog.duplicates()])
    for kw in settings_now_variants:
        assert select_indexed(members, index=INDEX, **kw) == select_feeds(entries, index=INDEX, **kw), kw
    # The topic rows are exactly what the files' rows say.
    topic_rows = sorted(state.conn.execute("SELECT path, name, published_at, article_id, topics FROM file_topics"))
    expected = sorted((p, name, at, aid, names) for p, aid, pub, at, names in state.conn.execute(
        "SELECT path, article_id, published, published_at, topics FROM files WHERE published = 1")
        if names for name in names.split(TOPIC_SEP))
    assert topic_rows == expected


VARIANTS = [
    {"now": NOW, "max_items": 3},
    {"now": NOW, "max_items": 50, "keep_since": NOW - timedelta(hours=3)},
    {"now": NOW - timedelta(hours=1), "max_items": 2, "retained": {"politik": "POLITIK", "gone": "Gone"}},
    {"now": NOW + timedelta(days=3), "max_items": 1, "keep_since": NOW - timedelta(days=30)},
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_selection_from_the_database_equals_select_feeds(site: Site, seed: int):
    rng = random.Random(seed)
    paths = [f"{folder}f{i}.{'md' if i % 5 == 0 else 'txt'}" for folder in FOLDERS for i in range(8)]
    for path in paths:
        write_random(site, rng, path)
    with open_state(site.state) as state:
        state.content_root = site.content
        for round_ in range(6):
            if round_:
                for path in rng.sample(paths, 6):
                    if rng.random() < 0.3:
                        (site.content / path).unlink(missing_ok=True)
                    else:
                        write_random(site, rng, path)
            if round_ == 4:
                # As filesystem events name them: a folder gone, one moved in.
                gone = [p for (p,) in state.conn.execute("SELECT path FROM files") if p.startswith("a/")]
                shutil.rmtree(site.content / "a")
                write_random(site, rng, "c/new.txt")
                changes = Changes(folders={"c"}, gone_folders={"a"})
                catalog_module._IN_MEMORY.clear()
                _, rescan = open_catalog(state, site.content, max_size=1_000_000, timezone_name="UTC",
                                         changes=changes)
                assert (rescan.removed, rescan.parsed) == (len(gone), 1)
            else:
                catalog_module._IN_MEMORY.clear()  # a cron run: nothing in memory, nothing loaded
                catalog, _ = open_catalog(state, site.content, max_size=1_000_000, timezone_name="UTC")
                assert catalog._snap is None or round_ == 0
            check(state, VARIANTS)


def test_a_catalog_from_before_the_topic_table_fills_it_once(site: Site, monkeypatch):
    monkeypatch.setattr(catalog_module, "_FILL_BATCH", 4)  # filled in several batches
    for n in range(6):
        site.article(f"a{n}.txt", **good_fields(n, topics=["AI", "Space"][: n % 3]))
    with open_state(site.state) as state:
        state.content_root = site.content
        open_catalog(state, site.content, max_size=1_000_000, timezone_name="UTC")
        with state.transaction() as conn:
            conn.execute("DELETE FROM file_topics")
            conn.execute("DELETE FROM meta WHERE key = 'topic_index'")
        catalog_module._IN_MEMORY.clear()
        open_catalog(state, site.content, max_size=1_000_000, timezone_name="UTC")
        assert state.conn.execute("SELECT COUNT(*) FROM file_topics").fetchone()[0] == 6
        check(state, VARIANTS)


@pytest.mark.sqlite_only
def test_a_topic_index_from_before_it_carried_topic_names_is_made_again(site: Site, monkeypatch):
    from feeder.storage.state import MIGRATIONS

    monkeypatch.setattr(catalog_module, "_FILL_BATCH", 4)  # filled in several batches

    rng = random.Random(7)
    for n in range(30):
        write_random(site, rng, f"{rng.choice(FOLDERS)}f{n}.md")
    with open_state(site.state) as state:
        open_catalog(state, site.content, max_size=1_000_000, timezone_name="UTC")
        # What schema v11 made: no topic names in the rows, an index without them.
        with state.transaction() as conn:
            conn.execute("DROP INDEX file_topics_newest")
            conn.execute("ALTER TABLE file_topics DROP COLUMN topics")
            conn.execute("CREATE INDEX file_topics_newest ON file_topics (name, published_at DESC, article_id)")
            conn.execute("DROP TABLE archives")  # and what the migration after it made
            for column in ("quality", "heat", "category", "kind", "provider"):
                conn.execute(f"ALTER TABLE files DROP COLUMN {column}")
            undo_websub(conn)
        state.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 3}")
    catalog_module._IN_MEMORY.clear()
    with open_state(site.state) as state:  # the upgrade
        state.content_root = site.content
        assert state.get_meta("topic_index") is None
        check(state, VARIANTS)  # the catalog fills the rows again, topic names included
        assert state.get_meta("topic_index") == "1"
