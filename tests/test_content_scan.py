"""The scan of the content folder: GNU find's listing finds exactly what the
Python walk finds, and its fingerprint changes whenever a file does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


def test_a_listing_started_ahead_is_the_listing(tree: Path):
    pending = scan.start_listing(tree)
    assert pending is not None
    ahead = scan_listing(tree, pending)
    assert ahead.raw is not None and ahead.files == scan_folder(tree)
    assert scan_listing(tree).fingerprint == ahead.fingerprint
    assert pending.result() is None  # used once: the next scan lists the folder again


def test_a_listing_started_for_another_folder_is_not_used(tree: Path, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "elsewhere.txt").write_text("x")
    with scan.start_listing(other) as pending:
        assert scan_listing(tree, pending).files == scan_folder(tree)
        assert [f.rel for f in scan_listing(other, pending).files] == ["elsewhere.txt"]


def test_a_listing_never_asked_for_is_stopped_and_reaped(tmp_path: Path):
    root = tmp_path / "big"
    for i in range(50):
        (root / f"d{i}").mkdir(parents=True)
        for j in range(40):
            (root / f"d{i}" / f"{j}.txt").write_text("x")
    pending = scan.start_listing(root)
    assert pending is not None
    pids = [proc.pid for proc, _ in pending._runs]
    pending.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):  # reaped: no zombie is left behind
            os.waitpid(pid, os.WNOHANG)
    assert pending.result() is None
    pending.close()  # twice is harmless


@pytest.mark.parametrize("ways", [2, 3, 4])
def test_finds_dividing_the_folder_list_what_one_find_lists(tree: Path, monkeypatch, ways: int):
    for name in ("b", "c d", "e\\nf", "#g", "h~"):
        (tree / name / "deeper").mkdir(parents=True)
        (tree / name / "deeper" / "x.txt").write_text("x")
        (tree / name / "y.md").write_text("y")
    monkeypatch.setattr(scan, "cpus", lambda: 1)
    one = scan_listing(tree)
    monkeypatch.setattr(scan, "cpus", lambda: ways)
    assert scan._divide(str(tree), ways) is not None  # the folders were divided among the finds
    divided = scan_listing(tree)
    assert sorted(divided.raw.split(b"\0")) == sorted(one.raw.split(b"\0"))
    assert divided.files == one.files == scan_folder(tree)
    assert scan_listing(tree).fingerprint == divided.fingerprint  # the same order every time


def test_a_folder_added_at_the_top_changes_only_its_own_stretch_of_the_listing(tmp_path: Path):
    root = tmp_path / "content"
    for i in range(0, 40, 2):
        (root / f"f{i:02d}").mkdir(parents=True)
        (root / f"f{i:02d}" / "a.txt").write_text("x")
    before = scan_listing(root)
    assert scan._divide(str(root), 2) is not None
    (root / "f15").mkdir()
    (root / "f15" / "new.txt").write_text("new")
    after = scan_listing(root)
    assert scan.changed_paths(before.raw, after.raw) == {"f15/new.txt"}
    head = scan._common_head(before.raw, after.raw)
    tail = scan._common_tail(before.raw, after.raw, limit=len(before.raw) - head)
    assert head + tail == len(before.raw)  # the old listing is the new one with the folder's records taken out


@pytest.mark.parametrize("name", ["-name", "(", "!"])
def test_a_name_find_would_read_as_an_expression_is_never_on_its_command_line(tree: Path, name: str):
    (tree / name).mkdir()
    (tree / name / "z.txt").write_text("z")
    assert scan._divide(str(tree), 2) is None
    assert f"{name}/z.txt" in [f.rel for f in scan_listing(tree).files]


@pytest.mark.parametrize("ways", [1, 2])
def test_a_content_folder_that_is_a_link_is_listed_as_its_folder(tree: Path, tmp_path: Path, monkeypatch, ways):
    link = tmp_path / "content-link"
    link.symlink_to(tree, target_is_directory=True)
    monkeypatch.setattr(scan, "cpus", lambda: ways)
    files = scan_listing(link).files
    assert [f.rel for f in files] == [f.rel for f in scan_folder(tree)] != []
    assert files == scan_folder(link)


def test_without_gnu_find_the_folder_is_walked_in_python(tree: Path, monkeypatch):
    monkeypatch.setattr(scan, "_gnu_find", lambda: None)  # another find's -printf cannot be trusted
    listing = scan_listing(tree)
    assert listing.raw is None and listing.files == scan_folder(tree)


def test_no_listing_is_started_for_a_missing_folder(tmp_path: Path):
    assert scan.start_listing(tmp_path / "nope") is None


def test_a_missing_folder_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        scan_listing(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        scan_listing(tmp_path / "file")


_RECORDS = st.builds(lambda kind, size, t, folder, name: f"{kind}{size} 17.{t} {folder}/{name}".encode(),
                     st.sampled_from(["F", "F", "L"]), st.integers(1, 9), st.integers(0, 3),
                     # A folder named like a record: one record may end with another whole one.
                     st.sampled_from(["a", "b", "a/deep", "b/F1 17.0 a"]), st.sampled_from(["x", "y", "xy", "é"]))


@settings(max_examples=500, deadline=None)
# The last record of one listing is the end of the other's last record.
@example([b"F2 17.0 a/y", b"F1 17.0 a/x"], [b"F1 17.0 b/F1 17.0 a/x"], 1, 0, 1 << 16)
@given(st.lists(_RECORDS, max_size=30, unique=True), st.lists(_RECORDS, max_size=30, unique=True),
       st.integers(0, 30), st.integers(0, 30), st.sampled_from([1, 3, 64, 1 << 16]))
def test_changed_paths_compares_only_the_differing_stretch_and_misses_nothing(
        first, second, keep_head, keep_tail, block):
    """Two listings sharing a head and a tail (as find gives for a folder
    that changed in one place): the same paths as comparing every record."""
    before_records = first
    # `now` keeps a head and a tail of `before` around other records.
    now_records = first[:keep_head] + [r for r in second if r not in first] + first[len(first) - keep_tail:]
    before = b"".join(r + b"\0" for r in before_records)
    now = b"".join(r + b"\0" for r in dict.fromkeys(now_records))

    def every_record(a: bytes, b: bytes) -> set[str]:
        paths = set()
        for record in set(a.split(b"\0")) ^ set(b.split(b"\0")):
            if record:
                text = os.fsdecode(record[1:])
                paths.add(text.split(" ", 2)[2] if record[:1] == b"F" else text)
        return paths

    saved = scan._BLOCK
    scan._BLOCK = block
    try:
        assert scan.changed_paths(before, now) == every_record(before, now)
        assert scan.changed_paths(now, before) == every_record(now, before)
    finally:
        scan._BLOCK = saved


def test_names_that_are_not_utf8_are_listed_under_one_key_by_find_and_by_the_walk(tree: Path):
    from feeder.content.names import from_key, is_undecodable, shown, to_key

    root = os.fsencode(tree)
    for name in (b"/a/bad\xffname.md", b"/caf\xe9.txt", b"/a/b/\xc3.md"):
        with open(root + name, "w") as fh:
            fh.write("x")
    listing = scan_listing(tree)
    assert listing.files == scan_folder(tree)
    odd = [f for f in listing.files if is_undecodable(f.rel)]
    assert sorted(shown(f.rel) for f in odd) == ["a/b/\\xc3.md", "a/bad\\xffname.md", "caf\\xe9.txt"]
    for f in odd:
        f.rel.encode("utf-8")  # storable as text
        assert os.path.exists(f.path) and f.path == os.path.join(str(tree), from_key(f.rel))
        assert to_key(from_key(f.rel)) == f.rel
    assert to_key("a/ünï.md") == "a/ünï.md" and not is_undecodable("a/ünï.md")


@pytest.mark.parametrize("follow", [False, True])
def test_links_leading_out_are_listed_with_their_problem_by_find_and_by_the_walk(tree: Path, tmp_path: Path,
                                                                                 follow: bool):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "out.md").write_text("x")
    (outside / "sub" / "deep.md").write_text("x")
    os.symlink(outside / "out.md", tree / "out.md")
    os.symlink(outside / "sub", tree / "sub")
    os.symlink(tree, tree / "a" / "loop")  # followed, it would never end
    listing = scan_listing(tree, follow=follow)
    walked = scan_folder(tree, follow=follow)
    assert listing.files == walked
    by_rel = {f.rel: f for f in walked}
    if follow:
        assert by_rel["out.md"].problem is None and "sub/deep.md" in by_rel
        assert not any(rel.startswith("a/loop/") for rel in by_rel)  # never a folder inside itself
    else:
        assert "leading out of the content folder" in (by_rel["out.md"].problem or "")
        assert "sub/deep.md" not in by_rel and by_rel["link.txt"].problem is None


@pytest.mark.parametrize("layout", ["flat", "nested", "mixed"])
def test_find_lists_what_the_walk_lists_in_every_layout(tmp_path: Path, monkeypatch, layout: str):
    """A flat folder of more files than a command line carries, folders of
    files, and a few huge folders beside many small ones, names with odd
    bytes among them: every file listed once, by one find or several."""
    root = tmp_path / "content"
    root.mkdir()
    count = 2500  # more entries at the top than a find's command line would carry, when flat
    for i in range(count):
        folder = {"flat": "", "nested": f"b{i // 500}", "mixed": f"huge{i % 2}" if i % 5 else f"s{i // 50}"}[layout]
        where = root / folder
        where.mkdir(exist_ok=True)
        name = f"{i:05d}.md" if i % 97 else f"odd {i} \\x".replace("\\x", "é") + ".md"
        (where / name).write_text("x")
    with open(os.fsencode(root) + b"/bad\xff.txt", "w") as fh:
        fh.write("x")
    walked = scan_folder(root)
    assert len(walked) == count + 1 and len({f.rel for f in walked}) == count + 1
    for ways in (1, 2, 4):
        monkeypatch.setattr(scan, "cpus", lambda ways=ways: ways)
        listing = scan_listing(root)
        assert listing.files == walked, ways
        records = [r for r in listing.raw.split(b"\0") if r]
        assert len(records) == len(set(records)) == count + 1  # never a file twice, never one missed
    if layout == "flat":
        assert scan._divide(str(root), 2) is None  # one find, and the entries were not read in Python
