"""One build: content folder → catalog → link checks → selection → rendered
feeds → output folder.

This module only wires the stages together. Each stage lives in its own
module and the decisions are pure functions (`selection`, `linkpolicy`).
A build is incremental: the catalog reparses only changed files, a feed is
rendered again only when its items or its rendering inputs changed, and when
nothing that selection depends on changed the build stops after the scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING

from feeder import __version__
from feeder.config import Settings
from feeder.content.catalog import Catalog, Entry
from feeder.content.scan import ContentFile, scan_folder
from feeder.errors import ConfigError, check_cancel
from feeder.model import EMPTY_FEED_DATE, Article, FeedPlan
from feeder.output.layout import HEADLINES, INDEX_NAME, OPML_NAME, feed_files, public_url
from feeder.output.writer import Publisher
from feeder.storage.lock import BuildLock
from feeder.storage.state import State

# The link-check, selection and rendering stacks (aiohttp, feedgen, lxml,
# Markdown...) are imported where they are used: a rescan that finds nothing
# to do never loads them, which is most of its time.
if TYPE_CHECKING:
    from feeder.links.policy import LinkRecord
    from feeder.links.rounds import RoundReport
    from feeder.net.guard import Resolver
    from feeder.render.opml import OpmlFeed
    from feeder.selection.feeds import Planned, Selection


__all__ = ["RENDER_VERSION", "BuildReport", "CheckOutcome", "Problem", "build", "check_content_links"]

log = logging.getLogger(__name__)

# Bump when a change to feeder alters the bytes of rendered feeds.
RENDER_VERSION = "2"


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
    feeds: int = 0
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # published, but with something missing
    file_warnings: list[Problem] = field(default_factory=list)  # the content files' part of `warnings`
    written: list[str] = field(default_factory=list)
    rendered: int = 0  # feeds rendered (the others were unchanged)
    unchanged: bool = False  # nothing selection depends on changed: nothing was rendered
    links: RoundReport | None = None
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
        text = (
            f"{self.files} files read, {self.articles} articles, {self.published} published{held}, "
            f"{len(self.skipped)} skipped"
        )
        if self.warnings:
            text += f", {len(self.warnings)} warnings"
        text += f"; {self.feeds} feeds, {len(self.written)} files written"
        if self.links is not None:
            text += f"; links: {self.links.summary()}"
        return text


def _scan(settings: Settings) -> list[ContentFile]:
    try:
        return scan_folder(settings.content_dir)
    except FileNotFoundError:
        raise ConfigError(f"the content folder {settings.content_dir} does not exist", key="content_dir") from None
    except NotADirectoryError:
        raise ConfigError(f"{settings.content_dir} is not a folder", key="content_dir") from None


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def render_fingerprint(settings: Settings) -> str:
    """Everything outside the articles that rendering depends on."""
    topics = {k: asdict(v) for k, v in sorted(settings.topics.items())}
    return _digest(RENDER_VERSION, __version__, asdict(settings.site), topics, settings.max_items,
                   settings.timezone, settings.max_file_size, list(settings.websub.hubs), settings.digest)


def selection_fingerprint(settings: Settings) -> str:
    lk = settings.links
    return _digest(render_fingerprint(settings), lk.enabled, lk.dead_after, str(lk.recheck_after), lk.require_alive)


def _open_catalog(settings: Settings, state: State, report: BuildReport,
                  cancel: threading.Event | None = None) -> tuple[Catalog, bool]:
    files = _scan(settings)
    catalog = Catalog(state, settings.content_dir, max_size=settings.max_file_size, timezone_name=settings.timezone)
    rescan = catalog.rescan(files, cancel)
    report.files, report.parsed = rescan.files, rescan.parsed
    report.skipped = [Problem(path, problem) for path, problem in catalog.problems()]
    report.file_warnings = [Problem(path, warning) for path, warning in catalog.warnings()]
    return catalog, rescan.changed


def build(
    settings: Settings,
    *,
    now: datetime | None = None,
    resolver: Resolver | None = None,
    lock_timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> BuildReport:
    """Build every feed once. Raises `FeederError` only when the operator must act.

    `now` and `resolver` exist for tests: the clock and name resolution.
    Setting `cancel` stops the build at the next safe point with `Cancelled`.
    """
    now = now or datetime.now(timezone.utc)
    with BuildLock(settings.state_dir, timeout=settings.lock_timeout if lock_timeout is None else lock_timeout,
                   cancel=cancel):
        report = _build(settings, now, resolver, cancel)
    log.debug("timings: %s", ", ".join(f"{k} {v:.3f} s" for k, v in report.timings.items()))
    return report


def _build(settings: Settings, now: datetime, resolver: Resolver | None,
           cancel: threading.Event | None) -> BuildReport:
    report = BuildReport()
    publisher = Publisher(settings.output_dir, cancel)
    publisher.prepare()
    with State.open(settings.state_dir) as state:
        with report.timed("scan and parse"):
            catalog, files_changed = _open_catalog(settings, state, report, cancel)
        holds_changed = state.get_meta("holds_changed") == "1"
        if settings.links.enabled:
            from feeder.links.rounds import check_links, check_media

            with report.timed("link checks"):
                report.links = check_links(settings.links, state, now=now, resolver=resolver, cancel=cancel)
                media_learned = check_media(settings.links, state, now=now, resolver=resolver, cancel=cancel)
            # New facts about enclosures change podcast feeds as surely as a changed verdict.
            holds_changed = holds_changed or report.links.holds_changed or media_learned > 0
        check_cancel(cancel)
        fingerprint = selection_fingerprint(settings)
        if not (files_changed or holds_changed) and _still_current(state, catalog, publisher, fingerprint, now,
                                                                   settings.digest, settings.tzinfo):
            _report_from_meta(state, report)
            state.set_meta("last_now", now.isoformat())
            report.unchanged = True
            return report
        state.set_meta("complete", "0")
        from feeder.selection.feeds import select_feeds
        from feeder.selection.topics import TopicIndex

        report.timings["select"] = -time.perf_counter()
        entries = catalog.entries(with_urls=settings.links.enabled)
        report.skipped += [Problem(d.dropped, f"id '{d.article_id}' is already used by {d.kept}")
                           for d in catalog.duplicates()]
        report.skipped.sort(key=lambda p: p.path)
        held: set[str] = set()
        if settings.links.enabled:
            from feeder.links.rounds import held_back

            records = state.link_records(e.original_url for e in entries)
            held = held_back(entries, records, state.in_feed(), settings.links)
        selection = select_feeds(
            entries,
            index=TopicIndex(settings.topics, settings.site.title),
            now=now,
            max_items=settings.max_items,
            held_back=held,
            retained=state.known_topics(),
            keep_since=_digest_window(settings, now),
        )
        report.timings["select"] += time.perf_counter()
        with report.timed("render and write"):
            _publish(selection, settings, state, catalog, publisher, report, now)
        state.remember_topics(p.topic for p in selection.topics if p.topic is not None)
        state.mark_in_feed({e.id for p in selection.plans for e in p.items})
        report.articles = catalog.article_count()
        report.published = selection.visible
        now_ts = now.timestamp()
        report.held_back = sum(1 for e in entries if e.id in held and e.timestamp <= now_ts)
        report.feeds = len(selection.plans)
        with state.transaction():
            state.set_meta("stats", json.dumps([report.articles, report.published, report.held_back, report.feeds,
                                                [[p.path, p.problem] for p in report.skipped],
                                                [[p.path, p.problem] for p in report.warnings]]))
            state.set_meta("selection_fingerprint", fingerprint)
            state.set_meta("last_now", now.isoformat())
            state.set_meta("holds_changed", "0")
            state.set_meta("complete", "1")
    report.written = list(publisher.written)
    _ping_hubs(settings, report.written)
    return report


def _ping_hubs(settings: Settings, written: list[str]) -> None:
    """Tell the WebSub hubs about the feeds this build changed."""
    if not settings.websub.hubs:
        return
    feeds = {name for fmt, name in (("rss", "rss.xml"), ("atom", "atom.xml"), ("json", "feed.json"))}
    changed = [public_url(settings.site.base_url, rel) for rel in written if rel.rsplit("/", 1)[-1] in feeds]
    if changed:
        from feeder.output.websub import ping_hubs

        ping_hubs(settings.websub, changed, settings.links.agent)


def _still_current(state: State, catalog: Catalog, publisher: Publisher, fingerprint: str, now: datetime,
                   digest: str = "off", tz: tzinfo = timezone.utc) -> bool:
    """True when the last build's output is still exactly what this one would write."""
    if state.get_meta("complete") != "1" or state.get_meta("selection_fingerprint") != fingerprint:
        return False
    last = state.get_meta("last_now")
    if last is None:
        return False
    last_now = datetime.fromisoformat(last)
    if now < last_now:
        return False  # the clock went back: scheduled articles may have to disappear
    upcoming = catalog.next_publication(after=last_now)
    if upcoming is not None and upcoming <= now:
        return False
    if digest != "off":
        from feeder.selection.digests import period_start

        if period_start(digest, now, tz) != period_start(digest, last_now, tz):
            return False  # a digest period has closed: its item is due
    for slug in state.rendered():
        files = feed_files(slug, "http://x/")
        if not all(publisher.exists(p) for p in files.paths.values()):
            return False
    return publisher.exists(OPML_NAME)


