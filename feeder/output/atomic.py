"""Replacing files atomically: the one way feeder writes a file that someone
else may be reading (a feed, an article in the content folder)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["FILE_MODE", "TEMP_PREFIX", "TEMP_SUFFIX", "atomic_write", "sync_file_system", "sync_folder",
           "write_temp"]

TEMP_PREFIX = ".feeder-"
TEMP_SUFFIX = ".tmp"

# Written files get the permissions an ordinary new file would get, not
# mkstemp's private 0600: a web server (or an editor) must be able to read them.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace `path` with `data`: written to a temporary file in the same
    folder, flushed to disk and renamed over it, so a reader (or a crash)
    sees the old file or the new one, never half of one.

    The folder is synced too, which makes the rename itself durable; a
    caller writing several files into one folder passes `sync=False` and
    calls `sync_folder` once after the last."""
    import tempfile  # with `random`, 5 ms that a rescan writing nothing would spend

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync:
        sync_folder(path.parent)


def write_temp(path: Path, data: bytes) -> str:
    """`data` in a new temporary file beside `path`, not yet flushed to disk
    (see `sync_file_system`): its name, for the caller to rename over `path`."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def sync_file_system(folder: Path) -> None:
    """Flush every file written to the file system holding `folder`: one
    flush for many files (Linux's syncfs), else every file system's."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(folder))
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
