"""Checking original URLs over HTTP.

One long-lived transport, the checker's own semaphores (a slot for the host
first, then a global one, so a task never holds a global slot while it waits
for its host), HEAD first with a GET fallback remembered per host, redirects
followed by hand so every hop is recorded and guarded, bodies never read, a
hard deadline per check, bounded retries with backoff, and `Retry-After`
honoured per host within the round's budget.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin

import aiohttp
import httpx

from feeder import backoff
from feeder.config import LinkSettings
from feeder.model import LinkResult, Verdict
from feeder.net.guard import AddressGuard, BlockedAddress, Resolver
from feeder.net.http import BadTarget, describe_http_error, make_transport, parse_retry_after, target_url
from feeder.urls import host_of

__all__ = ["NETWORK_FAILURES", "LinkChecker", "MediaInfo", "NetworkTally", "RoundResult", "classify_status"]

log = logging.getLogger(__name__)

REDIRECTS = {301, 302, 303, 307, 308}
RETRYABLE = {"timeout", "connect-timeout", "connection-reset", "connection-error", "protocol-error",
             "server-error", "rate-limited", "dns-failure"}
NETWORK_FAILURES = {"unreachable", "connect-timeout", "dns-failure"}
BOT_HEADERS = ("cf-mitigated", "x-datadome", "x-amzn-waf-action", "x-sucuri-block")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


async def _wait_for_event(event: threading.Event, poll: float = 0.05) -> None:
    while not event.is_set():
        await asyncio.sleep(poll)


def classify_status(status: int, headers: httpx.Headers) -> tuple[Verdict, str]:
    """The verdict of a final (non-redirect) response."""
    if 200 <= status < 300:
        return Verdict.ALIVE, "ok"
    server = headers.get("server", "").lower()
    if status == 999 or any(h in headers for h in BOT_HEADERS) or (
        status in (403, 503) and ("cloudflare" in server or "ddos-guard" in server)
    ):
        return Verdict.UNKNOWN, "bot-protection"
    if status == 404:
        return Verdict.DEAD, "not-found"
    if status == 410:
        return Verdict.DEAD, "gone"
    if status == 429:
        return Verdict.UNKNOWN, "rate-limited"
    if status >= 500:
        return Verdict.UNKNOWN, "server-error"
    return Verdict.UNKNOWN, f"http-{status}"


def _head_may_be_wrong(status: int | None, reason: str) -> bool:
    """A HEAD answer worth confirming with GET: servers that mishandle HEAD."""
    if status is None:
        return reason in ("connection-reset", "protocol-error")
    return status >= 400 and status != 429


@dataclass
class _Outcome:
    verdict: Verdict
    reason: str
    status: int | None = None
    final_url: str | None = None
    chain: list[str] = field(default_factory=list)
    error: str | None = None
    retry_after: float | None = None
    responded: bool = False  # an HTTP response arrived: the network works
    headers: httpx.Headers | None = None  # of the final response

    @property
    def media_type(self) -> str | None:
        value = self.headers.get("content-type", "") if self.headers is not None else ""
        return value.split(";")[0].strip() or None

    @property
    def length(self) -> int | None:
        value = self.headers.get("content-length", "") if self.headers is not None else ""
        return int(value) if value.isdigit() else None


@dataclass
class RoundResult:
    results: dict[str, LinkResult]
    unfinished: list[str]
    network_down: bool
    needs_get: dict[str, bool]


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What a HEAD of a media file said about it."""

    url: str
    type: str | None
    length: int | None
    status: int | None
    error: str | None = None


@dataclass
class NetworkTally:
    """What a round's outcomes say about the network, counted the same way by
    the link checker and ingest: is this machine offline, or are the hosts it
    asked for gone?"""

    responses: int = 0
    network_failures: int = 0  # NETWORK_FAILURES: unreachable, connect timeouts, failed lookups
    other_failures: int = 0  # anything else but what says nothing about the network

    def count(self, responded: bool, reason: str | None) -> None:
        if responded:
            self.responses += 1
        elif reason in NETWORK_FAILURES:
            self.network_failures += 1
        elif reason not in ("nxdomain", "blocked-address", "bad-url"):
            self.other_failures += 1

    async def network_is_down(self, guard: AddressGuard, links: LinkSettings) -> bool:
        """Any HTTP response means the network works. When every name lookup
        failed, one more lookup of a name that surely exists (`canary_host`)
        tells an offline machine from a round of vanished domains."""
        if self.responses:
            return False
        if guard.lookups_failed and not guard.lookups_ok:
            canary = links.canary_host
            if not canary:
                return False
            try:
                await asyncio.wait_for(guard.resolver.resolve(canary), timeout=links.connect_timeout)
            except (OSError, TimeoutError):
                return True
            return False
        return self.network_failures > 0 and self.other_failures == 0


