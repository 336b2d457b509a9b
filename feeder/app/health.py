"""Is the daemon doing its job? What `/healthz` answers.

The daemon records each round's outcome here; a check then costs no disk
scan: the outcome of the last rescan rounds, and one look each at the output
folder and the state database.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from feeder._version import __version__
from feeder.errors import StateError
from feeder.storage.db import PostgresDatabase, SqliteDatabase, database_errors, describe_database_error, redact_url
from feeder.storage.state import DB_NAME

__all__ = ["Health", "HealthReport"]


@dataclass
class _Job:
    last_ok: datetime | None = None
    last_failure: datetime | None = None
    error: str | None = None
    failures: int = 0  # in a row


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    body: dict[str, object]

    @property
    def status(self) -> int:
        return 200 if self.ok else 503


@dataclass
class Health:
    """Thread-safe: jobs report from the scheduler's threads, the server reads from its own."""

    output_dir: Path
    state_dir: Path
    rescan_interval: float  # seconds between rescan rounds: the last success may be at most twice that old
    state_url: str | None = None  # the shared PostgreSQL state, if any
    content_dir: Path | None = None
    jobs: dict[str, _Job] = field(default_factory=dict)
    next_runs: dict[str, datetime | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def succeeded(self, job: str, when: datetime) -> None:
        with self._lock:
            state = self.jobs.setdefault(job, _Job())
            state.last_ok, state.failures, state.error = when, 0, None

    def failed(self, job: str, when: datetime, error: str) -> None:
        with self._lock:
            state = self.jobs.setdefault(job, _Job())
            state.last_failure, state.error = when, error
            state.failures += 1

    def scheduled(self, job: str, when: datetime | None) -> None:
        with self._lock:
            self.next_runs[job] = when

    def unscheduled(self, job: str) -> None:
        """A job with nothing to do (ingest without sources): not announced."""
        with self._lock:
            self.next_runs.pop(job, None)

    def check(self, now: datetime | None = None) -> HealthReport:
        now = now or datetime.now(timezone.utc)
        with self._lock:
            rescan = self.jobs.get("rescan", _Job())
            next_runs = dict(self.next_runs)
            last_ok, failures, error = rescan.last_ok, rescan.failures, rescan.error
        reasons = []
        if last_ok is None:
            reasons.append(f"the last rescan failed: {error}" if failures else "no rescan has succeeded yet")
        elif failures:
            reasons.append(f"the last {failures} rescan round(s) failed: {error}")
        elif (now - last_ok).total_seconds() > 2 * self.rescan_interval:
            reasons.append(f"no successful rescan since {last_ok.isoformat(timespec='seconds')}, "
                           f"more than twice the interval ({self.rescan_interval:g} s)")
        if self.content_dir is not None and not self.content_dir.is_dir():
            # Nothing is published from it meanwhile, and nothing already published is withdrawn.
            reasons.append(f"the content folder {self.content_dir} does not exist")
        if not self.output_dir.is_dir() or not os.access(self.output_dir, os.W_OK | os.X_OK):
            reasons.append(f"the output folder {self.output_dir} is not a writable folder")
        problem = _database_problem(self.state_dir / DB_NAME, self.state_url)
        if problem:
            where = redact_url(self.state_url) if self.state_url else self.state_dir / DB_NAME
            reasons.append(f"the state database {where} cannot be used: {problem}")
        body: dict[str, object] = {
            "status": "ok" if not reasons else "failing",
            "version": __version__,
            "last_success": last_ok.isoformat(timespec="seconds") if last_ok else None,
            "next_round": {job: when.isoformat(timespec="seconds") if when else None
                           for job, when in sorted(next_runs.items())},
        }
        if reasons:
            body["reasons"] = reasons
        return HealthReport(not reasons, body)


def _database_problem(path: Path, url: str | None) -> str | None:
    if url is None and not path.is_file():
        return f"{path} does not exist"
    try:
        db = PostgresDatabase.open(url, connect_timeout=2) if url else SqliteDatabase.open(path, readonly=True,
                                                                                            timeout=1)
        try:
            db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        finally:
            db.close()
    except StateError as exc:
        return exc.problem
    except database_errors() as exc:
        return describe_database_error(exc, url or "")
    return None
