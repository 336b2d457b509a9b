"""The catalog on its own: what a rescan reparses, what it remembers, and
that the parallel path stores exactly what the serial one does."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from feeder.content import catalog as catalog_module
from feeder.content import parsing
from feeder.content.catalog import Catalog, open_catalog
from feeder.errors import Cancelled, ConfigError
from feeder.storage.db import secondary_indexes
from feeder.storage.state import State

from conftest import Site, good_fields, open_state, write_corpus


def opened(site: Site, state: State, **kw):
    catalog, rescan = open_catalog(state, site.content, max_size=kw.get("max_size", 1_000_000),
                                   timezone_name="UTC", resident=kw.get("resident", False))
    catalog.settle()  # as a build does before it lets go of the lock
    return catalog, rescan


def resident(site: Site, state: State):
    """As a long-lived process (the daemon) opens it."""
    return opened(site, state, resident=True)


@pytest.fixture
def state(site: Site):
    with open_state(site.state) as st:
        yield st


def test_a_rescan_reparses_only_what_changed(site: Site, state: State):
    a = site.article("a.txt", **good_fields(1))
    site.article("sub/b.md", **good_fields(2, topics=["AI", "Space"]))
    catalog, rescan = opened(site, state)
    assert (rescan.files, rescan.parsed, rescan.changed) == (2, 2, True)
    _, again = opened(site, state)
    assert (again.parsed, again.changed) == (0, False)
    a.write_text(a.read_text().replace("Article number 1", "Edited"))
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 1_000_000))
    _, edited = opened(site, state)
    assert (edited.parsed, edited.removed) == (1, 0)
    (site.content / "sub" / "b.md").unlink()
    catalog, removed = opened(site, state)
    assert (removed.parsed, removed.removed) == (0, 1)
    assert [e.source for e in catalog.entries()] == ["a.txt"]


def test_entries_problems_warnings_and_duplicates(site: Site, state: State):
    site.article("a.txt", **good_fields(1, topics=["AI", "Space"]))
    site.article("draft.txt", **good_fields(2, published=False))
    site.article("warn.txt", **good_fields(3, images=["ftp://x.example/i.png"]))
    site.article("dup1.txt", **good_fields(4, id="same"))
    site.article("dup2.txt", **good_fields(5, id="same"))
    site.write("bad.txt", "---\ntitle: [\n---\n")
    catalog, _ = opened(site, state)
    entries = {e.source: e for e in catalog.entries(with_urls=True)}
    assert sorted(entries) == ["a.txt", "dup1.txt", "warn.txt"]  # published, one per id
    assert entries["a.txt"].topics == ("AI", "Space")
    assert entries["a.txt"].original_url == "https://news.example.org/1"
    assert [(d.article_id, d.kept, d.dropped) for d in catalog.duplicates()] == [("same", "dup1.txt", "dup2.txt")]
    [(path, problem)] = catalog.problems()
    assert path == "bad.txt" and problem.startswith("invalid YAML")
    assert catalog.warnings() == [("warn.txt", "field 'images[0]' must be an absolute http or https URL, "
                                               "not the string 'ftp://x.example/i.png'; left out")]
    assert catalog.article_count() == 4  # distinct ids of the files that parsed (the two "same" count once)


def test_articles_are_parsed_once_per_build_and_a_vanished_file_is_left_out(site: Site, state: State):
    a = site.article("a.txt", "Body **text**\n", **good_fields(1))
    site.article("b.txt", **good_fields(2))
    catalog, _ = opened(site, state)
    a.write_text(a.read_text().replace("Article number 1", "Changed after the scan"))
    # The build that parsed the file renders what it parsed: never a second parse.
    assert catalog.articles(["a.txt"])["a.txt"].title == "Article number 1"
    # A build that did not parse it reads it again; a vanished file is left out.
    (site.content / "b.txt").unlink()
    later = Catalog(state, site.content, max_size=1_000_000, timezone_name="UTC")
    found = later.articles(["a.txt", "b.txt", "a.txt"])
    assert list(found) == ["a.txt"] and found["a.txt"].title == "Changed after the scan"
    assert found["a.txt"].body == "Body **text**"
    hashes = later.file_hashes(["a.txt"])
    assert list(hashes) == ["a.txt"] and len(hashes["a.txt"]) == 24


def test_next_publication(site: Site, state: State):
    site.article("a.txt", **good_fields(1))
    site.article("later.txt", **good_fields(2, publishedDateTime=datetime(2030, 1, 1, tzinfo=timezone.utc)))
    catalog, _ = opened(site, state)
    assert catalog.next_publication(after=datetime(2025, 1, 1, tzinfo=timezone.utc)) == \
        datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert catalog.next_publication(after=datetime(2030, 1, 1, tzinfo=timezone.utc)) is None


def test_changed_parse_settings_reparse_everything(site: Site, state: State):
    site.article("a.txt", **good_fields(1))
    opened(site, state)
    _, rescan = opened(site, state, max_size=10)
    assert rescan.parsed == 1
    catalog = Catalog(state, site.content, max_size=10, timezone_name="UTC")
    assert "over the limit" in dict(catalog.problems())["a.txt"]


def test_a_missing_content_folder_is_a_configuration_error(site: Site, state: State):
    with pytest.raises(ConfigError, match="does not exist"):
        open_catalog(state, site.content / "nope", max_size=1000, timezone_name="UTC")


def test_parallel_parsing_stores_what_serial_parsing_does(tmp_path: Path, monkeypatch):
    results = []
    count = parsing.PARALLEL_THRESHOLD + 51
    assert parsing.use_processes(count)  # this machine has more than one core
    for mode in ("parallel", "serial"):
        site = Site(tmp_path / mode)
        write_corpus(site.content, parsing.PARALLEL_THRESHOLD + 50)
        site.write("batch00/broken.txt", "---\npublished: perhaps\n---\n")
        if mode == "serial":
            monkeypatch.setattr(parsing, "PARALLEL_THRESHOLD", 10**9)
        with open_state(site.state) as state:
            catalog, rescan = opened(site, state)
            assert rescan.parsed == count
            rows = sorted(state.conn.execute(
                "SELECT path, size, article_id, published, published_at, topics, original_url, digest, error "
                "FROM files"))
            results.append((rows, sorted(catalog.entries(with_urls=True))))
    assert results[0] == results[1]
    # Also the file_topics rows, and every index, made again after a bulk fill without them.
    for mode in ("parallel", "serial"):
        with open_state(tmp_path / mode / "state") as state:
            assert not state.get_meta("deferred_indexes")
            results.append((sorted(state.conn.execute("SELECT * FROM file_topics")),
                            secondary_indexes(state.conn, ("files", "file_topics"))))
    assert results[2] == results[3]
    assert {"files_errors", "file_topics_newest"} <= {name for name, _ in results[2][1]}


def test_indexes_set_aside_for_a_cold_build_are_made_again_after_a_stop(site: Site, state: State, monkeypatch):
    write_corpus(site.content, parsing.PARALLEL_THRESHOLD + 10)
    expected = secondary_indexes(state.conn, ("files", "file_topics"))

    def stopped(*args, **kw):
        assert secondary_indexes(state.conn, ("files", "file_topics")) == []  # set aside while filling
        raise Cancelled()

    with monkeypatch.context() as m:
        m.setattr(parsing, "_parse_in_workers", stopped)
        with pytest.raises(Cancelled):
            opened(site, state)
    assert secondary_indexes(state.conn, ("files", "file_topics")) == []
    catalog, rescan = opened(site, state)  # the next build makes them first
    assert secondary_indexes(state.conn, ("files", "file_topics")) == expected
    assert rescan.parsed == parsing.PARALLEL_THRESHOLD + 10 and catalog.problems() == []


def test_a_long_lived_process_reuses_its_catalog_until_another_process_writes(site: Site, state: State):
    from conftest import run_feeder

    site.article("a.txt", **good_fields(1))
    catalog, _ = resident(site, state)
    catalog.entries()
    kept = catalog_module._IN_MEMORY[state.conn.target].snap
    again, _ = resident(site, state)
    again.entries()
    assert again._snapshot() is kept  # the same process, nothing written since: reused
    # Another process (a cron build) changes the catalog: this one must read it again.
    site.article("b.txt", **good_fields(2))
    assert run_feeder("build", "-q", "--config", str(site.config_file())).returncode == 0
    later = Catalog(state, site.content, max_size=1_000_000, timezone_name="UTC")
    assert later._snapshot() is not kept
    assert sorted(e.source for e in later.entries()) == ["a.txt", "b.txt"]


def test_a_rescan_looks_only_at_what_changed_since_the_last_listing(site: Site, state: State):
    a = site.article("a/one.txt", **good_fields(1))
    site.article("a/two.txt", **good_fields(2))
    catalog, first = opened(site, state)
    assert first.parsed == 2 and (site.state / "content-listing").exists()
    a.write_text(a.read_text().replace("Article number 1", "Edited"))
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 1_000_000))
    (site.content / "a" / "two.txt").unlink()
    site.article("b/three.md", **good_fields(3))
    (site.content / ".hidden").mkdir()
    (site.content / ".hidden" / "x.txt").write_text("never an article")
    catalog, rescan = opened(site, state)
    assert (rescan.parsed, rescan.removed, rescan.files) == (2, 1, 2)
    assert sorted(e.source for e in catalog.entries()) == ["a/one.txt", "b/three.md"]
    # Without the kept listing (or with a damaged one), every file is compared: the same result.
    (site.state / "content-listing").write_bytes(b"damaged")
    site.article("b/four.md", **good_fields(4))
    catalog, rescan = opened(site, state)
    assert (rescan.parsed, rescan.files) == (1, 3)
    assert sorted(e.source for e in catalog.entries()) == ["a/one.txt", "b/four.md", "b/three.md"]
    _, unchanged = opened(site, state)
    assert (unchanged.parsed, unchanged.files, unchanged.changed) == (0, 3, False)


def test_a_listing_kept_by_an_earlier_version_still_spares_the_full_comparison(site: Site, state: State,
                                                                               monkeypatch):
    import hashlib

    a = site.article("a/one.txt", **good_fields(1))
    site.article("a/two.txt", **good_fields(2))
    opened(site, state)
    kept = (site.state / "content-listing").read_bytes()
    assert state.get_meta("listing").startswith("find-sha256:")
    # Earlier versions fingerprinted the listing with BLAKE2b.
    with state.transaction():
        state.set_meta("listing", "find:" + hashlib.blake2b(kept, digest_size=16).hexdigest())
    a.write_text(a.read_text().replace("Article number 1", "Edited"))
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 1_000_000))

    def compare_all(*args, **kwargs):
        raise AssertionError("every file compared: the kept listing was not used")

    monkeypatch.setattr(Catalog, "_compare", compare_all)
    catalog, rescan = opened(site, state)
    assert (rescan.parsed, rescan.files) == (1, 2)
    assert catalog.articles(["a/one.txt"])["a/one.txt"].title == "Edited"
    assert state.get_meta("listing").startswith("find-sha256:")


def test_a_listing_that_cannot_be_kept_is_reported_and_every_file_compared_next_time(
        site: Site, state: State, caplog):
    a = site.article("a.txt", **good_fields(1))
    site.article("b.txt", **good_fields(2))
    (site.state / "content-listing").mkdir()  # what the listing would replace: it cannot
    _, first = opened(site, state)
    assert first.parsed == 2
    assert "could not keep the content listing" in caplog.text
    a.write_text(a.read_text().replace("Article number 1", "Edited"))
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 1_000_000))
    catalog, rescan = opened(site, state)
    assert (rescan.parsed, rescan.files) == (1, 2)
    assert catalog.articles(["a.txt"])["a.txt"].title == "Edited"
    assert not list(site.state.glob(".content-listing.*"))  # no half-written file left behind


def _corpus_with_a_duplicate(site: Site) -> None:
    for n in range(1, 7):
        site.article(f"a{n}.txt", **good_fields(n, topics=["AI", "Space"] if n % 2 else ["AI"]))
    site.article("dup.txt", **good_fields(9, id="a1"))  # a duplicate id: left out of the entries


def _every_kind_of_change(site: Site) -> list:
    return [
        lambda: site.article("a2.txt", **good_fields(2, published=False)),  # unpublished
        lambda: site.article("a3.txt", **good_fields(3, topics=["Robots"], originalUrl="https://x.example/3")),
        lambda: (site.content / "a4.txt").unlink(),  # removed
        lambda: site.article("new.txt", **good_fields(10)),  # added
        lambda: site.write("a5.txt", "---\npublished: maybe\n---\n"),  # broken: no longer an entry
        lambda: site.article("b-dup.txt", **good_fields(11, id="a6")),  # a new duplicate of a6
        lambda: site.article("0-first.txt", **good_fields(12, id="a6")),  # sorts first: a6.txt is dropped now
        lambda: (site.content / "dup.txt").unlink(),  # a duplicate gone: a1.txt's id is its own again
        lambda: site.article("0-first.txt", **good_fields(12, id="other")),  # an id changed away
    ]


def test_entry_changes_tell_a_reader_all_that_changed_and_nothing_more(site: Site, state: State):
    """A reader that applies the changes since its cursor holds what entries() holds."""
    _corpus_with_a_duplicate(site)
    catalog, _ = resident(site, state)
    cursor, changes = catalog.entry_changes(None)
    assert changes is None  # no cursor: read everything
    held = {e.source: e for e in catalog.entries()}
    for change in _every_kind_of_change(site):
        change()
        catalog, _ = resident(site, state)
        cursor, changes = catalog.entry_changes(cursor)
        assert changes is not None and 1 <= len(changes) <= 2  # the file, and one whose duplicate status moved
        for source, entry in changes.items():
            if entry is None:
                held.pop(source, None)
            else:
                held[source] = entry
        assert sorted(held.values()) == sorted(catalog.entries())
    assert catalog.entry_changes(cursor) == (cursor, {})  # nothing since
    # Another process wrote the catalog: this process's journal no longer says all.
    catalog_module._IN_MEMORY.clear()
    site.article("late.txt", **good_fields(13))
    catalog, _ = resident(site, state)
    assert catalog.entry_changes(cursor)[1] is None


def test_entries_kept_in_a_long_lived_process_equal_entries_read_afresh(site: Site, state: State, monkeypatch):
    """The daemon updates its kept entries with each change; they must be what a new process reads."""
    _corpus_with_a_duplicate(site)

    def fresh(with_urls: bool):
        catalog_module._IN_MEMORY.clear()
        catalog, _ = resident(site, state)
        return sorted(catalog.entries(with_urls=with_urls))

    def fresh_duplicates():
        catalog_module._IN_MEMORY.clear()
        return resident(site, state)[0]._find_duplicates()  # a full look, not what was kept or stored

    resident(site, state)[0].entries(with_urls=True)  # kept, with URLs
    built = []
    read_all = catalog_module.Catalog._all_entries
    monkeypatch.setattr(catalog_module.Catalog, "_all_entries",
                        lambda self, with_urls: built.append(1) or read_all(self, with_urls))
    for change in _every_kind_of_change(site):
        change()
        catalog, rescan = resident(site, state)
        assert rescan.changed
        kept = sorted(catalog.entries(with_urls=True))
        kept_duplicates = catalog.duplicates()
        kept_count = catalog.article_count()
        assert not built  # updated with the change, not read again
        assert kept == fresh(with_urls=True)
        assert kept_duplicates == fresh_duplicates()
        catalog_module._IN_MEMORY.clear()
        assert kept_count == opened(site, state)[0].article_count()  # counted by the database
        again = resident(site, state)[0]  # and kept again for the next change
        again.entries(with_urls=True)
        again.article_count()
        built.clear()
    assert {e.source for e in fresh(with_urls=False)} == {"a1.txt", "a3.txt", "a6.txt", "new.txt", "0-first.txt"}
    assert [(d.article_id, d.kept, d.dropped) for d in fresh_duplicates()] == [("a6", "a6.txt", "b-dup.txt")]


def test_a_full_scan_after_event_updates_looks_at_what_events_changed_without_comparing_everything(
        site: Site, state: State, monkeypatch):
    from feeder.content.watch import Changes

    for n in range(5):
        site.article(f"a{n}.txt", **good_fields(n))
    opened(site, state)  # a full scan: the listing is kept
    path = site.content / "a1.txt"
    before, times = path.read_bytes(), path.stat()
    site.article("a1.txt", **good_fields(1, title="Seen by events"))
    catalog = Catalog(state, site.content, max_size=1_000_000, timezone_name="UTC", resident=True)
    assert catalog.update(Changes(files={"a1.txt"})).parsed == 1  # as the daemon does, from events
    # Put back as it was listed, with its old time: the listing shows no change at all.
    path.write_bytes(before)
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    monkeypatch.setattr(Catalog, "_compare", lambda *a: pytest.fail("compared every file"))
    catalog_module._IN_MEMORY.clear()
    catalog, rescan = opened(site, state)
    assert (rescan.parsed, rescan.files) == (1, 5)
    assert catalog.articles(["a1.txt"])["a1.txt"].title == "Article number 1"
    assert [t for (t,) in state.conn.execute("SELECT path FROM listing_dirty")] == []
    assert catalog.file_hashes(["a1.txt"]) == opened(site, state)[0].file_hashes(["a1.txt"])
    again = opened(site, state)[1]
    assert (again.parsed, again.changed) == (0, False)