def _report_from_meta(state: State, report: BuildReport) -> None:
    stats = state.get_meta("stats")
    if stats is None:
        return
    articles, published, held, feeds, skipped, warnings = json.loads(stats)
    report.articles, report.published, report.held_back, report.feeds = articles, published, held, feeds
    report.skipped = [Problem(p, m) for p, m in skipped]
    report.warnings = [Problem(p, m) for p, m in warnings]


def quiet_date(selection: Selection[Entry]) -> datetime:
    """The date of a feed without items: the site's newest publication, so an
    emptied feed never claims 1970; a fixed date when the site has none."""
    newest = max((e.timestamp for e in selection.everything.items), default=None)
    return EMPTY_FEED_DATE if newest is None else datetime.fromtimestamp(newest, timezone.utc)


def _feed_fingerprint(render_fp: str, plan: Planned[Entry], names: dict[str, str], digests: dict[str, str],
                      quiet: datetime) -> str:
    t = plan.topic
    return _digest(
        render_fp,
        None if t is None else [t.key, t.name, t.slug, t.title, t.description],
        [[e.id, digests.get(e.source), [names.get(n, n) for n in e.topics]] for e in plan.items],
        None if plan.items else quiet.isoformat(),
    )


def _publish(selection: Selection[Entry], settings: Settings, state: State, catalog: Catalog,
             publisher: Publisher, report: BuildReport, now: datetime) -> None:
    from feeder.render._extension import Show, podcast_guid
    from feeder.render.jsonfeed import render_json_feed
    from feeder.render.landing import LandingFeed, render_landing
    from feeder.render.opml import render_opml
    from feeder.render.xmlfeeds import feed_texts, feed_updated, render_xml_feeds

    site = settings.site
    hubs = settings.websub.hubs
    names = dict(selection.display_names)
    media = state.media()
    render_fp = _digest(render_fingerprint(settings), state.media_fingerprint())
    rendered = state.rendered()
    digests = catalog.digests(e.source for plan in selection.plans for e in plan.items)
    quiet = quiet_date(selection)
    todo: list[tuple[Planned[Entry], str]] = []
    for plan in selection.plans:
        fp = _feed_fingerprint(render_fp, plan, names, digests, quiet)
        files = feed_files(plan.slug, site.base_url)
        previous = rendered.get(plan.slug)
        if previous is None or previous[0] != fp or not all(publisher.exists(p) for p in files.paths.values()):
            todo.append((plan, fp))
    # The landing page shows every feed's newest headlines: those articles are read too.
    wanted = [e.source for plan, _ in todo for e in plan.items]
    wanted += [e.source for plan in selection.plans for e in plan.items[:HEADLINES]]
    articles = {src: _with_media(a, media) for src, a in catalog.articles(wanted).items()}
    report.warnings = report.file_warnings + _media_warnings(state)
    for plan, fp in todo:
        full = FeedPlan(plan.topic, tuple(articles[e.source] for e in plan.items if e.source in articles))
        files = feed_files(plan.slug, site.base_url)
        show = None
        if plan.topic is not None and plan.topic.podcast is not None:
            show = Show(plan.topic.podcast, state.podcast_guid(plan.slug, podcast_guid(files.urls["rss"])))
        documents = render_xml_feeds(full, files, site, names, hubs, show, quiet)
        documents["json"] = render_json_feed(full, files, site, names, hubs)
        for fmt, data in documents.items():
            publisher.write(files.paths[fmt], data)
        # Recorded after the files are in place: a crash before this line only
        # means the feed is rendered again next time. A feed that lost an item
        # (its file vanished since the scan) is rendered again next time too.
        complete = len(full.articles) == len(plan.items)
        state.save_rendered(plan.slug, fp if complete else "", feed_updated(full.articles, quiet).isoformat())
        report.rendered += 1
    updated = state.rendered()
    listed = [_opml_entry(plan, settings) for plan in selection.plans]
    newest = max((datetime.fromisoformat(updated[p.slug][1]) for p in selection.plans if p.slug in updated),
                 default=EMPTY_FEED_DATE)
    digest_dates: dict[str, datetime] = {}
    if settings.digest != "off":
        digest_dates = _publish_digests(selection, settings, state, catalog, publisher, now, articles, quiet)
    listed += [_opml_entry(plan, settings, digest=True) for plan in selection.plans if plan.slug in digest_dates]
    publisher.write(OPML_NAME, render_opml(listed, site, max([newest, *digest_dates.values()])))
    landing = []
    for plan in selection.plans:
        # The page's own heading names the site: sections name only the topic, and
        # show a description only when one is configured.
        title, _ = feed_texts(plan.topic, site)
        heading, blurb = ("All topics", "") if plan.topic is None else (plan.topic.title, plan.topic.blurb)
        top = [articles[e.source] for e in plan.items[:HEADLINES] if e.source in articles]
        digest = feed_files(plan.slug, site.base_url, digest=True) if plan.slug in digest_dates else None
        landing.append(LandingFeed(title, blurb, feed_files(plan.slug, site.base_url), len(plan.items), top,
                                   digest, settings.digest, heading=heading))
    publisher.write(INDEX_NAME, render_landing(landing, site))


