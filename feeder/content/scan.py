"""Finding article files: a stat of the content folder, no file read."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import operator
import os
import re
import shutil
import stat
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from feeder.content.names import from_key, is_undecodable, to_key

__all__ = [
    "ARTICLE_SUFFIXES",
    "ContentFile",
    "Listing",
    "PendingListing",
    "changed_paths",
    "cpus",
    "find_fingerprint",
    "hidden_name",
    "is_fingerprint_of",
    "link_problem",
    "listing_hash",
    "scan_folder",
    "scan_listing",
    "start_listing",
]

ARTICLE_SUFFIXES = (".txt", ".md")
_REL = operator.itemgetter(1)


class ContentFile(NamedTuple):
    """A candidate article file, as found by a scan (no bytes read yet).

    A tuple rather than a dataclass: a rescan makes one per file, and at
    100,000 files the difference is most of a second.
    """

    path: str  # absolute
    rel: str  # POSIX path relative to the content folder, as the catalog keys it (`feeder.content.names`)
    size: int
    mtime_ns: int
    problem: str | None = None  # why the scan already knows it is no article (a link leading out)


def link_problem(path: str, root_real: str) -> str | None:
    """Why the symbolic link at `path` is not followed (it leads out of the
    content folder, whose real path is `root_real`), or None when it is."""
    target = os.path.realpath(path)
    if target.startswith(root_real + os.sep):
        return None
    return (f"a symbolic link leading out of the content folder (to {target}): not followed; "
            "content.follow_symlinks: true follows links wherever they lead")


def hidden_name(name: str) -> bool:
    """Dot-files and folders, editor locks (`.#x`, `#x#`) and backups (`x~`) are never articles."""
    return not name or name[0] in ".#" or name[-1] == "~"


def scan_folder(root: Path | str, *, follow: bool = False, within: Path | str | None = None,
                unreadable: list[str] | None = None) -> list[ContentFile]:
    """Every article file under `root` (a folder of the content folder
    `within`, by default the content folder itself), sorted by relative path.

    Hidden files and folders (dot-names) are skipped, as are editor backups.
    A symbolic link to a file inside the content folder is read as that
    file; one leading out of it is listed with its problem, and a link to a
    folder is not descended into (what it holds inside the content folder is
    listed where it is). With `follow`, links are followed wherever they
    lead, as `find -L` does: a folder is listed under every path that reaches
    it, but never inside itself, so a link loop cannot hang a scan.
    A folder that cannot be read is added to `unreadable` (relative, with a
    trailing slash) and its files are not listed.
    """
    root = os.fspath(root)
    root_real = os.path.realpath(within if within is not None else root)
    found: list[ContentFile] = []
    top: frozenset[tuple[int, int]] = frozenset()
    if follow:
        st = os.stat(root)
        top = frozenset({(st.st_dev, st.st_ino)})
    stack = [(root, "", top)]
    while stack:
        folder, prefix, above = stack.pop()
        try:
            it = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            if folder == root:
                raise
            continue
        except PermissionError:
            if folder == root:
                raise
            if unreadable is not None:
                unreadable.append(to_key(prefix))
            continue
        with it:
            for entry in it:
                name = entry.name
                if name[0] in ".#" or name[-1] == "~":
                    continue
                problem = None
                try:
                    if entry.is_dir(follow_symlinks=follow):
                        inside = above
                        if follow:
                            st = entry.stat()
                            if (st.st_dev, st.st_ino) in above:
                                continue  # a folder that holds this one: a loop
                            inside = above | {(st.st_dev, st.st_ino)}
                        elif entry.is_symlink():
                            continue
                        stack.append((entry.path, f"{prefix}{name}/", inside))
                        continue
                    if not name.lower().endswith(ARTICLE_SUFFIXES) or not entry.is_file():
                        continue
                    if not follow and entry.is_symlink():
                        problem = link_problem(entry.path, root_real)
                    st = entry.stat()
                except OSError:
                    continue  # vanished while scanning: the next scan sees the truth
                found.append(ContentFile(entry.path, to_key(prefix + name), st.st_size, st.st_mtime_ns, problem))
    found.sort(key=_REL)
    return found


def listing_hash(files: Sequence[ContentFile]) -> str:
    """A fingerprint of a scan: equal digests mean no file was added, removed or touched."""
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(f"{f.rel}\0{f.size}\0{f.mtime_ns}\n".encode())
    return h.hexdigest()


class Listing:
    """A scan of the content folder, with a fingerprint that costs no Python
    work per file when GNU find made the listing: find stats every file at
    C speed and its raw output is hashed as it comes. Equal fingerprints mean
    nothing was added, removed or touched (other files, hidden ones included,
    may make two listings of the same articles differ: that only costs a
    comparison), so a rescan that finds nothing to do never builds one object
    per file. The files themselves are made only when asked for."""

    def __init__(self, root: str, fingerprint: str, raw: bytes | None, files: list[ContentFile] | None,
                 *, follow: bool = False, unreadable: list[str] | None = None):
        self.root = root
        self.fingerprint = fingerprint
        self.follow = follow
        # Folders (relative, "sub/") that could not be read: what the catalog
        # knows of their files is kept, not taken for deleted.
        self.unreadable = unreadable or []
        self._raw = raw
        self._files = files

    @property
    def raw(self) -> bytes | None:
        """find's output, NUL-separated records, or None when the Python walk made the listing."""
        return self._raw

    @property
    def files(self) -> list[ContentFile]:
        if self._files is None:
            assert self._raw is not None
            self._files = _parse_find(self.root, self._raw, follow=self.follow)
        return self._files


