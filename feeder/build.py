"""One build: content folder → selection → rendered feeds → output folder.

This module only wires the stages together; each stage lives in its own
module and the decisions are pure functions in `selection`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .config import Settings
from .content import read_article, scan_folder
from .errors import ConfigError, ContentError
from .layout import OPML_NAME, feed_files
from .model import Article
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
    files: int = 0
    articles: int = 0
    published: int = 0
    feeds: int = 0
    skipped: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (
            f"{self.files} files read, {self.articles} articles, {self.published} published, "
            f"{len(self.skipped)} skipped; {self.feeds} feeds, {len(self.written)} files written"
        )


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


def build(settings: Settings, *, now: datetime | None = None) -> BuildReport:
    """Build every feed once. Raises `FeederError` only when the operator must act."""
    now = now or datetime.now(timezone.utc)
    report = BuildReport()
    articles = load_articles(settings, report)
    for problem in report.skipped:
        log.warning("skipped %s", problem)
    publisher = Publisher(settings.output_dir)
    publisher.prepare()
    with State.open(settings.state_dir) as state:
        selection = select_feeds(
            articles,
            index=TopicIndex(settings.topics, settings.site.title),
            now=now,
            max_items=settings.max_items,
            retained=state.known_topics(),
        )
        listed = publish_selection(selection, settings, publisher)
        newest = max((feed_updated(p.articles) for p in selection.plans), default=EMPTY_FEED_DATE)
        publisher.write(OPML_NAME, render_opml(listed, settings.site, newest))
        state.remember_topics(p.topic for p in selection.topics if p.topic is not None)
    report.published = selection.visible
    report.feeds = len(selection.plans)
    report.written = list(publisher.written)
    report.unchanged = len(publisher.unchanged)
    return report