def _digest_window(settings: Settings, now: datetime) -> datetime | None:
    """Start of the oldest period a digest feed shows, or None without digests."""
    if settings.digest == "off":
        return None
    from feeder.selection.digests import closed_periods

    return closed_periods(settings.digest, now, settings.tzinfo, settings.max_items)[-1][0]


def _publish_digests(selection: Selection[Entry], settings: Settings, state: State, catalog: Catalog,
                     publisher: Publisher, now: datetime, loaded: dict[str, Article],
                     quiet: datetime) -> dict[str, datetime]:
    """Write every digest feed; returns each one's newest item date by feed slug."""
    from feeder.render.digestfeed import render_digest_feeds
    from feeder.render.xmlfeeds import body_html, feed_texts, teaser
    from feeder.selection.digests import DigestItem, closed_periods, make_item

    kind, site = settings.digest, settings.site
    periods = closed_periods(kind, now, settings.tzinfo, settings.max_items)
    newest: dict[str, datetime] = {}
    for plan in selection.plans:
        title, _ = feed_texts(plan.topic, site)
        frozen = state.frozen_digests(plan.slug, kind)
        todo = [(s, e) for s, e in periods if s.isoformat() not in frozen]
        if todo:
            # Made once, when the period has closed, then kept as it was first published.
            lo, hi = todo[-1][0].timestamp(), todo[0][1].timestamp()
            members = [e for e in plan.recent if lo <= e.timestamp < hi]
            # Most members were read for the feeds already; read only the rest.
            full = {**catalog.articles(e.source for e in members if e.source not in loaded), **loaded}
            for start, end in todo:
                inside = [full[e.source] for e in members
                          if e.source in full and start.timestamp() <= e.timestamp < end.timestamp()]
                key = plan.topic.key if plan.topic else ""
                item = make_item(kind, key, title, start, end, inside,
                                 {a.id: teaser(a, body_html(a)) for a in inside}) if inside else None
                frozen[start.isoformat()] = json.dumps(item.to_json() if item else None)
                state.freeze_digest(plan.slug, kind, start.isoformat(), frozen[start.isoformat()])
        items = [DigestItem.from_json(data) for s, _ in periods if (data := json.loads(frozen[s.isoformat()]))]
        label = "Daily" if kind == "daily" else "Weekly"
        files = feed_files(plan.slug, site.base_url, digest=True)
        per = "week" if kind == "weekly" else "day"
        documents = render_digest_feeds(items, files, site, f"{title} ({label.lower()} digest)",
                                        f"{label} digest of {title}: one item per {per}", quiet)
        for fmt, data in documents.items():
            publisher.write(files.paths[fmt], data)
        newest[plan.slug] = max((i.date for i in items), default=quiet)
    return newest


