"""Content files parsed into rows of the state database, in this process or
across the machine's cores.

A cold build parses every file: worker processes (from multiprocessing's
fork server) parse a chunk each and write its rows themselves, so that no
article travels back through a pipe. `parse_and_store` is the one entry;
`feeder.content.catalog` decides what to parse.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from feeder.content.scan import ContentFile, cpus
from feeder.errors import ContentError, check_cancel
from feeder.storage.db import Database, connect
from feeder.storage.state import upsert

# The process pool (multiprocessing, concurrent.futures) is imported where a
# build first parses in parallel: a rescan that finds nothing to do never does.
if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from feeder.model import Article  # the model is loaded only when a file is parsed

__all__ = ["DELTA_UPSERT", "PARALLEL_THRESHOLD", "SNAP_COLUMNS", "TOPIC_SEP", "TOPIC_UPSERT", "FileRow", "SnapRow",
           "differs", "parse_and_store", "topic_rows", "use_processes"]

log = logging.getLogger(__name__)

# Below this many files to parse, a process pool costs more than it saves.
PARALLEL_THRESHOLD = 400
_CHUNK = 250
TOPIC_SEP = "\x1f"  # joins topic names in one column; never in a name (control characters are removed)


class SnapRow(NamedTuple):
    """The columns of `files` that every selecting build reads (kept also in the snapshot blob)."""

    path: str
    size: int
    mtime_ns: int
    article_id: str | None
    published: int | None
    published_at: float | None  # POSIX timestamp
    topics: str | None  # names joined with TOPIC_SEP


class FileRow(NamedTuple):
    """One row of the `files` table: a content file as last parsed."""

    path: str
    size: int
    mtime_ns: int
    article_id: str | None
    published: int | None
    published_at: float | None
    topics: str | None
    original_url: str | None
    file_hash: str | None  # of the file's bytes (the `digest` column): changes whenever its rendering may
    error: str | None  # why the file is not an article
    media_url: str | None  # an enclosure whose type or length must be asked for
    warnings: str | None  # optional fields left out, one per line
    # What custom feeds ask of an article (feeds.custom): its quality, heat,
    # category, type, and provider (name and domain, case-folded, TOPIC_SEP between).
    quality: int | None = None
    heat: int | None = None
    category: str | None = None
    kind: str | None = None
    provider: str | None = None

    def snap(self) -> SnapRow:
        return SnapRow(*self[:7])


def _parse_one(f: ContentFile, max_size: int, tz: tzinfo) -> tuple[FileRow, Article | None]:
    from feeder.content.reader import parse_file  # the parsing stack is loaded only when a file changed

    try:
        a, data, warnings = parse_file(f, max_size=max_size, tz=tz)
    except ContentError as exc:
        return FileRow(f.rel, f.size, f.mtime_ns, None, None, None, None, None, None, exc.problem, None, None), None
    file_hash = hashlib.blake2b(data, digest_size=12).hexdigest()
    enc = a.enclosure
    media_url = enc.url if enc is not None and (enc.length is None or not enc.type) else None
    p = a.provider
    provider = f"{p.name.casefold()}{TOPIC_SEP}{(p.domain or '').casefold()}" if p is not None else None
    row = FileRow(f.rel, f.size, f.mtime_ns, a.id, int(a.published), a.published_at.timestamp(),
                  TOPIC_SEP.join(a.topics), a.original_url, file_hash, None, media_url, "\n".join(warnings) or None,
                  a.quality, a.heat, a.category, a.type, provider)
    return row, a


# The columns of `files` every selecting build reads, in this order.
SNAP_COLUMNS = "path, size, mtime_ns, article_id, published, published_at, topics"

_INSERT = upsert("files", ("path", "size", "mtime_ns", "article_id", "published", "published_at", "topics",
                           "original_url", "digest", "error", "media_url", "warnings", "quality", "heat", "category",
                           "kind", "provider"), ("path",))
DELTA_UPSERT = upsert("snapshot_delta", ("path", "data"), ("path",))
_worker_db: Database | None = None


TOPIC_UPSERT = upsert("file_topics", ("path", "name", "published_at", "article_id", "topics"), ("path", "name"))


def _is_entry(r: SnapRow | FileRow) -> bool:
    """Whether a row is a published article (an `Entry`): parsed, marked published, dated."""
    return r.published == 1 and r.article_id is not None and r.published_at is not None


def topic_rows(rows: Iterable[SnapRow | FileRow]) -> list[tuple[str, str, float, str, str]]:
    """The `file_topics` rows of these files: one per topic name of each published article."""
    return [(r.path, name, r.published_at, r.article_id, r.topics)  # type: ignore[misc]
            for r in rows if r.topics and _is_entry(r) for name in r.topics.split(TOPIC_SEP)]


def _store(db: Database, rows: list[FileRow], *, deltas: bool = False, fresh: bool = False) -> None:
    # One transaction per chunk: a crash loses at most a chunk, whose files
    # the next rescan parses again (their rows never landed).
    with db.transaction():
        db.executemany(_INSERT, rows)
        if not fresh:  # an empty catalog has no topic rows to replace
            db.executemany("DELETE FROM file_topics WHERE path = ?", [(r.path,) for r in rows])
        db.executemany(TOPIC_UPSERT, topic_rows(rows))
        if deltas:
            db.executemany(DELTA_UPSERT, [(r.path, marshal.dumps(tuple(r.snap()))) for r in rows])


def _parse_chunk(args: tuple[list[ContentFile], int, str]) -> list[tuple[FileRow, Article | None]]:
    files, max_size, tz_name = args
    tz = ZoneInfo(tz_name)
    return [_parse_one(f, max_size, tz) for f in files]


def _parse_and_store(args: tuple[list[ContentFile], int, str, str, bool]) -> int:
    """In a worker: parse a chunk and write it to the database itself, so the
    articles never travel back through a pipe to a busy parent."""
    global _worker_db
    files, max_size, tz_name, db_target, fresh = args
    if _worker_db is None:
        _worker_db = connect(db_target, timeout=60)
    # Only the rows go to the database; the articles stay here (a cold build
    # re-reads just the few it renders, see Catalog.articles).
    _store(_worker_db, [row for row, _ in _parse_chunk((files, max_size, tz_name))], fresh=fresh)
    return len(files)


def use_processes(count: int) -> bool:
    return count >= PARALLEL_THRESHOLD and cpus() > 1


def differs(row: SnapRow | None, f: ContentFile) -> bool:
    return row is None or row.size != f.size or row.mtime_ns != f.mtime_ns


def _worker_init(parent: int) -> None:
    """Worker initializer: leave signals to feeder, and exit as soon as the
    process that started the pool is gone.

    Ctrl-C reaches the whole process group; the parent alone decides what a
    stop means (it ends the workers), so workers ignore SIGINT rather than
    each printing a traceback.

    Workers are children of multiprocessing's fork server, not of feeder, and
    each holds the server's liveness pipe open: if feeder died without
    shutting the pool down (SIGKILL, an unhandled crash), workers blocked on
    their task pipe would live on, keep the fork server alive and hold
    feeder's stdout open, so a cron job or a supervisor reading it would
    never see end-of-file. A pidfd becomes readable when the process exits.
    """
    import select
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        fd = None  # no pidfd (not Linux, or gone already): poll instead

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _alive(parent):
                time.sleep(1.0)
        os._exit(1)

    if fd is None and not _alive(parent):
        os._exit(1)
    threading.Thread(target=watch, name="feeder-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_pool(pool: ProcessPoolExecutor, grace: float = 3.0) -> None:
    """Shut a pool down now: drop queued chunks, end the workers, reap them.

    `shutdown(wait=True)` would let every queued chunk run first; workers
    killed in the middle of a chunk lose only that chunk's transaction,
    which SQLite rolls back and the next rescan parses again.
    """
    # The executor offers no way to end its workers before Python 3.14.
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


def parse_and_store(conn: Database, db_target: str, files: Sequence[ContentFile], max_size: int, tz_name: str,
                cancel: threading.Event | None, *, parallel: bool, fresh: bool,
                articles: dict[str, Article]) -> list[FileRow] | None:
    """Parse and store `files`; returns the rows, or None when worker processes stored them.

    Parsed here, each file's article is kept in `articles`, so that rendering
    it later in the same build does not parse it again.
    """
    chunks = [list(files[i:i + _CHUNK]) for i in range(0, len(files), _CHUNK)]
    if parallel:
        from concurrent.futures.process import BrokenProcessPool

        try:
            _parse_in_workers(chunks, max_size, tz_name, db_target, fresh, cancel)
            return None
        except BrokenProcessPool as exc:
            # Worker processes cannot always start (an embedding program without
            # an importable __main__, a sandbox). Parsing here is slower, not wrong.
            log.warning("parallel parsing unavailable (%s); parsing in one process", exc)
    rows: list[FileRow] = []
    for chunk in chunks:
        check_cancel(cancel)
        parsed = _parse_chunk((chunk, max_size, tz_name))
        _store(conn, [row for row, _ in parsed], deltas=True, fresh=fresh)
        rows.extend(row for row, _ in parsed)
        articles.update((row.path, a) for row, a in parsed if a is not None)
    return rows


def _parse_in_workers(chunks: list[list[ContentFile]], max_size: int, tz_name: str, db_target: str, fresh: bool,
                      cancel: threading.Event | None) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # forkserver: the daemon has threads, and forking a threaded process can deadlock.
    ctx = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=cpus(), mp_context=ctx, initializer=_worker_init,
                               initargs=(os.getpid(),))
    try:
        pending = {pool.submit(_parse_and_store, (c, max_size, tz_name, db_target, fresh)) for c in chunks}
        while pending:
            # A short wait, so that a stop request is seen within a fraction
            # of a second however long a chunk takes.
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
            check_cancel(cancel)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)
