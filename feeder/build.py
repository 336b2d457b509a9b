"""One build: content folder → selection → rendered feeds → output folder.

This module only wires the stages together; each stage lives in its own
module and the decisions are pure functions in `selection`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .config import Settings
from .content import read_article, scan_folder
from .errors import ConfigError, ContentError
from .layout import OPML_NAME, feed_files
from .links import RoundReport, check_links, held_back
from .model import Article
from .netguard import Resolver
from .publish import Publisher
from .render.opml import OpmlFeed, render_opml
from .render.xmlfeeds import EMPTY_FEED_DATE, feed_updated, render_xml_feeds
from .selection import Selection, dedupe_ids, select_feeds
from .state import State
from .topics import TopicIndex

__all__ = ["BuildReport", "Problem", "build"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class BuildReport:
    links: RoundReport | None = None
    held_back: int = 0
    files: int = 0
    articles: int = 0
    published: int = 0
    feeds: int = 0
    skipped: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        held = f" ({self.held_back} held back by link checks)" if self.held_back else ""
        text = (
            f"{self.files} files read, {self.articles} articles, {self.published} published{held}, "
            f"{len(self.skipped)} skipped; {self.feeds} feeds, {len(self.written)} files written"
        )
        if self.links is not None:
            text += f"; links: {self.links.summary()}"
        return text


def load_articles(settings: Settings, report: BuildReport) -> list[Article]:
    try:
        files = scan_folder(settings.content_dir)
    except FileNotFoundError:
        raise ConfigError(f"the content folder {settings.content_dir} does not exist", key="content_dir") from None
    except NotADirectoryError:
        raise ConfigError(f"{settings.content_dir} is not a folder", key="content_dir") from None
    report.files = len(files)
    tz = settings.tzinfo
    articles: list[Article] = []
    for f in files:
        try:
            articles.append(read_article(f, max_size=settings.max_file_size, tz=tz))
        except ContentError as exc:
            report.skipped.append(Problem(f.rel, exc.problem))
    kept, dupes = dedupe_ids(articles)
    for d in dupes:
        report.skipped.append(Problem(d.dropped, f"id '{d.article_id}' is already used by {d.kept}"))
    report.articles = len(kept)
    return kept


def publish_selection(selection: Selection, settings: Settings, publisher: Publisher) -> list[OpmlFeed]:
    site = settings.site
    names = dict(selection.display_names)
    listed: list[OpmlFeed] = []
    for plan in selection.plans:
        files = feed_files(plan.slug, site.base_url)
        documents = render_xml_feeds(plan, files, site, names)
        for fmt, data in documents.items():
            publisher.write(files.paths[fmt], data)
        title = f"{site.title}: {plan.topic.title}" if plan.topic else site.title
        description = plan.topic.description if plan.topic else (site.description or f"The latest from {site.title}")
        listed.append(OpmlFeed(title, description, files.urls))
    return listed


def check_content_links(
    settings: Settings, *, everything: bool, budget: float, progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None, resolver: Resolver | None = None,
) -> tuple[list[Article], RoundReport]:
    """A link-check round over the published articles' URLs (`feeder check`)."""
    now = now or datetime.now(timezone.utc)
    report = BuildReport()
    articles = [a for a in load_articles(settings, report) if a.published]
    with State.open(settings.state_dir) as state:
        links = check_links(settings.links, state, [a.original_url for a in articles], now=now,
                            everything=everything, budget=budget, resolver=resolver, progress=progress)
    return articles, links


def build(settings: Settings, *, now: datetime | None = None, resolver: Resolver | None = None) -> BuildReport:
    """Build every feed once. Raises `FeederError` only when the operator must act.

    `now` and `resolver` exist for tests: the clock and name resolution.
    """
    now = now or datetime.now(timezone.utc)
    report = BuildReport()
    articles = load_articles(settings, report)
    for problem in report.skipped:
        log.warning("skipped %s", problem)
    publisher = Publisher(settings.output_dir)
    publisher.prepare()
    with State.open(settings.state_dir) as state:
        held: set[str] = set()
        if settings.links.enabled:
            urls = [a.original_url for a in articles if a.published]
            report.links = check_links(settings.links, state, urls, now=now, resolver=resolver)
            held = held_back(articles, report.links.records, state.in_feed(), settings.links)
            report.held_back = sum(1 for a in articles if a.id in held and a.published_at <= now)
        selection = select_feeds(
            articles,
            index=TopicIndex(settings.topics, settings.site.title),
            now=now,
            max_items=settings.max_items,
            held_back=held,
            retained=state.known_topics(),
        )
        listed = publish_selection(selection, settings, publisher)
        newest = max((feed_updated(p.articles) for p in selection.plans), default=EMPTY_FEED_DATE)
        publisher.write(OPML_NAME, render_opml(listed, settings.site, newest))
        state.remember_topics(p.topic for p in selection.topics if p.topic is not None)
        state.mark_in_feed({a.id for p in selection.plans for a in p.articles})
    report.published = selection.visible
    report.feeds = len(selection.plans)
    report.written = list(publisher.written)
    report.unchanged = len(publisher.unchanged)
    return report
