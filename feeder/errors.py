"""The exceptions feeder raises, all under one root, and the one place where
third-party errors (PyYAML, OS, httpx) are turned into them.

Every error carries the data an operator needs to act on it (the file, the
configuration key, the URL) as attributes, not only in its message.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "ContentError",
    "FeederError",
    "FetchError",
    "LockTimeout",
    "OutputError",
    "StateError",
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


class StateError(FeederError):
    """The state database cannot be opened or is from an unknown version."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class LockTimeout(FeederError):
    """Another build held the lock for longer than we were willing to wait."""

    def __init__(self, path: Path | str, waited: float):
        self.path = Path(path)
        self.waited = waited
        super().__init__(
            f"another feeder build holds {path}; gave up after waiting {waited:g} s"
        )


class FetchError(FeederError):
    """An HTTP fetch failed; `reason` is a short machine-readable code."""

    def __init__(self, url: str, reason: str, detail: str = ""):
        self.url = url
        self.reason = reason
        self.detail = detail
        super().__init__(f"{url}: {reason}{': ' + detail if detail else ''}")


def describe_yaml_error(exc: Exception, *, line_offset: int = 0) -> str:
    """A one-line description of a PyYAML error, with its line and column.

    PyYAML's own messages span several lines and quote the document; a report
    line must stay short and must never echo values (they may be secrets).
    `line_offset` is the number of file lines before the YAML text starts.
    """
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
