"""The state database's schema: one migration history for SQLite and PostgreSQL.

The migrations are written for SQLite; `postgres_ddl` gives them
PostgreSQL's types. `upsert` and the time helpers are the SQL both engines
share, used by every store.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone

__all__ = ["MIGRATIONS", "TABLES", "dt", "now_text", "postgres_ddl", "statements", "ts", "upsert"]

# Each entry moves the schema from version i to i + 1. Never edit a released
# entry: add a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE feeds (
        key TEXT PRIMARY KEY,      -- topic key (case-folded name)
        name TEXT NOT NULL,        -- display name when first published
        first_seen TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE links (
        url TEXT PRIMARY KEY,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        status INTEGER,
        final_url TEXT,
        redirects TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        checked_at TEXT NOT NULL,
        first_checked TEXT NOT NULL,
        next_due TEXT NOT NULL,
        dead_count INTEGER NOT NULL DEFAULT 0,
        first_dead_at TEXT,
        last_dead_at TEXT,
        unknown_count INTEGER NOT NULL DEFAULT 0,
        ever_alive INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX links_next_due ON links (next_due);
    CREATE TABLE hosts (
        host TEXT PRIMARY KEY,
        needs_get INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE in_feed (
        article_id TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE files (
        path TEXT PRIMARY KEY,     -- relative to the content folder
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        article_id TEXT,
        published INTEGER,
        published_at REAL,         -- POSIX timestamp
        topics TEXT,               -- JSON list
        original_url TEXT,
        digest TEXT,               -- hash of the file's bytes: changes whenever its rendering may
        error TEXT                 -- why the file is not an article, or NULL
    );
    CREATE INDEX files_published_at ON files (published, published_at);
    CREATE INDEX files_original_url ON files (original_url);
    CREATE INDEX files_article_id ON files (article_id, path);
    CREATE TABLE snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        data BLOB NOT NULL         -- marshal of the files table's selection columns (feeder.content.catalog)
    );
    CREATE TABLE snapshot_delta (
        path TEXT PRIMARY KEY,
        data BLOB                  -- the row since the snapshot, NULL when the file is gone
    );
    CREATE TABLE rendered (
        feed TEXT PRIMARY KEY,     -- topic slug, '' for all topics
        fingerprint TEXT NOT NULL,
        updated TEXT NOT NULL      -- the feed's newest item date, for the OPML file
    );
    """,
    """
    ALTER TABLE files ADD COLUMN media_url TEXT;  -- an enclosure whose type or length must be asked for
    CREATE TABLE media (
        url TEXT PRIMARY KEY,
        type TEXT,
        length INTEGER,
        status INTEGER,
        error TEXT,
        checked_at TEXT NOT NULL,
        next_due TEXT NOT NULL
    );
    CREATE TABLE podcasts (
        feed TEXT PRIMARY KEY,     -- topic slug
        guid TEXT NOT NULL         -- podcast:guid, fixed when first published
    );
    CREATE TABLE digests (
        feed TEXT NOT NULL,
        kind TEXT NOT NULL,        -- daily or weekly
        period TEXT NOT NULL,      -- start of the period, ISO 8601
        item TEXT NOT NULL,        -- the item as first published (JSON), never changed after
        PRIMARY KEY (feed, kind, period)
    );
    """,
    """
    CREATE TABLE sources (
        key TEXT PRIMARY KEY,          -- the source's slug
        configured TEXT NOT NULL,      -- the URL in the configuration
        url TEXT NOT NULL,             -- where it is fetched now (moved by permanent redirects)
        etag TEXT,
        last_modified TEXT,
        next_fetch TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        gone INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        last_fetch TEXT
    );
    CREATE TABLE ingested (
        source TEXT NOT NULL,
        entry TEXT NOT NULL,           -- the entry's own id, or its link
        article_id TEXT NOT NULL,
        path TEXT,                     -- relative to content_dir; NULL for a duplicate of another entry
        canonical TEXT NOT NULL,       -- the normalised link, to spot one story in two feeds
        hash TEXT NOT NULL,            -- of the source's version of the entry
        written TEXT NOT NULL,         -- JSON: the fields as feeder last wrote them
        first_seen TEXT NOT NULL,
        PRIMARY KEY (source, entry)
    );
    CREATE INDEX ingested_canonical ON ingested (canonical);
    """,
    """
    ALTER TABLE files ADD COLUMN warnings TEXT;  -- optional fields left out, one per line, or NULL
    """,
    """
    -- Few files have an incomplete enclosure: every selecting build asks for them.
    CREATE INDEX files_media_url ON files (media_url) WHERE media_url IS NOT NULL;
    """,
    """
    -- Work claimed by one of several instances sharing this state: a host whose
    -- links it checks, a source it fetches. A lease ends at `until` (ISO 8601,
    -- UTC) if its owner dies; '' once given back.
    CREATE TABLE leases (
        kind TEXT NOT NULL,            -- host or source
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        until TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    """
    -- What each output folder was rendered from: one folder per state, or one
    -- per instance when several render their own (ha.output: own).
    CREATE TABLE output_feeds (
        output TEXT NOT NULL,          -- '' for the one output folder
        feed TEXT NOT NULL,            -- topic slug, '' for all topics
        fingerprint TEXT NOT NULL,
        updated TEXT NOT NULL,         -- the feed's newest item date, for the OPML file
        PRIMARY KEY (output, feed)
    );
    INSERT INTO output_feeds (output, feed, fingerprint, updated) SELECT '', feed, fingerprint, updated FROM rendered;
    DROP TABLE rendered;
    """,
    """
    -- Every build lists the skipped files and the warnings: few files have
    -- either, so partial indexes find them without reading every row.
    CREATE INDEX files_errors ON files (path) WHERE error IS NOT NULL;
    CREATE INDEX files_warnings ON files (path) WHERE warnings IS NOT NULL AND error IS NULL;
    -- The flag a link check set for the next build became a counter (reselect_requests).
    INSERT INTO meta (key, value) SELECT 'reselect_requests', '1' FROM meta
        WHERE key = 'holds_changed' AND value = '1' ON CONFLICT DO NOTHING;
    DELETE FROM meta WHERE key = 'holds_changed';
    """,
    """
    -- Each published article's topic names, one row per name: a build that
    -- does not keep the catalog in memory selects a feed's newest items, and
    -- counts how articles spell each topic, with indexed queries instead of
    -- reading every file's row. Filled from `files` by the catalog
    -- (meta topic_index), which keeps it in the same transactions as `files`.
    CREATE TABLE file_topics (
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        published_at REAL NOT NULL,
        article_id TEXT NOT NULL,
        PRIMARY KEY (path, name)
    );
    CREATE INDEX file_topics_newest ON file_topics (name, published_at DESC, article_id);
    -- Files that filesystem events changed in the catalog since the content
    -- folder's listing was last kept: the next full scan looks at them too.
    CREATE TABLE listing_dirty (
        path TEXT PRIMARY KEY
    );
    """,
    """
    -- Each topic row carries its article's topic names too, and the index
    -- holds every column a feed's newest items are read with: a cron build
    -- reads them from the index alone, without a lookup in `files` per item
    -- (at a million files, out of the page cache, half a second a build).
    -- Emptied here; the catalog fills it again from `files` (meta topic_index).
    DELETE FROM file_topics;
    ALTER TABLE file_topics ADD COLUMN topics TEXT;
    DROP INDEX file_topics_newest;
    CREATE INDEX file_topics_newest ON file_topics (name, published_at DESC, article_id, path, topics);
    DELETE FROM meta WHERE key = 'topic_index';
    """,
    """
    -- What custom feeds (feeds.custom) ask of each article. Filled by parsing:
    -- the release that added them parses every file again (PARSER_VERSION).
    ALTER TABLE files ADD COLUMN quality INTEGER;
    ALTER TABLE files ADD COLUMN heat INTEGER;
    ALTER TABLE files ADD COLUMN category TEXT;
    ALTER TABLE files ADD COLUMN kind TEXT;
    ALTER TABLE files ADD COLUMN provider TEXT;
    -- A feed's archive: its articles of one period, frozen once rendered (RFC 5005).
    CREATE TABLE archives (
        output TEXT NOT NULL,
        feed TEXT NOT NULL,
        period TEXT NOT NULL,      -- the period's start, ISO 8601 (a month: 2025-06)
        fingerprint TEXT NOT NULL, -- of what it was rendered from ('' to render it again)
        PRIMARY KEY (output, feed, period)
    );
    """,
    """
    -- What a source's last fetch said of itself: its title and site (for
    -- `feeder sources export`), and the WebSub hub and topic it advertises.
    ALTER TABLE sources ADD COLUMN title TEXT;
    ALTER TABLE sources ADD COLUMN home TEXT;
    ALTER TABLE sources ADD COLUMN hub TEXT;
    ALTER TABLE sources ADD COLUMN self_url TEXT;
    -- WebSub subscriptions to those hubs, one per source.
    CREATE TABLE websub (
        source TEXT PRIMARY KEY,   -- the source's slug
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,       -- the feed's rel="self"
        token TEXT NOT NULL,       -- the last part of its callback URL
        secret TEXT NOT NULL,      -- hub.secret, for the deliveries' signatures
        state TEXT NOT NULL,       -- pending, active, unsubscribing or failed
        requested TEXT,            -- when the last request was sent (ISO 8601, UTC)
        expires TEXT,              -- when the lease the hub granted ends
        lease INTEGER,             -- its length in seconds
        failures INTEGER NOT NULL DEFAULT 0,
        retry_at TEXT,             -- a failed one is asked for again then
        last_error TEXT
    );
    -- Deliveries received, by outcome (accepted, or why they were refused).
    CREATE TABLE pushes (
        outcome TEXT PRIMARY KEY,
        count INTEGER NOT NULL
    );
    """,
]


# Every table of the schema above (what `feeder state copy` copies).
TABLES = ("feeds", "links", "hosts", "in_feed", "meta", "files", "file_topics", "listing_dirty", "snapshot",
          "snapshot_delta", "output_feeds", "media", "podcasts", "digests", "sources", "ingested", "leases",
          "archives", "websub", "pushes")

_PG_TYPES = [(re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
             (re.compile(r"\bBLOB\b"), "BYTEA"),
             # Byte order, as SQLite compares: ORDER BY gives the same rows on both.
             (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"')]


def postgres_ddl(statement: str) -> str:
    """A migration statement with PostgreSQL's types: 64-bit integers (times in
    nanoseconds), double precision, bytea, and byte-order text."""
    lines = []
    for line in statement.splitlines():
        code, sep, comment = line.partition("--")
        for pattern, replacement in _PG_TYPES:
            code = pattern.sub(replacement, code)
        lines.append(code + sep + comment)
    return "\n".join(lines)


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """INSERT that replaces the row with the same `key` (SQLite's and PostgreSQL's ON CONFLICT)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(key)}) {action}")


def statements(script: str) -> list[str]:
    """The statements of a script, split where SQLite's own lexer says one ends
    (a `;` in a comment or a string does not end one)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer)
            buffer = ""
    if buffer.strip():
        statements.append(buffer)
    return statements


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def ts(dt: datetime | None) -> str | None:
    # One fixed format in UTC, so that text order is time order in SQL.
    return None if dt is None else dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


