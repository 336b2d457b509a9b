"""Incremental rescans: only changed files are parsed, only changed feeds are
rendered, and the result always equals a cold build of the same folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from feeder.app.pipeline import build

from conftest import Site, article_text, good_fields, run_feeder
from feeds import parse_feed


def cold_build(site: Site, tmp_path: Path, now, name: str) -> dict[str, bytes]:
    cold = Site(tmp_path / name)
    shutil.copytree(site.content, cold.content, dirs_exist_ok=True)
    cold.settings = replace(site.settings, content_dir=cold.content, output_dir=cold.output, state_dir=cold.state)
    build(cold.settings, now=now)
    return cold.outputs()


def test_incremental_equals_cold_through_edits_moves_renames_and_deletions(site: Site, tmp_path: Path, now):
    topics = ["AI", "Space", "Climate", "Health"]
    for n in range(24):
        site.article(f"{topics[n % 4].lower()}/{n:03d}.txt", **good_fields(n, topics=[topics[n % 4]]))
    site.article("space/future.txt", **good_fields(99, topics=["Space"], publishedDateTime=now + timedelta(hours=2)))

    steps = {
        "initial": lambda: None,
        "edit a title": lambda: site.article("ai/000.txt", **good_fields(0, title="Edited title", topics=["AI"])),
        "move to a sub-folder": lambda: os.renames(site.content / "space/001.txt", site.content / "space/deep/001.txt"),
        "rename a file": lambda: os.rename(site.content / "climate/002.txt", site.content / "climate/002-renamed.txt"),
        "delete a file": lambda: (site.content / "health/003.txt").unlink(),
        "unpublish": lambda: site.article("ai/004.txt", **good_fields(4, topics=["AI"], published=False)),
        "add files": lambda: [site.article(f"new/{n}.md", "Body *text*.", **good_fields(n, topics=["Climate", "AI"]))
                              for n in range(50, 55)],
        "touch without change": lambda: os.utime(site.content / "ai/008.txt"),
        "break a file": lambda: (site.content / "space/009.txt").write_text("---\ntitle: [broken\n---\n"),
        "duplicate id": lambda: site.article("dupes/010.txt", **good_fields(77, topics=["Health"])),
        "change a topic": lambda: site.article("ai/012.txt", **good_fields(12, topics=["Space", "AI"])),
        "change the configuration": lambda: site.configure(max_items=5),
        "time passes": lambda: None,
    }
    clock = now
    for i, (name, change) in enumerate(steps.items()):
        change()
        if name == "time passes":
            clock = now + timedelta(hours=3)
        report = build(site.settings, now=clock)
        assert not report.unchanged, name
        assert site.outputs() == cold_build(site, tmp_path, clock, f"cold{i}"), name
    titles = {e.title for e in parse_feed(site.output / "topics/space/rss.xml").entries}
    assert "Article number 99" in titles  # the scheduled article appeared without any file changing


def test_rescan_with_nothing_changed_parses_and_renders_nothing(site: Site, now):
    for n in range(10):
        site.article(f"{n}.txt", **good_fields(n, topics=["AI", f"T{n % 3}"]))
    first = build(site.settings, now=now)
    assert first.parsed == 10 and first.rendered == 5
    mtimes = {p: p.stat().st_mtime_ns for p in site.output.rglob("*") if p.is_file()}
    again = build(site.settings, now=now + timedelta(minutes=5))
    assert again.unchanged and again.parsed == 0 and again.rendered == 0 and again.written == []
    assert again.summary() == first.summary().replace(f"{len(first.written)} files written", "0 files written")
    assert f"{len(first.written)} files written" in first.summary()
    assert {p: p.stat().st_mtime_ns for p in site.output.rglob("*") if p.is_file()} == mtimes


def test_one_change_renders_only_the_feeds_it_is_in(site: Site, now):
    for n in range(12):
        site.article(f"{n}.txt", **good_fields(n, topics=[f"T{n % 4}"]))
    build(site.settings, now=now)
    site.article("5.txt", **good_fields(5, title="Changed", topics=["T1"]))
    report = build(site.settings, now=now)
    assert report.parsed == 1
    assert report.rendered == 2  # the all-topics feed and T1
    assert sorted(report.written) == ["atom.xml", "feed.json", "index.html", "rss.xml",
                                      "topics/t1/atom.xml", "topics/t1/feed.json", "topics/t1/rss.xml"]


def test_deleted_output_files_are_written_again(site: Site, now):
    site.article("a.txt", **good_fields(1, topics=["AI"]))
    build(site.settings, now=now)
    (site.output / "topics/ai/atom.xml").unlink()
    report = build(site.settings, now=now)
    assert not report.unchanged
    assert (site.output / "topics/ai/atom.xml").exists()


def test_bad_files_are_reported_on_every_build(site: Site, now):
    site.article("a.txt", **good_fields(1))
    site.write("bad.txt", article_text(**good_fields(2, published="maybe")))
    first = build(site.settings, now=now)
    again = build(site.settings, now=now)
    assert again.unchanged
    assert [p.path for p in first.skipped] == [p.path for p in again.skipped] == ["bad.txt"]


def test_a_changed_timezone_reparses_everything(site: Site, now):
    site.write("a.txt", "---\ntitle: T\npublishedDateTime: 2024-01-01 12:00:00\n"
                        "originalUrl: https://example.org/a\npublished: true\n---\n")
    build(site.settings, now=now)
    before = parse_feed(site.output / "atom.xml").entries[0].published
    report = build(site.configure(timezone="America/New_York"), now=now)
    assert report.parsed == 1
    assert parse_feed(site.output / "atom.xml").entries[0].published != before


def test_the_landing_page_and_opml_are_made_again_only_when_what_they_show_changed(site: Site, tmp_path: Path,
                                                                                     now, monkeypatch):
    from feeder.render import landing

    made = []
    render_landing = landing.render_landing
    monkeypatch.setattr(landing, "render_landing", lambda *a, **kw: made.append(1) or render_landing(*a, **kw))
    for n in range(20):
        site.article(f"{n:02d}.txt", **good_fields(n, topics=["AI"]))
    build(site.settings, now=now)
    assert made == [1]
    # The 10th newest article is in both feeds but among no feed's five headlines.
    site.article("10.txt", **good_fields(10, title="Changed below the headlines", topics=["AI"]))
    report = build(site.settings, now=now)
    assert report.rendered == 2 and made == [1]
    assert site.outputs() == cold_build(site, tmp_path, now, "cold1")
    made.clear()
    # The newest is a headline: the landing page shows its new title.
    site.article("19.txt", **good_fields(19, title="A changed headline", topics=["AI"]))
    report = build(site.settings, now=now)
    assert "index.html" in report.written and made == [1]
    assert b"A changed headline" in (site.output / "index.html").read_bytes()
    assert site.outputs() == cold_build(site, tmp_path, now, "cold2")
    # A deleted landing page is made again even though nothing it shows changed.
    (site.output / "index.html").unlink()
    site.article("10.txt", **good_fields(10, title="Changed again", topics=["AI"]))
    assert "index.html" in build(site.settings, now=now).written
    assert site.outputs() == cold_build(site, tmp_path, now, "cold3")


def test_a_resident_build_reads_again_only_the_articles_that_changed(site: Site, tmp_path: Path, now, monkeypatch):
    """The daemon keeps its prepared items: one edit re-reads one file, and the output stays a cold build's."""
    from feeder.content import reader

    reads: list[str] = []
    parse_file = reader.parse_file
    monkeypatch.setattr(reader, "parse_file", lambda f, **kw: reads.append(f.rel) or parse_file(f, **kw))
    for n in range(20):
        site.article(f"{n:02d}.txt", **good_fields(n, topics=["AI", "Space"] if n % 2 else ["AI"]))
    build(site.settings, now=now, resident=True)
    steps = [
        lambda: site.article("07.txt", **good_fields(7, title="Edited", topics=["AI", "Space"])),
        lambda: site.article("new.txt", **good_fields(30, topics=["Space"])),
        lambda: (site.content / "12.txt").unlink(),
    ]
    for i, step in enumerate(steps):
        step()
        reads.clear()
        build(site.settings, now=now, resident=True)
        assert len(reads) <= 1, reads  # the changed file alone, parsed once for the scan and the feeds
        assert site.outputs() == cold_build(site, tmp_path, now, f"cold{i}")
    # What rendering depends on changed: every item is prepared again.
    site.configure(site=replace(site.settings.site, title="Renamed"))
    reads.clear()
    build(site.settings, now=now, resident=True)
    assert len(reads) >= 19
    assert site.outputs() == cold_build(site, tmp_path, now, "cold-renamed")


def test_a_rescan_that_finds_nothing_loads_neither_parser_nor_renderers(site: Site):
    """What keeps a cron run over an unchanged folder near the cost of listing it."""
    for n in range(3):
        site.article(f"{n}.txt", **good_fields(n))
    config = str(site.config_file())
    assert run_feeder("build", "-q", "--config", config).returncode == 0
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['feeder', 'build', '-q', '--config', {config!r}]\n"
        "try:\n"
        "    runpy.run_module('feeder', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert "feeder.content.catalog" in loaded  # the rescan ran in this process
    for heavy in ("feeder.model", "feeder.content.reader", "feeder.render.site", "feeder.selection.feeds",
                  "feedgen", "lxml", "httpx", "concurrent.futures.process"):
        assert heavy not in loaded, f"{heavy} loaded by a rescan that found nothing"
