"""Golden output: a fixed content folder must build to the committed feeds.

Any change to rendering shows up here as a diff against tests/golden/expected.
When a change is intended, regenerate with:

    FEEDER_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from feeder.app.pipeline import build
from feeder.config import load_config

from conftest import public_files
from feeds import parse_feed

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _build(tmp_path: Path) -> dict[str, bytes]:
    shutil.copytree(GOLDEN / "content", tmp_path / "content")
    shutil.copy(GOLDEN / "feeder.yaml", tmp_path / "feeder.yaml")
    build(load_config(tmp_path / "feeder.yaml"), now=NOW)
    out = tmp_path / "out"
    files = public_files(out)
    for rel in [r for r in files if r.endswith(".gz")]:  # derived copies: checked, not committed
        assert gzip.decompress(files.pop(rel)) == files[rel[:-3]]
    return files


def test_build_matches_the_committed_feeds(tmp_path):
    actual = _build(tmp_path)
    expected_dir = GOLDEN / "expected"
    if os.environ.get("FEEDER_UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, data in actual.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_bytes(data)
    expected = {p.relative_to(expected_dir).as_posix(): p.read_bytes()
                for p in sorted(expected_dir.rglob("*")) if p.is_file()}
    assert sorted(actual) == sorted(expected)
    for rel in expected:
        assert actual[rel].decode() == expected[rel].decode(), rel
    for rel in actual:
        if rel.endswith((".xml", ".opml")):
            parse_feed(tmp_path / "out" / rel)
    assert all(b"golden-secret" not in data for data in actual.values())
