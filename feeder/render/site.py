"""Rendering the site for one selection, as Pelican's generators do: decide
which feeds must be rendered again (their fingerprints), read each of their
articles once and make its HTML once, then hand every feed, digest, the OPML
list and the landing page to the writer.

A feed is rendered again only when its items or what it is rendered from
(the configuration, feeder's version, what media servers said) changed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from feeder.config import Settings
from feeder.content.catalog import Catalog, Entry
from feeder.errors import InvalidOutput
from feeder.fingerprint import hash_of
from feeder.model import EMPTY_FEED_DATE, FeedPlan, Item
from feeder.output.layout import HEADLINES, INDEX_NAME, OPML_NAME, feed_files
from feeder.output.verify import feed_problems
from feeder.output.writer import FAST, Publisher
from feeder.render.fingerprints import render_fingerprint
from feeder.render.items import MediaIndex, prepare
from feeder.selection.feeds import Selection
from feeder.storage.state import Rendered, State

if TYPE_CHECKING:
    from feeder.render._extension import Show

__all__ = ["quiet_date", "render_site"]

# A long-lived process's prepared items by source: (file hash, render
# fingerprint, item). Reading and preparing again the 50 items of a feed that
# one new article changed was most of a daemon round's rendering.
_PREPARED: dict[str, tuple[str, str, Item]] = {}
_PREPARED_LIMIT = 20_000


def quiet_date(selection: Selection[Entry], last: str | None, first_rendered: datetime) -> datetime:
    """The date of a feed without items, never an invented one: the newest
    item it last showed (`last`, its date when it was last rendered, so an
    emptied feed never goes back in time), else the site's newest
    publication, else when this output folder was first rendered."""
    if last:
        when = datetime.fromisoformat(last)
        if when != EMPTY_FEED_DATE:  # what earlier versions wrote for "none"
            return when
    newest = max((e.timestamp for e in selection.everything.items), default=None)
    return first_rendered if newest is None else datetime.fromtimestamp(newest, timezone.utc)


@dataclass
class _Site:
    """What every step of one rendering shares."""

    selection: Selection[Entry]
    settings: Settings
    state: State
    catalog: Catalog
    publisher: Publisher
    now: datetime
    first_rendered: datetime  # when this output folder was first rendered
    media: MediaIndex
    render_fp: str
    hashes: dict[str, str]  # file hash by source, for every feed's items
    items: dict[str, Item] = field(default_factory=dict)  # by source: each article read and prepared once
    keep: bool = False  # keep prepared items for this process's next build
    broken: list[tuple[str, str]] = field(default_factory=list)  # (path, problem): documents not written
    last_rendered: dict[str, Rendered] = field(default_factory=dict)  # by feed slug, as the last build left them

    def checked(self, paths: dict[str, str], documents: dict[str, bytes], items: int | None) -> bool:
        """Whether every document passes its check; each that fails is noted, and none is written."""
        problems = feed_problems(documents, items)
        for fmt, problem in problems.items():
            self.broken.append((paths[fmt], problem))
        return not problems

    def quiet(self, slug: str) -> datetime:
        """The date of the feed `slug` if it has no items."""
        last = self.last_rendered.get(slug)
        return quiet_date(self.selection, last.updated if last else None, self.first_rendered)

    @property
    def names(self) -> dict[str, str]:
        return dict(self.selection.display_names)

    def load(self, sources: list[str]) -> None:
        """Read and prepare the articles not read yet (a vanished or broken file is left out)."""
        missing = [s for s in dict.fromkeys(sources) if s not in self.items]
        if self.keep:
            for source in missing:
                kept = _PREPARED.get(source)
                if kept is not None and kept[:2] == (self.hashes.get(source), self.render_fp):
                    self.items[source] = kept[2]
            missing = [s for s in missing if s not in self.items]
        for source, article in self.catalog.articles(missing).items():
            item = self.items[source] = prepare(article, self.media)
            file_hash = self.hashes.get(source)
            if self.keep and file_hash is not None:
                if len(_PREPARED) >= _PREPARED_LIMIT:
                    del _PREPARED[next(iter(_PREPARED))]  # the longest kept
                _PREPARED[source] = (file_hash, self.render_fp, item)

    def items_key(self, entries: Iterable[Entry]) -> list[list[object]]:
        """What a rendering shows of these entries: id, file hash, topic names."""
        names = self.names
        return [[e.id, self.hashes.get(e.source), [names.get(n, n) for n in e.topics]] for e in entries]

    def plan_items(self, plan: FeedPlan[Entry]) -> FeedPlan[Item]:
        found = tuple(self.items[e.source] for e in plan.items if e.source in self.items)
        return FeedPlan(plan.topic, found)


def render_site(selection: Selection[Entry], settings: Settings, state: State, catalog: Catalog,
                publisher: Publisher, now: datetime) -> int:
    """Render and write what changed; returns how many feeds were rendered.

    A resident catalog's process (the daemon) keeps the items it prepared:
    when one new article changes a feed, the others are not read again.
    """
    render_fp = hash_of(render_fingerprint(settings), state.media_fingerprint())
    hashes = catalog.file_hashes(e.source for plan in selection.plans for e in plan.items)
    site = _Site(selection, settings, state, catalog, publisher, now, state.first_rendered(now), state.media(),
                 render_fp, hashes, keep=catalog.resident, last_rendered=state.rendered())
    stale = _stale_feeds(site)
    site.load([e.source for plan, _ in stale for e in plan.items])
    with publisher.in_background():  # a feed is written while the next one is rendered
        for plan, fingerprint in stale:
            _write_feed(site, plan, fingerprint)
        if settings.archive != "off" or state.has_archives():
            with publisher.bulk():  # thousands of small documents in a cold build
                _write_archives(site)
    digest_dates = _write_digests(site) if settings.digest != "off" else {}
    # The OPML list and the landing page (every feed's newest headlines, so
    # their articles are read too) are made again only when what they show changed.
    pages = _pages_fingerprint(site, digest_dates)
    if state.get_output_meta("pages_fingerprint") != pages or not all(
            publisher.exists(p) for p in (OPML_NAME, INDEX_NAME)):
        site.load([e.source for plan in selection.plans for e in plan.items[:HEADLINES]])
        _write_opml(site, digest_dates)
        complete = _write_landing(site, digest_dates)
        state.set_output_meta("pages_fingerprint", pages if complete and not site.broken else "")
    if site.broken:
        # The build fails (and a daemon round owes its work); the next one renders them again.
        raise InvalidOutput(site.broken)
    return len(stale)


def _pages_fingerprint(site: _Site, digest_dates: dict[str, datetime]) -> str:
    """What the OPML list and the landing page are made from."""
    return hash_of(
        site.render_fp,
        [[p.slug, None if p.topic is None else [p.topic.key, p.topic.name, p.topic.title, p.topic.description,
                                                p.topic.blurb], len(p.items), site.items_key(p.items[:HEADLINES])]
         for p in site.selection.plans],
        sorted((slug, d.isoformat()) for slug, d in digest_dates.items()),
        sorted((slug, updated) for slug, (_, updated) in site.state.rendered().items()),
    )


def _stale_feeds(site: _Site) -> list[tuple[FeedPlan[Entry], str]]:
    """The feeds whose last rendering no longer matches, with their new fingerprints."""
    rendered = site.state.rendered()
    stale = []
    for plan in site.selection.plans:
        t = plan.topic
        fingerprint = hash_of(
            site.render_fp,
            None if t is None else [t.key, t.name, t.slug, t.title, t.description],
            site.items_key(plan.items),
            None if plan.items else site.quiet(plan.slug).isoformat(),
            plan.archive[0][0] if plan.archive else None,  # the archive its prev-archive link names
        )
        paths = feed_files(plan.slug, site.settings.site.base_url).paths.values()
        previous = rendered.get(plan.slug)
        if previous is None or previous[0] != fingerprint or not all(site.publisher.exists(p) for p in paths):
            stale.append((plan, fingerprint))
    return stale


def _write_feed(site: _Site, plan: FeedPlan[Entry], fingerprint: str) -> None:
    from feeder.render._extension import History
    from feeder.render.jsonfeed import render_json_feed
    from feeder.render.xmlfeeds import feed_updated, render_xml_feeds

    settings, hubs = site.settings, site.settings.websub.hubs
    full = site.plan_items(plan)
    files = feed_files(plan.slug, settings.site.base_url)
    show = _show(site, plan)
    quiet = site.quiet(plan.slug)
    history = None
    if plan.archive:
        newest = feed_files(plan.slug, settings.site.base_url, archive=plan.archive[0][0]).urls
        history = History(prev_archive=newest)
    documents = render_xml_feeds(full, files, settings.site, site.names, hubs, show, quiet, history)
    documents["json"] = render_json_feed(full, files, settings.site, site.names, hubs,
                                         next_url=history.prev_archive["json"] if history and history.prev_archive
                                         else None)
    if not site.checked(files.paths, documents, len(full.items)):
        return  # the old files stay, and the feed is not recorded as rendered
    # Recorded once the files are in place: a crash before that only means
    # the feed is rendered again next time. A feed that lost an item (its
    # file vanished since the scan) is rendered again next time too.
    complete = len(full.items) == len(plan.items)
    updated = feed_updated(full.items, quiet).isoformat()
    site.publisher.write_later({files.paths[fmt]: data for fmt, data in documents.items()},
                               then=lambda: site.state.save_rendered(plan.slug, fingerprint if complete else "",
                                                                     updated))


def _show(site: _Site, plan: FeedPlan[Entry]) -> Show | None:
    """A podcast's show, for its feed and each of its archive documents."""
    from feeder.render._extension import Show, podcast_guid

    if plan.topic is None or plan.topic.podcast is None:
        return None
    rss = feed_files(plan.slug, site.settings.site.base_url).urls["rss"]
    return Show(plan.topic.podcast, site.state.podcast_guid(plan.slug, podcast_guid(rss)))


