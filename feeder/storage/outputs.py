"""What was published: feeds that exist, what each output folder was
rendered from, podcast guids, frozen digest items, articles that have been in
a feed, and events every output folder must act on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from feeder.storage.base import Store
from feeder.storage.schema import now_text, upsert

if TYPE_CHECKING:
    from feeder.model import Topic

__all__ = ["OutputStore", "Rendered"]


class Rendered(NamedTuple):
    fingerprint: str  # of everything the feed was rendered from ('' to render it again)
    updated: str  # the feed's newest item date, ISO 8601



class OutputStore(Store):
    output_key: str  # the output folder being built, when each instance renders its own

    # -- podcasts and digests --------------------------------------------------

    def podcast_guid(self, feed: str, proposed: str) -> str:
        """The show's podcast:guid: the first one proposed for this feed, forever."""
        self.conn.execute("INSERT INTO podcasts (feed, guid) VALUES (?, ?) ON CONFLICT DO NOTHING", (feed, proposed))
        return str(self.conn.execute("SELECT guid FROM podcasts WHERE feed = ?", (feed,)).fetchone()[0])

    def frozen_digests(self, feed: str, kind: str) -> dict[str, str]:
        return dict(self.conn.execute("SELECT period, item FROM digests WHERE feed = ? AND kind = ?", (feed, kind)))

    def freeze_digest(self, feed: str, kind: str, period: str, item: str) -> None:
        self.conn.execute("INSERT INTO digests (feed, kind, period, item) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (feed, kind, period, item))

    # -- rendered feeds --------------------------------------------------------

    def rendered(self) -> dict[str, Rendered]:
        """By feed slug ('' for all topics): what each feed of this output folder
        was last rendered from, and its date."""
        return {feed: Rendered(fp, updated) for feed, fp, updated in self.conn.execute(
            "SELECT feed, fingerprint, updated FROM output_feeds WHERE output = ?", (self.output_key,))}

    def first_rendered(self, now: datetime) -> datetime:
        """When this output folder was first rendered (`now`, the first time asked)."""
        text = self.get_output_meta("first_rendered")
        if text:
            return datetime.fromisoformat(text)
        moment = now.replace(microsecond=0)
        self.set_output_meta("first_rendered", moment.isoformat())
        return moment

    def archived(self, feed: str) -> dict[str, str]:
        """The archive documents (RFC 5005) of a feed in this output folder: period → fingerprint."""
        return dict(self.conn.execute("SELECT period, fingerprint FROM archives WHERE output = ? AND feed = ?",
                                      (self.output_key, feed)))

    def save_archived(self, feed: str, period: str, fingerprint: str) -> None:
        self.conn.execute(upsert("archives", ("output", "feed", "period", "fingerprint"), ("output", "feed", "period")),
                          (self.output_key, feed, period, fingerprint))

    def has_archives(self) -> bool:
        return self.conn.execute("SELECT 1 FROM archives WHERE output = ? LIMIT 1", (self.output_key,)).fetchone() \
            is not None

    def forget_rendered(self) -> None:
        """Forget what this output folder's feeds and pages were rendered from:
        the next rendering compares every file with what it would write."""
        with self.transaction() as conn:
            conn.execute("UPDATE output_feeds SET fingerprint = '' WHERE output = ?", (self.output_key,))
            conn.execute("UPDATE archives SET fingerprint = '' WHERE output = ?", (self.output_key,))
            self.set_output_meta("pages_fingerprint", "")

    def save_rendered(self, feed: str, fingerprint: str, updated: str) -> None:
        self.conn.execute(upsert("output_feeds", ("output", "feed", "fingerprint", "updated"), ("output", "feed")),
                          (self.output_key, feed, fingerprint, updated))

    # -- what one output folder was built from ------------------------------------
    # One output folder per state by default. When several instances each render
    # their own (ha.output: own), each keeps these facts under its own key.

    def _output_key(self, key: str) -> str:
        return f"{key}@{self.output_key}" if self.output_key else key

    def get_output_meta(self, key: str) -> str | None:
        return self.get_meta(self._output_key(key))

    def set_output_meta(self, key: str, value: str) -> None:
        self.set_meta(self._output_key(key), value)

    # Events that every output folder must act on once: a counter each bumps,
    # and each folder remembers the count it last acted on.

    def request(self, event: str) -> None:
        """`reselect` (link verdicts changed what is held back) or `sweep` (another
        instance wrote into the content folder)."""
        with self.transaction():
            count = int(self.get_meta(f"{event}_requests") or "0")
            self.set_meta(f"{event}_requests", str(count + 1))

    def requests(self, event: str) -> str:
        """How many times `event` was requested so far (a count, as text)."""
        return self.get_meta(f"{event}_requests") or "0"

    def pending(self, event: str) -> bool:
        return self.requests(event) != (self.get_output_meta(f"{event}_done") or "0")

    def done(self, event: str, upto: str) -> None:
        """This output folder acted on the requests counted by `upto` (read
        before acting: one made meanwhile stays pending)."""
        self.set_output_meta(f"{event}_done", upto)

    # -- feeds that exist ---------------------------------------------------

    def known_topics(self) -> dict[str, str]:
        """Topics that have had a feed (key → name): they keep one forever."""
        return dict(self.conn.execute("SELECT key, name FROM feeds"))

    def remember_topics(self, topics: Iterable[Topic]) -> None:
        rows = [(t.key, t.name, now_text()) for t in topics]
        with self.transaction() as conn:
            conn.executemany("INSERT INTO feeds (key, name, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows)

    # -- articles that have been in a feed -------------------------------------

    def in_feed(self) -> set[str]:
        return {a for (a,) in self.conn.execute("SELECT article_id FROM in_feed")}

    def mark_in_feed(self, article_ids: Iterable[str]) -> None:
        now = now_text()
        with self.transaction() as conn:
            conn.executemany("INSERT INTO in_feed (article_id, first_seen) VALUES (?, ?) ON CONFLICT DO NOTHING",
                             [(a, now) for a in article_ids])
