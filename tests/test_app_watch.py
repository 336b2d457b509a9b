"""The daemon publishing from filesystem events, as a real process: every
kind of change reaches the feeds without a rescan, bursts become few rounds,
lost events lead to a sweep, and the result equals a cold build."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from feeder.model import item_id

from conftest import Site, article_text, good_fields, run_feeder, wait_until
from feeds import ids

# No periodic rescan or sweep could explain a change within these tests.
WATCHING = {"schedule": {"rescan": "1h", "sweep": "1d", "link_check": "1h", "watch": True}}


def feed_ids(site: Site) -> list[str]:
    return ids(site.output / "rss.xml")


def watching_daemon(site: Site, tmp_path: Path, daemons):
    d = daemons(site.config_file({**WATCHING, "feeds": {"max_items": 1000}}), tmp_path / "daemon.log", "-v")
    wait_until(lambda: "watching" in d.text() and (site.output / "rss.xml").exists(), 20, "the first sweep")
    return d


def test_every_kind_of_change_is_published_from_events(site: Site, tmp_path: Path, daemons):
    site.article("news/a.txt", **good_fields(1))
    site.article("news/b.txt", **good_fields(2))
    d = watching_daemon(site, tmp_path, daemons)
    assert sorted(feed_ids(site)) == sorted([item_id("a"), item_id("b")])

    site.article("news/c.txt", **good_fields(3))  # a new file
    wait_until(lambda: item_id("c") in feed_ids(site), 10, "a new file")
    site.article("news/a.txt", **good_fields(1, title="Edited in place"))  # an edit in place
    wait_until(lambda: b"Edited in place" in (site.output / "rss.xml").read_bytes(), 10, "an edit")
    tmp = site.content / "news" / ".b.txt.swp"  # an editor's atomic save: write, then rename
    tmp.write_text(article_text(**good_fields(2, title="Saved atomically")))
    os.replace(tmp, site.content / "news" / "b.txt")
    wait_until(lambda: b"Saved atomically" in (site.output / "rss.xml").read_bytes(), 10, "an atomic save")
    (site.content / "news" / "c.txt").unlink()  # a delete
    wait_until(lambda: item_id("c") not in feed_ids(site), 10, "a delete")
    (site.content / "archive").mkdir()
    os.rename(site.content / "news" / "b.txt", site.content / "archive" / "b.txt")  # a move between folders
    site.article("archive/b.txt", **good_fields(2, title="Moved and edited"))
    wait_until(lambda: b"Moved and edited" in (site.output / "rss.xml").read_bytes(), 10, "a move")
    outside = tmp_path / "batch"
    outside.mkdir()
    for n in (10, 11):
        (outside / f"{n}.txt").write_text(article_text(**good_fields(n)))
    os.rename(outside, site.content / "batch")  # a whole folder moved in
    wait_until(lambda: {item_id("10"), item_id("11")} <= set(feed_ids(site)), 10, "a folder moved in")
    os.rename(site.content / "batch", tmp_path / "batch-out")  # and out
    wait_until(lambda: not {item_id("10"), item_id("11")} & set(feed_ids(site)), 10, "a folder moved out")
    assert d.text().count("feeder.app.daemon: rescan:") == 1  # the first, a sweep: every other round was events
    assert d.text().count("feeder.app.daemon: watch:") >= 4  # seven changes; some may share a round

    cold = Site(tmp_path / "cold")
    shutil.rmtree(cold.content)
    shutil.copytree(site.content, cold.content)
    assert run_feeder("build", "-q", "--config", str(cold.config_file({"feeds": {"max_items": 1000}}))).returncode == 0
    # The feed shows the last change before the round ends (the landing page
    # and the OPML file come after it): wait for the round, not only the feed.
    wait_until(lambda: site.outputs() == cold.outputs(), 10, "the last round to finish")
    assert d.stop() == 0, d.text()[-4000:]
    assert site.outputs() == cold.outputs()


def test_a_burst_of_saves_becomes_a_few_rounds(site: Site, tmp_path: Path, daemons):
    site.article("a.txt", **good_fields(1))
    d = watching_daemon(site, tmp_path, daemons)
    rounds_before = d.text().count("feeder.app.daemon: watch:")
    for n in range(500):
        site.article(f"burst/{n:03d}.txt", **good_fields(100 + n))
    wait_until(lambda: len(feed_ids(site)) == 501, 30, "all 500 published")
    rounds = d.text().count("feeder.app.daemon: watch:") - rounds_before
    assert 1 <= rounds <= 25, rounds
    assert d.stop() == 0, d.text()[-4000:]


def test_lost_events_lead_to_a_sweep(site: Site, tmp_path: Path, daemons):
    site.article("a.txt", **good_fields(1))
    site.article("b.txt", **good_fields(2))
    d = watching_daemon(site, tmp_path, daemons)
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    d.signal(signal.SIGSTOP)  # the daemon reads nothing while the kernel's queue fills up
    try:
        wait_until(lambda: all("T (stopped)" in (task / "status").read_text()
                               for task in Path(f"/proc/{d.proc.pid}/task").iterdir()), 10, "a stopped daemon")
        a, b = site.content / "a.txt", site.content / "b.txt"
        for i in range(limit // 2 + 200):
            os.utime(a, (i, 1_700_000_000 + i))
            os.utime(b, (i, 1_700_000_000 + i))
        site.article("late.txt", **good_fields(3))  # its event is dropped: only a sweep finds it
    finally:
        d.signal(signal.SIGCONT)
    wait_until(lambda: item_id("late") in feed_ids(site), 30, "the sweep")
    assert "filesystem events were lost" in d.text()
    assert d.stop() == 0, d.text()[-4000:]


def test_without_events_the_daemon_says_so_and_rescans(site: Site, tmp_path: Path, daemons):
    site.article("a.txt", **good_fields(1))
    cfg = site.config_file({"schedule": {"rescan": "1s", "watch": False}})
    d = daemons(cfg, tmp_path / "daemon.log", "-v")
    wait_until(lambda: (site.output / "rss.xml").exists(), 20, "the first rescan")
    site.article("b.txt", **good_fields(2))
    wait_until(lambda: item_id("b") in feed_ids(site), 10, "a rescan")
    assert "watching" not in d.text()
    assert d.stop() == 0, d.text()[-4000:]