# Print every file and link below the root but in dot-folders: size,
# modification time (seconds, 10 decimals: the nanoseconds exactly) and path.
# Which of them are articles is decided in Python, and only when the
# fingerprint changed: every test find makes per file costs it time.
_FIND_EXPRESSION = ["-mindepth", "1", "-name", ".*", "-prune", "-o",
                    "(", "-type", "f", "-printf", "F%s %T@ %P\\0", "-o", "-type", "l", "-printf", "L%P\\0", ")"]
# The same for find started in the root on some of its entries: %p is then
# the path below the root, as %P is above.
_FIND_ENTRIES_EXPRESSION = ["-name", ".*", "-prune", "-o",
                            "(", "-type", "f", "-printf", "F%s %T@ %p\\0", "-o", "-type", "l", "-printf", "L%p\\0", ")"]
# Dividing the root's entries among finds needs them on a command line.
_MAX_SPLIT_ENTRIES = 2048
_MAX_FINDS = 4


def scan_listing(root: Path | str, pending: PendingListing | None = None, *, follow: bool = False) -> Listing:
    """The article files under `root`, as `scan_folder` finds them, with a cheap fingerprint.

    Given the `pending` listing of `root` started earlier, its result is used."""
    root = os.fspath(root)
    st = os.stat(root)  # FileNotFoundError, as the scan raises
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(root)
    if pending is None or pending.root != root or pending.follow != follow:
        pending = start_listing(root, follow=follow)
    raw = pending.result() if pending is not None else None
    if raw is not None:
        return Listing(root, find_fingerprint(raw), raw, None, follow=follow)
    unreadable: list[str] = []
    files = scan_folder(root, follow=follow, unreadable=unreadable)
    fingerprint = listing_hash(files)
    if unreadable:
        fingerprint += ":" + listing_hash([ContentFile("", folder, 0, 0) for folder in sorted(unreadable)])
    return Listing(root, fingerprint, None, files, follow=follow, unreadable=sorted(unreadable))


