"""Prometheus metrics of the daemon, with the official client library.

Names follow Prometheus's conventions: a `feeder_` prefix, base units
(seconds), `_total` for counters. Every label takes few values (jobs,
outcomes, stages, verdicts and reasons, HTTP statuses): no per-URL or
per-article label.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from feeder.app.pipeline import BuildReport
    from feeder.ingest.run import IngestReport
    from feeder.ingest.websub import Inbox
    from feeder.links.rounds import RoundReport

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Build stages as timed by the pipeline, and their label.
_STAGES = {"scan and parse": "scan", "link checks": "link_checks", "select": "select", "render": "render",
           "write": "write"}
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rounds = Counter("feeder_rounds", "Rounds run by the daemon, by job and outcome",
                              ["job", "outcome"], registry=r)
        self.round_seconds = Histogram("feeder_round_duration_seconds", "How long a round took, by job",
                                       ["job"], buckets=_BUCKETS, registry=r)
        self.stage_seconds = Histogram("feeder_build_stage_duration_seconds",
                                       "How long each stage of a build took", ["stage"], buckets=_BUCKETS,
                                       registry=r)
        self.last_success = Gauge("feeder_last_success_timestamp_seconds",
                                  "When a round of the job last succeeded (Unix time)", ["job"], registry=r)
        self.articles = Gauge("feeder_articles", "Articles by state after the last build", ["state"], registry=r)
        self.files_written = Counter("feeder_files_written", "Output files written (feeds, OPML, landing page)",
                                     registry=r)
        self.link_checks = Counter("feeder_link_checks", "Link checks by verdict and reason",
                                   ["verdict", "reason"], registry=r)
        self.links_due = Gauge("feeder_links_due", "Due URLs the last link-check round did not reach", registry=r)
        self.ingest_fetches = Counter("feeder_ingest_fetches", "Source fetches by outcome", ["outcome"], registry=r)
        self.ingest_entries = Counter("feeder_ingest_entries", "Entries written from sources, new or updated",
                                      ["change"], registry=r)
        self.ingest_left_out = Counter("feeder_ingest_left_out", "Entries of fetched sources left out, by reason",
                                       ["reason"], registry=r)
        self.websub_pings = Counter("feeder_websub_pings", "WebSub publish pings by outcome", ["outcome"],
                                    registry=r)
        self.publishing = Gauge("feeder_publisher", "1 while this instance publishes (alone, with an output "
                                "folder of its own, or holding the publisher lock of a shared one)", registry=r)
        self.http_requests = Counter("feeder_http_requests", "HTTP requests served, by status", ["status"],
                                     registry=r)
        self.http_malformed = Counter("feeder_http_malformed_requests", "Malformed HTTP requests refused, by "
                                      "aiohttp's name for what was wrong", ["error"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def round(self, job: str, outcome: str, seconds: float, finished: float | None = None) -> None:
        self.rounds.labels(job, outcome).inc()
        self.round_seconds.labels(job).observe(seconds)
        if outcome == "ok" and finished is not None:
            self.last_success.labels(job).set(finished)

    def build(self, report: BuildReport) -> None:
        for stage, seconds in report.timings.items():
            if stage in _STAGES:
                self.stage_seconds.labels(_STAGES[stage]).observe(seconds)
        self.articles.labels("published").set(report.published)
        self.articles.labels("held_back").set(report.held_back)
        self.articles.labels("skipped").set(len(report.skipped))
        self.files_written.inc(len(report.written))
        if report.links is not None:
            self.links(report.links)
        self.pings(p.ok for p in report.pings)

    def links(self, report: RoundReport) -> None:
        for (verdict, reason), count in report.reasons.items():
            self.link_checks.labels(verdict, reason).inc(count)
        self.links_due.set(report.unfinished)

    def ingest(self, report: IngestReport) -> None:
        for source in report.sources:
            if source.status != "not-due":
                self.ingest_fetches.labels(source.status.replace("-", "_")).inc()
            if source.new:
                self.ingest_entries.labels("new").inc(source.new)
            if source.updated:
                self.ingest_entries.labels("updated").inc(source.updated)
            for reason, count in source.reasons().items():
                self.ingest_left_out.labels(reason).inc(count)

    def pings(self, outcomes: Iterable[bool]) -> None:
        for ok in outcomes:
            self.websub_pings.labels("accepted" if ok else "failed").inc()

    def publisher(self, leading: bool) -> None:
        self.publishing.set(1 if leading else 0)

    def request(self, status: int) -> None:
        self.http_requests.labels(str(status)).inc()

    def malformed(self, error: str) -> None:
        self.http_malformed.labels(error).inc()

    def websub(self, inbox: Inbox) -> None:
        """Report the WebSub subscriptions by state and the pushes received by outcome, as they stand
        when scraped."""
        self.registry.register(_PushCollector(inbox))


class _PushCollector:
    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    def collect(self) -> Iterator[Any]:
        from datetime import datetime, timezone

        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        states = GaugeMetricFamily("feeder_websub_subscriptions", "WebSub subscriptions to sources' hubs, by "
                                   "state (expiring: active, due for renewal)", labels=["state"])
        found = self.inbox.states(datetime.now(timezone.utc))
        for state in ("pending", "active", "expiring", "unsubscribing", "failed"):
            states.add_metric([state], found.get(state, 0))
        yield states
        pushes = CounterMetricFamily("feeder_websub_pushes", "WebSub deliveries received, by outcome "
                                     "(accepted, or why they were refused)", labels=["outcome"])
        for outcome, n in sorted(self.inbox.totals.items()):
            pushes.add_metric([outcome], n)
        yield pushes
