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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from feeder.errors import OutputError, check_cancel, describe_os_error
from feeder.output.atomic import TEMP_PREFIX, TEMP_SUFFIX, atomic_write, sync_file_system, sync_folder, write_temp

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["STAMP_NAME", "Publisher"]

STAMP_NAME = ".feeder.stamp"

log = logging.getLogger(__name__)

_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}.*{re.escape(TEMP_SUFFIX)}$")

# A feed's formats: RSS, Atom and JSON Feed, each written by a thread of its own.
_FORMATS = 3
# What `bulk` keeps in temporary files before making them durable together.
_BULK_BYTES = 64 * 1024 * 1024
_BULK_FILES = 3000


# gzip's levels: the files served on every poll at the smallest size, the
# archive documents (many, large, rarely fetched) 1.6 times faster for 2% more.
BEST, FAST = 9, 6


def _nothing() -> None:
    pass


class _Batch(NamedTuple):
    files: dict[str, bytes]
    futures: list[Future[tuple[bool, Path | None]]]
    then: Callable[[], None] | None


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
        self._pool: ThreadPoolExecutor | None = None
        self._pending: _Batch | None = None
        self._staged: list[tuple[str, Path]] | None = None  # (temporary, target) within `bulk`
        self._staged_bytes = 0
        self._staged_then: list[tuple[str, bytes, bool, Callable[[], None]]] = []

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

    def stamp(self) -> str | None:
        """The stamp the last complete rendering left in the folder (see `put_stamp`), or None."""
        try:
            return (self.root / STAMP_NAME).read_text(encoding="ascii").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def put_stamp(self, stamp: str) -> None:
        """Leave `stamp` in the folder: the state database keeps the same one, so
        that a folder restored, replaced or written from another state is told
        apart from the one this state rendered. A dot-file: never served."""
        self._may_write()
        try:
            atomic_write(self.root / STAMP_NAME, f"{stamp}\n".encode("ascii"))
        except OSError as exc:
            raise OutputError(self.root / STAMP_NAME, f"cannot write: {describe_os_error(exc)}") from None

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
        self.settle()
        self._may_write()
        started = time.perf_counter()
        try:
            return self._write(rel, data, gzipped=gzipped)
        finally:
            self.seconds += time.perf_counter() - started

    def write_many(self, files: Mapping[str, bytes], *, gzipped: bool = True, level: int = BEST) -> list[bool]:
        """`write` for several files at once (one feed's formats): each in a
        thread of its own, as compressing and flushing to disk let go of the
        GIL, and each folder synced once after its last rename. Returns when
        every file is in place, or raises the first file's error."""
        from concurrent.futures import ThreadPoolExecutor

        self.settle()
        with ThreadPoolExecutor(max_workers=max(1, len(files)), thread_name_prefix="feeder-write") as pool:
            return self._settle(self._start(pool, files, gzipped, None, level))

    @contextlib.contextmanager
    def in_background(self) -> Iterator[None]:
        """Within it, `write_later` returns as soon as its files are handed to
        threads. On the way out every file is in place, or the first error is
        raised; after an error, files still being written are finished first."""
        from concurrent.futures import ThreadPoolExecutor

        pool = self._pool = ThreadPoolExecutor(max_workers=_FORMATS, thread_name_prefix="feeder-write")
        try:
            yield
            self.settle()
        finally:
            self._pool = self._pending = None
            pool.shutdown(wait=True)

    def write_later(self, files: Mapping[str, bytes], then: Callable[[], None], *, level: int = BEST) -> None:
        """Write `files` as `write_many` does, and call `then` once they are in
        place: in the background within `in_background` (the next feed is
        rendered meanwhile), the files and `then` done by the next write or
        `settle`; at once outside it."""
        if self._pool is None:
            self.write_many(files, level=level)
            then()
            return
        self.settle()
        self._pending = self._start(self._pool, files, True, then, level)

    def settle(self) -> None:
        """Wait for the files `write_later` handed over, and call its `then`."""
        batch, self._pending = self._pending, None
        if batch is not None:
            self._settle(batch)

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Within it, `write_bulk` writes many files from the calling thread and
        makes them durable together: each is written to a temporary file, and
        every few thousand files (and on the way out) the file system is
        flushed once, then each is renamed into place, its compressed copy
        first. A reader sees each file old or new, as with `write`; a crash
        leaves the old files and temporaries the next run removes. (Handing
        thousands of small files to threads costs more than it saves: each
        of their system calls waits for the interpreter lock.)"""
        self.settle()
        self._staged = []
        try:
            yield
            self._commit()
        finally:
            for tmp, _ in self._staged or ():
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self._staged, self._staged_bytes, self._staged_then = None, 0, []

    def write_bulk(self, files: Mapping[str, bytes], then: Callable[[], None], *, level: int = FAST) -> None:
        """Write `files` within `bulk`; `then` is called once they are in place."""
        if self._staged is None:
            raise RuntimeError("write_bulk outside bulk()")
        self._may_write()
        started = time.perf_counter()
        try:
            for rel, data in files.items():
                path = self.target(rel)
                gz_path = path.with_name(path.name + ".gz")
                same = self._same(path, data)
                if same and gz_path.exists():
                    self._staged_then.append((rel, data, False, _nothing))
                    continue
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    packed = gzip.compress(data, compresslevel=level, mtime=0)
                    self._staged.append((write_temp(gz_path, packed), gz_path))
                    if not same:
                        self._staged.append((write_temp(path, data), path))
                except OSError as exc:
                    raise OutputError(path, f"cannot write: {describe_os_error(exc)}") from None
                self._staged_bytes += len(data) + len(packed)
                self._staged_then.append((rel, data, not same, _nothing))
            self._staged_then.append(("", b"", False, then))
        finally:
            self.seconds += time.perf_counter() - started
        if self._staged_bytes >= _BULK_BYTES or len(self._staged) >= _BULK_FILES:
            self._commit()

    def _commit(self) -> None:
        staged, self._staged = self._staged or [], []
        done, self._staged_then, self._staged_bytes = self._staged_then, [], 0
        started = time.perf_counter()
        try:
            if staged:
                self._may_write()
                sync_file_system(self.root)
                for tmp, path in staged:
                    try:
                        os.replace(tmp, path)
                    except OSError as exc:
                        raise OutputError(path, f"cannot write: {describe_os_error(exc)}") from None
                for folder in {path.parent for _, path in staged}:
                    sync_folder(folder)
        except BaseException:
            self._staged = staged  # removed on the way out of `bulk`, those not renamed yet
            raise
        finally:
            self.seconds += time.perf_counter() - started
        for rel, data, written, then in done:
            if rel:
                self._done(rel, data, written)
            then()

    def _start(self, pool: ThreadPoolExecutor, files: Mapping[str, bytes], gzipped: bool,
               then: Callable[[], None] | None, level: int = BEST) -> _Batch:
        self._may_write()
        started = time.perf_counter()
        futures = [pool.submit(self._put, rel, data, gzipped=gzipped, level=level) for rel, data in files.items()]
        self.seconds += time.perf_counter() - started
        return _Batch(dict(files), futures, then)

    def _settle(self, batch: _Batch) -> list[bool]:
        started = time.perf_counter()
        try:
            results = [f.result() for f in batch.futures]  # the first error, in the order given
            for folder in {folder for _, folder in results if folder is not None}:
                sync_folder(folder)
        finally:
            self.seconds += time.perf_counter() - started
        done = [self._done(rel, data, written) for (rel, data), (written, _)
                in zip(batch.files.items(), results, strict=True)]
        if batch.then is not None:
            batch.then()
        return done

    def _may_write(self) -> None:
        # Stopping between files (and between feeds), never inside one: no
        # temporary file is left.
        check_cancel(self.cancel)
        if self.guard is not None:
            self.guard()

    def _write(self, rel: str, data: bytes, *, gzipped: bool) -> bool:
        written, _ = self._put(rel, data, gzipped=gzipped, sync=True)
        return self._done(rel, data, written)

    def _put(self, rel: str, data: bytes, *, gzipped: bool, sync: bool = False,
             level: int = BEST) -> tuple[bool, Path | None]:
        """Put `rel` and its compressed copy in place: whether `rel` changed
        (it may have held these bytes already), and the folder written into
        (None when nothing was), which `sync` syncs after each rename."""
        path = self.target(rel)
        gz_path = path.with_name(path.name + ".gz")
        same = self._same(path, data)
        if same and (not gzipped or gz_path.exists()):
            return False, None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if gzipped:
                # mtime=0 and no file name in the header: the same bytes every time.
                atomic_write(gz_path, gzip.compress(data, compresslevel=level, mtime=0), sync=sync)
            if not same:
                atomic_write(path, data, sync=sync)
        except OSError as exc:
            raise OutputError(path, f"cannot write: {describe_os_error(exc)}") from None
        return not same, path.parent

    def _done(self, rel: str, data: bytes, written: bool) -> bool:
        if written:
            self.written.append(rel)
            log.debug("wrote %s (%d bytes)", rel, len(data))
        return written

    @staticmethod
    def _same(path: Path, data: bytes) -> bool:
        try:
            if path.stat().st_size != len(data):
                return False
            return path.read_bytes() == data
        except OSError:
            return False