def _write_archives(site: _Site) -> None:
    """Each feed's archive documents (RFC 5005), a period each, rendered again
    only when the period's items or its neighbours changed. A period that no
    longer has an archive (its articles withdrawn, or the subscription feed
    reaches back into it) gets an empty document: what it listed is not
    published there any more."""
    settings = site.settings
    base = settings.site.base_url
    archived = {e.source for plan in site.selection.plans for _, entries in plan.archive for e in entries}
    site.hashes.update(site.catalog.file_hashes(archived.difference(site.hashes)))
    stale: dict[str, list[tuple[FeedPlan[Entry], str, tuple[Entry, ...], str | None, str | None, str]]] = {}
    for plan in site.selection.plans:
        stored = site.state.archived(plan.slug)
        if not plan.archive and not stored:
            continue
        names = [name for name, _ in plan.archive]
        t = plan.topic
        wanted: dict[str, tuple[tuple[Entry, ...], str | None, str | None]] = {}
        for i, (name, entries) in enumerate(plan.archive):
            wanted[name] = (entries, names[i + 1] if i + 1 < len(names) else None, names[i - 1] if i else None)
        for name in stored:
            wanted.setdefault(name, ((), None, None))
        for name, (entries, older, newer) in wanted.items():
            fingerprint = hash_of(site.render_fp, None if t is None else [t.key, t.name, t.slug, t.title,
                                                                            t.description],
                                  site.items_key(entries), older, newer)
            paths = feed_files(plan.slug, base, archive=name).paths.values()
            if stored.get(name) != fingerprint or not all(site.publisher.exists(p) for p in paths):
                stale.setdefault(name, []).append((plan, name, entries, older, newer, fingerprint))
    # A period at a time, every feed's document of it: an article is read once
    # for all the feeds it is in, and let go after its period, so memory
    # holds one period's articles, not the whole history.
    current = {e.source for plan in site.selection.plans for e in plan.items}
    for name in sorted(stale):
        jobs = stale[name]
        period_sources = [e.source for job in jobs for e in job[2]]
        site.load(period_sources)
        for job in jobs:
            _write_archive(site, *job)
        for source in period_sources:
            if source not in current:
                site.items.pop(source, None)


