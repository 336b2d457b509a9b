"""`feeder serve`: the output folder over HTTP, with aiohttp.

aiohttp is already installed for the HTTP client, has a C HTTP parser and
serves tens of thousands of small responses a second here, so the server
costs no new dependency. Per request the work is small: resolve the path
safely, stat the file, and answer from an in-memory copy that is read again
only when the file changed.

Only regular files inside the output folder are served: dot-files, `..`,
encoded traversal, absolute paths, folders and symbolic links leading out of
the folder are all 404. A file is read through one open descriptor, so a
feed being replaced while it is read is served whole, old or new.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from feeder.config import Settings
from feeder.output.layout import FILE_NAMES, INDEX_NAME, content_type, public_url

if TYPE_CHECKING:
    from feeder.app.health import Health
    from feeder.app.metrics import Metrics
    from feeder.ingest.websub import Inbox

__all__ = ["Admin", "OutputFiles", "RequestLog", "ServerThread", "make_app", "serve_forever"]

log = logging.getLogger(__name__)

_FEED_NAMES = set(FILE_NAMES.values())
_COMPRESSIBLE = (".xml", ".json", ".opml", ".html", ".css", ".txt")


@dataclass(frozen=True, slots=True)
class _File:
    key: tuple[int, int, int]  # inode, size, mtime_ns: a new version changes at least one
    body: bytes
    etag: str
    gz: bytes | None
    gz_etag: str | None
    mtime: int  # seconds
    last_modified: str
    content_type: str
    link: str | None


def _etag(data: bytes) -> str:
    # Strong: derived from the bytes themselves, so equal bytes give equal tags.
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


class OutputFiles:
    """Safe, cached access to the published files."""

    def __init__(self, root: Path, *, base_url: str, hubs: tuple[str, ...] = ()):
        self.root = os.path.realpath(root)
        self.base_url = base_url
        self.hubs = hubs
        self._cache: dict[str, _File] = {}

    def resolve(self, url_path: str) -> str | None:
        """The real path of the file a URL path names, or None (a 404)."""
        if url_path == "/":
            parts = [INDEX_NAME]
        else:
            if not url_path.startswith("/") or "\\" in url_path or "\x00" in url_path:
                return None
            parts = url_path[1:].split("/")
            if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
                return None
        real = os.path.realpath(os.path.join(self.root, *parts))
        if not real.startswith(self.root + os.sep) or not os.path.isfile(real):
            return None  # outside the folder (a symbolic link?), missing, or a folder
        return real

    def get(self, url_path: str) -> _File | None:
        real = self.resolve(url_path)
        if real is None:
            return None
        try:
            st = os.stat(real)
        except OSError:
            return None
        cached = self._cache.get(real)
        if cached is not None and cached.key == (st.st_ino, st.st_size, st.st_mtime_ns):
            return cached
        try:
            loaded = self._load(real)
        except OSError:
            return None
        self._cache[real] = loaded
        return loaded

    def _load(self, real: str) -> _File:
        with open(real, "rb") as fh:
            st = os.fstat(fh.fileno())
            body = fh.read()
        name = os.path.basename(real)
        gz = None
        if name.endswith(_COMPRESSIBLE):
            gz = self._gzip_copy(real, body)
        rel = os.path.relpath(real, self.root).replace(os.sep, "/")
        link = None
        if name in _FEED_NAMES:
            link = ", ".join([f'<{public_url(self.base_url, rel)}>; rel="self"',
                              *(f'<{hub}>; rel="hub"' for hub in self.hubs)])
        return _File(
            key=(st.st_ino, st.st_size, st.st_mtime_ns), body=body, etag=_etag(body), gz=gz,
            gz_etag=_etag(gz) if gz is not None else None, mtime=int(st.st_mtime),
            last_modified=formatdate(st.st_mtime, usegmt=True), content_type=content_type(name), link=link,
        )

    @staticmethod
    def _gzip_copy(real: str, body: bytes) -> bytes:
        # The build writes a compressed copy beside each file; it is used only
        # when it matches the file exactly (it may be a version behind while
        # a build is replacing both).
        try:
            with open(real + ".gz", "rb") as fh:
                gz = fh.read()
            if gzip.decompress(gz) == body:
                return gz
        except (OSError, EOFError, gzip.BadGzipFile):
            pass
        return gzip.compress(body, compresslevel=6, mtime=0)


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def _not_modified(request: web.Request, etag: str, mtime: int) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        # Weak comparison, as RFC 9110 asks for If-None-Match.
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims is not None:
        try:
            return mtime <= int(parsedate_to_datetime(ims).timestamp())
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False


NOT_FOUND = b"Not Found\n"


@dataclass(frozen=True, slots=True)
class Admin:
    """What the daemon's server answers besides the feeds: `/healthz` and `/metrics`."""

    health: Health
    metrics: Metrics


