"""Aggregation: following other sites' feeds and writing their entries into
the content folder as article files, where the editorial flow takes over.

Politeness first: each source is fetched only when due (never more often
than `ingest.min_interval`, its Cache-Control max-age, its `<ttl>` or its
Retry-After), with the validators of the last fetch, so an unchanged feed
costs a 304; failures back off exponentially; 410 Gone stops polling; and
sources are fetched concurrently, each under its own deadline, so one broken
source never holds up another.

Each entry becomes one file under `<content_dir>/<source slug>/`, with an id
derived from the source and the entry's own id (or link), so it is never
written twice, and a story two sources carry (same canonical link) only once.
Later changes from the source update only the fields an editor has not
touched (see `feeder.content.writer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feeder import backoff
from feeder.config import IngestSettings, Settings, SourceSettings
from feeder.content import writer as articlefile
from feeder.errors import OutputError, describe_os_error
from feeder.fingerprint import hash_of
from feeder.ingest.fetch import Fetcher, FetchResult
from feeder.ingest.parse import BadFeed, FeedItem, ParsedFeed, parse_feed
from feeder.links.checker import NETWORK_FAILURES, NetworkTally
from feeder.net.guard import AddressGuard, Resolver
from feeder.net.http import make_resolver
from feeder.storage.lock import INGEST_LOCK_NAME, BuildLock
from feeder.storage.state import IngestedRow, SourceRow, State, instance_id
from feeder.text import plural
from feeder.urls import canonical_link, is_http_url

__all__ = [
    "LEFT_OUT",
    "IngestReport",
    "SourceReport",
    "article_fields",
    "canonical_link",
    "ingest",
    "keep_reason",
    "next_fetch",
]

log = logging.getLogger(__name__)


# -- decisions, as pure functions ----------------------------------------------

def failure_wait(failures: int, ingest: IngestSettings) -> timedelta:
    """How long to wait after `failures` failures in a row."""
    return backoff.delay(failures, ingest.min_interval, ingest.max_backoff)


def next_fetch(now: datetime, ingest: IngestSettings, result: FetchResult, ttl_minutes: int | None,
               failures: int) -> datetime:
    """When a source may be fetched again after `result`: the longest of the
    minimum interval, what the server asked for (Retry-After, Cache-Control
    max-age, <ttl>) and the failure back-off; never longer than max_backoff."""
    waits = [ingest.min_interval]
    if result.retry_after is not None:
        waits.append(timedelta(seconds=result.retry_after))
    if failures:
        waits.append(failure_wait(failures, ingest))
    else:
        if result.max_age is not None:
            waits.append(timedelta(seconds=result.max_age))
        if ttl_minutes:
            waits.append(timedelta(minutes=ttl_minutes))
    return now + min(max(waits), max(ingest.max_backoff, ingest.min_interval))


# Why an entry is left out: a code for counting (reports, /metrics) and the words for a person.
LEFT_OUT = {
    "no-link": "no http(s) link and no enclosure",
    "no-id": "no id and no link",
    "duplicate-id": "repeats the id of an earlier entry of the document",
    "duplicate-story": "repeats a story another source brought",
    "too-old": "older than max_age",
    "not-included": "matches no include keyword",
    "excluded": "matches an exclude keyword",
}


def keep_reason(item: FeedItem, source: SourceSettings, now: datetime) -> str | None:
    """Why an entry is left out (a `LEFT_OUT` code), or None to keep it."""
    if not item.key:
        return "no-id"
    if not is_http_url(item.link) and item.enclosure is None:
        return "no-link"  # an episode without a page is kept: its media is its address
    when = item.published or item.updated
    if source.max_age is not None and when is not None and when < now - source.max_age:
        return "too-old"
    text = f"{item.title} {item.summary}".casefold()
    if source.include and not any(k in text for k in source.include):
        return "not-included"
    if any(k in text for k in source.exclude):
        return "excluded"
    return None


def article_fields(item: FeedItem, source: SourceSettings, feed: ParsedFeed, first_seen: datetime
                   ) -> tuple[dict[str, Any], str]:
    """The source-owned fields (as the article schema names and orders them) and the body of an entry's file."""
    published = item.published or item.updated or first_seen
    updated = item.updated if item.updated and item.published and item.updated > item.published else None
    e = item.enclosure
    page = item.link if is_http_url(item.link) else None
    # An episode without a page: its media is what the link check checks.
    original = page or (e.url if e is not None else item.link)
    fields = articlefile.source_fields(
        title=item.title or item.summary[:80] or original,
        excerpt=item.summary,
        publishedDateTime=published.astimezone(timezone.utc).isoformat(),
        updatedDateTime=updated.astimezone(timezone.utc).isoformat() if updated else None,
        originalUrl=original,
        webUrl=page,
        provider={"name": source.name or feed.title or urlsplit(source.url).hostname,
                  "domain": (urlsplit(original).hostname or "").removeprefix("www.")},
        images=[{k: v for k, v in (("url", i.url), ("width", i.width), ("height", i.height)) if v}
                for i in item.images],
        enclosure=None if e is None else {k: v for k, v in (("url", e.url), ("type", e.type), ("length", e.length),
                                                             ("duration", e.duration)) if v is not None},
    )
    return fields, item.content_html


