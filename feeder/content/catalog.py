"""The content folder as the state database remembers it.

Every content file's path, size, modification time and parsed article (or
the problem that kept it out) is kept in the `files` table. A rescan lists
the folder (`feeder.content.scan`), or takes what filesystem events named
(`update`), reparses only new and changed files (`feeder.content.parsing`,
across the machine's cores when there are many), and forgets deleted ones. Selection
works on light `Entry` rows; full articles are decoded only for the items
that end up in a feed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import marshal
import os
import re
import stat
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from feeder.content.names import from_key, to_key
from feeder.content.parsing import (
    DELTA_UPSERT,
    SNAP_COLUMNS,
    TOPIC_SEP,
    TOPIC_UPSERT,
    FileRow,
    SnapRow,
    differs,
    parse_and_store,
    topic_rows,
    use_processes,
)
from feeder.content.scan import (
    ARTICLE_SUFFIXES,
    ContentFile,
    Listing,
    PendingListing,
    changed_paths,
    hidden_name,
    is_fingerprint_of,
    link_problem,
    listing_hash,
    scan_folder,
    scan_listing,
)
from feeder.errors import ConfigError, ContentError, describe_os_error
from feeder.storage.db import Database, secondary_indexes
from feeder.storage.state import State, upsert

if TYPE_CHECKING:
    from feeder.content.watch import Changes
    from feeder.model import Article  # the model is loaded only when a file is parsed

__all__ = ["PARSER_VERSION", "Catalog", "Entry", "Rescan", "open_catalog"]

log = logging.getLogger(__name__)

# Bump when parsing changes what an Article holds: every file is then reparsed.
PARSER_VERSION = "5"


class Entry(NamedTuple):
    """What selection needs to know about a published article, without its text.

    A tuple rather than a dataclass: a rescan builds one per published article.
    """

    id: str
    source: str
    published: bool
    timestamp: float  # publishedDateTime as a POSIX timestamp
    topics: tuple[str, ...]
    original_url: str  # "" unless asked for (link checks need it)


@dataclass(frozen=True, slots=True)
class Duplicate:
    article_id: str
    kept: str  # path of the file that keeps the id (its path sorts first)
    dropped: str


@dataclass
class Rescan:
    files: int = 0
    parsed: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.parsed or self.removed)


@dataclass
class _Journal:
    """The sources whose entry changed, in order, since the kept entries and
    duplicates were last read whole: a reader that has seen the first `n`
    needs only the rest (see `Catalog.entry_changes`)."""

    id: str = field(default_factory=lambda: os.urandom(16).hex())
    sources: list[str] = field(default_factory=list)


# A journal this long is started afresh: its reader selects from every entry once.
_JOURNAL_LIMIT = 100_000
# Rows of `files` read at a time when the topic index is filled again.
_FILL_BATCH = 20_000


@dataclass
class _Kept:
    """What a long-lived process keeps of the catalog between builds, valid
    while the state's `catalog_generation` is `generation`."""

    generation: str
    snap: dict[str, SnapRow]
    entries: dict[str, Entry] | None = None
    urls: bool = False
    dupes: list[Duplicate] | None = None
    journal: _Journal | None = None
    parsed: int | None = None  # rows with an article id


# db path → (generation, snapshot): the catalog a long-lived process last saw.
_IN_MEMORY: dict[str, _Kept] = {}


