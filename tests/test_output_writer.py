import os
import stat
import threading
from pathlib import Path

import pytest

from feeder.errors import OutputError
from feeder.output.atomic import FILE_MODE
from feeder.output.writer import Publisher

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


def test_write_creates_folders_and_reports_changes(tmp_path):
    pub = Publisher(tmp_path / "out")
    pub.prepare()
    assert pub.write("topics/ai/rss.xml", b"one") is True
    assert (tmp_path / "out/topics/ai/rss.xml").read_bytes() == b"one"
    assert pub.write("topics/ai/rss.xml", b"one") is False
    assert pub.write("topics/ai/rss.xml", b"two") is True
    assert pub.written == ["topics/ai/rss.xml", "topics/ai/rss.xml"]


def test_unchanged_bytes_keep_the_modification_time(tmp_path):
    pub = Publisher(tmp_path)
    pub.write("a.xml", b"same")
    path = tmp_path / "a.xml"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    pub.write("a.xml", b"same")
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_published_files_get_ordinary_permissions(tmp_path):
    pub = Publisher(tmp_path)
    pub.write("a.xml", b"x")
    assert stat.S_IMODE((tmp_path / "a.xml").stat().st_mode) == FILE_MODE
    assert FILE_MODE & stat.S_IROTH or FILE_MODE & stat.S_IRGRP


@pytest.mark.parametrize("rel", ["../escape.xml", "/etc/passwd", "a/../../b.xml", ""])
def test_paths_outside_the_folder_are_refused(tmp_path, rel):
    pub = Publisher(tmp_path / "out")
    pub.prepare()
    with pytest.raises(OutputError):
        pub.write(rel, b"x")
    assert not (tmp_path / "escape.xml").exists()


def test_symlinked_folder_out_of_the_output_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "topics").symlink_to(outside)
    with pytest.raises(OutputError, match="outside the output folder"):
        Publisher(tmp_path / "out").write("topics/x.xml", b"x")
    assert list(outside.iterdir()) == []


def test_leftover_temporaries_are_removed_and_none_are_left(tmp_path):
    (tmp_path / "topics").mkdir()
    (tmp_path / "topics" / ".feeder-rss.xml.abc.tmp").write_bytes(b"half a fe")
    (tmp_path / "keep.tmp").write_bytes(b"not ours")
    pub = Publisher(tmp_path)
    pub.prepare()
    pub.write("topics/rss.xml", b"whole")
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["keep.tmp", "rss.xml", "rss.xml.gz", "topics"]