def _with_media(article: Article, media: dict[str, tuple[str | None, int | None, str | None]]) -> Article:
    """The article with its enclosure's type and length filled in from what a HEAD said."""
    enc = article.enclosure
    if enc is None or (enc.length is not None and enc.type):
        return article
    mtype, length, _ = media.get(enc.url, (None, None, None))
    return replace(article, enclosure=replace(enc, type=enc.type or mtype,
                                              length=enc.length if enc.length is not None else length))


def _media_warnings(state: State) -> list[Problem]:
    warnings = []
    for path, url, asked, error in state.media_problems():
        why = f"the server said: {error}" if error else "the server gave no type or length" if asked \
            else "not asked yet: link checks are off or have not reached it"
        warnings.append(Problem(path, f"enclosure {url}: length or type unknown ({why}); "
                                      "the RSS item is published without it"))
    return warnings


def _opml_entry(plan: Planned[Entry], settings: Settings, *, digest: bool = False) -> OpmlFeed:
    from feeder.render.opml import OpmlFeed
    from feeder.render.xmlfeeds import feed_texts

    title, description = feed_texts(plan.topic, settings.site)
    if digest:
        title = f"{title} ({settings.digest} digest)"
    return OpmlFeed(title, description, feed_files(plan.slug, settings.site.base_url, digest=digest).urls)


