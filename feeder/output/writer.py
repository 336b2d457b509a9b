"""Writing output files atomically, and only when their bytes change.

Each file is written to a temporary file in its own folder, flushed to disk
and renamed over the old one, so a reader (or a crash) sees the old file or
the new one, never half of one. A file whose bytes would not change is not
touched, so its modification time, and a web server's `Last-Modified` and
`ETag`, stay the same.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from feeder.errors import OutputError, check_cancel, describe_os_error
from feeder.output.atomic import TEMP_PREFIX, TEMP_SUFFIX, atomic_write

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}.*{re.escape(TEMP_SUFFIX)}$")



class Publisher:
    """Writes files under one output folder, refusing any path that leaves it."""

    def __init__(self, root: Path, cancel: threading.Event | None = None,
                 guard: Callable[[], None] | None = None):
        self.root = root
        self.cancel = cancel
        # Raises before any write when this run may no longer write (a lost
        # PostgreSQL lock: another machine may be publishing).
        self.guard = guard
        self.written: list[str] = []
        self.seconds = 0.0  # spent writing (and comparing with what is on disk)

    def prepare(self) -> None:
        """Create the output folder and remove temporaries a killed run left behind."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.root, f"cannot create the output folder: {describe_os_error(exc)}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise OutputError(self.root, "the output folder is not writable")
        self.remove_temporaries()

    def remove_temporaries(self) -> int:
        removed = 0
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if _TEMP_NAME.match(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(folder, name))
                        removed += 1
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted run", removed)
        return removed

    def target(self, rel: str) -> Path:
        """The absolute path for a relative output name, checked to stay inside the folder."""
        pure = PurePosixPath(rel)
        if pure.is_absolute() or not pure.parts or any(p in ("", ".", "..") for p in pure.parts):
            raise OutputError(self.root / rel, "refusing a path outside the output folder")
        path = self.root.joinpath(*pure.parts)
        root_real = os.path.realpath(self.root)
        parent_real = os.path.realpath(path.parent)
        if os.path.commonpath([root_real, parent_real]) != root_real:
            raise OutputError(path, "refusing a path outside the output folder (symbolic link?)")
        return path

    def exists(self, rel: str) -> bool:
        """Whether `rel` is a file of the output folder (no write follows, so
        the path needs no containment check: every rescan asks this of every feed)."""
        return os.path.isfile(os.path.join(self.root, rel))

    def write(self, rel: str, data: bytes, *, gzipped: bool = True) -> bool:
        """Atomically replace `rel` with `data`; False when it already held exactly that.

        With `gzipped`, a compressed copy is kept beside it as `rel.gz` (for
        `feeder serve` and nginx's gzip_static), written first: a server that
        finds the new plain file finds the new compressed one too.
        """
        # Stopping between files, never inside one: no temporary file is left.
        check_cancel(self.cancel)
        if self.guard is not None:
            self.guard()
        started = time.perf_counter()
        try:
            return self._write(rel, data, gzipped=gzipped)
        finally:
            self.seconds += time.perf_counter() - started

    def _write(self, rel: str, data: bytes, *, gzipped: bool) -> bool:
        path = self.target(rel)
        gz_path = path.with_name(path.name + ".gz")
        same = self._same(path, data)
        if same and (not gzipped or gz_path.exists()):
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if gzipped:
                # mtime=0 and no file name in the header: the same bytes every time.
                atomic_write(gz_path, gzip.compress(data, compresslevel=9, mtime=0))
            if not same:
                atomic_write(path, data)
        except OSError as exc:
            raise OutputError(path, f"cannot write: {describe_os_error(exc)}") from None
        if same:
            return False
        self.written.append(rel)
        log.debug("wrote %s (%d bytes)", rel, len(data))
        return True

    @staticmethod
    def _same(path: Path, data: bytes) -> bool:
        try:
            if path.stat().st_size != len(data):
                return False
            return path.read_bytes() == data
        except OSError:
            return False
