"""`feeder status`: what the state database says, without scanning,
fetching or taking the build lock, so it answers while a daemon runs."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from feeder.app.pipeline import BuildStats
from feeder.config import Settings
from feeder.storage.state import State
from feeder.text import plural

__all__ = ["Status", "read_status"]


@dataclass
class Status:
    built: bool  # False: no build has run yet
    last_build: dict[str, Any] | None = None  # started, seconds, outcome, error
    next_rounds: dict[str, str | None] = field(default_factory=dict)  # by daemon job (empty without a daemon)
    files: int = 0
    articles: int = 0
    published: int = 0
    held_back: int = 0
    scheduled: int = 0  # published, dated in the future
    next_publication: str | None = None  # the first of those, ISO 8601
    skipped: int = 0
    links: dict[str, Any] = field(default_factory=dict)  # dead and unknown: how many, the oldest
    sources_with_errors: list[dict[str, Any]] = field(default_factory=list)
    feeds: list[dict[str, Any]] = field(default_factory=list)  # slug, topic, items, newest
    websub: dict[str, int] = field(default_factory=dict)  # subscriptions by state
    pushes: dict[str, int] = field(default_factory=dict)  # deliveries by outcome

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        if not self.built:
            return ["no build has run yet: run feeder build (or start the daemon)"]
        out = []
        if self.last_build:
            lb = self.last_build
            error = f": {lb['error']}" if lb.get("error") else ""
            out.append(f"last build: {lb['started']}, {lb['seconds']:g} s, {lb['outcome']}{error}")
        for job, when in self.next_rounds.items():
            out.append(f"next {job}: {when or 'not scheduled'}")
        out.append(f"{plural(self.files, 'file')}, {plural(self.articles, 'article')}, {self.published} "
                   f"published, {self.held_back} held back, {self.scheduled} scheduled, {self.skipped} skipped")
        if self.next_publication:
            out.append(f"next scheduled publication: {self.next_publication}")
        for verdict in ("dead", "unknown"):
            info = self.links.get(verdict, {})
            oldest = f" (oldest since {info['oldest_since']}: {info['oldest_url']})" if info.get("oldest_url") else ""
            out.append(f"{verdict} URLs: {info.get('count', 0)}{oldest}")
        for s in self.sources_with_errors:
            out.append(f"source {s['url']}: {s['error']} ({s['failures']} failure(s) in a row)")
        if self.websub or self.pushes:
            subs = ", ".join(f"{n} {state}" for state, n in sorted(self.websub.items())) or "none"
            got = ", ".join(f"{outcome} {n}" for outcome, n in sorted(self.pushes.items())) or "none"
            out.append(f"websub subscriptions: {subs}; pushes received: {got}")
        for f in self.feeds:
            out.append(f"feed {f['slug'] or '(all topics)'}: {plural(f['items'], 'item')}, newest {f['newest'] or '-'}")
        return out


def read_status(settings: Settings) -> Status:
    state = State.open_readonly(settings.state_dir, settings.state.url)
    if state is None:
        return Status(built=False)
    with state:
        state.output_key = settings.output_key
        return _status(state)


def _meta_json(state: State, key: str) -> Any:
    text = state.get_output_meta(key)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _status(state: State) -> Status:
    conn = state.conn
    status = Status(built=True, last_build=_meta_json(state, "last_build"),
                    next_rounds=_meta_json(state, "next_rounds") or {}, feeds=_meta_json(state, "feeds") or [])
    stats = BuildStats.from_json(state.get_output_meta("stats") or "")
    if stats is not None:
        status.published, status.held_back = stats.published, stats.held_back
    status.files = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    status.articles = conn.execute("SELECT COUNT(DISTINCT article_id) FROM files WHERE error IS NULL").fetchone()[0]
    status.skipped = conn.execute("SELECT COUNT(*) FROM files WHERE error IS NOT NULL").fetchone()[0]
    count, first = conn.execute("SELECT COUNT(*), MIN(published_at) FROM files WHERE published = 1 "
                                "AND published_at > ?", (time.time(),)).fetchone()
    status.scheduled = int(count)
    if first is not None:
        status.next_publication = datetime.fromtimestamp(first, timezone.utc).isoformat(timespec="seconds")
    for verdict, since in (("dead", "first_dead_at"), ("unknown", "first_checked")):
        count, = conn.execute(
            "SELECT COUNT(DISTINCT l.url) FROM links l JOIN files f ON f.original_url = l.url "
            "WHERE f.published = 1 AND l.verdict = ?", (verdict,)).fetchone()
        oldest = conn.execute(
            f"SELECT l.url, l.{since} FROM links l JOIN files f ON f.original_url = l.url "  # noqa: S608 - our names
            f"WHERE f.published = 1 AND l.verdict = ? ORDER BY l.{since}, l.url LIMIT 1", (verdict,)).fetchone()
        status.links[verdict] = {"count": count, "oldest_url": oldest[0] if oldest else None,
                                 "oldest_since": _seconds(oldest[1]) if oldest else None}
    for key, url, error, failures, next_fetch in conn.execute(
            "SELECT key, url, last_error, failures, next_fetch FROM sources WHERE last_error IS NOT NULL "
            "ORDER BY key"):
        status.sources_with_errors.append({"source": key, "url": url, "error": error, "failures": failures,
                                           "next_fetch": _seconds(next_fetch)})
    from feeder.ingest.websub import shown_states

    status.websub = shown_states(state.subscriptions().values(), datetime.now(timezone.utc))
    status.pushes = state.pushes()
    return status


def _seconds(stamp: str | None) -> str | None:
    """An ISO 8601 time from the database, to the second."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).isoformat(timespec="seconds")
    except ValueError:
        return stamp
