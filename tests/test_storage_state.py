"""The state database on its own: schema versions, typed rows, and the
queries the link checker and the renderer rely on."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeder.errors import StateError
from feeder.model import LinkRecord, LinkResult, Verdict
from feeder.storage.state import DB_NAME, MIGRATIONS, IngestedRow, Rendered, SourceRow, State

from conftest import open_state, undo_websub

T0 = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def state(tmp_path: Path):
    with open_state(tmp_path / "state") as st:
        yield st


@pytest.mark.sqlite_only
def test_a_new_database_has_the_latest_schema_and_a_newer_one_is_refused(tmp_path: Path):
    with open_state(tmp_path) as st:
        assert st.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StateError, match="newer than this feeder understands"):
        open_state(tmp_path)


@pytest.mark.sqlite_only
def test_a_file_that_is_not_a_database_is_a_state_error(tmp_path: Path):
    (tmp_path / DB_NAME).write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StateError, match="cannot open the state database"):
        open_state(tmp_path)


def test_source_and_ingested_rows_round_trip_typed(state: State):
    assert state.source("blog") is None
    row = SourceRow(key="blog", configured="https://a.example/feed", url="https://b.example/feed", etag='"x"',
                    failures=2, gone=True, last_status=410)
    state.save_source(row)
    assert state.source("blog") == row
    entry = IngestedRow("blog", "urn:1", "blog-1", "blog/blog-1.md", "https://a.example/1", "h", "{}", T0.isoformat())
    state.save_ingested(entry)
    assert state.ingested("blog", "urn:1") == entry
    assert state.ingested_by_link("https://a.example/1") == ("blog", "blog-1")
    assert state.ingested("blog", "urn:2") is None


def test_transactions_roll_back_on_error(state: State):
    with pytest.raises(RuntimeError), state.transaction():
        state.set_meta("k", "v")
        raise RuntimeError("boom")
    assert state.get_meta("k") is None
    state.set_meta("k", "v")
    assert state.get_meta("k") == "v"


def test_rendered_feeds(state: State):
    state.save_rendered("", "fp1", T0.isoformat())
    state.save_rendered("ai", "fp2", T0.isoformat())
    assert state.rendered() == {"": Rendered("fp1", T0.isoformat()), "ai": Rendered("fp2", T0.isoformat())}
    assert state.rendered()["ai"].fingerprint == "fp2"


def _file(state: State, path: str, url: str, published: int = 1) -> None:
    state.conn.execute("INSERT INTO files (path, size, mtime_ns, article_id, published, published_at, topics, "
                       "original_url) VALUES (?, 1, 1, ?, ?, 0, '', ?)", (path, path, published, url))


def _record(url: str, verdict: Verdict, next_due: datetime) -> LinkRecord:
    return LinkRecord(LinkResult(url, verdict, "ok" if verdict is Verdict.ALIVE else "timeout", T0), T0, next_due)


def test_due_urls_never_checked_first_then_longest_overdue_and_only_published(state: State):
    for path, url in (("a", "https://x.example/new"), ("b", "https://x.example/late"),
                      ("c", "https://x.example/later"), ("d", "https://x.example/fresh"),
                      ("e", "https://x.example/new")):
        _file(state, path, url)
    _file(state, "draft", "https://x.example/draft", published=0)
    state.save_link_records([
        _record("https://x.example/late", Verdict.UNKNOWN, T0 - timedelta(hours=2)),
        _record("https://x.example/later", Verdict.ALIVE, T0 - timedelta(hours=1)),
        _record("https://x.example/fresh", Verdict.ALIVE, T0 + timedelta(hours=1)),
    ])
    assert state.due_urls(T0) == ["https://x.example/new", "https://x.example/late", "https://x.example/later"]
    assert state.published_urls() == ["https://x.example/fresh", "https://x.example/late",
                                      "https://x.example/later", "https://x.example/new"]
    assert state.published_url_count() == 4
    assert state.link_counts() == {"alive": 2, "unknown": 1}


def test_link_records_round_trip(state: State):
    rec = LinkRecord(LinkResult("https://x.example/a", Verdict.DEAD, "not-found", T0, status=404,
                                final_url="https://x.example/b", redirects=("https://x.example/a",), error="gone"),
                     T0 - timedelta(days=3), T0 + timedelta(days=1), dead_count=2, first_dead_at=T0 - timedelta(days=1),
                     last_dead_at=T0, unknown_count=0, ever_alive=True)
    state.save_link_records([rec])
    assert state.link_records(["https://x.example/a"]) == {"https://x.example/a": rec}
    assert state.link_records() == {"https://x.example/a": rec}


def test_topics_podcast_guids_and_digests_are_kept_as_first_given(state: State):
    from feeder.model import Topic

    state.remember_topics([Topic("ai", "AI", "ai", "AI", "")])
    state.remember_topics([Topic("ai", "Artificial Intelligence", "ai", "AI", "")])
    assert state.known_topics() == {"ai": "AI"}
    assert state.podcast_guid("show", "guid-1") == "guid-1"
    assert state.podcast_guid("show", "guid-2") == "guid-1"  # fixed at first publication
    state.freeze_digest("ai", "daily", "2025-06-01", '{"id": 1}')
    assert state.frozen_digests("ai", "daily") == {"2025-06-01": '{"id": 1}'}
    state.mark_in_feed(["a", "b"])
    assert state.in_feed() == {"a", "b"}


def test_tables_names_every_table_of_the_schema_on_both_databases(state: State):
    """`feeder state copy` copies TABLES: a table missing there would be lost in a copy."""
    from feeder.storage.state import TABLES

    if state.dialect == "sqlite":
        names = {n for (n,) in state.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    else:
        names = {n for (n,) in state.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        names.discard("feeder_schema")
    assert names == set(TABLES)


def test_leases_go_to_one_claimant_at_a_time(state: State):
    until, later = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
    assert state.claim("host", ["a", "b", "c"], owner="one", until=until, now=T0, limit=2) == {"a", "b"}
    assert state.claim("host", ["a", "b", "c"], owner="two", until=until, now=T0) == {"c"}
    assert state.claim("host", ["a"], owner="one", until=later, now=T0) == {"a"}  # its own, renewed
    assert state.claim("host", ["b"], owner="two", until=later, now=until + timedelta(seconds=1)) == {"b"}  # expired
    state.release("host", owner="one")
    assert state.claim("host", ["a"], owner="two", until=later, now=T0) == {"a"}


@pytest.mark.sqlite_only
def test_a_link_verdict_change_pending_before_the_upgrade_still_makes_the_next_build_select(tmp_path: Path):
    with open_state(tmp_path) as st:
        st.conn.execute("DROP INDEX files_errors")
        st.conn.execute("DROP INDEX files_warnings")
        st.conn.execute("DROP TABLE file_topics")  # and what later migrations made
        st.conn.execute("DROP TABLE listing_dirty")
        st.conn.execute("DROP TABLE archives")
        for column in ("quality", "heat", "category", "kind", "provider"):
            st.conn.execute(f"ALTER TABLE files DROP COLUMN {column}")
        undo_websub(st.conn)
        st.set_meta("holds_changed", "1")  # what a link check of the previous version left
        before = next(i for i, m in enumerate(MIGRATIONS) if "reselect_requests" in m)
        st.conn.execute(f"PRAGMA user_version = {before}")
    with open_state(tmp_path) as st:
        assert st.pending("reselect") and st.get_meta("holds_changed") is None
        st.done("reselect", st.requests("reselect"))
        assert not st.pending("reselect")


def test_a_request_made_while_an_output_folder_acts_on_the_earlier_ones_stays_pending(tmp_path: Path):
    with open_state(tmp_path) as st:
        st.request("sweep")
        seen = st.requests("sweep")  # a build reads the count, then acts...
        st.request("sweep")  # ...while another instance asks again
        st.done("sweep", seen)
        assert st.pending("sweep")
        st.done("sweep", st.requests("sweep"))
        assert not st.pending("sweep")
