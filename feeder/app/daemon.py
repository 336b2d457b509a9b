"""`feeder daemon`: APScheduler 3 wiring jobs to the same functions cron runs,
while the main thread waits for signals and acts on them.

Jobs never overlap themselves (`max_instances=1`, coalescing, a misfire
grace time) and share the build lock with cron runs. SIGTERM and SIGINT ask
the running job to stop at its next safe point (between two files, never in
the middle of one) and exit 0; SIGHUP reloads the configuration, keeping the
old one when the new one is bad. Each round's outcome goes to the health
check, the metrics and, under systemd, the notify socket.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feeder.app.exitstatus import EXIT_LISTEN, describe_listen_error
from feeder.app.health import Health
from feeder.app.metrics import Metrics
from feeder.app.notify import Notifier
from feeder.app.pipeline import build
from feeder.app.signals import SignalInbox
from feeder.config import Every, Settings, load_config
from feeder.content.watch import Changes, Watcher, WatchUnavailable
from feeder.errors import Cancelled, ConfigError, FeederError, LockTimeout
from feeder.links.check import check_content_links, check_shared_links
from feeder.storage.advisory import Leadership
from feeder.storage.db import redact_url

# How often the sources file is looked at for `feeder sources` changes.
_SOURCES_FILE_EVERY = 2.0


def _websub_every(settings: Settings) -> Every:
    """How often the WebSub round runs (subscriptions, renewals, what hubs
    verified): every 30 s, more often for a lease so short that a renewal
    at four fifths of it would come too late."""
    push = settings.ingest.websub
    lease = push.lease.total_seconds() if push is not None else 300.0
    return Every.parse(f"{max(0.5, min(30.0, lease / 10)):g}s")

if TYPE_CHECKING:
    from feeder.app.serve import ServerThread
    from feeder.ingest.websub import Inbox

__all__ = ["Daemon", "keep_restart_only", "make_trigger"]

log = logging.getLogger(__name__)

STOP_GRACE = 20.0  # seconds to wait for a running job after SIGTERM


def make_trigger(every: Every) -> BaseTrigger:
    """The APScheduler trigger for a schedule the configuration already checked."""
    if every.crontab is not None:
        return CronTrigger.from_crontab(every.crontab, timezone=timezone.utc)
    return IntervalTrigger(seconds=every.seconds, timezone=timezone.utc)


def keep_restart_only(old: Settings, new: Settings, *, serving: bool) -> tuple[Settings, list[str]]:
    """`new`, but with the settings a running daemon cannot change (the state
    it holds open, its listening sockets) as in `old`; and the names of those
    the new configuration tried to change."""
    kept = []
    if new.state_dir != old.state_dir:
        kept.append("state_dir")
    if new.state != old.state:
        kept.append("state.url")
    if new.ha != old.ha:
        kept.append("ha")
    if serving and new.serve.admin_listen != old.serve.admin_listen:
        kept.append("serve.admin_listen")
    if serving and new.serve.metrics != old.serve.metrics:
        kept.append("serve.metrics")
    serve = replace(new.serve, admin_listen=old.serve.admin_listen, metrics=old.serve.metrics)
    return replace(new, state_dir=old.state_dir, state=old.state, ha=old.ha, serve=serve), kept


def interval_of(every: Every, now: datetime | None = None) -> float:
    """Seconds between two runs (for a crontab line, between its next two)."""
    if every.seconds is not None:
        return every.seconds
    trigger = make_trigger(every)
    now = now or datetime.now(timezone.utc)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 86400.0


@dataclass
class _Job:
    name: str
    spec: Callable[[Settings], Every]
    run: Callable[[Settings, threading.Event], str]  # returns a one-line summary of the round
    first_run_now: bool = False
    # Whether the job has work under these settings (ingest without sources has
    # none): a job without is still scheduled, but never announced.
    active: Callable[[Settings], bool] = lambda settings: True


@dataclass
class Daemon:
    settings: Settings
    config_path: Path | None
    serve: tuple[str, int] | None = None  # also serve the output folder on HOST, PORT
    extra_jobs: list[_Job] = field(default_factory=list)
    on_reload: Callable[[Settings], None] | None = None  # after SIGHUP (the command line sets up logging again)
    stop: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _push_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.metrics = Metrics()
        self.notifier = Notifier()
        self.health = Health(self.settings.output_dir, self.settings.state_dir,
                             interval_of(self.settings.schedule.rescan), self.settings.state.url,
                             content_dir=self.settings.content_dir)
        self._ready = False
        self.watcher: Watcher | None = None  # None: changes are found by rescans
        self._swept = False  # with a watcher: a full scan has run since it started
        self._watch_thread: threading.Thread | None = None
        # What failed rounds did not finish: the files their events named (or,
        # `lost`, a full scan). The next round takes it on besides its own.
        self._owed: Changes | None = None
        self.server: ServerThread | None = None
        # With PostgreSQL, several daemons share one state: the one holding the
        # publisher lock runs the publishing rounds, the others stand by.
        # With its own output folder (ha.output: own) every instance publishes.
        self.leadership: Leadership | None = None
        if self.settings.state.url and self.settings.ha.output == "shared":
            self.leadership = Leadership(self.settings.state.url, timeout=self._poll_seconds(),
                                         cooldown=self.settings.ha.failover)
        else:
            self.metrics.publisher(True)  # alone, or with an output folder of its own: it publishes
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
            timezone=timezone.utc,
        )
        # WebSub: what the server's callbacks and the daemon's rounds share.
        self.inbox: Inbox | None = None
        push = self.settings.ingest.websub
        if push is not None and self.serve is not None:
            from feeder.ingest.websub import Inbox

            self.inbox = Inbox(push, self.settings.ingest.max_bytes)
            self.inbox.on_change = self._websub_now
            self.metrics.websub(self.inbox)
        self._sources_seen: tuple[int, int, int] | None = self._sources_file_stat()
        self.jobs = [
            _Job("rescan", lambda s: s.schedule.rescan, self._rescan, first_run_now=True),
            _Job("sweep", lambda s: s.schedule.sweep, self._sweep),
            _Job("link-check", lambda s: s.schedule.link_check, self._link_check,
                 active=lambda s: s.links.enabled),
            _Job("ingest", lambda s: s.schedule.ingest, self._ingest, active=lambda s: bool(s.sources)),
            *([_Job("websub", _websub_every, self._websub, first_run_now=True,
                    active=lambda s: bool(s.sources))] if self.inbox is not None else []),
            *self.extra_jobs,
        ]

    # -- jobs ------------------------------------------------------------------

    def _poll_seconds(self) -> float:
        # Three polls per failover period: a free lock is claimed within a third of it.
        return max(0.5, self.settings.ha.failover / 3)

    def _elect(self) -> None:
        leadership = self.leadership
        if leadership is None:
            return
        was = leadership.leading
        now = leadership.poll()
        if now and not was:
            log.info("this instance publishes now (it holds the publisher lock of %s)",
                     redact_url(leadership.url))
            self.metrics.publisher(True)
            # Sweep at once: the last publisher may have stopped half-way, and
            # events this instance saw while standing by were not published.
            self._swept = False
            if self.scheduler.running and self.scheduler.get_job("rescan") is not None:
                self.scheduler.modify_job("rescan", next_run_time=datetime.now(timezone.utc))
        elif was and not now:
            self.metrics.publisher(False)

    def _standing_by(self) -> bool:
        return self.leadership is not None and not self.leadership.leading

    def _rescan(self, settings: Settings, stop: threading.Event) -> str:
        # With a watcher, events name what changed: a rescan only publishes what
        # became due, without looking at the folder, once a first sweep has run.
        changes = Changes() if self.watcher is not None and self._swept else None
        summary = self._publish("rescan", settings, stop, changes)
        if changes is None and self.watcher is not None and not self._standing_by():
            self._swept = True
        return summary

    def _sweep(self, settings: Settings, stop: threading.Event) -> str:
        if self.watcher is None:
            return "sweep: not watching (every rescan scans the folder)"
        summary = self._publish("sweep", settings, stop, None)
        self._swept = True
        return summary

    def _publish(self, name: str, settings: Settings, stop: threading.Event, changes: Changes | None) -> str:
        if self._standing_by():
            return f"{name}: standing by (another instance publishes)"
        changes = self._take_owed(changes)
        try:
            report = build(settings, cancel=stop, changes=changes, resident=True)
        except BaseException:
            # Whatever stopped this round (an unwritable output folder, the state
            # database, a stop for shutdown), what it was to publish is owed.
            self._owe(changes)
            raise
        self.metrics.build(report)
        summary = report.summary()
        if report.unchanged:
            log.info("%s: nothing changed (%s)", name, summary, extra={"round": name})
        else:
            log.info("%s: %s", name, summary, extra={"round": name})
        for problem in report.skipped:
            log.debug("skipped %s", problem, extra={"round": name, "path": problem.path})
        return f"{name}: {summary}"

    def _take_owed(self, changes: Changes | None) -> Changes | None:
        """This round's changes with what failed rounds left owed (None: a full scan)."""
        with self._lock:
            owed, self._owed = self._owed, None
        if owed is None or changes is None:
            return changes
        merged = Changes()
        merged.merge(owed)
        merged.merge(changes)
        return merged

    def _owe(self, changes: Changes | None) -> None:
        with self._lock:
            if changes is None:
                changes = Changes(lost=True)  # a full scan that failed: the next round scans again
            if self._owed is None:
                self._owed = changes
            else:
                self._owed.merge(changes)

    # -- filesystem events -------------------------------------------------------

    def _start_watching(self) -> None:
        if not self.settings.schedule.watch:
            return
        try:
            self.watcher = Watcher(self.settings.content_dir)
        except WatchUnavailable as exc:
            log.warning("not watching %s for changes: %s; %s. Publishing by rescans every %s instead",
                        self.settings.content_dir, exc.problem, exc.fix, self.settings.schedule.rescan)
            return
        if self.watcher.missing:
            log.warning("the content folder %s does not exist: watching for it to appear",
                        self.settings.content_dir)
        else:
            log.info("watching %d folder%s of %s for changes", self.watcher.folders,
                     "" if self.watcher.folders == 1 else "s", self.settings.content_dir)
        self._watch_thread = threading.Thread(target=self._watch_loop, name="feeder-watch", daemon=True)
        self._watch_thread.start()

    def _stop_watching(self) -> None:
        """Stop the watch thread (it closes its watcher) and wait for it."""
        self.watcher = None
        thread, self._watch_thread = self._watch_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _watch_loop(self) -> None:
        """Read events and publish each batch at once, in this thread: a
        burst of saves becomes a few rounds, and rounds never overlap."""
        watcher = self.watcher
        assert watcher is not None
        while not self.stop.is_set() and self.watcher is watcher:
            try:
                changes = watcher.read(timeout=0.5)
            except OSError as exc:
                log.error("reading filesystem events failed (%s): publishing by rescans from now on", exc)
                self.watcher = None
                break
            if changes.root_gone:
                # Nothing is withdrawn: what was published stays until the folder is back.
                log.warning("the content folder %s was deleted or moved away: nothing is published from it "
                            "until it is there again (watching for it)", self.settings.content_dir,
                            extra={"round": "watch"})
                continue
            if changes.root_back:
                log.info("the content folder %s is there again: watching it again (%d folder%s), sweeping it",
                         self.settings.content_dir, watcher.folders, "" if watcher.folders == 1 else "s",
                         extra={"round": "watch"})
            if changes:
                round_ = functools.partial(self._watch_round, changes=changes)
                self._wrap(_Job("watch", lambda s: s.schedule.rescan, round_))()
        watcher.close()

    def _watch_round(self, settings: Settings, stop: threading.Event, *, changes: Changes) -> str:
        if changes.root_back:
            summary = self._publish("watch", settings, stop, None)
            self._swept = True
            return summary
        if changes.lost:
            log.warning("filesystem events were lost (the kernel's event queue overflowed, see "
                        "fs.inotify.max_queued_events): sweeping the whole content folder", extra={"round": "watch"})
            summary = self._publish("watch", settings, stop, None)
            self._swept = True
            return summary
        return self._publish("watch", settings, stop, changes)

    def _link_check(self, settings: Settings, stop: threading.Event) -> str:
        if not settings.links.enabled:
            return "link-check: link checks are off"
        if settings.state.url:
            # Every instance checks, each the hosts it claims.
            report = check_shared_links(settings, budget=settings.schedule.link_budget, cancel=stop)
        else:
            report = check_content_links(settings, everything=False, budget=settings.schedule.link_budget,
                                         cancel=stop).report
        self.metrics.links(report)
        log.info("link check: %s", report.summary(), extra={"round": "link-check"})
        if report.holds_changed and not self._standing_by():
            self._rescan(settings, stop)  # publish what the new verdicts decide now, not at the next rescan
        return f"link-check: {report.summary()}"

    def _ingest(self, settings: Settings, stop: threading.Event) -> str:
        if not settings.sources:
            return "ingest: no sources"
        from feeder.ingest.run import ingest

        # With a shared state every instance ingests, each the sources it claims;
        # ingest asks every publisher to sweep for what it wrote.
        report = ingest(settings, cancel=stop)
        self.metrics.ingest(report)
        log.info("ingest: %s", report.summary(), extra={"round": "ingest"})
        for source in report.sources:
            if source.needs_attention:
                log.warning("ingest: %s", source.line(), extra={"round": "ingest", "source": source.url})
        if report.changed and not self._standing_by():
            self._rescan(settings, stop)  # new articles are published (or held for review) at once
        if self.inbox is not None:
            self._websub(settings, stop)  # a hub the sources advertise now is subscribed to at once
        return f"ingest: {report.summary()}"

    def _websub(self, settings: Settings, stop: threading.Event) -> str:
        if self.inbox is None or settings.ingest.websub is None:
            return "websub: off"
        from feeder.ingest.push import push_round

        with self._push_lock:  # after an ingest and on its schedule: one at a time
            self.inbox.reconfigure(settings.ingest.websub, settings.ingest.max_bytes)
            report = push_round(settings, self.inbox)
        for failure in report.failed:
            log.warning("websub: %s", failure, extra={"round": "websub"})
        return report.summary()

    def _websub_now(self) -> None:
        """A hub verified (or denied) a subscription: record it now."""
        if self.scheduler.running and self.scheduler.get_job("websub") is not None:
            self.scheduler.modify_job("websub", next_run_time=datetime.now(timezone.utc))

    def _deliveries(self) -> None:
        """Ingest each document a hub delivered as it arrives (a thread of its own)."""
        import queue

        from feeder.ingest.run import ingest_delivery

        assert self.inbox is not None
        while not self.stop.is_set():
            try:
                delivery = self.inbox.deliveries.get(timeout=0.2)
            except queue.Empty:
                continue
            settings = self.settings
            try:
                rep = ingest_delivery(settings, delivery.source, delivery.body, delivery.content_type,
                                      cancel=self.stop)
            except Cancelled:
                return
            except FeederError as exc:
                log.error("websub: a delivery for %s could not be ingested: %s", delivery.source, exc)
                continue
            except Exception:
                log.exception("websub: a delivery for %s could not be ingested", delivery.source)
                continue
            if rep is None:
                continue
            log.info("websub: %s: pushed: %d new, %d updated%s", delivery.source, rep.new, rep.updated,
                     f" ({rep.error})" if rep.error else "", extra={"round": "websub"})
            if (rep.new or rep.updated) and not self._standing_by() and self.watcher is None:
                # Without a watcher nothing else notices the files: a round now.
                self.scheduler.modify_job("rescan", next_run_time=datetime.now(timezone.utc))

    def _sources_file_stat(self) -> tuple[int, int, int] | None:
        path = self.settings.sources_file
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_ino, st.st_mtime_ns, st.st_size)

    def _check_sources_file(self) -> None:
        """`feeder sources add` (or an editor) changed the sources file: reload
        as SIGHUP does, in the main thread, by sending this process SIGHUP."""
        import os

        seen = self._sources_file_stat()
        if seen != self._sources_seen:
            self._sources_seen = seen
            log.info("%s changed: reloading the configuration", self.settings.sources_file)
            os.kill(os.getpid(), signal.SIGHUP)

    def _wrap(self, job: _Job) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.running += 1
            started = time.perf_counter()
            outcome, summary = "ok", ""
            try:
                summary = job.run(self.settings, self.stop)
            except Cancelled:
                outcome, summary = "stopped", f"{job.name}: stopped for shutdown"
                log.info("%s: stopped for shutdown", job.name, extra={"round": job.name})
            except LockTimeout as exc:
                outcome, summary = "skipped", f"{job.name}: skipped: {exc}"
                log.warning("%s: skipped: %s", job.name, exc, extra={"round": job.name})
            except FeederError as exc:
                outcome, summary = "failed", f"{job.name} failed: {exc}"
                log.error("%s failed: %s", job.name, exc, extra={"round": job.name})
            except Exception as exc:
                outcome, summary = "failed", f"{job.name} failed: {type(exc).__name__}: {exc}"
                log.exception("%s failed", job.name, extra={"round": job.name})
            finally:
                with self._lock:
                    self.running -= 1
            self._round_done(job.name, outcome, summary, time.perf_counter() - started)
        return run

    def _round_done(self, job: str, outcome: str, summary: str, seconds: float) -> None:
        now = datetime.now(timezone.utc)
        self.metrics.round(job, outcome, seconds, now.timestamp())
        if outcome == "ok":
            self.health.succeeded(job, now)
        elif outcome == "failed":
            self.health.failed(job, now, summary)
        self._note_next_runs()
        if job == "rescan" and not self._ready:
            self._ready = True
            self.notifier.ready(summary)
        else:
            self.notifier.status(summary)

    def _note_next_runs(self) -> None:
        """Tell the health check and `feeder status` when each job runs next."""
        runs = {}
        for job in self.jobs:
            if not job.active(self.settings):
                self.health.unscheduled(job.name)
                continue
            scheduled = self.scheduler.get_job(job.name)
            when = scheduled.next_run_time if scheduled is not None else None
            self.health.scheduled(job.name, when)
            runs[job.name] = when.isoformat(timespec="seconds") if when else None
        try:
            from feeder.storage.state import State

            with State.open(self.settings.state_dir, self.settings.state.url) as state:
                state.output_key = self.settings.output_key
                state.set_output_meta("next_rounds", json.dumps(runs))
        except FeederError as exc:
            log.debug("next rounds not recorded: %s", exc)

    def _schedule(self, *, initial: bool) -> None:
        for job in self.jobs:
            trigger = make_trigger(job.spec(self.settings))
            if initial:
                kwargs: dict[str, Any] = {"next_run_time": datetime.now(timezone.utc)} if job.first_run_now else {}
                self.scheduler.add_job(self._wrap(job), trigger, id=job.name, name=job.name, **kwargs)
            else:
                self.scheduler.reschedule_job(job.name, trigger=trigger)
        self.health.rescan_interval = interval_of(self.settings.schedule.rescan)
        if initial:
            # Not a round: never reported, only a stat every two seconds.
            self.scheduler.add_job(self._check_sources_file, IntervalTrigger(seconds=_SOURCES_FILE_EVERY),
                                   id="sources-file", name="sources-file", max_instances=1, coalesce=True)
        if initial and self.notifier.watchdog:
            # Pinged from the scheduler's own pool: a daemon whose scheduler or
            # workers hang stops pinging, and systemd restarts it.
            self.scheduler.add_job(self.notifier.ping, IntervalTrigger(seconds=self.notifier.watchdog / 2),
                                   id="watchdog", name="watchdog", next_run_time=datetime.now(timezone.utc))

    # -- signals ---------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        """Act on a signal, in the main thread (see `feeder.app.signals` for why not in the handler)."""
        if signum == signal.SIGHUP:
            self._reload()
        elif not self.stop.is_set():
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.notifier.stopping()
            self.stop.set()

    def _reload(self) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("SIGHUP: the new configuration is not usable, keeping the old one: %s", exc)
            return
        old = self.settings
        new, kept = keep_restart_only(old, new, serving=self.serve is not None)
        self.settings = new
        self._sources_seen = self._sources_file_stat()
        if self.on_reload is not None:
            self.on_reload(new)  # the log format
        if self.server is not None:
            self.server.reconfigure(new)
        self.health.output_dir, self.health.content_dir = new.output_dir, new.content_dir
        if new.content_dir != old.content_dir or new.schedule.watch != old.schedule.watch:
            # Watch what the new configuration names (or stop watching); a sweep follows.
            self._stop_watching()
            self._swept = False
            self._start_watching()
        if self.scheduler.get_job("rescan") is not None:  # else the jobs are scheduled from `new` at start
            self._schedule(initial=False)
            # What the new configuration changes in the output is published now,
            # not at the next change: a round of its own, which waits for a
            # round under way (that one still had the old settings).
            self.scheduler.add_job(self._wrap(_Job("reload", lambda s: s.schedule.rescan, self._rescan)),
                                   id="reload", name="reload", replace_existing=True,
                                   next_run_time=datetime.now(timezone.utc))
        needs_restart = f"; {', '.join(kept)} changed but take effect only after a restart (the old value " \
                        f"stays)" if kept else ""
        log.info("SIGHUP: configuration reloaded from %s%s", self.config_path or "the default location",
                 needs_restart)

    def run(self) -> int:
        # Signals first: a SIGTERM while the server starts stops the daemon cleanly too.
        with SignalInbox((signal.SIGTERM, signal.SIGINT, signal.SIGHUP)) as inbox:
            if self.serve is not None:
                from feeder.app.serve import Admin, ServerThread

                admin = Admin(self.health, self.metrics) if self.settings.serve.metrics else None
                server = ServerThread(self.settings, *self.serve, admin=admin, inbox=self.inbox)
                try:
                    server.start()
                except OSError as exc:
                    log.error("cannot listen on %s:%d: %s", *self.serve, describe_listen_error(exc))
                    return EXIT_LISTEN
                self.server = server
            if self.settings.ingest.websub is not None and self.serve is None:
                log.warning("ingest.websub is set, but hubs can reach this daemon only with --serve: sources "
                            "are polled")
            pushes = None
            if self.inbox is not None:
                pushes = threading.Thread(target=self._deliveries, name="feeder-websub", daemon=True)
                pushes.start()
            try:
                return self._run_scheduler(inbox)
            finally:
                if self.server is not None:
                    self.server.stop()
                if pushes is not None:
                    pushes.join(10)

    def _run_scheduler(self, inbox: SignalInbox) -> int:
        # Watch first, sweep next (the first rescan): no change falls between the two.
        self._start_watching()
        self._elect()
        self._schedule(initial=True)
        if self.leadership is not None:
            self.scheduler.add_job(self._elect, IntervalTrigger(seconds=self._poll_seconds()), id="publisher",
                                   name="publisher", max_instances=1, coalesce=True)
            if not self.leadership.leading:
                log.info("standing by: another instance publishes (checking every %g s)", self._poll_seconds())
        log.info("feeder daemon started: %s", ", ".join(f"{j.name} every {j.spec(self.settings)}" for j in self.jobs
                                                         if j.active(self.settings)))
        # A signal that came before this point waited in the inbox: a stop
        # asked while starting stops the daemon before its first round.
        for signum in inbox.wait(timeout=0):
            self._on_signal(signum)
        if not self.stop.is_set():
            self.scheduler.start()
        try:
            while not self.stop.is_set():
                for signum in inbox.wait():
                    self._on_signal(signum)
        finally:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running:
            log.warning("a job was still running after %g s; exiting anyway", STOP_GRACE)
        if self._watch_thread is not None:
            self._watch_thread.join(5)
        if self.leadership is not None:
            self.leadership.release()
        log.info("feeder daemon stopped")
        return 0
