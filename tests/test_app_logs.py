"""Logs: readable text by default, one JSON object per line on request, and
never a secret in either."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SECRET, Site, good_fields, run_feeder, wait_until


def json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line parses, or this fails


def test_a_daemon_logging_json_writes_one_object_per_line(site: Site, tmp_path: Path, daemons):
    site.article("a.txt", **good_fields(1))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    cfg = site.config_file({"schedule": {"rescan": "1s"}, "log": {"format": "json"}})
    d = daemons(cfg, tmp_path / "daemon.log", "-vv")
    wait_until(lambda: sum('"round": "rescan"' in line for line in d.text().splitlines()) >= 2, 20, "two rounds")
    assert d.stop() == 0, d.text()[-4000:]
    entries = json_lines(d.text())
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    rounds = [e for e in entries if e.get("round") == "rescan"]
    assert rounds and all(e["logger"] == "feeder.app.daemon" for e in rounds)
    skipped = [e for e in entries if e.get("path") == "bad.txt"]
    assert skipped and skipped[0]["level"] == "DEBUG"
    assert SECRET not in d.text()


def test_commands_log_json_too_and_problems_are_records(site: Site):
    site.article("a.txt", **good_fields(1))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    proc = run_feeder("build", "-q", "-vv", "--log-format", "json", "--config", str(site.config_file()))
    assert proc.returncode == 0
    entries = json_lines(proc.stderr)
    [problem] = [e for e in entries if e.get("path") == "bad.txt"]
    assert problem["level"] == "WARNING" and problem["message"].startswith("skipped bad.txt: field 'title'")
    assert SECRET not in proc.stderr and SECRET not in proc.stdout
    text = run_feeder("build", "-vv", "--config", str(site.config_file()))
    assert "feeder: skipped bad.txt" in text.stderr and SECRET not in text.stderr + text.stdout