class PendingListing:
    """find listing a folder in the background.

    A cron rescan that finds nothing changed costs little more than listing
    the folder, so what runs beside it counts: started as soon as the build
    holds its lock, find walks the folder while Python imports the rest of
    feeder and opens the state database. Its output goes into an unnamed
    file in memory rather than a pipe, which would stall it once 64 KiB
    wait unread. With more than one core, the root's entries are divided
    among as many finds (stat-ing every file is the kernel's work, and it
    spreads): at 100,000 files in 100 folders two finds take 0.55 of the
    time of one. The listing is their outputs one after the other.
    """

    def __init__(self, root: str, find: str, groups: list[list[str]] | None = None, *, follow: bool = False):
        self.root = root
        self.follow = follow
        # Started in the root: a root that is a symbolic link to a folder is
        # listed as its folder (find does not follow a link it is given).
        # Following links (-L), find lists what they lead to and skips loops.
        options = ["-L"] if follow else []
        commands = ([[find, *options, ".", *_FIND_EXPRESSION]] if groups is None
                    else [[find, *options, *group, *_FIND_ENTRIES_EXPRESSION] for group in groups])
        self._runs: list[tuple[subprocess.Popen[bytes], BinaryIO]] = []
        try:
            for command in commands:
                out = _anonymous_file()
                try:
                    proc = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.DEVNULL)
                except BaseException:
                    out.close()
                    raise
                self._runs.append((proc, out))
        except BaseException:
            self.close()
            raise

    def result(self) -> bytes | None:
        """find's output, or None when it failed (then the folder is walked in Python)."""
        if not self._runs:
            return None
        runs, self._runs = self._runs, []
        try:
            # Asked while the listing runs: only GNU find's -printf gives it.
            gnu = _gnu_find() is not None
            # 1: a folder vanished, was unreadable, or (-L) held a loop. The
            # Python walk then lists the folder again and says which folders
            # it could not read, which find's messages tell only in prose.
            failed = [proc.wait() != 0 for proc, _ in runs]
            if not gnu or any(failed):
                return None
            parts = []
            for _, out in runs:
                out.seek(0)
                parts.append(out.read())
            return b"".join(parts)
        finally:
            for _, out in runs:
                out.close()

    def close(self) -> None:
        """Stop find if its result was never asked for."""
        runs, self._runs = self._runs, []
        for proc, out in runs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            out.close()

    def __enter__(self) -> PendingListing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_listing(root: Path | str, *, follow: bool = False) -> PendingListing | None:
    """Start listing `root` with GNU find; None where there is no GNU find or no such folder."""
    root = os.fspath(root)
    find = shutil.which("find")
    if find is None or not os.path.isdir(root):
        return None
    try:
        return PendingListing(root, find, _divide(root, min(cpus(), _MAX_FINDS)), follow=follow)
    except OSError:
        return None


def _divide(root: str, ways: int) -> list[list[str]] | None:
    """The root's entries (but dot-names, which find prunes) divided among
    `ways` finds; None for one find over the root: one core, fewer than two
    groups of folders, a name find would read as part of its expression, or
    more entries than a command line should carry.

    Each folder's group comes from its name alone (a CRC), and each group
    lists its folders in name order: a folder added or removed changes its
    own stretch of the listing, which is all the next rescan compares."""
    if ways < 2:
        return None
    try:
        if os.stat(root).st_nlink == 2:
            # No folder inside (a folder's link count is 2 plus its subfolders
            # on the file systems that count them, 1 on those that do not): a
            # flat folder, listed by one find without reading its entries here.
            # (Two finds each stat-ing half of a flat folder by inode number
            # took longer than one: 0.28 against 0.24 s at 100,000 files.)
            return None
        entries = []
        with os.scandir(root) as it:
            # At most one entry more than a command line should carry: a
            # folder of a million files is never read whole in Python.
            for entry in it:
                if not entry.name.startswith("."):
                    entries.append((entry.name, entry.is_dir(follow_symlinks=False)))
                    if len(entries) > _MAX_SPLIT_ENTRIES:
                        return None
    except OSError:
        return None
    entries.sort()
    if any(name.startswith("-") or name in ("(", ")", "!", ",") for name, _ in entries):
        return None
    dealt: list[list[str]] = [[] for _ in range(ways)]
    for name, is_dir in entries:
        if is_dir:
            dealt[zlib.crc32(os.fsencode(name)) % ways].append(name)
    groups = [group for group in dealt if group]  # a find given no folder would list the root
    if len(groups) < 2:
        return None
    groups[0] += [name for name, is_dir in entries if not is_dir]  # files and links at the top
    return groups


def cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _anonymous_file() -> BinaryIO:
    if hasattr(os, "memfd_create"):
        with contextlib.suppress(OSError):
            return open(os.memfd_create("feeder-listing", os.MFD_CLOEXEC), "w+b")
    import tempfile  # not on Linux: never imported there

    return tempfile.TemporaryFile()


@functools.cache
def _gnu_find() -> str | None:
    """GNU find, whose -printf the listing needs; None elsewhere (then the scan is Python's)."""
    path = shutil.which("find")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if out.returncode == 0 and "GNU findutils" in out.stdout else None


# One regular file: size, seconds, the nine digits of nanoseconds (find prints
# ten), the path below the root; matched in C over the whole listing.
_FILE_RECORD = re.compile(r"F(\d+) (\d+)\.(\d{9})\d* ([^\0]*)\0")
_SUSPECT = re.compile(r"[#~]")  # a name an editor's lock or backup may have: look closer


def find_fingerprint(raw: bytes) -> str:
    # SHA-256 runs on the CPU's own instructions on current x86 and ARM
    # processors: a million files' listing (59 MB) in 0.05 s, against 0.09 s
    # for BLAKE2b, on every rescan.
    return "find-sha256:" + hashlib.sha256(raw).hexdigest()