# -- reports -------------------------------------------------------------------

@dataclass
class SourceReport:
    name: str  # the configured name, or the source's URL when it has none
    url: str
    status: str = "not-due"  # fetched, not-modified, not-due, elsewhere, gone, error
    new: int = 0
    updated: int = 0
    skipped: int = 0
    error: str | None = None
    moved_to: str | None = None
    next_fetch: str | None = None  # ISO 8601, to the second, in the configured time zone
    problems: list[str] = field(default_factory=list)  # what was wrong with the document (entries still written)
    left_out: list[dict[str, str]] = field(default_factory=list)  # each entry left out: reason, entry, why

    @property
    def needs_attention(self) -> bool:
        """Whether an operator should act on this source: reported as a problem."""
        return self.status in ("error", "gone") or bool(self.problems) or self.moved_to is not None

    def leave_out(self, item: FeedItem, reason: str, detail: str | None = None) -> None:
        self.skipped += 1
        self.left_out.append({"reason": reason, "entry": item.title or item.key or item.link or "(untitled)",
                              "why": detail or LEFT_OUT[reason]})

    def reasons(self) -> dict[str, int]:
        """How many entries were left out, by reason."""
        counts: dict[str, int] = {}
        for left in self.left_out:
            counts[left["reason"]] = counts.get(left["reason"], 0) + 1
        return counts

    def line(self) -> str:
        text = {"fetched": f"fetched: {self.new} new, {self.updated} updated",
                "not-modified": "not modified",
                "not-due": f"not due until {_shown(self.next_fetch)} (feeder ingest --force fetches it now)",
                "gone": "gone (410): no longer polled; remove it from the configuration",
                "elsewhere": "being fetched by another instance",
                "error": f"error: {self.error}{_hint(self.error)} (next try after {_shown(self.next_fetch)})"
                }[self.status]
        if self.skipped:
            text += f", {self.skipped} left out (" + ", ".join(
                f"{n} {LEFT_OUT[reason]}" for reason, n in sorted(self.reasons().items())) + ")"
        if self.moved_to:
            text += f"; moved permanently to {self.moved_to} (update the configuration)"
        if self.problems:
            text += "; problems: " + "; ".join(self.problems[:5])
            if len(self.problems) > 5:
                text += f"; and {len(self.problems) - 5} more"
        return f"{self.name}: {text}"


def _hint(error: str | None) -> str:
    """What the operator can do about an error, when something can be done in the configuration."""
    if error == "blocked-address":
        return (": its address is on this machine or a private network, which feeder does not fetch unless "
                "links.allow_private: true (for link checks and sources alike)")
    return ""