def _write_archive(site: _Site, plan: FeedPlan[Entry], name: str, entries: tuple[Entry, ...], older: str | None,
                   newer: str | None, fingerprint: str) -> None:
    from feeder.render._extension import History
    from feeder.render.jsonfeed import render_json_feed
    from feeder.render.xmlfeeds import render_xml_feeds

    settings = site.settings
    base = settings.site.base_url
    files = feed_files(plan.slug, base, archive=name)
    full = FeedPlan(plan.topic, tuple(site.items[e.source] for e in entries if e.source in site.items))
    history = History(archive=True, current=feed_files(plan.slug, base).urls,
                      prev_archive=feed_files(plan.slug, base, archive=older).urls if older else None,
                      next_archive=feed_files(plan.slug, base, archive=newer).urls if newer else None)
    quiet = max((e.timestamp for e in entries), default=None)
    # No hub: an archive document does not change for subscribers to hear of.
    documents = render_xml_feeds(full, files, settings.site, site.names, (), _show(site, plan),
                                 site.quiet(plan.slug) if quiet is None else
                                 datetime.fromtimestamp(quiet, timezone.utc), history)
    documents["json"] = render_json_feed(full, files, settings.site, site.names, (),
                                         next_url=history.prev_archive["json"] if history.prev_archive else None)
    if not site.checked(files.paths, documents, len(full.items)):
        return
    recorded = fingerprint if len(full.items) == len(entries) else ""  # one that lost an item: again
    site.publisher.write_bulk({files.paths[fmt]: data for fmt, data in documents.items()},
                              then=functools.partial(site.state.save_archived, plan.slug, name, recorded),
                              level=FAST)