class Catalog:
    """The content folder as the state database remembers it.

    A `resident` catalog (a long-lived process's) keeps every file's row in
    memory between builds and selection works on its entries; any other
    asks the database about the files that changed and, for selection, about
    each feed's newest items (`feeder.content.members`), so that the work of
    a rescan grows with the change, not with the folder.
    """

    def __init__(self, state: State, root: str | os.PathLike[str], *, max_size: int, timezone_name: str,
                 resident: bool = False, follow_links: bool = False):
        self.state = state
        self.root = os.fspath(root)
        self.max_size = max_size
        self.tz_name = timezone_name
        self.follow_links = follow_links
        self.resident = resident
        self._snap: dict[str, SnapRow] | None = None
        # path → Entry of every published article, kept beside the snapshot in
        # a long-lived process and updated with it: a daemon's round then
        # builds entries for the files that changed, not for all of them.
        self._entries: dict[str, Entry] | None = None
        self._entry_urls = False  # whether `_entries` carry original URLs
        self._parsed: dict[str, Article] = {}  # articles this build has parsed already, by path
        self._dupes: list[Duplicate] | None = None
        # Valid while `_entries` and `_dupes` are kept up to date change by change.
        self._journal: _Journal | None = None
        self._parsed_count: int | None = None  # rows of the snapshot with an article id

    # The `files` table is the truth. Reading 100,000 rows from it costs a
    # few tenths of a second, so the columns every selecting build reads are
    # also kept as one marshalled blob (`snapshot`) plus the rows changed
    # since (`snapshot_delta`, NULL for a removed file), written in the same
    # transactions as `files`. A one-file change writes one delta row; the
    # blob is rewritten once the deltas pile up.

    def _snapshot(self) -> dict[str, SnapRow]:
        if self._snap is None:
            generation = self.state.get_meta("catalog_generation")
            kept = _IN_MEMORY.get(self.state.conn.target)
            if kept is not None and generation and kept.generation == generation:
                # Nobody wrote the catalog since this process last did.
                self._snap, self._entries, self._entry_urls = kept.snap, kept.entries, kept.urls
                self._dupes, self._journal, self._parsed_count = kept.dupes, kept.journal, kept.parsed
                return self._snap
            self._snap, self._entries, self._dupes, self._journal = self._load_snapshot(), None, None, None
            self._parsed_count = None
            if generation:
                # Read, not changed: it is the catalog of that generation (a
                # build holds the lock, so nobody wrote meanwhile).
                _IN_MEMORY[self.state.conn.target] = _Kept(generation, self._snap)
            else:
                self._keep()
        return self._snap

    @property
    def generation(self) -> str | None:
        """Changes whenever the catalog does: an output folder rendered at
        another generation may be stale."""
        return self.state.get_meta("catalog_generation")

    def _keep(self) -> None:
        """Remember the snapshot in this process under a new generation: a
        long-lived process (the daemon) reuses it for its next build, and the
        new generation tells every other process that theirs is stale."""
        generation = os.urandom(16).hex()
        with self.state.transaction():
            self.state.set_meta("catalog_generation", generation)
            if self._dupes is not None:
                self._store_duplicates(generation)
        if self._snap is not None:
            _IN_MEMORY[self.state.conn.target] = _Kept(generation, self._snap, self._entries, self._entry_urls,
                                                       self._dupes, self._journal, self._parsed_count)

    def _forget_kept(self) -> None:
        _IN_MEMORY.pop(self.state.conn.target, None)

    def _load_snapshot(self) -> dict[str, SnapRow]:
        conn = self.state.conn
        rows: list[tuple[object, ...]] | None = None
        found = conn.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
        if found is not None:
            try:
                rows = marshal.loads(found[0])  # noqa: S302 - our own database
            except (EOFError, ValueError, TypeError):
                rows = None
        if rows is None:
            self._snap = {r[0]: SnapRow._make(r)
                          for r in conn.execute(f"SELECT {SNAP_COLUMNS} FROM files")}  # noqa: S608
            self._save_base()
            return self._snap
        snap = {row.path: row for row in map(SnapRow._make, rows)}
        for path, data in conn.execute("SELECT path, data FROM snapshot_delta"):
            if data is None:
                snap.pop(path, None)
            else:
                snap[path] = SnapRow._make(marshal.loads(data))  # noqa: S302
        return snap

    def _save_base(self) -> None:
        assert self._snap is not None
        # Newest first, so that selection's sort finds the rows already in order.
        rows = [tuple(r) for r in sorted(self._snap.values(),
                                         key=lambda r: (-(r.published_at or 0.0), r.article_id or ""))]
        with self.state.transaction() as conn:
            conn.execute(upsert("snapshot", ("id", "data"), ("id",)), (1, marshal.dumps(rows)))
            conn.execute("DELETE FROM snapshot_delta")

    def _forget(self, conn: Database, paths: Sequence[str]) -> None:
        conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])
        conn.executemany("DELETE FROM file_topics WHERE path = ?", [(p,) for p in paths])
        conn.executemany(DELTA_UPSERT, [(p, None) for p in paths])

    def _check_parse_settings(self) -> None:
        """Forget every parsed file when what parsing depends on changed."""
        self._restore_indexes()
        fingerprint = f"{PARSER_VERSION}|{self.max_size}|{self.tz_name}" + ("|links" if self.follow_links else "")
        if self.state.get_meta("parse_fingerprint") != fingerprint:
            self._forget_kept()
            with self.state.transaction() as conn:
                for table in ("files", "file_topics", "snapshot", "snapshot_delta", "listing_dirty"):
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
                self.state.set_meta("parse_fingerprint", fingerprint)
                self.state.set_meta("topic_index", "1")
                self.state.set_meta("listing", "")
                self.state.set_meta("duplicates", "")
            self._snap = self._entries = self._dupes = self._journal = self._parsed_count = None
        elif self.state.get_meta("topic_index") != "1":
            self._fill_topic_index()

    # Filling an empty catalog, every row inserted into every index in
    # random order cost most of a cold build at a million files (one
    # writer at a time: 136 s of 300); the indexes made once after the rows
    # cost 8 s. Which indexes are away is kept in meta until they are back,
    # so that a build stopped in between leaves the next one to make them.

    def _defer_indexes(self) -> None:
        dropped = secondary_indexes(self.state.conn, ("files", "file_topics"))
        with self.state.transaction() as conn:
            self.state.set_meta("deferred_indexes", json.dumps(dropped))
            for name, _ in dropped:
                conn.execute(f"DROP INDEX {name}")

    def _restore_indexes(self) -> None:
        text = self.state.get_meta("deferred_indexes")
        if not text:
            return
        with self.state.transaction() as conn:
            for _, sql in json.loads(text):
                conn.execute(re.sub(r"^\s*CREATE INDEX\s+", "CREATE INDEX IF NOT EXISTS ", sql, flags=re.IGNORECASE))
            self.state.set_meta("deferred_indexes", "")

    def _fill_topic_index(self) -> None:
        """Fill `file_topics` from `files`, once, for a catalog parsed before it existed."""
        log.info("filling the topic index from the catalog (once, after an upgrade; a minute or less "
                 "at a million files)")
        with self.state.transaction() as conn:
            conn.execute("DELETE FROM file_topics")
            # In batches, in path order: all the rows at once held 369 MB at a
            # million files. `+published` keeps SQLite on the primary key: by
            # the index on `published` it sorted every published row each batch.
            after = ""
            while rows := [SnapRow._make(r) for r in conn.execute(
                    f"SELECT {SNAP_COLUMNS} FROM files WHERE +published = 1 AND path > ? "  # noqa: S608
                    "ORDER BY path LIMIT ?", (after, _FILL_BATCH)).fetchall()]:
                conn.executemany(TOPIC_UPSERT, topic_rows(rows))
                after = rows[-1].path
            self.state.set_meta("topic_index", "1")

    def rescan(self, scan: Sequence[ContentFile] | Listing, cancel: threading.Event | None = None) -> Rescan:
        """Bring the `files` table in line with the folder (a full scan of it); returns what changed."""
        self._check_parse_settings()
        dirty = self._dirty()
        if not isinstance(scan, Listing):
            files, listing = scan, listing_hash(scan)
            if self.state.get_meta("listing") == listing and not dirty:
                return Rescan(files=len(files))
            report = self._compare(files, cancel, ())
            self._listed(listing, report.files, [])
            return report
        listing = scan.fingerprint
        known = self.state.get_meta("listing")
        count = self.state.get_meta("listing_count")
        if known == listing and count is not None and not dirty:
            return Rescan(files=int(count))  # not one file added, removed or touched: as many as last time
        before = self._last_listing(known)
        if before is not None and scan.raw is not None:
            # Only the records that differ from the last listing, and the
            # files events changed since, name files to look at.
            from feeder.content.watch import Changes

            report = self._look_at(Changes(files=changed_paths(before, scan.raw) | dirty), cancel, events=False)
        else:
            report = self._compare(scan.files, cancel, tuple(scan.unreadable))
        report.files = self._file_count()
        self._keep_listing(scan)
        self._listed(listing, report.files, scan.unreadable)
        return report

    def _listed(self, listing: str, count: int, unreadable: list[str]) -> None:
        """The catalog is in line with this listing: no file events changed since."""
        with self.state.transaction() as conn:
            self.state.set_meta("listing", listing)
            self.state.set_meta("listing_count", str(count))
            self.state.set_meta("unreadable", json.dumps(unreadable) if unreadable else "")
            conn.execute("DELETE FROM listing_dirty")

    def unreadable(self) -> list[tuple[str, str]]:
        """(folder, problem) for each folder the last full scan could not read."""
        text = self.state.get_meta("unreadable")
        folders: list[str] = json.loads(text) if text else []
        return [(folder, "cannot read this folder (permission denied): its files are kept as they were "
                         "published until it can be read") for folder in folders]

    def _compare(self, files: Sequence[ContentFile], cancel: threading.Event | None,
                 unreadable: tuple[str, ...]) -> Rescan:
        """Compare every file of a full listing with the catalog; files the
        catalog knows under an `unreadable` folder are kept as they are."""
        snap = self._snapshot()
        get = snap.get
        # `differs`, inlined: this loop runs once per file of a full listing.
        todo = [f for f in files if (row := get(f.rel)) is None or row.size != f.size or row.mtime_ns != f.mtime_ns]
        present = {f.rel for f in files}
        gone = [p for p in snap if p not in present and not (unreadable and p.startswith(unreadable))]
        report = self._apply(todo, gone, cancel, snap)
        report.files = len(files)
        return report

    @property
    def _listing_file(self) -> Path:
        return self.state.state_dir / "content-listing"

    def _last_listing(self, fingerprint: str | None) -> bytes | None:
        """find's listing that the catalog was last brought in line with, if it is kept and intact."""
        if not fingerprint or not fingerprint.startswith("find"):
            return None
        _finish_listing_write(self._listing_file)  # this process's last build may still be writing it
        try:
            raw = self._listing_file.read_bytes()
        except OSError:
            return None
        return raw if is_fingerprint_of(raw, fingerprint) else None

    def _keep_listing(self, scan: Listing) -> None:
        """Keep `scan` for the next rescan to compare with, written in a
        thread while the build goes on: at a million files it is 59 MB, a
        tenth of a second or two to write. A listing lost on the way (a
        crash, a full disk) only makes the next rescan compare every file:
        its fingerprint tells it the kept one is not the catalog's."""
        if scan.raw is None:
            return
        target = self._listing_file
        _finish_listing_write(target)
        writer = threading.Thread(target=_write_listing, args=(target, scan.raw), name="feeder-listing")
        _LISTING_WRITERS[target] = writer
        writer.start()

    def settle(self) -> None:
        """Wait until what the catalog writes beside the database (the kept listing) is in place."""
        _finish_listing_write(self._listing_file)

    def update(self, changes: Changes, cancel: threading.Event | None = None) -> Rescan:
        """Bring the catalog in line with what filesystem events named, looking
        at nothing else: the files named, and the folders that appeared."""
        return self._look_at(changes, cancel, events=True)

    def _look_at(self, changes: Changes, cancel: threading.Event | None, *, events: bool) -> Rescan:
        self._check_parse_settings()
        # What the catalog knows of the files involved: a resident catalog
        # has every row at hand, another asks the database for these alone.
        known = self._snapshot() if self.resident else self._rows_at(map(to_key, changes.files))
        found: dict[str, ContentFile | None] = {}
        folders = {to_key(f) for f in changes.folders}
        for folder in {to_key(f) for f in changes.gone_folders} | folders:
            under = self._rows_under(folder)
            if not self.resident:
                known.update(under)
            found.update((path, None) for path in under)
        for folder in folders:
            try:
                listed = scan_folder(os.path.join(self.root, from_key(folder)), follow=self.follow_links,
                                     within=self.root)
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone again before we looked
            except PermissionError:
                continue  # cannot be read now: the next full scan says so
            found.update((f"{folder}/{f.rel}", f._replace(rel=f"{folder}/{f.rel}")) for f in listed)
        for rel in map(to_key, changes.files):
            try:
                found[rel] = self._stat(rel)
            except PermissionError:
                continue  # in a folder that cannot be read now: what the catalog knows of it stays
        todo = [f for f in found.values() if f is not None and differs(known.get(f.rel), f)]
        removed = [rel for rel, f in found.items() if f is None and rel in known]
        if events and (todo or removed):
            # The kept listing no longer says what the catalog holds for these
            # paths: the next full scan looks at them besides what its listing
            # shows changed (a file put back as it was listed, with its old
            # time, would otherwise keep the catalog's newer row). Noted
            # before the change, so that a build stopped half-way loses none.
            with self.state.transaction() as conn:
                conn.executemany(upsert("listing_dirty", ("path",), ("path",)),
                                 [(p,) for p in (*removed, *(f.rel for f in todo))])
        report = self._apply(todo, removed, cancel, known)
        report.files = self._file_count()
        return report

    def _dirty(self) -> set[str]:
        """Paths filesystem events changed in the catalog since the listing was kept."""
        return {p for (p,) in self.state.conn.execute("SELECT path FROM listing_dirty")}

    def _rows_at(self, paths: Iterable[str]) -> dict[str, SnapRow]:
        return {r[0]: SnapRow._make(r) for r in self.state.rows_in(
            f"SELECT {SNAP_COLUMNS} FROM files WHERE path IN ({{marks}})", paths)}  # noqa: S608

    def _rows_under(self, folder: str) -> dict[str, SnapRow]:
        """The rows of the files in `folder`, at any depth."""
        prefix = folder + "/"
        if self._snap is not None or self.resident:
            return {p: r for p, r in self._snapshot().items() if p.startswith(prefix)}
        # Paths compare byte by byte on both engines: those under "a/" sort
        # from "a/" up to "a0" ('0' follows '/').
        rows = self.state.conn.execute(f"SELECT {SNAP_COLUMNS} FROM files WHERE path >= ? AND path < ?",  # noqa: S608
                                       (prefix, folder + "0"))
        return {r[0]: SnapRow._make(r) for r in rows}

    def _file_count(self) -> int:
        if self._snap is not None:
            return len(self._snap)
        return int(self.state.conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    def _stat(self, rel: str) -> ContentFile | None:
        """The file keyed `rel` when it is an article file now, else None (gone, a folder, hidden)."""
        if any(hidden_name(part) for part in rel.split("/")) or not rel.lower().endswith(ARTICLE_SUFFIXES):
            return None
        path = os.path.join(self.root, from_key(rel))
        try:
            st = os.stat(path)
        except PermissionError:
            raise
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        problem = None if self.follow_links or not os.path.islink(path) else \
            link_problem(path, os.path.realpath(self.root))
        return ContentFile(path, rel, st.st_size, st.st_mtime_ns, problem)

    def _apply(self, todo: list[ContentFile], removed: list[str], cancel: threading.Event | None,
               known: Mapping[str, SnapRow]) -> Rescan:
        """Reparse `todo` and forget `removed` (`known` holds their rows as
        they were), in the database and, when it is loaded, the snapshot."""
        conn = self.state.conn
        snap = self._snap
        report = Rescan(parsed=len(todo), removed=len(removed))
        if not todo and not removed:
            return report
        # Kept in memory again only once database and snapshot agree: a build
        # stopped half-way makes the next one read the database.
        self._forget_kept()
        if self._dupes is None:
            self._dupes = self._stored_duplicates()
        before_rows = [row for p in (*removed, *(f.rel for f in todo)) if (row := known.get(p)) is not None]
        # Ids these files had, when duplicates are kept: a duplicate may have ended with them.
        touched = set() if self._dupes is None else {row.article_id for row in before_rows}
        had_ids = sum(1 for row in before_rows if row.article_id is not None)
        fresh = not removed and conn.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None
        if removed:
            with self.state.transaction():
                self._forget(conn, removed)
            for p in removed:
                if snap is not None:
                    del snap[p]
                if self._entries is not None:
                    self._entries.pop(p, None)
        parallel = use_processes(len(todo))
        if parallel:
            with self.state.transaction():
                conn.execute("DELETE FROM snapshot")  # the workers write `files` alone
            if fresh:
                self._defer_indexes()
        stored = parse_and_store(conn, conn.target, todo, self.max_size, self.tz_name, cancel,
                                 parallel=parallel, fresh=fresh, articles=self._parsed)
        if parallel and fresh:
            self._restore_indexes()
        before = self._dupes
        if stored is None:
            self._dupes = None
        elif before is not None:
            ids = {i for i in (*touched, *(r.article_id for r in stored)) if i is not None}
            self._dupes = self._duplicates_among(ids)
        if stored is None or snap is None:
            self._entries = self._journal = self._parsed_count = None
            # A resident catalog reads back what the workers stored (and saves
            # it as the snapshot); another leaves that to whoever needs it.
            self._snap = self._load_snapshot() if self.resident else None
        else:
            snap.update((r.path, r.snap()) for r in stored)
            if self._parsed_count is not None:
                self._parsed_count += sum(1 for r in stored if r.article_id is not None) - had_ids
            if self._entries is not None:
                self._update_entries(stored)
            if self._journal is not None and self._entries is not None and before is not None \
                    and self._dupes is not None and len(self._journal.sources) < _JOURNAL_LIMIT:
                # Besides the files themselves, those that began or ceased to be another's duplicate.
                moved = {d.dropped for d in before} ^ {d.dropped for d in self._dupes}
                self._journal.sources.extend([*removed, *(r.path for r in stored), *sorted(moved)])
            else:
                self._journal = None
            if len(snap) and self.state.conn.execute("SELECT COUNT(*) FROM snapshot_delta").fetchone()[0] > 2000:
                self._save_base()
        self._keep()
        return report

    def entries(self, *, with_urls: bool = False) -> list[Entry]:
        """Published articles, one per id: of files sharing an id, the path that sorts first wins."""
        entries = self._current(with_urls)
        dropped = {d.dropped for d in self.duplicates()}  # usually none: checked in SQL, with an index
        return [e for e in entries.values() if e.source not in dropped] if dropped else list(entries.values())

    def entry_changes(self, since: tuple[str, int] | None, *, with_urls: bool = False
                      ) -> tuple[tuple[str, int], dict[str, Entry | None] | None]:
        """What changed in `entries()` since a reader's cursor: a new cursor,
        and the sources whose entry changed, each with its entry now (None
        when it is no longer one). Without a cursor, or when the catalog was
        read whole since (another process wrote it, a parallel parse), the
        changes are None: the reader starts again from `entries()`."""
        entries = self._current(with_urls)
        dupes = self.duplicates()
        if self._journal is None:
            self._journal = _Journal()
            kept = _IN_MEMORY.get(self.state.conn.target)
            if kept is not None and kept.snap is self._snap:
                kept.journal = self._journal
        journal = self._journal
        cursor = (journal.id, len(journal.sources))
        if since is None or since[0] != journal.id:
            return cursor, None
        dropped = {d.dropped for d in dupes}
        return cursor, {s: None if s in dropped else entries.get(s) for s in dict.fromkeys(journal.sources[since[1]:])}

    def _current(self, with_urls: bool) -> dict[str, Entry]:
        """The kept entries, read whole when they are not kept (or lack the URLs asked for)."""
        self._snapshot()
        if self._entries is None or (with_urls and not self._entry_urls):
            self._entries, self._entry_urls = self._all_entries(with_urls), with_urls
            self._journal = None  # read whole: a reader of the old journal starts again
            kept = _IN_MEMORY.get(self.state.conn.target)
            if kept is not None and kept.snap is self._snap:
                kept.entries, kept.urls, kept.journal = self._entries, with_urls, None
        return self._entries

    def _all_entries(self, with_urls: bool) -> dict[str, Entry]:
        sep = TOPIC_SEP
        urls: dict[str, str] = {}
        if with_urls:
            urls = dict(self.state.conn.execute("SELECT path, original_url FROM files WHERE published = 1"))
        rows = self._snapshot().values()
        # Few distinct topic lists, many articles: each list is split once and
        # its tuple shared, which halves what the entries hold (13 to 7 MB per
        # 100,000 files; tracemalloc).
        topics = {t: tuple(t.split(sep)) if t else () for t in {r.topics for r in rows}}
        return {
            r.path: Entry(r.article_id, r.path, True, r.published_at, topics[r.topics], urls.get(r.path, ""))
            for r in rows
            if r.published == 1 and r.article_id is not None and r.published_at is not None
        }

    def _update_entries(self, stored: Iterable[FileRow]) -> None:
        """Bring the kept entries in line with rows just stored (as `_all_entries` would read them)."""
        assert self._entries is not None
        for r in stored:
            if r.published == 1 and r.article_id is not None and r.published_at is not None:
                topics = tuple(r.topics.split(TOPIC_SEP)) if r.topics else ()
                self._entries[r.path] = Entry(r.article_id, r.path, True, r.published_at, topics,
                                              (r.original_url or "") if self._entry_urls else "")
            else:
                self._entries.pop(r.path, None)

    def file_hashes(self, sources: Iterable[str]) -> dict[str, str]:
        """A hash of each file's bytes: it changes whenever the file's rendering may."""
        return dict(self.state.rows_in("SELECT path, digest FROM files WHERE path IN ({marks})", sources))

    def article_count(self) -> int:
        """Distinct ids among the files that parsed: every parsed file but the
        duplicates of another's id."""
        if self._snap is not None:
            if self._parsed_count is None:
                self._parsed_count = sum(1 for r in self._snap.values() if r.article_id is not None)
                kept = _IN_MEMORY.get(self.state.conn.target)
                if kept is not None and kept.snap is self._snap:
                    kept.parsed = self._parsed_count
            parsed = self._parsed_count
        else:
            # Every file parses into an article or has an error; the few
            # errors are found through their partial index.
            errors = self.state.conn.execute(
                "SELECT COUNT(*) FROM files INDEXED BY files_errors WHERE error IS NOT NULL").fetchone()[0]
            parsed = self._file_count() - int(errors)
        return parsed - len(self.duplicates())

    def duplicates(self) -> list[Duplicate]:
        """Files whose id another file, whose path sorts first, already has."""
        if self._dupes is None:
            self._dupes = self._stored_duplicates()
            if self._dupes is None:
                self._dupes = self._find_duplicates()
                generation = self.state.get_meta("catalog_generation")
                if generation:
                    self._store_duplicates(generation)
            self._journal = None
            kept = _IN_MEMORY.get(self.state.conn.target)
            if kept is not None and kept.snap is self._snap:
                kept.dupes, kept.journal = self._dupes, None
        return self._dupes

    # Finding the duplicates reads every row of an index; they are few and
    # change only with the files involved, so they are stored with the
    # catalog generation they belong to and updated with each change.

    def _stored_duplicates(self) -> list[Duplicate] | None:
        """The duplicates as last stored, if they belong to the catalog as it is."""
        text = self.state.get_meta("duplicates")
        if not text:
            return None
        try:
            data = json.loads(text)
            if data["generation"] != self.state.get_meta("catalog_generation"):
                return None
            return [Duplicate(*d) for d in data["found"]]
        except (ValueError, KeyError, TypeError):
            return None

    def _store_duplicates(self, generation: str) -> None:
        assert self._dupes is not None
        found = [[d.article_id, d.kept, d.dropped] for d in self._dupes]
        self.state.set_meta("duplicates", json.dumps({"generation": generation, "found": found}))

    def _duplicates_among(self, ids: set[str]) -> list[Duplicate]:
        """The known duplicates, with those of `ids` (the ids of files that just
        changed) looked up again: an indexed query per id, not a scan."""
        assert self._dupes is not None
        found = [d for d in self._dupes if d.article_id not in ids]
        for aid in sorted(ids):
            found.extend(self._duplicates_of(aid))
        return sorted(found, key=lambda d: d.dropped)

    def _duplicates_of(self, aid: str) -> list[Duplicate]:
        """The files that share `aid`, but the one whose path sorts first."""
        paths = [p for (p,) in self.state.conn.execute(
            "SELECT path FROM files WHERE article_id = ? AND error IS NULL ORDER BY path", (aid,))]
        return [Duplicate(aid, paths[0], d) for d in paths[1:]]

    def _find_duplicates(self) -> list[Duplicate]:
        conn = self.state.conn
        found: list[Duplicate] = []
        shared = conn.execute(
            "SELECT article_id FROM files WHERE error IS NULL GROUP BY article_id HAVING COUNT(*) > 1").fetchall()
        for (aid,) in shared:
            found.extend(self._duplicates_of(aid))
        return sorted(found, key=lambda d: d.dropped)

    def problems(self) -> list[tuple[str, str]]:
        return list(self.state.conn.execute(
            "SELECT path, error FROM files INDEXED BY files_errors WHERE error IS NOT NULL ORDER BY path"))

    def warnings(self) -> list[tuple[str, str]]:
        """(path, warning) for every optional field left out of a published file."""
        rows = self.state.conn.execute(
            "SELECT path, warnings FROM files INDEXED BY files_warnings WHERE warnings IS NOT NULL AND error IS NULL "
            "ORDER BY path")
        return [(path, w) for path, text in rows for w in text.split("\n")]

    def scheduled(self, now: datetime) -> tuple[int, datetime | None]:
        """How many articles are published with a date still to come, and the first such date."""
        count, first = self.state.conn.execute(
            "SELECT COUNT(*), MIN(published_at) FROM files WHERE published = 1 AND published_at > ?",
            (now.timestamp(),)).fetchone()
        return int(count), None if first is None else datetime.fromtimestamp(first, timezone.utc)

    def next_publication(self, after: datetime) -> datetime | None:
        row = self.state.conn.execute(
            "SELECT MIN(published_at) FROM files WHERE published = 1 AND published_at > ?", (after.timestamp(),)
        ).fetchone()
        return None if row[0] is None else datetime.fromtimestamp(row[0], timezone.utc)

    def articles(self, sources: Iterable[str]) -> dict[str, Article]:
        """Full articles by source path: those this build parsed already, the
        others read again from the content folder.

        The database keeps what selection needs, not each article's text:
        writing ~2 KB per file cost a third of a cold build, while a build
        renders only the items of the feeds that changed. A file that changed
        since the scan is rendered as it is now (the next rescan sees the
        change); one that vanished or broke is left out and reported.
        """
        from feeder.content.reader import parse_file

        tz = ZoneInfo(self.tz_name)
        found: dict[str, Article] = {}
        for rel in dict.fromkeys(sources):
            if rel in self._parsed:
                found[rel] = self._parsed[rel]
                continue
            f = ContentFile(os.path.join(self.root, from_key(rel)), rel, 0, 0)
            try:
                found[rel] = parse_file(f, max_size=self.max_size, tz=tz).article
            except ContentError as exc:
                log.warning("left out of this build: %s", exc)
        return found


# Listing file → the thread writing it (one at a time in a process).
_LISTING_WRITERS: dict[Path, threading.Thread] = {}


def _finish_listing_write(target: Path) -> None:
    writer = _LISTING_WRITERS.pop(target, None)
    if writer is not None:
        writer.join()


def _write_listing(target: Path, raw: bytes) -> None:
    tmp = target.with_name(f".content-listing.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(raw)
        os.replace(tmp, target)
    except OSError as exc:
        log.warning("could not keep the content listing in %s (%s); the next rescan compares every file",
                    target, describe_os_error(exc))
        with contextlib.suppress(OSError):
            tmp.unlink()


def open_catalog(state: State, content_dir: str | os.PathLike[str], *, max_size: int, timezone_name: str,
                 cancel: threading.Event | None = None, changes: Changes | None = None,
                 resident: bool = False, pending: PendingListing | None = None,
                 follow_links: bool = False) -> tuple[Catalog, Rescan]:
    """Bring the catalog in line with the content folder: by a full scan (from
    the `pending` listing, when one was started), or, given the `changes`
    filesystem events named, by looking at those alone."""
    if changes is not None and not changes.lost:
        if not os.path.isdir(content_dir):
            raise ConfigError(f"the content folder {content_dir} does not exist", key="content_dir")
        catalog = Catalog(state, content_dir, max_size=max_size, timezone_name=timezone_name, resident=resident,
                          follow_links=follow_links)
        return catalog, catalog.update(changes, cancel)
    try:
        listing = scan_listing(os.fspath(content_dir), pending, follow=follow_links)
    except FileNotFoundError:
        raise ConfigError(f"the content folder {content_dir} does not exist", key="content_dir") from None
    except NotADirectoryError:
        raise ConfigError(f"{content_dir} is not a folder", key="content_dir") from None
    catalog = Catalog(state, content_dir, max_size=max_size, timezone_name=timezone_name, resident=resident,
                      follow_links=follow_links)
    return catalog, catalog.rescan(listing, cancel)
