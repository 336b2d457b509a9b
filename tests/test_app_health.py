"""/healthz: the Health rules on their own, and a real daemon whose output
folder becomes unusable and then recovers."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeder.app.health import Health

from conftest import Site, free_port, get_url, good_fields, open_state, wait_until

NOW = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


def healthy_site(tmp_path: Path) -> Health:
    (tmp_path / "out").mkdir()
    open_state(tmp_path / "state").close()
    return Health(tmp_path / "out", tmp_path / "state", rescan_interval=60)


@pytest.mark.sqlite_only
def test_health_rules(tmp_path: Path):
    health = healthy_site(tmp_path)
    first = health.check(NOW)
    assert first.status == 503 and first.body["reasons"] == ["no rescan has succeeded yet"]
    health.succeeded("rescan", NOW)
    ok = health.check(NOW + timedelta(seconds=119))
    assert ok.status == 200 and ok.body["status"] == "ok" and ok.body["last_success"] == NOW.isoformat()
    stale = health.check(NOW + timedelta(seconds=121))  # more than twice the interval
    assert stale.status == 503 and "more than twice the interval" in stale.body["reasons"][0]
    health.failed("rescan", NOW, "rescan failed: disk full")
    health.failed("rescan", NOW, "rescan failed: disk full")
    failing = health.check(NOW)
    assert failing.status == 503 and failing.body["reasons"] == [
        "the last 2 rescan round(s) failed: rescan failed: disk full"]
    health.succeeded("rescan", NOW)
    assert health.check(NOW).status == 200


def test_health_looks_at_the_output_folder_and_the_state_database(tmp_path: Path):
    health = healthy_site(tmp_path)
    health.succeeded("rescan", NOW)
    shutil.rmtree(tmp_path / "out")
    (tmp_path / "out").write_text("a file")
    assert any("output folder" in r for r in health.check(NOW).body["reasons"])
    (tmp_path / "out").unlink()
    (tmp_path / "out").mkdir()
    (tmp_path / "state" / "feeder.sqlite3").write_bytes(b"garbage" * 1000)
    report = health.check(NOW)
    assert report.status == 503 and any("cannot be used" in r for r in report.body["reasons"])


def test_a_daemon_answers_healthz_and_turns_503_while_the_output_folder_is_unusable(site: Site, tmp_path: Path,
                                                                                       daemons):
    site.article("a.txt", **good_fields(1))
    port = free_port()
    cfg = site.config_file({"schedule": {"rescan": "1s"}})
    d = daemons(cfg, tmp_path / "daemon.log", "--serve", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/healthz"
    _, headers, body = wait_until(lambda: (r := get_url(url))[0] == 200 and r, 20, "a healthy daemon")
    data = json.loads(body)
    assert data["status"] == "ok" and data["version"] and data["last_success"]
    assert set(data["next_round"]) == {"rescan", "sweep"}  # link checks are off, no source is followed
    assert headers["Cache-Control"] == "no-store" and headers["Content-Type"].startswith("application/json")
    assert get_url(url, "HEAD")[0] == 200
    # The output folder becomes a file: every round fails, and health says why.
    shutil.rmtree(site.output)
    site.output.write_text("not a folder")

    def failing():
        status, _, body = get_url(url)
        reasons = json.loads(body).get("reasons", [])
        return status == 503 and any("rescan round(s) failed" in r for r in reasons) and reasons

    reasons = wait_until(failing, 20, "a failing round")
    assert any("output folder" in r for r in reasons), reasons
    site.output.unlink()  # recovery: the next round recreates it
    wait_until(lambda: get_url(url)[0] == 200 and (site.output / "rss.xml").exists(), 20, "recovery")
    assert d.stop() == 0, d.text()[-4000:]


def test_metrics_and_health_can_move_or_be_turned_off(site: Site, tmp_path: Path, daemons):
    site.article("a.txt", **good_fields(1))
    feeds_port, admin_port = free_port(), free_port()
    cfg = site.config_file({"schedule": {"rescan": "1s"}, "serve": {"admin_listen": f"127.0.0.1:{admin_port}"}})
    d = daemons(cfg, tmp_path / "moved.log", "--serve", f"127.0.0.1:{feeds_port}")
    wait_until(lambda: get_url(f"http://127.0.0.1:{admin_port}/healthz")[0] == 200, 20, "the admin address")
    assert get_url(f"http://127.0.0.1:{admin_port}/metrics")[0] == 200
    assert get_url(f"http://127.0.0.1:{feeds_port}/rss.xml")[0] == 200
    assert get_url(f"http://127.0.0.1:{feeds_port}/metrics")[0] == 404  # not beside the public feeds
    assert get_url(f"http://127.0.0.1:{admin_port}/rss.xml")[0] == 404
    assert d.stop() == 0, d.text()[-4000:]
    port = free_port()
    cfg = site.config_file({"schedule": {"rescan": "1s"}, "serve": {"metrics": False}})
    d = daemons(cfg, tmp_path / "off.log", "--serve", f"127.0.0.1:{port}")
    wait_until(lambda: get_url(f"http://127.0.0.1:{port}/rss.xml")[0] == 200, 20, "the feeds")
    assert get_url(f"http://127.0.0.1:{port}/healthz")[0] == 404
    assert get_url(f"http://127.0.0.1:{port}/metrics")[0] == 404
    assert d.stop() == 0, d.text()[-4000:]
