"""Fetching a followed feed politely and safely.

Conditional requests (If-None-Match, If-Modified-Since), gzip, redirects
followed and permanent ones reported, a hard deadline for the whole fetch,
and a cap on the body counted after decompression (so a small compressed
bomb is refused too). Every connection goes through the address guard; an
IP-address URL is checked before anything is sent, on every redirect hop.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urljoin

import httpx

from feeder.config import IngestSettings, LinkSettings
from feeder.net.guard import AddressGuard, BlockedAddress
from feeder.net.http import BadTarget, describe_http_error, make_transport, parse_retry_after, target_url

__all__ = ["FetchResult", "Fetcher"]

ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.8"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # where the body came from, after redirects
    status: int | None = None
    body: bytes | None = None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None  # Cache-Control: max-age
    retry_after: float | None = None
    moved_to: str | None = None  # the new address, when every redirect was permanent
    error: str | None = None  # reason code when nothing usable came back

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _TooLarge(Exception):
    pass


class _Redirects(Exception):
    """Redirects that lead nowhere: `reason` is the link checker's code for it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Fetcher:
    """One client for every source of a round. Use with `async with`."""

    def __init__(self, links: LinkSettings, ingest: IngestSettings, guard: AddressGuard):
        self.ingest = ingest
        self.guard = guard
        # Requests go to the transport, as the link checker's do: the client would
        # parse each Location itself (and fail on one it cannot read) before
        # feeder's own rules see it.
        self.transport = make_transport(guard, max_connections=links.concurrency * 2)
        self.headers = {"User-Agent": links.agent, "Accept": ACCEPT}
        self.timeouts = {"connect": links.connect_timeout, "read": links.read_timeout,
                         "write": links.read_timeout, "pool": links.timeout}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.aclose()

    async def fetch(self, url: str, *, etag: str | None, last_modified: str | None, now: datetime) -> FetchResult:
        headers = dict(self.headers)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self.ingest.timeout):
                return await self._follow(url, headers, now)
        except TimeoutError:
            return FetchResult(url, error="timeout")
        except _TooLarge:
            return FetchResult(url, error="too-large")
        except _Redirects as exc:
            return FetchResult(url, error=exc.reason)
        except (httpx.HTTPError, httpx.InvalidURL, BlockedAddress, OSError, ValueError) as exc:
            return FetchResult(url, error=describe_http_error(exc)[0])

    async def _follow(self, url: str, headers: dict[str, str], now: datetime) -> FetchResult:
        """Follow redirects one hop at a time, as the link checker does: every
        hop's URL is parsed and judged the same way, and a loop is told apart
        from a long chain."""
        current, seen, permanent = url, {url}, True
        for hop in range(MAX_REDIRECTS + 1):
            try:
                target = target_url(current)
            except BadTarget:
                if hop:
                    raise _Redirects("bad-redirect") from None
                raise
            self.guard.check_literal(target.host)
            result, location = await self._get(target, headers, now)
            if location is None:
                if hop and permanent and result.status is not None:
                    result = replace(result, moved_to=result.url)
                return result
            permanent = permanent and result.status in (301, 308)
            current = urljoin(current, location.strip())
            if current in seen:
                raise _Redirects("redirect-loop")
            seen.add(current)
        raise _Redirects("too-many-redirects")

    async def _get(self, url: httpx.URL, headers: dict[str, str], now: datetime) -> tuple[FetchResult, str | None]:
        """One request: its result, and where it redirects (None when it does not)."""
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self.timeouts})
        r = await self.transport.handle_async_request(request)
        r.request = request
        try:
            location = r.headers.get("location")
            if r.status_code in _REDIRECTS and location:
                return FetchResult(str(r.url), status=r.status_code), location
            cache = r.headers.get("cache-control", "")
            m = _MAX_AGE.search(cache)
            common = {
                "url": str(r.url), "status": r.status_code, "content_type": r.headers.get("content-type", ""),
                "etag": r.headers.get("etag"), "last_modified": r.headers.get("last-modified"),
                "max_age": float(m.group(1)) if m else None,
                "retry_after": parse_retry_after(r.headers.get("retry-after"), now),
            }
            if r.status_code != 200:
                return FetchResult(**common), None  # type: ignore[arg-type]
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.ingest.max_bytes and "content-encoding" not in r.headers:
                raise _TooLarge()
            chunks: list[bytes] = []
            size = 0
            async for chunk in r.aiter_bytes():  # decompressed: the limit counts what would be parsed
                size += len(chunk)
                if size > self.ingest.max_bytes:
                    raise _TooLarge()
                chunks.append(chunk)
            return FetchResult(body=b"".join(chunks), **common), None  # type: ignore[arg-type]
        finally:
            await r.aclose()
