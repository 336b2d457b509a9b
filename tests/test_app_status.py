"""`feeder status` says what the state database holds, without the lock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feeder.model import LinkRecord, LinkResult, Verdict
from feeder.storage.lock import BuildLock
from feeder.storage.state import SourceRow

from conftest import Site, good_fields, open_state, run_feeder

T0 = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


def test_status_before_any_build(site: Site):
    proc = run_feeder("status", "--config", str(site.config_file()))
    assert proc.returncode == 0 and "no build has run yet" in proc.stdout
    assert json.loads(run_feeder("status", "--json", "--config", str(site.config_file())).stdout)["built"] is False


def test_status_json_matches_the_state_database_and_needs_no_lock(site: Site, tmp_path: Path):
    site.article("a.txt", **good_fields(1, topics=["AI"]))
    site.article("b.txt", **good_fields(2, topics=["Space"]))
    site.article("draft.txt", **good_fields(3, published=False))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    cfg = site.config_file()
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    with open_state(site.state) as state:
        state.save_link_records([
            LinkRecord(LinkResult("https://news.example.org/1", Verdict.DEAD, "not-found", T0, 404), T0,
                       T0 + timedelta(days=1), dead_count=1, first_dead_at=T0 - timedelta(days=2)),
            LinkRecord(LinkResult("https://news.example.org/2", Verdict.UNKNOWN, "timeout", T0), T0 - timedelta(days=1),
                       T0 + timedelta(hours=1), unknown_count=3),
        ])
        state.save_source(SourceRow("blog", "https://blog.example/feed", "https://blog.example/feed",
                                    failures=2, last_error="http-500", next_fetch=T0.isoformat()))
        state.set_meta("next_rounds", json.dumps({"rescan": T0.isoformat()}))
    with BuildLock(site.state, timeout=1):  # a build (or the daemon) holds the lock: status still answers
        proc = run_feeder("status", "--json", "--config", str(cfg), timeout=20)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    db = open_state(site.state).conn
    assert data["files"] == db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 4
    assert data["articles"] == 3 and data["published"] == 2 and data["skipped"] == 1
    last = json.loads(db.execute("SELECT value FROM meta WHERE key = 'last_build'").fetchone()[0])
    assert data["last_build"] == last and last["outcome"] == "published"
    assert data["next_rounds"] == {"rescan": T0.isoformat()}
    assert data["links"]["dead"] == {"count": 1, "oldest_url": "https://news.example.org/1",
                                     "oldest_since": (T0 - timedelta(days=2)).isoformat()}
    assert data["links"]["unknown"]["count"] == 1
    assert data["sources_with_errors"] == [{"source": "blog", "url": "https://blog.example/feed",
                                            "error": "http-500", "failures": 2, "next_fetch": T0.isoformat()}]
    feeds = {f["slug"]: f for f in data["feeds"]}
    assert feeds[""]["items"] == 2 and feeds["ai"]["items"] == 1 and feeds["space"]["items"] == 1
    assert feeds[""]["newest"] == "2024-01-03T00:00:00+00:00"
    text = run_feeder("status", "--config", str(cfg)).stdout
    assert "last build:" in text and "dead URLs: 1 (oldest since" in text and "source https://blog.example/feed" in text
