"""The command line's exit statuses, in one place: the CLI and the daemon
return them, and the README's table lists them (a test compares the two)."""

from __future__ import annotations

import errno
import os
import signal

__all__ = [
    "EXIT_CONFIG",
    "EXIT_CONTENT",
    "EXIT_INTERRUPTED_INT",
    "EXIT_INTERRUPTED_TERM",
    "EXIT_LISTEN",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_SOURCES",
    "EXIT_STATUSES",
    "describe_listen_error",
]

EXIT_OK = 0
EXIT_CONTENT = 1
EXIT_CONFIG = 2
EXIT_OUTPUT = 3
EXIT_LOCKED = 4
EXIT_LISTEN = 5
EXIT_SOURCES = 6
EXIT_INTERRUPTED_INT = 128 + signal.SIGINT
EXIT_INTERRUPTED_TERM = 128 + signal.SIGTERM

# What each status means, as the README's table says it.
EXIT_STATUSES = {
    EXIT_OK: "done (skipped files and warnings are listed on stderr)",
    EXIT_CONTENT: "`--strict`, and a content file was skipped or published with a warning",
    EXIT_CONFIG: "bad usage or configuration",
    EXIT_OUTPUT: "the output or state folder cannot be used (not a folder, not writable, a damaged, read-only or "
                 "locked database: the one line says what to do), the PostgreSQL state cannot be reached, or a "
                 "rendered feed failed its check (the old one stays)",
    EXIT_LOCKED: "another build held the lock for longer than `lock_timeout` / `--wait`",
    EXIT_LISTEN: "`serve` or `daemon --serve` cannot listen on the address (in use, not allowed)",
    EXIT_SOURCES: "`ingest`: every due source failed (the network is down, or every source is broken); "
                  "`sources add`: the address gave no feed",
    EXIT_INTERRUPTED_INT: "stopped by SIGINT (Ctrl-C) before finishing; every file on disk is whole",
    EXIT_INTERRUPTED_TERM: "stopped by SIGTERM before finishing; every file on disk is whole",
}


def describe_listen_error(exc: OSError) -> str:
    """Why a server cannot listen, once (aiohttp's message repeats the address)."""
    if exc.errno == errno.EADDRINUSE:
        return "the address is already in use (another program listens there)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "not allowed (a port below 1024 needs privileges)"
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc)
