"""One build, as a readable sequence of stages:

    scan the content folder → catalog (reparse what changed) → link checks →
    still current? → select → render and write → remember → ping hubs

Each stage lives in its own module; this one only wires them. A build is
incremental: the catalog reparses only changed files, the renderer renders a
feed again only when its items or its inputs changed, and when nothing that
selection depends on changed the build stops after the scan.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from feeder.config import Settings
from feeder.content.catalog import Catalog, Entry
from feeder.content.catalog import open_catalog as content_catalog
from feeder.content.names import shown
from feeder.errors import Cancelled, check_cancel
from feeder.output.freshness import FOREIGN, RenderedFrom, why_behind
from feeder.output.layout import FILE_NAMES, OPML_NAME, feed_files, public_url
from feeder.output.writer import Publisher
from feeder.storage.db import database_errors
from feeder.storage.lock import locked_state
from feeder.storage.state import State
from feeder.text import plural

# The link-check, selection and rendering stacks (aiohttp, feedgen, lxml,
# Markdown...) are imported where they are used: a rescan that finds nothing
# to do never loads them, which is most of its time.
if TYPE_CHECKING:
    from feeder.app.headstart import HeadStart
    from feeder.content.scan import PendingListing
    from feeder.content.watch import Changes
    from feeder.links.rounds import RoundReport
    from feeder.model import FeedPlan
    from feeder.net.guard import Resolver
    from feeder.output.websub import Ping
    from feeder.selection.feeds import Selection
    from feeder.selection.live import LiveSelection
    from feeder.selection.topics import TopicIndex


__all__ = ["BuildReport", "BuildStats", "FeedSummary", "LastBuild", "Problem", "build", "open_catalog"]

log = logging.getLogger(__name__)


@dataclass
class _KeptSelection:
    """A long-lived process's selection between builds, brought up to date
    by the catalog's entry changes since `cursor`."""

    topics: object  # what the topic index was built from: another means starting afresh
    cursor: tuple[str, int]
    live: LiveSelection[Entry]


# (state database, output folder key) → the selection the last build in this process made.
_SELECTIONS: dict[tuple[str, str], _KeptSelection] = {}


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class BuildReport:
    files: int = 0
    parsed: int = 0  # files (re)parsed by this build
    articles: int = 0
    published: int = 0
    held_back: int = 0
    scheduled: int = 0  # published, with a publishedDateTime still to come
    next_publication: datetime | None = None  # the first of those
    feeds: int = 0
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # published, but with something missing
    file_warnings: list[Problem] = field(default_factory=list)  # the content files' part of `warnings`
    written: list[str] = field(default_factory=list)
    rendered: int = 0  # feeds rendered (the others were unchanged)
    unchanged: bool = False  # nothing selection depends on changed: nothing was rendered
    links: RoundReport | None = None
    pings: list[Ping] = field(default_factory=list)  # WebSub pings sent after this build
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for -vv

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started

    def summary(self) -> str:
        held = f" ({self.held_back} held back by link checks)" if self.held_back else ""
        scheduled = f", {self.scheduled} scheduled" if self.scheduled else ""
        text = (
            f"{plural(self.files, 'file')} read, {plural(self.articles, 'article')}, {self.published} "
            f"published{held}{scheduled}, {len(self.skipped)} skipped"
        )
        if self.warnings:
            text += f", {plural(len(self.warnings), 'warning')}"
        text += f"; {plural(self.feeds, 'feed')}, {plural(len(self.written), 'file')} written"
        if self.links is not None:
            text += f"; links: {self.links.summary()}"
        return text


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """One feed as the last selecting build left it (for `feeder status`)."""

    slug: str  # '' for all topics
    topic: str  # its display name, '' for all topics
    items: int
    newest: str | None  # the newest item's publication date, ISO 8601


