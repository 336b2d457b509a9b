"""WebSub publishing: telling hubs which feeds changed.

After a build that changed feeds, each configured hub gets one form POST
(`hub.mode=publish`, `hub.url=<feed URL>`) per changed feed URL. Pings run
concurrently under one short deadline with bounded retries: a slow or
broken hub is logged, never fatal, and never holds the feeds back (they are
already published when pinging starts). Pings go out through the same client
set-up as every other request, so the address guard applies to them too: a
hub on a private address is refused unless `links.allow_private` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from feeder import backoff
from feeder.config import LinkSettings, WebSubSettings
from feeder.net.guard import AddressGuard, BlockedAddress, Resolver
from feeder.net.http import describe_http_error, make_client, make_resolver

__all__ = ["Ping", "ping_hubs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ping:
    hub: str
    url: str
    ok: bool
    detail: str


async def _ping(client: httpx.AsyncClient, hub: str, url: str, retries: int) -> Ping:
    detail = ""
    for attempt in range(retries + 1):
        if attempt:
            await asyncio.sleep(backoff.jittered(attempt + 1, 0.25, 5.0))
        try:
            r = await client.post(hub, data={"hub.mode": "publish", "hub.url": url})
        except BlockedAddress as exc:
            return Ping(hub, url, False, f"blocked-address: {exc}")  # asking again will not help
        except (httpx.HTTPError, OSError) as exc:
            reason = describe_http_error(exc)[0]
            if reason == "blocked-address":
                return Ping(hub, url, False, reason)
            detail = reason
            continue
        if 200 <= r.status_code < 300:
            return Ping(hub, url, True, str(r.status_code))
        detail = f"HTTP {r.status_code}"
        if r.status_code < 500 and r.status_code != 429:
            break  # the hub refused: asking again will not help
    return Ping(hub, url, False, detail)


async def _ping_all(ws: WebSubSettings, urls: Sequence[str], links: LinkSettings, resolver: Resolver) -> list[Ping]:
    guard = AddressGuard(resolver, allow_private=links.allow_private)
    async with make_client(guard, links, timeout=ws.timeout) as client:
        tasks = {asyncio.ensure_future(_ping(client, hub, url, ws.retries)): (hub, url)
                 for hub in ws.hubs for url in urls}
        done, pending = await asyncio.wait(tasks, timeout=ws.timeout)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [t.result() if t in done else Ping(*tasks[t], False, f"no answer within {ws.timeout:g} s")
                for t in tasks]


def ping_hubs(ws: WebSubSettings, urls: Sequence[str], links: LinkSettings,
              resolver: Resolver | None = None) -> list[Ping]:
    """Ping every hub for every URL; failures are logged and returned, never raised.

    `links` gives the User-Agent and the address rules; `resolver` exists for tests.
    """
    if not ws.hubs or not urls:
        return []
    results = asyncio.run(_ping_all(ws, list(dict.fromkeys(urls)), links, resolver or make_resolver(links)))
    failed = [p for p in results if not p.ok]
    for p in failed:
        log.warning("WebSub ping to %s for %s failed: %s", p.hub, p.url, p.detail)
    log.info("WebSub: %d of %d pings accepted", len(results) - len(failed), len(results))
    return results