def _shown(when: str | None) -> str:
    return when.replace("T", " ") if when else "now"


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)
    network_down: bool = False  # no source could be reached because this machine is offline

    @property
    def changed(self) -> bool:
        return any(s.new or s.updated for s in self.sources)

    @property
    def all_failed(self) -> bool:
        """Every source that was due failed (and at least one was)."""
        due = [s for s in self.sources if s.status not in ("not-due", "gone", "elsewhere")]
        return bool(due) and all(s.status == "error" for s in due)

    def summary(self) -> str:
        fetched = sum(s.status == "fetched" for s in self.sources)
        failed = sum(s.status == "error" for s in self.sources)
        text = (f"{plural(len(self.sources), 'source')}: {fetched} fetched, {failed} failed; "
                f"{sum(s.new for s in self.sources)} new, {sum(s.updated for s in self.sources)} updated")
        if self.network_down:
            text += "; the network is down"
        return text

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"network_down": self.network_down, "all_failed": self.all_failed,
                "sources": [asdict(s) for s in self.sources]}


# -- the round -----------------------------------------------------------------

def ingest(settings: Settings, *, now: datetime | None = None, only: str | None = None, force: bool = False,
           resolver: Resolver | None = None, cancel: threading.Event | None = None) -> IngestReport:
    """Fetch every due source once (or only the one named) and write new and changed entries."""
    now = now or datetime.now(timezone.utc)
    report = IngestReport()
    sources = [s for s in settings.sources if only is None or only in (s.name, s.slug)]
    try:
        # Made even when nothing is written: a build after the first ingest finds it.
        Path(settings.content_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(settings.content_dir, f"cannot create the content folder: {describe_os_error(exc)}") \
            from None
    # No build lock is held through the fetches (a round over many sources
    # takes long, and publishing must not wait for it): on one machine, ingest
    # rounds take turns on a lock of their own; with a shared state every
    # instance ingests, each the sources it claims.
    shared = settings.state.url is not None
    owner = instance_id() if shared else None
    turn = contextlib.nullcontext() if shared else BuildLock(settings.state_dir, timeout=settings.lock_timeout,
                                                            cancel=cancel, name=INGEST_LOCK_NAME)
    with turn, State.open(settings.state_dir, settings.state.url) as state:
        try:
            due = _due(settings, state, sources, report, now, force, owner)
            if due:
                report.network_down = asyncio.run(
                    _round(settings, state, due, now, resolver or make_resolver(settings.links), cancel,
                           _pushed(settings, state)))
            if shared and report.changed:
                # Publishers on other machines: their filesystem events never see these files.
                state.request("sweep")
        finally:
            if owner is not None:
                state.release("source", owner=owner)
    for rep in report.sources:
        # The caller reports each source once (the command line prints its report,
        # the daemon logs the sources that need attention): here only for -vv.
        log.debug("ingest: %s", rep.line())
    return report


def _due(settings: Settings, state: State, sources: list[SourceSettings], report: IngestReport, now: datetime,
         force: bool, owner: str | None) -> list[tuple[SourceSettings, SourceReport, SourceRow]]:
    """The sources to fetch now, each with its report line (every source gets one)."""

    def is_due(row: SourceRow) -> bool:
        return not row.gone and (force or not row.next_fetch or datetime.fromisoformat(row.next_fetch) <= now)

    def read(chosen: list[SourceSettings]) -> dict[str, SourceRow]:
        stored = state.sources(s.slug for s in chosen)  # one query, not one per source
        return {s.slug: _source_row(stored.get(s.slug), s) for s in chosen}

    rows = read(sources)
    candidates = {slug for slug, row in rows.items() if is_due(row)}
    mine = candidates
    if owner is not None and candidates:
        lease = timedelta(seconds=settings.ingest.timeout * 2 + 60)
        mine = state.claim("source", sorted(candidates), owner=owner, until=now + lease, now=now)
        # Read again after claiming: another instance may have fetched them meanwhile.
        rows.update(read([s for s in sources if s.slug in mine]))
    due = []
    for s in sources:
        row = rows[s.slug]
        rep = SourceReport(s.name or s.url, row.url, next_fetch=_local(row.next_fetch, settings))
        report.sources.append(rep)
        if row.gone:
            rep.status = "gone"
        elif s.slug in candidates and s.slug not in mine:
            rep.status = "elsewhere"
        elif s.slug in mine and is_due(row):
            due.append((s, rep, row))
    return due


def _local(when: str | datetime | None, settings: Settings) -> str | None:
    """An ISO 8601 time, to the second, in the configured time zone."""
    if when is None or when == "":
        return None
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return moment.astimezone(settings.tzinfo).isoformat(timespec="seconds")


def _source_row(row: SourceRow | None, source: SourceSettings) -> SourceRow:
    if row is None or row.configured != source.url:
        # New, or the operator changed its address: start afresh.
        row = SourceRow(key=source.slug, configured=source.url, url=source.url)
    return row


_Fetched = tuple[SourceSettings, SourceReport, SourceRow, FetchResult]
# Errors that may mean this machine is offline rather than the source broken:
# decided once the whole round is back.
_MAYBE_OFFLINE = NETWORK_FAILURES | {"nxdomain", "connection-error"}


def _pushed(settings: Settings, state: State) -> frozenset[str]:
    """The sources a WebSub hub pushes to: polled only as a safety net."""
    if settings.ingest.websub is None:
        return frozenset()
    return frozenset(key for key, sub in state.subscriptions().items() if sub.state == "active")


async def _round(settings: Settings, state: State, due: list[tuple[SourceSettings, SourceReport, SourceRow]],
                 now: datetime, resolver: Resolver, cancel: threading.Event | None,
                 pushed: frozenset[str] = frozenset()) -> bool:
    """Fetch the due sources concurrently and write their entries; True when the network was down.

    Results are written in the configuration's order, each as soon as it and
    every source listed before it are back: when two sources carry one story
    on the same run, the one listed first keeps it, whichever answered first.
    """
    guard = AddressGuard(resolver, allow_private=settings.links.allow_private)
    slots = asyncio.Semaphore(settings.ingest.concurrency)
    tally = NetworkTally()
    deferred: list[_Fetched] = []
    done: list[SourceRow] = []  # rows to save, written a batch at a time

    def save(flush: bool = False) -> None:
        if done and (flush or len(done) >= _SAVE_BATCH):
            state.save_sources(done)
            done.clear()

    async with Fetcher(settings.links, settings.ingest, guard) as fetcher:

        async def fetch(source: SourceSettings, rep: SourceReport, row: SourceRow) -> _Fetched:
            async with slots:
                result = await fetcher.fetch(row.url, etag=row.etag, last_modified=row.last_modified,
                                             now=now)
            return source, rep, row, result

        tasks = [asyncio.ensure_future(fetch(s, r, row)) for s, r, row in due]
        try:
            for task in tasks:
                fetched = await task
                if cancel is not None and cancel.is_set():
                    break
                result = fetched[3]
                tally.count(result.status is not None, result.error)
                if result.status is None and result.error in _MAYBE_OFFLINE:
                    deferred.append(fetched)
                    continue
                done.append(_process(settings, state, *fetched, now, pushed))
                save()
        finally:
            for task in tasks:
                task.cancel()
            save(flush=True)
        down = bool(deferred) and await tally.network_is_down(guard, settings.links)
    if cancel is not None and cancel.is_set():
        return down
    for source, rep, row, result in deferred:
        if down:
            result = FetchResult(result.url, error="network-down")
        done.append(_process(settings, state, source, rep, row, result, now, pushed))
    save(flush=True)
    return down


# Source rows saved in one transaction: a crash loses at most these sources'
# validators and due times (their next fetch is a full one), never an entry.
_SAVE_BATCH = 500


def _process(settings: Settings, state: State, source: SourceSettings, rep: SourceReport, row: SourceRow,
             result: FetchResult, now: datetime, pushed: frozenset[str] = frozenset()) -> SourceRow:
    """Act on one source's fetch (its entries written in a transaction of their
    own); returns its row, for the caller to save."""
    ing = settings.ingest
    row.last_fetch, row.last_status = now.isoformat(), result.status
    ttl = None
    if result.moved_to and result.moved_to != row.url:
        rep.moved_to = row.url = result.moved_to
        log.debug("ingest: %s moved permanently to %s", rep.name, result.moved_to)
    if result.status == 410:
        rep.status, row.gone = "gone", True
        log.debug("ingest: %s is gone (410); it will not be fetched again", rep.name)
    elif result.not_modified:
        rep.status, row.failures, row.last_error = "not-modified", 0, None
    elif result.status == 200 and result.body is not None:
        try:
            feed = parse_feed(result.body, url=result.url, content_type=result.content_type)
        except BadFeed as exc:
            _failed(rep, row, f"bad-feed: {exc}")
        else:
            rep.status, row.failures, row.last_error = "fetched", 0, None
            row.etag, row.last_modified = result.etag, result.last_modified
            row.title, row.home, row.hub, row.self_url = feed.title or None, feed.home, feed.hub, feed.self_url
            ttl = feed.ttl_minutes
            rep.problems.extend(feed.problems)
            for problem in feed.problems:
                log.debug("ingest: %s: %s", rep.name, problem)
            _write_entries(settings, state, source, feed, rep, now)
    elif result.error == "network-down":
        # Not the source's fault: no back-off, try again at the next round.
        rep.status, rep.error = "error", "network-down"
    else:
        _failed(rep, row, result.error or f"http-{result.status}")
    when = next_fetch(now, ing, result, ttl, row.failures)
    if source.slug in pushed and ing.websub is not None:
        when = max(when, now + ing.websub.poll_interval)  # the hub pushes: polling is the safety net
    row.next_fetch = when.isoformat()
    rep.next_fetch = _local(when, settings)
    rep.url = row.url
    return row


def _failed(rep: SourceReport, row: SourceRow, error: str) -> None:
    rep.status, rep.error = "error", error
    row.failures += 1
    row.last_error = error


def _write_entries(settings: Settings, state: State, source: SourceSettings, feed: ParsedFeed, rep: SourceReport,
                   now: datetime) -> None:
    folder = Path(settings.content_dir) / source.slug
    folder.mkdir(parents=True, exist_ok=True)  # a build after it finds the source's folder, written to or not
    seen: set[str] = set()
    with state.transaction():
        _mark_html_bodies(state, settings, source)
        for item in feed.items:
            key = item.key
            if key and key in seen:
                rep.leave_out(item, "duplicate-id")
                continue
            seen.add(key)
            record = state.ingested(source.slug, key) if key else None
            if record is not None and record.path is None and item.has_id \
                    and record.article_id.startswith(f"{source.slug}-"):
                # An earlier version merged this entry into another of the same
                # source by their shared link: it is an article of its own.
                record = None
            if record is None:
                reason = keep_reason(item, source, now)
                if reason is not None:
                    rep.leave_out(item, reason)
                    continue
                fields, body = article_fields(item, source, feed, now)
                canonical = canonical_link(fields["originalUrl"])
                article_id = f"{source.slug}-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"
                # The same story from another source is written once; within one
                # source, an entry with its own id is its own article, whatever its link.
                other = state.ingested_by_link(canonical, besides=source.slug if item.has_id else None)
                if other is not None and other[1] != article_id:
                    state.save_ingested(IngestedRow(source.slug, key, other[1], None, canonical, hash_of(fields, body),
                                                    "{}", now.isoformat()))
                    rep.leave_out(item, "duplicate-story", f"repeats the story {other[0]} brought")
                    continue
                rel = f"{source.slug}/{article_id}.md"
                path = folder / f"{article_id}.md"
                if not path.exists():
                    # The editorial fields are written once, here, and never again.
                    articlefile.write(path, {"id": article_id, **fields, "type": "article",
                                             "published": source.publish, "topics": list(source.topics),
                                             "bodyFormat": "html"}, body)
                    rep.new += 1
                written = {**fields, articlefile.BODY: body}
                state.save_ingested(IngestedRow(source.slug, key, article_id, rel, canonical, hash_of(fields, body),
                                                json.dumps(written), now.isoformat()))
                continue
            if record.path is None:
                rep.leave_out(item, "duplicate-story")
                continue  # a duplicate of a story another source brought
            first_seen = datetime.fromisoformat(record.first_seen)
            fields, body = article_fields(item, source, feed, first_seen)
            digest = hash_of(fields, body)
            if digest == record.hash:
                continue
            path = Path(settings.content_dir) / record.path
            current = articlefile.read_file(path)
            if current is None:
                # The editor deleted (or broke) the file: never bring it back.
                state.save_ingested(replace(record, hash=digest))
                continue
            merged, merged_body, written = articlefile.merge(current[0], current[1],
                                                             json.loads(record.written),
                                                             {**fields, articlefile.BODY: body})
            articlefile.write(path, merged, merged_body)
            state.save_ingested(replace(record, hash=digest, written=json.dumps(written)))
            rep.updated += 1


def _mark_html_bodies(state: State, settings: Settings, source: SourceSettings) -> None:
    """Once per source, after upgrading: files written by a version that did
    not record their body's format get `bodyFormat: html`, so that their
    HTML is never read as Markdown (an asterisk or a leading `- ` in the
    source's text stays a character). A body an editor changed is theirs:
    left as it is."""
    flag = f"body_format@{source.slug}"
    if state.get_meta(flag) == "1":
        return
    for record in state.ingested_files(source.slug):
        assert record.path is not None
        path = Path(settings.content_dir) / record.path
        current = articlefile.read_file(path)
        if current is None or "bodyFormat" in current[0]:
            continue
        written = json.loads(record.written or "{}")
        if written.get(articlefile.BODY, "").strip() == current[1].strip():
            articlefile.write(path, {**current[0], "bodyFormat": "html"}, current[1])
    state.set_meta(flag, "1")


def ingest_delivery(settings: Settings, source_key: str, body: bytes, content_type: str, *,
                    now: datetime | None = None, cancel: threading.Event | None = None) -> SourceReport | None:
    """A document a WebSub hub delivered for a source, written into the content
    folder at once through the same parsing, dedupe and editor-wins rules as
    a poll. None when the source is no longer configured."""
    now = now or datetime.now(timezone.utc)
    source = next((s for s in settings.sources if s.slug == source_key), None)
    if source is None:
        return None
    shared = settings.state.url is not None
    turn = contextlib.nullcontext() if shared else BuildLock(settings.state_dir, timeout=settings.lock_timeout,
                                                            cancel=cancel, name=INGEST_LOCK_NAME)
    with turn, State.open(settings.state_dir, settings.state.url) as state:
        row = _source_row(state.source(source.slug), source)
        rep = SourceReport(source.name or source.url, row.url)
        try:
            feed = parse_feed(body, url=row.url, content_type=content_type)
        except BadFeed as exc:
            rep.status, rep.error = "error", f"bad-feed: {exc}"
            return rep
        rep.status = "pushed"
        rep.problems.extend(feed.problems)
        _write_entries(settings, state, source, feed, rep, now)
        row.title, row.home = feed.title or row.title, feed.home or row.home
        if feed.hub and feed.self_url:
            row.hub, row.self_url = feed.hub, feed.self_url
        state.save_source(row)
    return rep
