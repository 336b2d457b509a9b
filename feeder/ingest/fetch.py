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
from dataclasses import dataclass
from datetime import datetime

import httpx

from feeder.config import IngestSettings, LinkSettings
from feeder.net.guard import AddressGuard, BlockedAddress
from feeder.net.http import describe_http_error, make_client, parse_retry_after

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


class Fetcher:
    """One client for every source of a round. Use with `async with`."""

    def __init__(self, links: LinkSettings, ingest: IngestSettings, guard: AddressGuard):
        self.ingest = ingest
        self.guard = guard
        self.client = make_client(guard, links, follow_redirects=True, max_redirects=5)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def fetch(self, url: str, *, etag: str | None, last_modified: str | None, now: datetime) -> FetchResult:
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self.ingest.timeout):
                return await self._get(url, headers, now)
        except TimeoutError:
            return FetchResult(url, error="timeout")
        except _TooLarge:
            return FetchResult(url, error="too-large")
        except (httpx.HTTPError, BlockedAddress, OSError, ValueError) as exc:
            return FetchResult(url, error=describe_http_error(exc)[0])

    async def _get(self, url: str, headers: dict[str, str], now: datetime) -> FetchResult:
        async with self.client.stream("GET", url, headers=headers) as r:
            moved = None
            if r.history and all(h.status_code in (301, 308) for h in r.history):
                moved = str(r.url)
            cache = r.headers.get("cache-control", "")
            m = _MAX_AGE.search(cache)
            common = {
                "url": str(r.url), "status": r.status_code, "content_type": r.headers.get("content-type", ""),
                "etag": r.headers.get("etag"), "last_modified": r.headers.get("last-modified"),
                "max_age": float(m.group(1)) if m else None,
                "retry_after": parse_retry_after(r.headers.get("retry-after"), now), "moved_to": moved,
            }
            if r.status_code != 200:
                return FetchResult(**common)  # type: ignore[arg-type]
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
            return FetchResult(body=b"".join(chunks), **common)  # type: ignore[arg-type]