@dataclass(frozen=True, slots=True)
class LastBuild:
    """When the last build ran, how long it took and how it ended (for `feeder status`)."""

    started: str  # ISO 8601, UTC
    seconds: float
    outcome: str  # "published", "unchanged", "failed" or "stopped"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BuildStats:
    """What the last selecting build found, kept in the state so that a build
    that stops after the scan reports the same numbers."""

    articles: int
    published: int
    held_back: int
    feeds: int
    skipped: tuple[Problem, ...]
    warnings: tuple[Problem, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BuildStats | None:
        try:
            data = json.loads(text)
            return cls(data["articles"], data["published"], data["held_back"], data["feeds"],
                       tuple(Problem(**p) for p in data["skipped"]), tuple(Problem(**p) for p in data["warnings"]))
        except (ValueError, KeyError, TypeError):
            return None  # an older build's shape: the next selecting build writes it anew


def open_catalog(settings: Settings, state: State, report: BuildReport, cancel: threading.Event | None = None,
                 changes: Changes | None = None, resident: bool = False,
                 pending: PendingListing | None = None) -> tuple[Catalog, bool]:
    """Bring the catalog up to date (a full scan, or only what `changes` names); True when a file changed."""
    catalog, rescan = content_catalog(state, settings.content_dir, max_size=settings.max_file_size,
                                      timezone_name=settings.timezone, cancel=cancel, changes=changes,
                                      resident=resident, pending=pending, follow_links=settings.follow_symlinks)
    report.files, report.parsed = rescan.files, rescan.parsed
    report.skipped = [Problem(shown(path), problem) for path, problem in [*catalog.unreadable(),
                                                                          *catalog.problems()]]
    report.file_warnings = [Problem(shown(path), warning) for path, warning in catalog.warnings()]
    return catalog, rescan.changed


def build(
    settings: Settings,
    *,
    now: datetime | None = None,
    resolver: Resolver | None = None,
    lock_timeout: float | None = None,
    cancel: threading.Event | None = None,
    changes: Changes | None = None,
    resident: bool = False,
    head_start: HeadStart | None = None,
) -> BuildReport:
    """Build every feed once. Raises `FeederError` only when the operator must act.

    `now` and `resolver` exist for tests: the clock and name resolution.
    Setting `cancel` stops the build at the next safe point with `Cancelled`.
    With `changes` (what filesystem events named; empty for none), the
    catalog looks at those files alone instead of scanning the folder.
    A `resident` build (the daemon's) keeps the catalog and the selection in
    memory for the next one, which then works on what changed.
    A caller that took the build lock itself and started listing the content
    folder under it passes both as `head_start`.
    """
    now = now or datetime.now(timezone.utc)
    held, pending = (head_start.lock, head_start.listing) if head_start is not None else (None, None)
    with locked_state(settings.state_dir, settings.state.url, cancel=cancel, held=held,
                      timeout=settings.lock_timeout if lock_timeout is None else lock_timeout) as state:
        state.output_key = settings.output_key
        started, clock = datetime.now(timezone.utc), time.perf_counter()
        try:
            report = _build(settings, state, now, resolver, cancel, changes, resident, pending)
        except Exception as exc:
            outcome = "stopped" if isinstance(exc, Cancelled) else "failed"
            _record_last_build(state, LastBuild(started.isoformat(timespec="seconds"),
                                                round(time.perf_counter() - clock, 3), outcome, str(exc)))
            raise
        outcome = "unchanged" if report.unchanged else "published"
        _record_last_build(state, LastBuild(started.isoformat(timespec="seconds"),
                                            round(time.perf_counter() - clock, 3), outcome))
    log.debug("timings: %s", ", ".join(f"{k} {v:.3f} s" for k, v in report.timings.items()))
    return report


def _record_last_build(state: State, last: LastBuild) -> None:
    """Best effort: a state database that cannot be written may be the failure being recorded."""
    try:
        state.set_output_meta("last_build", json.dumps(asdict(last)))
    except database_errors() as exc:
        log.debug("last build not recorded: %s", exc)


def _build(settings: Settings, state: State, now: datetime, resolver: Resolver | None,
           cancel: threading.Event | None, changes: Changes | None, resident: bool,
           pending: PendingListing | None = None) -> BuildReport:
    from feeder.render.fingerprints import selection_fingerprint

    report = BuildReport()
    publisher = Publisher(settings.output_dir, cancel, guard=state.confirm_lock)
    publisher.prepare()
    # Read before anything else: a verdict change requested while this build
    # runs (shared state: link rounds take no build lock) is left for the next.
    reselect, sweeps = state.requests("reselect"), state.requests("sweep")
    sweep_requested = state.pending("sweep")
    if sweep_requested:
        # Another instance wrote into the content folder (an ingest on a shared
        # state): events on this machine may not have seen it.
        changes = None
    with report.timed("scan and parse"):
        catalog, files_changed = open_catalog(settings, state, report, cancel, changes, resident, pending)
    try:
        if sweep_requested:
            state.done("sweep", sweeps)
        with report.timed("link checks"):
            holds_changed = _check_links(settings, state, report, now, resolver, cancel)
        check_cancel(cancel)
        report.scheduled, report.next_publication = catalog.scheduled(now)
        current = RenderedFrom(True, selection_fingerprint(settings), catalog.generation or "", reselect, now,
                               publisher.stamp())
        behind = "content files changed" if files_changed else "link verdicts changed" if holds_changed \
            else _behind(state, catalog, publisher, current, settings)
        if behind is None:
            if resident and (state.conn.target, state.output_key) not in _SELECTIONS:
                # Selected now, while nothing waits for it: a long-lived process's
                # first change then costs what any other does (at a million
                # articles, reading every entry takes seconds).
                with report.timed("select"):
                    _select(settings, state, catalog, now)
            _report_from_state(state, report)
            state.set_output_meta("last_now", now.isoformat())
            report.unchanged = True
            return report
        log.debug("selecting and rendering: %s", behind)
        state.set_output_meta("complete", "0")
        if behind == FOREIGN:
            state.forget_rendered()
        with report.timed("select"):
            report.skipped += [Problem(d.dropped, f"id '{d.article_id}' is already used by {d.kept}")
                               for d in catalog.duplicates()]
            report.skipped.sort(key=lambda p: p.path)
            selection, held_visible = _select(settings, state, catalog, now)
        with report.timed("render"):
            from feeder.render.site import media_warnings, render_site

            report.rendered = render_site(selection, settings, state, catalog, publisher, now)
            report.warnings = report.file_warnings + [Problem(*w) for w in media_warnings(state)]
        # Rendering and writing interleave; the writer keeps its own clock.
        report.timings["render"] -= publisher.seconds
        report.timings["write"] = publisher.seconds
        _remember(state, catalog, selection, held_visible, report, current, publisher)
        report.written = list(publisher.written)
        report.pings = _ping_hubs(settings, report.written)
        return report
    finally:
        # Before the build lets go of its lock: the next one compares with it.
        catalog.settle()


def _check_links(settings: Settings, state: State, report: BuildReport, now: datetime, resolver: Resolver | None,
                 cancel: threading.Event | None) -> bool:
    """The due link checks and media probes; True when what the policy holds back may have changed.
    (Changes that other processes' rounds made are `why_behind`'s to find.)"""
    if not settings.links.enabled:
        return False
    from feeder.links.rounds import check_links, check_media

    report.links = check_links(settings.links, state, now=now, resolver=resolver, cancel=cancel)
    media_learned = check_media(settings.links, state, now=now, resolver=resolver, cancel=cancel)
    # New facts about enclosures change podcast feeds as surely as a changed verdict.
    return report.links.holds_changed or media_learned > 0


def _select(settings: Settings, state: State, catalog: Catalog, now: datetime) -> tuple[Selection[Entry], int]:
    """Plan every feed; also returns how many visible articles the link policy holds back.

    A resident catalog's selection is kept and updated with the entries that
    changed since the last build. Otherwise, without link checks, each feed
    is asked of the database; with them, the policy looks at every entry.
    """
    from feeder.selection.custom import reserved_slugs
    from feeder.selection.digests import digest_window
    from feeder.selection.topics import TopicIndex

    with_urls = settings.links.enabled
    reserved = reserved_slugs(settings.custom_feeds)
    index = TopicIndex(settings.topics, settings.site.title, reserved=reserved)
    keep_since = digest_window(settings.digest, now, settings.tzinfo, settings.max_items)
    if not catalog.resident and not settings.links.enabled:
        from feeder.content.members import Members
        from feeder.selection.feeds import select_indexed

        selection = select_indexed(Members(state, [d.dropped for d in catalog.duplicates()]), index=index, now=now,
                                   max_items=settings.max_items, retained=state.known_topics(), keep_since=keep_since)
        selection = _with_custom(selection, settings, state, catalog, index, now, keep_since, frozenset())
        return _with_archives(selection, settings, state, catalog, index, now, frozenset()), 0
    from feeder.selection.live import LiveSelection

    where = (state.conn.target, state.output_key)
    topics = (settings.topics, settings.site.title, reserved)
    # Taken out while it is changed: a build that fails half-way leaves none behind.
    kept = _SELECTIONS.pop(where, None)
    cursor, changes = catalog.entry_changes(kept.cursor if kept is not None and kept.topics == topics else None,
                                            with_urls=with_urls)
    if kept is None or changes is None:
        live = LiveSelection(index, catalog.entries(with_urls=with_urls))
    else:
        live = kept.live
        live.update(changes)
    held: frozenset[str] = frozenset()
    if settings.links.enabled:
        from feeder.links.rounds import held_back

        entries = catalog.entries(with_urls=True)
        records = state.link_records(e.original_url for e in entries)
        held = frozenset(held_back(entries, records, state.in_feed(), settings.links))
        live.hold(held)
    selection = live.select(
        now=now,
        max_items=settings.max_items,
        retained=state.known_topics(),
        keep_since=keep_since,
    )
    if catalog.resident:
        _SELECTIONS[where] = _KeptSelection(topics, cursor, live)
    selection = _with_custom(selection, settings, state, catalog, index, now, keep_since, held)
    return _with_archives(selection, settings, state, catalog, index, now, held), live.held_visible(now)


def _with_archives(selection: Selection[Entry], settings: Settings, state: State, catalog: Catalog,
                   index: TopicIndex, now: datetime, held: frozenset[str]) -> Selection[Entry]:
    """With feeds.archive: each feed's every visible member, read from the
    state database, split into the subscription feed and its archive periods."""
    if settings.archive == "off":
        return selection
    from dataclasses import replace

    from feeder.content.members import Candidates, Members
    from feeder.selection.archives import split_archive
    from feeder.selection.custom import compile_query

    dropped = [d.dropped for d in catalog.duplicates()]
    members, candidates = Members(state, dropped, held), Candidates(state, dropped, held)
    queries = {f"custom:{f.slug}": (f, compile_query(f, index)) for f in settings.custom_feeds}
    until, tz = now.timestamp(), settings.tzinfo
    spellings: dict[str, list[str]] = {}
    for name in selection.display_names:
        spellings.setdefault(index.key(name), []).append(name)

    def split(plan: FeedPlan[Entry]) -> FeedPlan[Entry]:
        topic = plan.topic
        limit: int | None
        if topic is None:
            every, limit = members.every(None, until), settings.max_items
        elif topic.custom:
            feed, query = queries[topic.key]
            every, limit = candidates.newest(query, index.key, until, None), feed.max_items or settings.max_items
        else:
            names = sorted(spellings.get(topic.key, []))
            every, limit = (members.every(names, until) if names else []), index.limit(topic.key, settings.max_items)
        items, periods = split_archive(every, limit, settings.archive, tz)
        return replace(plan, items=items, archive=periods)

    return replace(selection, everything=split(selection.everything),
                   topics=tuple(split(p) for p in selection.topics), custom=tuple(split(p) for p in selection.custom))


def _with_custom(selection: Selection[Entry], settings: Settings, state: State, catalog: Catalog,
                 index: TopicIndex, now: datetime, keep_since: datetime | None,
                 held: frozenset[str]) -> Selection[Entry]:
    """The selection with the custom feeds' plans: each query asked of the
    state database, newest matches first (none held back, no duplicate)."""
    if not settings.custom_feeds:
        return selection
    from dataclasses import replace

    from feeder.content.members import Candidates
    from feeder.model import FeedPlan
    from feeder.selection.custom import compile_query, custom_topic

    candidates = Candidates(state, [d.dropped for d in catalog.duplicates()], held)
    until, since = now.timestamp(), keep_since.timestamp() if keep_since is not None else None
    plans = []
    for feed in settings.custom_feeds:
        query = compile_query(feed, index)
        items = candidates.newest(query, index.key, until, feed.max_items or settings.max_items)
        recent = () if since is None else tuple(candidates.newest(query, index.key, until, None, since=since))
        plans.append(FeedPlan(custom_topic(feed), tuple(items), recent))
    return replace(selection, custom=tuple(plans))


def _remember(state: State, catalog: Catalog, selection: Selection[Entry], held_visible: int,
              report: BuildReport, rendered_from: RenderedFrom, publisher: Publisher) -> None:
    """Record what this build published, so the next one can stop early or pick up where it stopped."""
    state.remember_topics(p.topic for p in selection.topics if p.topic is not None)
    state.mark_in_feed({e.id for p in selection.plans for e in p.items})
    report.articles = catalog.article_count()
    report.published = selection.visible
    report.held_back = held_visible
    report.feeds = len(selection.plans)
    # Unreadable folders are the scan's to report, build by build (see `_report_from_state`).
    stats = BuildStats(report.articles, report.published, report.held_back, report.feeds,
                       tuple(p for p in report.skipped if not p.path.endswith("/")), tuple(report.warnings))
    feeds = [FeedSummary(p.slug, p.topic.name if p.topic else "", len(p.items),
                         datetime.fromtimestamp(p.items[0].timestamp, timezone.utc).isoformat() if p.items else None)
             for p in selection.plans]
    stamp = os.urandom(16).hex()
    publisher.put_stamp(stamp)  # first: a crash before the state has it only means one full comparison
    with state.transaction():
        state.set_output_meta("stamp", stamp)
        state.set_output_meta("stats", stats.to_json())
        state.set_output_meta("feeds", json.dumps([asdict(f) for f in feeds]))
        # What the output folder is now rendered from (`_rendered_from` reads it back).
        assert rendered_from.clock is not None and rendered_from.settings is not None
        state.set_output_meta("selection_fingerprint", rendered_from.settings)
        state.set_output_meta("catalog_seen", rendered_from.catalog or "")
        state.set_output_meta("last_now", rendered_from.clock.isoformat())
        state.set_output_meta("reselect_done", rendered_from.reselect)
        state.set_output_meta("complete", "1")


def _ping_hubs(settings: Settings, written: list[str]) -> list[Ping]:
    """Tell the WebSub hubs about the feeds this build changed."""
    if not settings.websub.hubs:
        return []
    # The feeds, not the OPML list or the landing page.
    feeds = set(FILE_NAMES.values())
    changed = [public_url(settings.site.base_url, rel) for rel in written if rel.rsplit("/", 1)[-1] in feeds]
    if not changed:
        return []
    from feeder.output.websub import ping_hubs

    return ping_hubs(settings.websub, changed, settings.links)


def _rendered_from(state: State) -> RenderedFrom:
    """What this output folder was last rendered from, as the last build recorded it."""
    last = state.get_output_meta("last_now")
    return RenderedFrom(
        complete=state.get_output_meta("complete") == "1",
        settings=state.get_output_meta("selection_fingerprint"),
        catalog=state.get_output_meta("catalog_seen") or "",
        reselect=state.get_output_meta("reselect_done") or "0",
        clock=None if last is None else datetime.fromisoformat(last),
        stamp=state.get_output_meta("stamp"),
    )


def _behind(state: State, catalog: Catalog, publisher: Publisher, current: RenderedFrom,
            settings: Settings) -> str | None:
    """Why the output folder is not what a cold build would write now (None: it is)."""

    def publication_due(then: datetime, now: datetime) -> bool:
        upcoming = catalog.next_publication(after=then)
        return upcoming is not None and upcoming <= now

    def period_closed(then: datetime, now: datetime) -> bool:
        if settings.digest == "off":
            return False
        from feeder.selection.digests import period_start

        return period_start(settings.digest, now, settings.tzinfo) != period_start(settings.digest, then,
                                                                                    settings.tzinfo)

    def files_present() -> bool:
        base = settings.site.base_url
        return all(publisher.exists(p) for slug in state.rendered() for p in feed_files(slug, base).paths.values()) \
            and publisher.exists(OPML_NAME)

    return why_behind(_rendered_from(state), current, publication_due=publication_due,
                      period_closed=period_closed, files_present=files_present)


def _report_from_state(state: State, report: BuildReport) -> None:
    stats = BuildStats.from_json(state.get_output_meta("stats") or "")
    if stats is None:
        return
    report.articles, report.published, report.held_back, report.feeds = (
        stats.articles, stats.published, stats.held_back, stats.feeds)
    # What this build's scan found about folders is fresh; the rest is what the last selection found.
    folders = [p for p in report.skipped if p.path.endswith("/")]
    report.skipped = sorted([*folders, *stats.skipped], key=lambda p: p.path)
    report.warnings = list(stats.warnings)