def _add_admin_routes(app: web.Application, admin: Admin) -> None:
    async def healthz(request: web.Request) -> web.Response:
        report = admin.health.check()
        return web.json_response(report.body, status=report.status,
                                 headers={"Cache-Control": "no-store"}, dumps=_json_dumps)

    async def metrics(request: web.Request) -> web.Response:
        from feeder.app.metrics import CONTENT_TYPE

        return web.Response(body=admin.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})

    app.router.add_get("/healthz", healthz)  # and HEAD
    app.router.add_get("/metrics", metrics)


def _json_dumps(value: object) -> str:
    import json

    return json.dumps(value, sort_keys=True)


class Served:
    """What the feeds are served from and with; replaced whole when the daemon
    reloads its configuration (a request reads it once)."""

    def __init__(self, settings: Settings, output_dir: Path | None = None):
        self.files = OutputFiles(output_dir or settings.output_dir, base_url=settings.site.base_url,
                                 hubs=settings.websub.hubs)
        self.cache_control = f"max-age={settings.serve.max_age}"


SERVED = web.AppKey("served", list)  # [Served]: one slot, swapped on reload


def _add_push_routes(app: web.Application, inbox: Inbox, path: str) -> None:
    """The WebSub callbacks (`ingest.websub.callback`): a hub's verification
    of intent (GET) and its deliveries (POST), judged by the inbox."""

    async def verify(request: web.Request) -> web.Response:
        from datetime import datetime, timezone

        params = {k: v for k, v in request.query.items() if k.startswith("hub.")}
        status, body = inbox.verification(request.match_info["token"], params, datetime.now(timezone.utc))
        return web.Response(status=status, text=body, content_type="text/plain")

    async def deliver(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not inbox.known(token):
            inbox.refused("unknown-subscription")
            return web.Response(status=404, text="unknown subscription", content_type="text/plain")
        if not inbox.allowed(token):
            inbox.refused("rate-limited")
            return web.Response(status=429, text="too many deliveries", content_type="text/plain",
                                headers={"Retry-After": "60"})
        limit = inbox.max_bytes
        if (request.content_length or 0) > limit:
            inbox.refused("too-large")
            return web.Response(status=413, text="too large", content_type="text/plain")
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                inbox.refused("too-large")
                return web.Response(status=413, text="too large", content_type="text/plain")
            chunks.append(chunk)
        outcome = inbox.delivery(token, request.headers.get("X-Hub-Signature"), b"".join(chunks),
                                 request.headers.get("Content-Type", ""))
        # A refused delivery is still acknowledged, as WebSub asks: the hub
        # must not learn which secrets are right by retrying.
        return web.Response(status=202 if outcome == "accepted" else 200, text="", content_type="text/plain")

    app.router.add_get(path + "{token}", verify)
    app.router.add_post(path + "{token}", deliver)


def make_app(settings: Settings, *, output_dir: Path | None = None, admin: Admin | None = None,
             files_too: bool = True, inbox: Inbox | None = None) -> web.Application:
    """The feeds (with `files_too`), with `admin` `/healthz` and `/metrics`, and
    with `inbox` the WebSub callbacks."""
    slot = [Served(settings, output_dir)]

    async def handle(request: web.Request) -> web.StreamResponse:
        served = slot[0]
        files, cache_control = served.files, served.cache_control
        f = files.get(request.path)
        if f is None:
            return web.Response(status=404, body=NOT_FOUND, content_type="text/plain", charset="utf-8")
        use_gz = f.gz is not None and _accepts_gzip(request.headers.get("Accept-Encoding", ""))
        etag = f.gz_etag if use_gz and f.gz_etag else f.etag
        headers = {"ETag": etag, "Last-Modified": f.last_modified, "Cache-Control": cache_control}
        if f.gz is not None:
            headers["Vary"] = "Accept-Encoding"
        if f.link:
            headers["Link"] = f.link
        if _not_modified(request, etag, f.mtime):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = f.content_type
        if use_gz:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=f.gz if use_gz else f.body, headers=headers)

    middlewares = []
    if admin is not None:
        counter = admin.metrics

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            counter.request(response.status)
            return response

        middlewares.append(count)
    app = web.Application(middlewares=middlewares)
    app[SERVED] = slot
    if admin is not None:
        _add_admin_routes(app, admin)
    if inbox is not None and settings.ingest.websub is not None:
        _add_push_routes(app, inbox, settings.ingest.websub.path)
    if files_too:
        app.router.add_get("/{path:.*}", handle)  # and HEAD, with the same headers and no body
    return app


class RequestLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, minus what a client controls: a malformed
    request (a request line or header over aiohttp's limit, bad syntax) is one
    line naming the kind of error and the peer, never a traceback quoting its
    bytes, and at most one such line a minute (the next one says how many
    came meanwhile). Each is counted (`feeder_http_malformed_requests_total`)."""

    def __init__(self, counted: Callable[[str], None] | None = None, *, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self.counted, self.every, self.clock = counted, every, clock
        self._last: float | None = None
        self._held = 0

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            self._malformed(exc, args)
            return
        self.logger.log(level, msg, *args, **kwargs)

    def _malformed(self, exc: HttpProcessingError, args: tuple[object, ...]) -> None:
        kind = type(exc).__name__
        if self.counted is not None:
            self.counted(kind)
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        peer = args[0] if args else "a client"
        more = f" ({held} more since the last such line)" if held else ""
        log.warning("refused a malformed request from %s: %s, answered %d%s", peer, kind, exc.code or 400, more)


async def _start(app: web.Application, host: str, port: int, what: str,
                 counted: Callable[[str], None] | None = None) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, logger=RequestLog(counted))
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("serving %s on http://%s:%d/", what, host, port)
    return runner


def serve_forever(settings: Settings, host: str, port: int) -> int:
    """`feeder serve`: run until SIGTERM or SIGINT."""
    import signal

    async def main() -> None:
        runner = await _start(make_app(settings), host, port, str(settings.output_dir))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())
    return 0


class ServerThread:
    """The server on its own event loop in a thread, for `feeder daemon --serve`:
    the feeds on `host:port`, and `/healthz` and `/metrics` there too or on
    `serve.admin_listen` (or nowhere, with `serve.metrics: false`)."""

    def __init__(self, settings: Settings, host: str, port: int, admin: Admin | None = None,
                 inbox: Inbox | None = None):
        self.settings, self.host, self.port, self.admin, self.inbox = settings, host, port, admin, inbox
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="feeder-serve", daemon=True)
        self._runners: list[web.AppRunner] = []

    async def _start_all(self) -> None:
        admin_at = self.settings.serve.admin_listen if self.admin is not None else None
        app = make_app(self.settings, admin=self.admin if admin_at is None else None, inbox=self.inbox)
        counted = self.admin.metrics.malformed if self.admin is not None else None
        self._runners.append(await _start(app, self.host, self.port, str(self.settings.output_dir), counted))
        if admin_at is not None and self.admin is not None:
            admin_app = make_app(self.settings, admin=self.admin, files_too=False)
            self._runners.append(await _start(admin_app, *admin_at, "/healthz and /metrics", counted))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start_all())
        except BaseException as exc:
            self.error = exc
            for runner in self._runners:
                self.loop.run_until_complete(runner.cleanup())
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        for runner in self._runners:
            self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def reconfigure(self, settings: Settings) -> None:
        """Serve with new settings (output folder, base URL, hubs, Cache-Control)
        from the next request on; the listening addresses stay."""
        self.settings = settings
        for runner in self._runners:
            runner.app[SERVED][0] = Served(settings)

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(30)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
