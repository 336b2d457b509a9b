"""`feeder daemon`: APScheduler 3 in the foreground, wiring jobs to the same
functions cron runs.

Jobs never overlap themselves (`max_instances=1`, coalescing, a misfire
grace time) and share the build lock with cron runs. SIGTERM and SIGINT ask
the running job to stop at its next safe point (between two files, never in
the middle of one) and exit 0; SIGHUP reloads the configuration, keeping the
old one when the new one is bad.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feeder.app.exitstatus import EXIT_LISTEN
from feeder.app.pipeline import build
from feeder.config import Every, Settings, load_config
from feeder.errors import Cancelled, ConfigError, FeederError, LockTimeout
from feeder.links.check import check_content_links

__all__ = ["Daemon", "make_trigger"]

log = logging.getLogger(__name__)

STOP_GRACE = 20.0  # seconds to wait for a running job after SIGTERM


def make_trigger(every: Every) -> BaseTrigger:
    """The APScheduler trigger for a schedule the configuration already checked."""
    if every.crontab is not None:
        return CronTrigger.from_crontab(every.crontab, timezone=timezone.utc)
    return IntervalTrigger(seconds=every.seconds, timezone=timezone.utc)


@dataclass
class _Job:
    name: str
    spec: Callable[[Settings], Every]
    run: Callable[[Settings, threading.Event], None]
    first_run_now: bool = False


@dataclass
class Daemon:
    settings: Settings
    config_path: Path | None
    serve: tuple[str, int] | None = None  # also serve the output folder on HOST, PORT
    extra_jobs: list[_Job] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
            timezone=timezone.utc,
        )
        self.jobs = [
            _Job("rescan", lambda s: s.schedule.rescan, self._rescan, first_run_now=True),
            _Job("link-check", lambda s: s.schedule.link_check, self._link_check),
            _Job("ingest", lambda s: s.schedule.ingest, self._ingest),
            *self.extra_jobs,
        ]

    # -- jobs ------------------------------------------------------------------

    def _rescan(self, settings: Settings, stop: threading.Event) -> None:
        report = build(settings, cancel=stop)
        if report.unchanged:
            log.info("rescan: nothing changed (%s)", report.summary())
        else:
            log.info("rescan: %s", report.summary())
        for problem in report.skipped:
            log.debug("skipped %s", problem)

    def _link_check(self, settings: Settings, stop: threading.Event) -> None:
        if not settings.links.enabled:
            return
        outcome = check_content_links(settings, everything=False, budget=settings.schedule.link_budget, cancel=stop)
        log.info("link check: %s", outcome.report.summary())
        if outcome.report.holds_changed:
            self._rescan(settings, stop)  # publish what the new verdicts decide now, not at the next rescan

    def _ingest(self, settings: Settings, stop: threading.Event) -> None:
        if not settings.sources:
            return
        from feeder.ingest.run import ingest

        report = ingest(settings, cancel=stop)
        log.info("ingest: %s", report.summary())
        if report.changed:
            self._rescan(settings, stop)  # new articles are published (or held for review) at once

    def _wrap(self, job: _Job) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.running += 1
            try:
                job.run(self.settings, self.stop)
            except Cancelled:
                log.info("%s: stopped for shutdown", job.name)
            except LockTimeout as exc:
                log.warning("%s: skipped: %s", job.name, exc)
            except FeederError as exc:
                log.error("%s failed: %s", job.name, exc)
            except Exception:
                log.exception("%s failed", job.name)
            finally:
                with self._lock:
                    self.running -= 1
        return run

    def _schedule(self, *, initial: bool) -> None:
        for job in self.jobs:
            trigger = make_trigger(job.spec(self.settings))
            if initial:
                kwargs: dict[str, Any] = {"next_run_time": datetime.now(timezone.utc)} if job.first_run_now else {}
                self.scheduler.add_job(self._wrap(job), trigger, id=job.name, name=job.name, **kwargs)
            else:
                self.scheduler.reschedule_job(job.name, trigger=trigger)

    # -- signals ---------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stop.set()
        self.scheduler.shutdown(wait=False)

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("SIGHUP: the new configuration is not usable, keeping the old one: %s", exc)
            return
        self.settings = new
        self._schedule(initial=False)
        log.info("SIGHUP: configuration reloaded from %s", self.config_path or "the default location")

    def run(self) -> int:
        server = None
        if self.serve is not None:
            from feeder.app.serve import ServerThread

            server = ServerThread(self.settings, *self.serve)
            try:
                server.start()
            except OSError as exc:
                log.error("cannot listen on %s:%d: %s", *self.serve, exc.strerror or exc)
                return EXIT_LISTEN
        try:
            return self._run_scheduler()
        finally:
            if server is not None:
                server.stop()

    def _run_scheduler(self) -> int:
        self._schedule(initial=True)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        log.info("feeder daemon started: %s", ", ".join(f"{j.name} every {j.spec(self.settings)}" for j in self.jobs))
        self.scheduler.start()  # returns after shutdown
        deadline = time.monotonic() + STOP_GRACE
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running:
            log.warning("a job was still running after %g s; exiting anyway", STOP_GRACE)
        log.info("feeder daemon stopped")
        return 0
