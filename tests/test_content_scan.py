"""The scan of the content folder: GNU find's listing finds exactly what the
Python walk finds, and its fingerprint changes whenever a file does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feeder.content import scan
from feeder.content.scan import scan_folder, scan_listing

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "#lock").mkdir()
    for rel in ("a/1.txt", "a/b/2.MD", "a/.dot.txt", "a/backup.txt~", ".hidden/3.txt", "#lock/4.txt", "#top.txt",
                "a/notes.rst", "a/with space.txt", "a/new\\nline.txt", "a/ünï.md"):
        (root / rel).write_text("x")
    os.symlink(root / "a" / "1.txt", root / "link.txt")  # a link to a file counts, as its target
    os.symlink(root / "a", root / "folder-link.txt")  # a link to a folder does not
    os.symlink(root / "nowhere", root / "broken.txt")
    return root


def test_find_lists_what_the_walk_lists(tree: Path):
    assert scan._gnu_find() is not None  # this machine has GNU find: the fast path is the one tested
    listing = scan_listing(tree)
    assert listing.files == scan_folder(tree)
    assert [f.rel for f in listing.files] == ["a/1.txt", "a/b/2.MD", "a/new\\nline.txt", "a/with space.txt",
                                              "a/ünï.md", "link.txt"]
    st = os.stat(tree / "a" / "1.txt")
    [one] = [f for f in listing.files if f.rel == "a/1.txt"]
    assert (one.size, one.mtime_ns) == (st.st_size, st.st_mtime_ns)  # to the nanosecond


def test_a_file_dated_before_1970_is_listed_too(tree: Path):
    old = tree / "a" / "old.txt"
    old.write_text("x")
    os.utime(old, ns=(0, -1_500_000_000))  # find prints a time its usual pattern does not take
    listing = scan_listing(tree)
    assert listing.files == scan_folder(tree)
    assert "a/old.txt" in [f.rel for f in listing.files]


def test_the_fingerprint_changes_with_any_file(tree: Path):
    first = scan_listing(tree).fingerprint
    assert scan_listing(tree).fingerprint == first
    path = tree / "a" / "1.txt"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))  # one nanosecond later
    touched = scan_listing(tree).fingerprint
    assert touched != first
    (tree / "a" / "b" / "new.txt").write_text("new")
    assert scan_listing(tree).fingerprint not in (first, touched)
    (tree / ".hidden" / "more.txt").write_text("in a dot-folder: never listed")
    (tree / "a" / "b" / "new.txt").unlink()
    assert scan_listing(tree).fingerprint == touched


def test_a_missing_folder_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        scan_listing(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        scan_listing(tmp_path / "file")