def is_fingerprint_of(raw: bytes, fingerprint: str) -> bool:
    """Whether `fingerprint` is that of this listing (also in the form earlier versions kept)."""
    if fingerprint.startswith("find:"):
        return fingerprint == "find:" + hashlib.blake2b(raw, digest_size=16).hexdigest()
    return fingerprint == find_fingerprint(raw)


def changed_paths(before: bytes, now: bytes) -> set[str]:
    """The paths whose record differs between two of find's listings: added,
    removed, or with another size or time. Compared as whole records, in C.

    find lists an unchanged folder in the same order every time, so two
    listings share a long head and tail: only the records between the first
    and the last difference are compared as sets (a million records would
    cost most of a second; one edit's stretch, nothing)."""
    head = _common_head(before, now)
    head = before.rfind(b"\0", 0, head) + 1  # back to the start of a record
    tail = _common_tail(before, now, limit=min(len(before), len(now)) - head)
    if tail:
        # Forward to the first record end inside the common tail: what
        # follows it starts a record in both listings.
        cut = before.find(b"\0", len(before) - tail)
        tail = len(before) - cut - 1 if cut != -1 else 0
    old = set(before[head:len(before) - tail].split(b"\0"))
    new = set(now[head:len(now) - tail].split(b"\0"))
    paths = set()
    for record in old ^ new:
        if not record:
            continue
        text = to_key(os.fsdecode(record[1:]))
        paths.add(text.split(" ", 2)[2] if record[:1] == b"F" else text)
    return paths


_BLOCK = 1 << 16


def _common_head(a: bytes, b: bytes) -> int:
    """How many leading bytes `a` and `b` share (compared a block at a time, in C)."""
    n, i = min(len(a), len(b)), 0
    while i < n and a[i:i + _BLOCK] == b[i:i + _BLOCK]:
        i += _BLOCK
    end = min(i + _BLOCK, n)
    while i < end and a[i] == b[i]:
        i += 1
    return min(i, n)


def _common_tail(a: bytes, b: bytes, *, limit: int) -> int:
    """How many trailing bytes `a` and `b` share, at most `limit`."""
    la, lb, i = len(a), len(b), 0
    while i + _BLOCK <= limit and a[la - i - _BLOCK:la - i] == b[lb - i - _BLOCK:lb - i]:
        i += _BLOCK
    while i < limit and a[la - i - 1] == b[lb - i - 1]:
        i += 1
    return i


def _parse_find(root: str, raw: bytes, *, follow: bool = False) -> list[ContentFile]:
    text = os.fsdecode(raw)
    if not text.isascii() and to_key(text) is not text:
        # A name that is not UTF-8: every path is read as its catalog key, and
        # those few files get their real path back below.
        return [f._replace(path=os.path.join(root, from_key(f.rel))) if is_undecodable(f.rel) else f
                for f in _parse_records(root, to_key(text), follow)]
    return _parse_records(root, text, follow)


def _parse_records(root: str, text: str, follow: bool) -> list[ContentFile]:
    found: list[ContentFile] = []
    join, suffixes, make = os.path.join, ARTICLE_SUFFIXES, ContentFile
    prefix = join(root, "")  # os.path.join(root, rel) for every rel find prints (%P: never absolute)
    matched = 0
    for size, seconds, nanos, rel in _FILE_RECORD.findall(text):
        matched += 1
        if not rel.lower().endswith(suffixes):
            continue
        if _SUSPECT.search(rel) and any(hidden_name(part) for part in rel.split("/")):
            continue
        found.append(make(prefix + rel, rel, int(size), int(seconds) * 1_000_000_000 + int(nanos)))
    files = text.count("\0F") + text.startswith("F")
    if matched < files or "\0L" in text or text.startswith("L"):
        # Symbolic links, and any file the pattern did not take (a time before
        # 1970): Python stats them, following links as the walk does.
        for record in text.split("\0"):
            kind, rest = record[:1], record[1:]
            if kind == "F":
                if matched == files or _FILE_RECORD.fullmatch(record + "\0"):
                    continue
                rest = rest.split(" ", 2)[2]
            elif kind != "L":
                continue
            if not rest.lower().endswith(suffixes) or any(hidden_name(part) for part in rest.split("/")):
                continue
            path = join(root, from_key(rest))
            try:
                target = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(target.st_mode):
                problem = None if follow or kind == "F" else link_problem(path, os.path.realpath(root))
                found.append(make(path, rest, target.st_size, target.st_mtime_ns, problem))
    found.sort(key=_REL)
    return found
