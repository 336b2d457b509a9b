"""The published feeds equal a cold build of what is there now, whatever ran
before: the four ways they once fell behind, each through the real command
line or daemon."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
import yaml

from feeder.model import item_id

from conftest import Site, free_port, get_url, good_fields, run_feeder, wait_until
from feeds import ids, parse_feed
from httpserver import Reply


def feed_ids(site: Site, rel: str = "rss.xml") -> list[str]:
    return ids(site.output / rel)


@pytest.fixture
def alive(http_server):
    """Every URL under /a/ answers 200: link checks find each article alive."""
    http_server.default = Reply(200, {"Content-Type": "text/html"}, b"<p>here</p>")
    return http_server


def linked_config(site: Site, server, extra: dict | None = None) -> Path:
    links = {"enabled": True, "allow_private": True, "budget": "20s", "system_dns": False, "retries": 0}
    return site.config_file({"links": links, **(extra or {})})


def test_a_check_between_an_edit_and_a_build_does_not_hide_the_edit(site: Site, alive):
    url = lambda n: alive.url(f"/a/{n}")  # noqa: E731
    for n in (1, 2, 3):
        site.article(f"ai/{n}.md", **good_fields(n, originalUrl=url(n), webUrl=url(n)))
    cfg = linked_config(site, alive)
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    assert sorted(feed_ids(site)) == sorted(item_id(str(n)) for n in (1, 2, 3))

    # Withdrawn, then `feeder check` (which rescans the folder) before the build.
    site.article("ai/2.md", **good_fields(2, originalUrl=url(2), webUrl=url(2), published=False))
    assert run_feeder("check", "-q", "--config", str(cfg)).returncode == 0
    built = run_feeder("build", "--config", str(cfg))
    assert built.returncode == 0, built.stderr
    assert item_id("2") not in feed_ids(site)
    assert item_id("2") not in ids(site.output / "topics" / "ai" / "rss.xml")
    assert "2 published" in built.stdout

    # A delete behaves the same.
    (site.content / "ai" / "3.md").unlink()
    assert run_feeder("check", "-q", "--config", str(cfg)).returncode == 0
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    assert feed_ids(site) == [item_id("1")]
    status = run_feeder("status", "--json", "--config", str(cfg))
    assert yaml.safe_load(status.stdout)["published"] == 1


def test_a_failed_watch_round_owes_the_changes_its_events_named(site: Site, tmp_path: Path, daemons):
    site.article("a.md", **good_fields(1))
    cfg = site.config_file({"schedule": {"rescan": "1s", "sweep": "1d", "watch": True}})
    d = daemons(cfg, tmp_path / "daemon.log", "-v")
    wait_until(lambda: "watching" in d.text() and (site.output / "rss.xml").exists(), 20, "the first sweep")
    aside = tmp_path / "feeds-aside"
    site.output.rename(aside)
    site.output.write_text("a file where the output folder should be")  # not writable as a folder
    site.article("b.md", **good_fields(2))
    wait_until(lambda: "watch failed" in d.text(), 10, "the watch round to fail")
    wait_until(lambda: d.text().count("rescan failed") >= 1, 10, "a rescan to fail too")
    site.output.unlink()
    aside.rename(site.output)
    wait_until(lambda: item_id("b") in feed_ids(site), 10, "the owed change to be published")
    assert d.stop() == 0, d.text()[-4000:]


@pytest.mark.parametrize("how", ["deleted", "moved"])
def test_a_content_folder_deleted_or_moved_and_made_again_is_watched_again(site: Site, tmp_path: Path, daemons,
                                                                          how: str):
    site.article("a.md", **good_fields(1))
    port = free_port()
    cfg = site.config_file({"schedule": {"rescan": "1h", "sweep": "1d", "watch": True}})
    d = daemons(cfg, tmp_path / "daemon.log", "-v", "--serve", f"127.0.0.1:{port}")
    wait_until(lambda: "watching" in d.text() and (site.output / "rss.xml").exists(), 20, "the first sweep")
    assert feed_ids(site) == [item_id("a")]
    if how == "deleted":
        shutil.rmtree(site.content)
    else:
        site.content.rename(tmp_path / "old-content")
    _, _, body = wait_until(lambda: (r := get_url(f"http://127.0.0.1:{port}/healthz"))[0] == 503 and r,
                                 10, "/healthz to report the missing folder")
    assert b"content folder" in body
    assert feed_ids(site) == [item_id("a")]  # nothing published is withdrawn meanwhile
    site.content.mkdir()
    site.article("b.md", **good_fields(2))
    wait_until(lambda: feed_ids(site) == [item_id("b")], 10, "the new folder's article")
    if how == "moved":  # the old folder lives on elsewhere: its changes are not ours
        site.write("../old-content/c.md", (tmp_path / "old-content" / "a.md").read_text())
    wait_until(lambda: get_url(f"http://127.0.0.1:{port}/healthz")[0] == 200, 10, "/healthz to recover")
    log = d.text()
    assert "overflowed" not in log
    assert "content folder" in log and "watching it again" in log
    site.article("c2.md", **good_fields(3))
    wait_until(lambda: item_id("c2") in feed_ids(site), 10, "a later change")
    assert item_id("c") not in feed_ids(site)
    assert d.stop() == 0, d.text()[-4000:]


def test_sighup_applies_every_setting_at_once(site: Site, tmp_path: Path, daemons):
    site.article("a.md", **good_fields(1))
    port = free_port()
    cfg = site.config_file({"schedule": {"rescan": "5m", "watch": True}})
    d = daemons(cfg, tmp_path / "daemon.log", "-v", "--serve", f"127.0.0.1:{port}")
    rss = site.output / "rss.xml"
    wait_until(lambda: rss.exists() and get_url(f"http://127.0.0.1:{port}/rss.xml")[0] == 200, 20, "the first sweep")
    assert get_url(f"http://127.0.0.1:{port}/rss.xml")[1]["Cache-Control"] == "max-age=300"
    data = yaml.safe_load(cfg.read_text())
    data["site"]["title"] = "Renamed Site"
    data["serve"] = {"max_age": "10m"}
    data["state_dir"] = str(tmp_path / "another-state")  # needs a restart: named, and the old one kept
    cfg.write_text(yaml.safe_dump(data))
    d.signal(signal.SIGHUP)
    wait_until(lambda: parse_feed(rss).feed.title == "Renamed Site", 10, "the new title")
    assert get_url(f"http://127.0.0.1:{port}/rss.xml")[1]["Cache-Control"] == "max-age=600"
    reloaded = [line for line in d.text().splitlines() if "configuration reloaded" in line]
    assert reloaded and "state_dir" in reloaded[-1], d.text()[-3000:]
    assert not (tmp_path / "another-state").exists()
    assert d.stop() == 0, d.text()[-4000:]