def _write_digests(site: _Site) -> dict[str, datetime]:
    """Write every digest feed; returns each one's newest item date by feed slug."""
    from feeder.render.digestfeed import render_digest_feeds
    from feeder.render.xmlfeeds import feed_texts
    from feeder.selection.digests import DigestItem, closed_periods

    settings = site.settings
    kind = settings.digest
    periods = closed_periods(kind, site.now, settings.tzinfo, settings.max_items)
    label, per = ("Weekly", "week") if kind == "weekly" else ("Daily", "day")
    newest: dict[str, datetime] = {}
    for plan in site.selection.plans:
        title, _ = feed_texts(plan.topic, settings.site)
        frozen = _freeze_closed_periods(site, plan, title, periods)
        items = [DigestItem.from_json(data) for s, _ in periods if (data := json.loads(frozen[s.isoformat()]))]
        files = feed_files(plan.slug, settings.site.base_url, digest=True)
        documents = render_digest_feeds(items, files, settings.site, f"{title} ({label.lower()} digest)",
                                        f"{label} digest of {title}: one item per {per}", site.quiet(plan.slug))
        if site.checked(files.paths, documents, len(items)):
            site.publisher.write_many({files.paths[fmt]: data for fmt, data in documents.items()})
        newest[plan.slug] = max((i.date for i in items), default=site.quiet(plan.slug))
    return newest


def _freeze_closed_periods(site: _Site, plan: FeedPlan[Entry], title: str,
                           periods: list[tuple[datetime, datetime]]) -> dict[str, str]:
    """The feed's digest items by period start, making (once, then never
    again) those of periods that closed since the last build."""
    from feeder.selection.digests import make_item

    kind = site.settings.digest
    frozen = site.state.frozen_digests(plan.slug, kind)
    todo = [(s, e) for s, e in periods if s.isoformat() not in frozen]
    if not todo:
        return frozen
    lo, hi = todo[-1][0].timestamp(), todo[0][1].timestamp()
    members = [e for e in plan.recent if lo <= e.timestamp < hi]
    site.load([e.source for e in members])  # most were read for the feeds already
    key = plan.topic.key if plan.topic else ""
    for start, end in todo:
        inside = [site.items[e.source] for e in members
                  if e.source in site.items and start.timestamp() <= e.timestamp < end.timestamp()]
        item = make_item(kind, key, title, start, end, inside) if inside else None
        frozen[start.isoformat()] = json.dumps(item.to_json() if item else None)
        site.state.freeze_digest(plan.slug, kind, start.isoformat(), frozen[start.isoformat()])
    return frozen


def _write_opml(site: _Site, digest_dates: dict[str, datetime]) -> None:
    from feeder.render.opml import OpmlFeed, render_opml
    from feeder.render.xmlfeeds import feed_texts

    settings = site.settings
    base = settings.site.base_url
    listed, digests = [], []
    for plan in site.selection.plans:
        title, description = feed_texts(plan.topic, settings.site)
        listed.append(OpmlFeed(title, description, feed_files(plan.slug, base).urls))
        if plan.slug in digest_dates:
            digests.append(OpmlFeed(f"{title} ({settings.digest} digest)", description,
                                    feed_files(plan.slug, base, digest=True).urls))
    updated = site.state.rendered()
    newest = max((datetime.fromisoformat(updated[p.slug][1]) for p in site.selection.plans if p.slug in updated),
                 default=EMPTY_FEED_DATE)
    opml = render_opml(listed + digests, settings.site, max([newest, *digest_dates.values()]))
    if site.checked({"opml": OPML_NAME}, {"opml": opml}, None):
        site.publisher.write(OPML_NAME, opml)


def _write_landing(site: _Site, digest_dates: dict[str, datetime]) -> bool:
    """Write the landing page; False when a headline's file could not be read (it is left out)."""
    from feeder.render.landing import LandingFeed, render_landing
    from feeder.render.xmlfeeds import feed_texts

    settings = site.settings
    base = settings.site.base_url
    landing = []
    complete = True
    for plan in site.selection.plans:
        # The page's own heading names the site: sections name only the topic, and
        # show a description only when one is configured.
        title, _ = feed_texts(plan.topic, settings.site)
        heading, blurb = ("All topics", "") if plan.topic is None else (plan.topic.title, plan.topic.blurb)
        top = [site.items[e.source] for e in plan.items[:HEADLINES] if e.source in site.items]
        complete = complete and len(top) == len(plan.items[:HEADLINES])
        digest = feed_files(plan.slug, base, digest=True) if plan.slug in digest_dates else None
        landing.append(LandingFeed(title, blurb, feed_files(plan.slug, base), len(plan.items), top,
                                   digest, settings.digest, heading=heading))
    site.publisher.write(INDEX_NAME, render_landing(landing, settings.site))
    return complete


def media_warnings(state: State) -> list[tuple[str, str]]:
    """(path, problem) for each enclosure whose type or length is still unknown."""
    warnings = []
    for path, url, asked, error in state.media_problems():
        why = f"the server said: {error}" if error else "the server gave no type or length" if asked \
            else "not asked yet: link checks are off or have not reached it"
        warnings.append((path, f"enclosure {url}: length or type unknown ({why}); "
                               "the RSS item is published without it"))
    return warnings
