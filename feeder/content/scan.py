"""Finding article files: a stat of the content folder, no file read."""

from __future__ import annotations

import hashlib
import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["ARTICLE_SUFFIXES", "ContentFile", "hidden_name", "listing_hash", "scan_folder"]

ARTICLE_SUFFIXES = (".txt", ".md")
_REL = operator.itemgetter(1)


class ContentFile(NamedTuple):
    """A candidate article file, as found by a scan (no bytes read yet).

    A tuple rather than a dataclass: a rescan makes one per file, and at
    100,000 files the difference is most of a second.
    """

    path: str  # absolute
    rel: str  # POSIX path relative to the content folder
    size: int
    mtime_ns: int


def hidden_name(name: str) -> bool:
    """Dot-files and folders, editor locks (`.#x`, `#x#`) and backups (`x~`) are never articles."""
    return not name or name[0] in ".#" or name[-1] == "~"


def scan_folder(root: Path | str) -> list[ContentFile]:
    """Every article file under `root`, sorted by relative path.

    Hidden files and folders (dot-names) are skipped, as are editor backups;
    symbolic links to folders are not followed, so a link loop cannot hang a scan.
    """
    root = os.fspath(root)
    found: list[ContentFile] = []
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            it = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            if folder == root:
                raise
            continue
        with it:
            for entry in it:
                name = entry.name
                if name[0] in ".#" or name[-1] == "~":
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, f"{prefix}{name}/"))
                        continue
                    if not name.lower().endswith(ARTICLE_SUFFIXES) or not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:
                    continue  # vanished while scanning: the next scan sees the truth
                found.append(ContentFile(entry.path, prefix + name, st.st_size, st.st_mtime_ns))
    found.sort(key=_REL)
    return found


def listing_hash(files: Sequence[ContentFile]) -> str:
    """A fingerprint of a scan: equal digests mean no file was added, removed or touched."""
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(f"{f.rel}\0{f.size}\0{f.mtime_ns}\n".encode())
    return h.hexdigest()