def test_readers_never_see_a_partial_file(tmp_path):
    pub = Publisher(tmp_path)
    versions = [bytes([65 + i]) * 200_000 for i in range(4)]
    pub.write("feed.xml", versions[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            seen.add((tmp_path / "feed.xml").read_bytes())

    t = threading.Thread(target=reader)
    t.start()
    for i in range(40):
        pub.write("feed.xml", versions[i % 4])
    stop.set()
    t.join()
    assert seen <= set(versions)


def test_unwritable_output_is_an_output_error(tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits; a file in place of the folder fails for everyone
        (tmp_path / "out").write_text("a file, not a folder")
        with pytest.raises(OutputError):
            Publisher(tmp_path / "out").prepare()
        return
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            Publisher(out).prepare()
    finally:
        out.chmod(0o700)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    pub = Publisher(tmp_path)
    pub.write("feed.xml", b"old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OutputError, match="no space left"):
        pub.write("feed.xml", b"new")
    assert (tmp_path / "feed.xml").read_bytes() == b"old"
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["feed.xml", "feed.xml.gz"]


def test_a_gzip_copy_is_kept_beside_each_file_and_is_deterministic(tmp_path):
    import gzip

    pub = Publisher(tmp_path)
    pub.write("topics/ai/rss.xml", b"<rss>one</rss>")
    first = (tmp_path / "topics/ai/rss.xml.gz").read_bytes()
    assert gzip.decompress(first) == b"<rss>one</rss>"
    (tmp_path / "topics/ai/rss.xml.gz").unlink()
    assert pub.write("topics/ai/rss.xml", b"<rss>one</rss>") is False  # unchanged, but the copy comes back
    assert (tmp_path / "topics/ai/rss.xml.gz").read_bytes() == first
    pub.write("topics/ai/rss.xml", b"<rss>two</rss>")
    assert gzip.decompress((tmp_path / "topics/ai/rss.xml.gz").read_bytes()) == b"<rss>two</rss>"


def test_write_many_puts_every_file_in_place_and_reports_each(tmp_path):
    import gzip

    pub = Publisher(tmp_path)
    files = {"t/rss.xml": b"<rss/>", "t/atom.xml": b"<feed/>", "t/feed.json": b"{}"}
    assert pub.write_many(files) == [True, True, True]
    for rel, data in files.items():
        assert (tmp_path / rel).read_bytes() == data
        assert gzip.decompress((tmp_path / f"{rel}.gz").read_bytes()) == data
    assert pub.write_many({**files, "t/feed.json": b"{ }"}) == [False, False, True]
    assert pub.written == [*files, "t/feed.json"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_files_written_in_the_background_are_in_place_before_then_runs(tmp_path):
    pub = Publisher(tmp_path)
    seen: list[tuple[str, bytes]] = []

    def then(rel: str):
        return lambda: seen.append((rel, (tmp_path / rel).read_bytes()))  # what is on disk when recorded

    with pub.in_background():
        pub.write_later({"a/rss.xml": b"A", "a/atom.xml": b"A2"}, then=then("a/atom.xml"))
        pub.write_later({"b/rss.xml": b"B", "b/atom.xml": b"B2"}, then=then("b/atom.xml"))
        assert seen == [("a/atom.xml", b"A2")]  # b's files may still be on their way: not recorded yet
        pub.write("index.html", b"page")  # any other write waits for them first
        assert seen == [("a/atom.xml", b"A2"), ("b/atom.xml", b"B2")]
    assert pub.written == ["a/rss.xml", "a/atom.xml", "b/rss.xml", "b/atom.xml", "index.html"]


def test_a_failed_background_write_is_raised_and_never_recorded(tmp_path):
    pub = Publisher(tmp_path)
    (tmp_path / "b").write_text("a file where a folder must be")
    recorded = []
    with pytest.raises(OutputError) as caught, pub.in_background():
        pub.write_later({"a/rss.xml": b"A", "a/atom.xml": b"A"}, then=lambda: recorded.append("a"))
        pub.write_later({"b/rss.xml": b"B", "b/atom.xml": b"B"}, then=lambda: recorded.append("b"))
    assert "cannot write" in str(caught.value) and "b/rss.xml" in str(caught.value)
    assert recorded == ["a"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_stop_comes_between_feeds(tmp_path):
    from feeder.errors import Cancelled

    cancel = threading.Event()
    pub = Publisher(tmp_path, cancel)
    recorded = []
    with pytest.raises(Cancelled), pub.in_background():
        pub.write_later({"a/rss.xml": b"A", "a/atom.xml": b"A"}, then=lambda: recorded.append("a"))
        cancel.set()
        pub.write_later({"b/rss.xml": b"B", "b/atom.xml": b"B"}, then=lambda: recorded.append("b"))
    assert recorded == ["a"]  # the feed already handed over is finished and recorded
    assert (tmp_path / "a/atom.xml").read_bytes() == b"A" and not (tmp_path / "b").exists()


def test_bulk_writes_put_files_in_place_together(tmp_path):
    import gzip

    pub = Publisher(tmp_path)
    pub.write("archive/2025-01/rss.xml", b"old")
    done: list[str] = []
    with pub.bulk():
        pub.write_bulk({"archive/2025-01/rss.xml": b"new", "archive/2025-02/rss.xml": b"feb"},
                       then=lambda: done.append("one"))
        # Not in place yet: made durable and renamed together on the way out.
        assert (tmp_path / "archive/2025-01/rss.xml").read_bytes() == b"old"
        assert not (tmp_path / "archive/2025-02/rss.xml").exists()
        assert done == []
        pub.write_bulk({"archive/2025-03/rss.xml": b"mar"}, then=lambda: done.append("two"))
    assert done == ["one", "two"]
    assert (tmp_path / "archive/2025-01/rss.xml").read_bytes() == b"new"
    assert gzip.decompress((tmp_path / "archive/2025-02/rss.xml.gz").read_bytes()) == b"feb"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".feeder-")]
    assert pub.written[1:] == ["archive/2025-01/rss.xml", "archive/2025-02/rss.xml", "archive/2025-03/rss.xml"]


def test_a_failed_bulk_leaves_the_old_files_no_temporary_and_nothing_recorded(tmp_path):
    pub = Publisher(tmp_path)
    pub.write("a/rss.xml", b"old")
    done: list[str] = []
    with pytest.raises(RuntimeError), pub.bulk():
        pub.write_bulk({"a/rss.xml": b"new"}, then=lambda: done.append("a"))
        raise RuntimeError("stopped")
    assert (tmp_path / "a/rss.xml").read_bytes() == b"old"
    assert done == []
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".feeder-")]
    with pytest.raises(OutputError):
        with pub.bulk():
            pub.write_bulk({"../escape.xml": b"x"}, then=lambda: None)