@dataclass
class CheckOutcome:
    report: RoundReport
    records: dict[str, LinkRecord]  # every published article's URL that has been checked
    users: dict[str, list[str]]  # URL → the files that use it


def check_content_links(
    settings: Settings, *, everything: bool, budget: float, progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None, resolver: Resolver | None = None, cancel: threading.Event | None = None,
) -> CheckOutcome:
    """A link-check round over the published articles' URLs (`feeder check`)."""
    from feeder.links.rounds import check_links, check_media

    now = now or datetime.now(timezone.utc)
    with BuildLock(settings.state_dir, timeout=settings.lock_timeout, cancel=cancel), \
            State.open(settings.state_dir) as state:
        catalog, _ = _open_catalog(settings, state, BuildReport(), cancel)
        report = check_links(settings.links, state, now=now, everything=everything, budget=budget,
                             resolver=resolver, progress=progress, cancel=cancel)
        if check_media(settings.links, state, now=now, resolver=resolver, cancel=cancel):
            report.holds_changed = True  # podcast feeds must be rendered with what was learned
        if report.holds_changed:
            state.set_meta("holds_changed", "1")  # the next build must select again
        users: dict[str, list[str]] = {}
        for e in catalog.entries(with_urls=True):
            if e.published:
                users.setdefault(e.original_url, []).append(e.source)
        return CheckOutcome(report, state.link_records(users), users)
