"""The HTTP client feeder uses for every outgoing request.

httpx's API over the `httpx-aiohttp` transport. Measured on a 2-core
machine (benchmarks/linkcheck_bench.py: 10,000 HEADs over 100 loopback
hosts answering after 20 ms, 64 at a time), httpx's own transport reached
~700 checks/s shared and ~1,400 with a client per host, the httpx2 fork
~760 / ~1,600, and httpx over the aiohttp transport ~2,700 when requests
are handed to the transport directly, as fast as aiohttp itself.

Every connection goes through `AddressGuard`, so the guard applies to every
redirect hop, and cookies are never kept between requests. This is also the
one place where httpx's, aiohttp's and the resolver's errors become feeder's
reason codes (`describe_http_error`).
"""

from __future__ import annotations

import email.utils
import errno
import socket
import ssl
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from feeder.config import LinkSettings
from feeder.net.guard import (
    AddressGuard,
    BadHost,
    BlockedAddress,
    LookupFailed,
    NameNotFound,
    Resolver,
    StaticResolver,
    SystemResolver,
    ipv4_number,
)

__all__ = ["BadTarget", "GuardedResolver", "describe_http_error", "make_client", "make_resolver", "make_transport",
           "parse_retry_after", "target_url"]


def make_resolver(links: LinkSettings) -> Resolver:
    fallback: Resolver | None = SystemResolver() if links.system_dns else None
    if links.hosts:
        return StaticResolver(links.hosts, fallback)
    return fallback if fallback is not None else StaticResolver({})


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver hook, answering with addresses the guard accepted."""

    def __init__(self, guard: AddressGuard):
        self.guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addrs = await self.guard.addresses(host)
        results: list[ResolveResult] = []
        for a in addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            results.append({"hostname": host, "host": a, "port": port, "family": fam, "proto": 0,
                            "flags": socket.AI_NUMERICHOST})
        return results

    async def close(self) -> None:
        return None


class _Transport(AiohttpTransport):
    """httpx-aiohttp's transport, minus one defect: a request whose body httpx
    has not read (every request httpx builds to follow a redirect) went out
    with a chunked, empty body, which a GET must not have and some servers
    answer with 400."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("GET", "HEAD"):
            try:
                request.content  # noqa: B018 - raises when the body was never read
            except httpx.RequestNotRead:
                await request.aread()
        return await super().handle_async_request(request)


def make_transport(guard: AddressGuard, *, max_connections: int) -> AiohttpTransport:
    """A transport whose aiohttp session is created lazily inside the running loop."""
    ssl_context = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(guard),
            ssl=ssl_context,
            limit=max_connections,
            limit_per_host=0,  # feeder's own semaphores bound each host
            ttl_dns_cache=300,
            keepalive_timeout=15,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)

    return _Transport(client=session)


def make_client(guard: AddressGuard, links: LinkSettings, *, timeout: httpx.Timeout | float | None = None,
                **kwargs: Any) -> httpx.AsyncClient:
    """A long-lived client for fetches that want httpx's conveniences (ingest, WebSub pings).

    The guard sees every connection by name; an address written in the URL
    never reaches the resolver, so each request (every redirect hop too) is
    checked before it is sent.
    """

    async def check_hop(request: httpx.Request) -> None:
        guard.check_literal(request.url.host)

    hooks = kwargs.pop("event_hooks", {})
    return httpx.AsyncClient(
        transport=make_transport(guard, max_connections=links.concurrency * 2),
        headers={"User-Agent": links.agent},
        timeout=timeout if timeout is not None else
        httpx.Timeout(links.timeout, connect=links.connect_timeout, read=links.read_timeout),
        trust_env=False,
        event_hooks={**hooks, "request": [check_hop, *hooks.get("request", [])]},
        **kwargs,
    )


class BadTarget(ValueError):
    """A URL no request can be sent to: not http(s), no host, or a host no parser accepts."""


def target_url(url: str) -> httpx.URL:
    """The URL a request is sent to, parsed once, the same way for a configured
    URL, a content file's and every redirect hop: a host written as IPv4
    numbers in any spelling browsers accept (`0177.0.0.1`) is written as the
    address it means, which the guard then judges. Raises `BadTarget`."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise BadTarget(f"not an http(s) URL: {url[:200]}")
    if host[0].isdigit() and ":" not in host:
        try:
            address = ipv4_number(host)
        except BadHost as exc:
            raise BadTarget(str(exc)) from None
        if address is not None and str(address) != host:
            netloc = parts.netloc.rpartition("@")
            hostport = netloc[2]
            port = hostport[len(hostport.split(":", 1)[0]):]
            url = urlunsplit((parts.scheme, f"{netloc[0]}{netloc[1]}{address}{port}", parts.path, parts.query,
                              parts.fragment))
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BadTarget(f"{exc}: {url[:200]}") from None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def describe_http_error(exc: BaseException) -> tuple[str, str]:
    """(reason code, detail) for anything a request can raise.

    The one place where httpx's, aiohttp's, the resolver's and the OS's
    errors become feeder's reason codes. httpx-aiohttp maps aiohttp errors
    onto httpx classes only roughly (a dropped connection arrives as a
    ConnectTimeout), so the original cause is what is classified.
    """
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for err in chain:
        os_error = getattr(err, "os_error", None)
        for e in (err, os_error):
            if isinstance(e, BlockedAddress):
                return "blocked-address", str(e)
            if isinstance(e, NameNotFound):
                return "nxdomain", str(e)
            if isinstance(e, LookupFailed):
                return "dns-failure", str(e)
    detail = " ".join(str(chain[-1]).split()) or type(chain[-1]).__name__
    for err in reversed(chain):  # the root cause first: wrappers are often misleading
        if isinstance(err, (ssl.SSLError, aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
            return "tls-error", detail
        if isinstance(err, ConnectionRefusedError):
            return "connection-refused", detail
        if isinstance(err, ConnectionResetError | aiohttp.ServerDisconnectedError | BrokenPipeError):
            return "connection-reset", detail
        if isinstance(err, OSError) and err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
            return "unreachable", detail
        if isinstance(err, aiohttp.ConnectionTimeoutError | httpx.ConnectTimeout):
            return "connect-timeout", detail
        if isinstance(err, TimeoutError | aiohttp.ServerTimeoutError | httpx.TimeoutException):
            return "timeout", detail
        if isinstance(err, aiohttp.ClientResponseError | httpx.RemoteProtocolError | httpx.LocalProtocolError):
            return "protocol-error", detail
        if isinstance(err, aiohttp.InvalidURL | httpx.InvalidURL | httpx.UnsupportedProtocol | BadTarget):
            return "bad-url", detail
        if isinstance(err, httpx.TooManyRedirects):
            return "too-many-redirects", detail
    return "connection-error", detail

