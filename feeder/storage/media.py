"""What was learned about media files (podcast enclosures) by asking for them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from feeder.storage.base import Store
from feeder.storage.schema import ts, upsert

if TYPE_CHECKING:
    from feeder.model import MediaFacts

__all__ = ["MediaProblem", "MediaRow", "MediaStore"]


class MediaRow(NamedTuple):
    url: str
    type: str | None
    length: int | None
    status: int | None
    error: str | None
    checked_at: datetime
    next_due: datetime


class MediaProblem(NamedTuple):
    path: str  # the article file
    url: str  # its enclosure
    asked: bool  # whether the server was asked yet
    error: str | None


class MediaStore(Store):
    # Asked of every selecting build; few files have an incomplete enclosure, so
    # the partial index finds them without reading every published file.

    def media_due(self, now: datetime) -> list[str]:
        """Enclosure URLs of published articles whose type or length is still to be asked for."""
        return [u for (u,) in self.conn.execute(
            "SELECT DISTINCT f.media_url FROM files f INDEXED BY files_media_url "
            "LEFT JOIN media m ON m.url = f.media_url "
            "WHERE f.published = 1 AND f.media_url IS NOT NULL AND (m.url IS NULL OR m.next_due <= ?)",
            (ts(now),))]

    def media(self) -> dict[str, MediaFacts]:
        """What is known of every media file asked about, by URL."""
        from feeder.model import MediaFacts  # not at the top: opening the state does not load the model

        return {url: MediaFacts(t, n, e)
                for url, t, n, e in self.conn.execute("SELECT url, type, length, error FROM media")}

    def save_media(self, rows: Iterable[MediaRow]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                upsert("media", ("url", "type", "length", "status", "error", "checked_at", "next_due"), ("url",)),
                [(u, t, n, s, e, ts(c), ts(d)) for u, t, n, s, e, c, d in rows])

    def media_problems(self) -> list[MediaProblem]:
        """Published articles whose enclosure is still incomplete."""
        return [MediaProblem(p, u, bool(asked), e) for p, u, asked, e in self.conn.execute(
            "SELECT f.path, f.media_url, m.url IS NOT NULL, m.error FROM files f INDEXED BY files_media_url "
            "LEFT JOIN media m ON m.url = f.media_url WHERE f.published = 1 AND f.media_url IS NOT NULL "
            "AND (m.url IS NULL OR m.length IS NULL OR m.type IS NULL) ORDER BY f.path")]

    def media_fingerprint(self) -> str:
        rows = self.conn.execute("SELECT url, type, length FROM media ORDER BY url").fetchall()
        return json.dumps(rows)

