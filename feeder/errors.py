"""The exceptions feeder raises, all under one root, and how OS and YAML
errors are told in one line. (HTTP errors are mapped where the HTTP client
is set up: `feeder.net.http`.)

Every error carries the data an operator needs to act on it (the file, the
configuration key, the URL) as attributes, not only in its message.
"""

from __future__ import annotations

import errno
import re
import threading
from pathlib import Path
from typing import Any

__all__ = [
    "Cancelled",
    "ConfigError",
    "ContentError",
    "FeederError",
    "InvalidOutput",
    "LockTimeout",
    "NotPublisher",
    "OutputError",
    "StateError",
    "check_cancel",
    "describe_os_error",
    "describe_yaml_error",
]


class FeederError(Exception):
    """Root of every error raised by feeder."""


class ConfigError(FeederError):
    """The configuration is unusable; `key` names the offending setting."""

    def __init__(self, message: str, *, key: str | None = None, path: Path | None = None):
        self.key = key
        self.path = path
        where = f"{path}: " if path else ""
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")
        self.problem = message


class ContentError(FeederError):
    """One content file cannot be published; `path` names it, `problem` says why."""

    def __init__(self, path: Path | str, problem: str, *, field: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.field = field
        super().__init__(f"{path}: {problem}")


class OutputError(FeederError):
    """The output folder (or a file in it) cannot be written."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class InvalidOutput(OutputError):
    """Rendered documents failed their check before being written: the old
    files stay in place. `problems` holds (path, problem) for each."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        path, problem = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(path, f"rendered a broken document, kept the old one: {problem}{more}")


class StateError(FeederError):
    """The state database cannot be opened or is from an unknown version."""

    def __init__(self, path: Path | str, problem: str):
        # A URL (without its password) stays text: Path would fold its `//`.
        self.path = path if isinstance(path, str) and "://" in path else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class LockTimeout(FeederError):
    """Another build held the lock for longer than we were willing to wait."""

    def __init__(self, path: Path | str, waited: float):
        self.path = path if isinstance(path, str) and "://" in path else Path(path)
        self.waited = waited
        super().__init__(
            f"another feeder build holds {path}; gave up after waiting {waited:g} s"
        )


class NotPublisher(FeederError):
    """This instance can no longer confirm that it holds the publishing lock
    (its database connection is gone): another may be publishing."""

    def __init__(self) -> None:
        super().__init__("no longer the publisher (lost the connection that holds its lock); nothing more written")


class Cancelled(FeederError):
    """The build was asked to stop (the daemon is shutting down)."""

    def __init__(self) -> None:
        super().__init__("stopped before finishing")


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` at a safe point when a stop was requested."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


_YAML_RS_POSITION = re.compile(r"at line (\d+), column (\d+)")


def describe_yaml_error(exc: Exception, *, line_offset: int = 0) -> str:
    """A one-line description of a YAML error (PyYAML or yaml-rs), with its line and column.

    Both libraries' messages span several lines and quote the document; a
    report line must stay short and must never echo values (they may be
    secrets), so only the position and the problem are kept.
    `line_offset` is the number of file lines before the YAML text starts.
    """
    if not hasattr(exc, "problem_mark") and not hasattr(exc, "context_mark"):
        # yaml-rs: "YAML parse error at line L, column C\n  |\nL | <source>\n  | ^\n<problem>"
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        position = _YAML_RS_POSITION.search(lines[0]) if lines else None
        problem = lines[-1] if len(lines) > 1 and not lines[-1].startswith(("|", "^")) else ""
        if position is None:
            first = lines[0] if lines else type(exc).__name__
            return f"invalid YAML: {first[:200]}"
        line = int(position.group(1)) + line_offset
        return f"invalid YAML at line {line}, column {position.group(2)}: {problem or 'syntax error'}"
    mark: Any = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    problem = " ".join(str(problem).split())
    if mark is None:
        return f"invalid YAML: {problem}"
    text = f"invalid YAML at line {mark.line + 1 + line_offset}, column {mark.column + 1}: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        text += f" ({' '.join(str(context).split())} started at line {context_mark.line + 1 + line_offset})"
    return text


def describe_os_error(exc: OSError) -> str:
    """A short description of an OSError without repeating the file name."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    return exc.strerror or type(exc).__name__