class LinkChecker:
    """Use as `async with LinkChecker(...) as checker: await checker.run(urls)`."""

    def __init__(
        self,
        links: LinkSettings,
        resolver: Resolver,
        *,
        clock: Callable[[], datetime] = _utcnow,
        needs_get: dict[str, bool] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        permit: Callable[[str], bool] | None = None,
    ):
        self.links = links
        self.guard = AddressGuard(resolver, allow_private=links.allow_private, permit=permit)
        self.clock = clock
        self.needs_get: dict[str, bool] = dict(needs_get or {})
        self._sleep = sleep
        self._rng = rng
        self._transport = make_transport(self.guard, max_connections=links.concurrency * 2)
        self._global = asyncio.Semaphore(links.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._not_before: dict[str, float] = {}
        self._headers = httpx.Headers(
            {"User-Agent": links.agent, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        )
        self._timeouts = {"connect": links.connect_timeout, "read": links.read_timeout,
                          "write": links.read_timeout, "pool": links.timeout}
        self._tally = NetworkTally()
        self._deadline = float("inf")

    async def __aenter__(self) -> LinkChecker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.aclose()

    # -- a round -------------------------------------------------------------

    async def run(
        self,
        urls: Sequence[str],
        *,
        budget: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> RoundResult:
        """Check each distinct URL once, within `budget` seconds (or until `cancel` is set)."""
        unique = list(dict.fromkeys(urls))
        budget = self.links.budget if budget is None else budget
        self._deadline = time.monotonic() + budget
        self.guard.reset_counts()
        self._tally = NetworkTally()
        outcomes: dict[str, _Outcome] = {}
        done = 0

        async def one(url: str) -> None:
            nonlocal done
            outcomes[url] = await self._check(url)
            done += 1
            if progress is not None:
                progress(done, len(unique))

        tasks = [asyncio.ensure_future(one(u)) for u in unique]
        if tasks:
            waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(asyncio.wait(tasks))}
            if cancel is not None:
                waiters.add(asyncio.ensure_future(_wait_for_event(cancel)))
            _, idle = await asyncio.wait(waiters, timeout=max(budget, 0.0), return_when=asyncio.FIRST_COMPLETED)
            for w in idle:
                w.cancel()
            pending = [t for t in tasks if not t.done()]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        network_down = await self._tally.network_is_down(self.guard, self.links)
        checked_at = self.clock()
        results: dict[str, LinkResult] = {}
        for url, o in outcomes.items():
            if network_down and o.verdict is not Verdict.ALIVE:
                o = _Outcome(Verdict.UNKNOWN, "network-down", error=o.error or o.reason)
            results[url] = LinkResult(
                url=url, verdict=o.verdict, reason=o.reason, checked_at=checked_at, status=o.status,
                final_url=o.final_url, redirects=tuple(o.chain), error=o.error,
            )
        unfinished = [u for u in unique if u not in results]
        # Said once per round by the caller (a round may run the checker more than once).
        return RoundResult(results, unfinished, network_down, dict(self.needs_get))

    async def probe_media(self, urls: Sequence[str], *, budget: float | None = None) -> dict[str, MediaInfo]:
        """Type and length of media files (podcast enclosures), from the headers only."""
        budget = self.links.budget if budget is None else budget
        self._deadline = time.monotonic() + budget
        found: dict[str, MediaInfo] = {}

        async def one(url: str) -> None:
            host = host_of(url)
            async with self._host_slot(host), self._global:
                o = await self._attempt(url, host)
                if o.verdict is Verdict.ALIVE and not o.length:
                    # Some servers give HEAD no length, or a length of 0; a GET's
                    # headers have the real one, and its body is never read.
                    o = await self._follow_with_deadline(url, "GET")
            ok = o.verdict is Verdict.ALIVE
            found[url] = MediaInfo(url, o.media_type if ok else None, (o.length or None) if ok else None, o.status,
                                   None if ok else (o.error or o.reason))

        tasks = [asyncio.ensure_future(one(u)) for u in dict.fromkeys(urls)]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(budget, 0.0))
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return found

    async def _follow_with_deadline(self, url: str, method: str) -> _Outcome:
        try:
            async with asyncio.timeout(self.links.timeout):
                return await self._follow(url, method)
        except TimeoutError:
            return _Outcome(Verdict.UNKNOWN, "timeout", error=f"no answer within {self.links.timeout:g} s")

    # -- one URL ---------------------------------------------------------------

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.links.per_host)
        return sem

    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    async def _check(self, url: str) -> _Outcome:
        host = host_of(url)
        async with self._host_slot(host):
            attempt = 0
            while True:
                wait = self._not_before.get(host, 0.0) - time.monotonic()
                if wait > 0:
                    if wait >= self._remaining():
                        return _Outcome(Verdict.UNKNOWN, "rate-limited", error="Retry-After exceeds the budget")
                    await self._sleep(wait)
                async with self._global:
                    outcome = await self._attempt(url, host)
                self._tally.count(outcome.responded, outcome.reason)
                if outcome.retry_after is not None:
                    delay = min(outcome.retry_after, self.links.max_retry_after)
                    self._not_before[host] = max(self._not_before.get(host, 0.0), time.monotonic() + delay)
                if outcome.reason not in RETRYABLE or attempt >= self.links.retries:
                    return outcome
                attempt += 1
                delay = self._backoff(attempt, outcome.retry_after)
                if delay >= self._remaining():
                    return outcome
                await self._sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.links.max_retry_after)
        # Full jitter: uniform in [0, base·2^attempt], base 0.5 s, capped at 30 s.
        return backoff.jittered(attempt + 1, 0.5, 30.0, self._rng)

    async def _attempt(self, url: str, host: str) -> _Outcome:
        try:
            async with asyncio.timeout(self.links.timeout):
                if self.needs_get.get(host):
                    return await self._follow(url, "GET")
                outcome = await self._follow(url, "HEAD")
                if _head_may_be_wrong(outcome.status, outcome.reason):
                    second = await self._follow(url, "GET")
                    if second.verdict is Verdict.ALIVE or second.status not in (None, outcome.status):
                        self.needs_get[host] = True
                    return second
                return outcome
        except TimeoutError:
            return _Outcome(Verdict.UNKNOWN, "timeout", error=f"no answer within {self.links.timeout:g} s")

    async def _follow(self, url: str, method: str) -> _Outcome:
        chain: list[str] = []
        current = url
        seen = {url}
        responded = False
        for _ in range(self.links.max_redirects + 1):
            try:
                # Parsed once per hop; httpx reuses the parsed URL for the request.
                target = target_url(current)
            except BadTarget as exc:
                return _Outcome(Verdict.UNKNOWN, "bad-redirect" if chain else "bad-url", final_url=current,
                                chain=chain, responded=responded, error=str(exc))
            try:
                self.guard.check_literal(target.host)
            except BlockedAddress as exc:
                return _Outcome(Verdict.UNKNOWN, "blocked-address", final_url=current, chain=chain,
                                responded=responded, error=str(exc))
            request = httpx.Request(method, target, headers=self._headers, extensions={"timeout": self._timeouts})
            try:
                response = await self._transport.handle_async_request(request)
                await response.aclose()  # never read the body
            except (httpx.HTTPError, aiohttp.ClientError, OSError, ValueError) as exc:
                # httpx-aiohttp maps only some of aiohttp's errors onto httpx's:
                # a malformed response arrives as aiohttp's own ClientResponseError.
                reason, detail = describe_http_error(exc)
                verdict = Verdict.DEAD if reason == "nxdomain" else Verdict.UNKNOWN
                return _Outcome(verdict, reason, final_url=current, chain=chain, responded=responded, error=detail)
            responded = True
            status = response.status_code
            location = response.headers.get("location")
            if status in REDIRECTS and location:
                nxt = urljoin(current, location.strip())
                chain.append(nxt)
                if nxt in seen:
                    return _Outcome(Verdict.UNKNOWN, "redirect-loop", status, nxt, chain, responded=True)
                seen.add(nxt)
                current = nxt
                continue
            if status in REDIRECTS:
                return _Outcome(Verdict.UNKNOWN, "bad-redirect", status, current, chain, responded=True,
                                error="redirect without a Location header")
            verdict, reason = classify_status(status, response.headers)
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock()) \
                if status in (429, 503) else None
            if status == 429 and retry_after is None:
                retry_after = 5.0  # slow down even when the server does not say how much
            return _Outcome(verdict, reason, status, current, chain, retry_after=retry_after, responded=True,
                            headers=response.headers)
        return _Outcome(Verdict.UNKNOWN, "too-many-redirects", None, current, chain, responded=responded,
                        error=f"more than {self.links.max_redirects} redirects")

