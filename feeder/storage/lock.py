"""One build at a time: an OS file lock in the state folder.

`flock` locks belong to the open file, so the kernel drops them when the
process exits however it exits: a lock left by a killed build never blocks
the next one. The lock file itself is never deleted (deleting it would let
two processes lock two different files).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from feeder.errors import LockTimeout, StateError, check_cancel, describe_os_error

if TYPE_CHECKING:
    from feeder.storage.state import State

__all__ = ["INGEST_LOCK_NAME", "LOCK_NAME", "BuildLock", "locked_state"]

LOCK_NAME = "feeder.lock"
INGEST_LOCK_NAME = "ingest.lock"

log = logging.getLogger(__name__)


class BuildLock:
    """An exclusive flock on a file of the state folder: `feeder.lock` for
    builds (and what must not overlap one), `ingest.lock` for ingest rounds,
    which fetch for long and must not hold builds up."""

    def __init__(self, state_dir: Path, *, timeout: float, poll: float = 0.1,
                 cancel: threading.Event | None = None, name: str = "feeder.lock"):
        self.path = state_dir / name
        self.timeout = timeout
        self.poll = poll
        self.cancel = cancel
        self._fd: int | None = None

    def acquire(self) -> None:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise StateError(folder, "state_dir is not a folder (a file has that name)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.EEXIST):
                raise StateError(folder, "state_dir is not a folder (a file is in its way)") from None
            raise StateError(self.path, f"cannot open the lock file: {describe_os_error(exc)}") from None
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(self.path, self.timeout) from None
                if not told:
                    # Said once, so that a cron mail or a terminal explains the pause.
                    log.warning("another feeder build holds %s%s; waiting up to %g s for it to finish",
                                self.path, _holder(fd), self.timeout)
                    told = True
                try:
                    check_cancel(self.cancel)
                except BaseException:
                    os.close(fd)
                    raise
                time.sleep(self.poll)
        # For the operator's curiosity only: the lock is the flock, not this text.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BuildLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _holder(fd: int) -> str:
    """' (process N)' from the pid the holder wrote into the lock file, if any."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


@contextlib.contextmanager
def locked_state(state_dir: Path, url: str | None, *, timeout: float,
                 cancel: threading.Event | None = None, held: BuildLock | None = None) -> Iterator[State]:
    """The state database, opened for one build, ingest or check run at a time.

    The file lock keeps this machine's runs apart (and `state_dir` is theirs);
    with PostgreSQL a session-level advisory lock keeps every machine's runs
    apart too. `State.confirm_lock` checks it before output is written.
    A caller that `held` the file lock already (it started work that needs
    it) passes it, and keeps releasing it.
    """
    from feeder.storage.state import State

    file_lock = contextlib.nullcontext(held) if held is not None else BuildLock(state_dir, timeout=timeout,
                                                                               cancel=cancel)
    with file_lock, State.open(state_dir, url) as state:
        if state.dialect == "postgresql":
            from feeder.storage.advisory import lock, unlock

            key = lock(state.conn, "build", timeout=timeout, cancel=cancel)  # type: ignore[arg-type]
            state.lock_key = key
            try:
                yield state
            finally:
                state.lock_key = None
                unlock(state.conn, key)  # type: ignore[arg-type]
        else:
            yield state
