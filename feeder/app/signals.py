"""Signals noted where they arrive and acted on by the main thread.

A Python signal handler runs in the main thread between any two of its
bytecodes: in the middle of writing a log line, inside the scheduler while it
holds its own locks, inside `threading.Event.wait`. Logging, loading a
configuration or shutting a scheduler down from there can find a lock the
interrupted code holds, and wait for it for ever. So the handlers here do
nothing: the interpreter writes each signal's number to a socket
(`signal.set_wakeup_fd`), and the main thread, waiting on that socket, reads
the numbers and acts.
"""

from __future__ import annotations

import select
import signal
import socket
from collections.abc import Iterable
from types import FrameType
from typing import Any

__all__ = ["SignalInbox"]


def _noted(signum: int, frame: FrameType | None) -> None:
    """Installed so that the signal is caught (and written to the wakeup socket) rather than fatal."""


class SignalInbox:
    """Catches `signals` while open; `wait` returns the ones that came.

    Open it in the main thread (only it may set signal handlers). A signal
    that comes before anyone waits stays in the socket: none is lost between
    installing the handlers and the first `wait`.
    """

    def __init__(self, signals: Iterable[int]):
        self.signals = tuple(signals)
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def __enter__(self) -> SignalInbox:
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, _noted)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        signal.set_wakeup_fd(self._previous_fd)
        for end in (self._reader, self._writer):
            if end is not None:
                end.close()
        self._reader = self._writer = None

    def post(self, signum: int) -> None:
        """Deliver `signum` as if it had been sent (from any thread)."""
        assert self._writer is not None, "the inbox is not open"
        try:
            self._writer.send(bytes([signum]))
        except BlockingIOError:
            pass  # the socket is full of signals already: the waiter wakes anyway

    def wait(self, timeout: float | None = None) -> list[int]:
        """The signals that came, in order; waits up to `timeout` seconds (None: until one comes)."""
        assert self._reader is not None, "the inbox is not open"
        ready, _, _ = select.select([self._reader], [], [], timeout)
        if not ready:
            return []
        try:
            data = self._reader.recv(4096)
        except BlockingIOError:
            return []
        # Only ours: the wakeup socket also hears signals other code handles in Python.
        return [signum for signum in data if signum in self.signals]
