"""The content folder's watcher on its own: which paths each kind of change
names, folders appearing and vanishing, and a lost-events signal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from feeder.content.watch import Changes, Watcher, network_filesystem

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


@pytest.fixture
def folder(tmp_path: Path):
    root = tmp_path / "content"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("one")
    (root / ".git").mkdir()
    return root


@pytest.fixture
def watcher(folder: Path):
    w = Watcher(folder)
    yield w
    w.close()


def settle(w: Watcher) -> Changes:
    changes = Changes()
    while part := w.read(timeout=0.5):
        changes.merge(part)
    return changes


def test_files_created_edited_saved_atomically_deleted_and_moved(folder: Path, watcher: Watcher):
    assert watcher.folders == 2  # the root and a/, not .git
    (folder / "a" / "two.md").write_text("two")
    assert settle(watcher).files == {"a/two.md"}
    (folder / "a" / "one.txt").write_text("edited")
    assert settle(watcher).files == {"a/one.txt"}
    (folder / "a" / ".one.txt.tmp").write_text("saved")  # an editor's atomic save
    os.replace(folder / "a" / ".one.txt.tmp", folder / "a" / "one.txt")
    assert settle(watcher).files == {"a/one.txt"}
    (folder / "b").mkdir()
    changes = settle(watcher)
    assert changes.folders == {"b"} and not changes.files
    os.rename(folder / "a" / "two.md", folder / "b" / "two.md")
    assert settle(watcher).files == {"a/two.md", "b/two.md"}
    (folder / "b" / "two.md").unlink()
    assert settle(watcher).files == {"b/two.md"}
    (folder / "notes.rst").write_text("not an article")
    (folder / ".git" / "x.txt").write_text("hidden")
    assert not settle(watcher)


def test_folders_moved_in_and_out(folder: Path, tmp_path: Path, watcher: Watcher):
    outside = tmp_path / "incoming"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "x.txt").write_text("x")
    os.rename(outside, folder / "incoming")
    changes = settle(watcher)
    assert changes.folders == {"incoming"}
    (folder / "incoming" / "deep" / "y.txt").write_text("y")  # its subfolders are watched too
    assert settle(watcher).files == {"incoming/deep/y.txt"}
    os.rename(folder / "incoming", tmp_path / "gone")
    assert settle(watcher).gone_folders == {"incoming"}
    (tmp_path / "gone" / "deep" / "z.txt").write_text("z")  # moved out: no longer ours
    assert not settle(watcher)
    shutil.rmtree(folder / "a")
    assert "a" in settle(watcher).gone_folders


def test_an_overflowing_event_queue_is_reported_as_lost_events(folder: Path, watcher: Watcher):
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    one, two = folder / "a" / "one.txt", folder / "a" / "two.txt"
    two.write_text("two")
    for i in range(limit // 2 + 10):  # alternate, so that the kernel cannot merge them
        os.utime(one, (i, i))
        os.utime(two, (i, i))
    assert settle(watcher).lost


def test_a_local_folder_is_not_a_network_filesystem(tmp_path: Path):
    assert network_filesystem(tmp_path) is None


@pytest.mark.parametrize("how", ["deleted", "moved"])
def test_a_content_folder_that_goes_away_is_watched_again_when_it_is_back(folder: Path, tmp_path: Path,
                                                                         watcher: Watcher, how: str):
    if how == "deleted":
        shutil.rmtree(folder)
    else:
        os.rename(folder, tmp_path / "old")
    changes = settle(watcher)
    assert changes.root_gone and not changes.root_back
    assert watcher.missing and watcher.folders == 0
    assert not settle(watcher)  # quiet until it is back
    if how == "moved":
        (tmp_path / "old" / "a" / "late.txt").write_text("not ours any more")
        assert not settle(watcher)
    folder.mkdir()
    (folder / "new.txt").write_text("new")
    changes = settle(watcher)
    assert changes.root_back and changes.lost and not watcher.missing
    (folder / "later.md").write_text("later")
    assert settle(watcher).files == {"later.md"}


def test_a_folder_replaced_through_its_parent_is_watched_anew(tmp_path: Path):
    parent = tmp_path / "site"
    (parent / "content").mkdir(parents=True)
    w = Watcher(parent / "content")
    try:
        os.rename(parent, tmp_path / "site-old")  # the content folder's own watch sees no event
        (parent / "content").mkdir(parents=True)
        changes = settle(w)
        assert changes.root_back and changes.lost
        (parent / "content" / "x.md").write_text("x")
        (tmp_path / "site-old" / "content" / "y.md").write_text("y")  # the old one is not ours
        assert settle(w).files == {"x.md"}
    finally:
        w.close()
