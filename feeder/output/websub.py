"""WebSub publishing: telling hubs which feeds changed.

After a build that changed feeds, each configured hub gets one form POST
(`hub.mode=publish`, `hub.url=<feed URL>`) per changed feed URL. Pings run
concurrently under one short deadline with bounded retries: a slow or
broken hub is logged, never fatal, and never holds the feeds back (they are
already published when pinging starts).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from feeder.config import WebSubSettings
from feeder.errors import describe_http_error

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
            await asyncio.sleep(random.uniform(0, 0.25 * 2**attempt))  # noqa: S311 - jitter, not crypto
        try:
            r = await client.post(hub, data={"hub.mode": "publish", "hub.url": url})
        except httpx.HTTPError as exc:
            detail = describe_http_error(exc)[0]
            continue
        if 200 <= r.status_code < 300:
            return Ping(hub, url, True, str(r.status_code))
        detail = f"HTTP {r.status_code}"
        if r.status_code < 500 and r.status_code != 429:
            break  # the hub refused: asking again will not help
    return Ping(hub, url, False, detail)


async def _ping_all(ws: WebSubSettings, urls: Sequence[str], agent: str) -> list[Ping]:
    async with httpx.AsyncClient(timeout=ws.timeout, headers={"User-Agent": agent}, trust_env=False) as client:
        tasks = {asyncio.ensure_future(_ping(client, hub, url, ws.retries)): (hub, url)
                 for hub in ws.hubs for url in urls}
        done, pending = await asyncio.wait(tasks, timeout=ws.timeout)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [t.result() if t in done else Ping(*tasks[t], False, f"no answer within {ws.timeout:g} s")
                for t in tasks]


def ping_hubs(ws: WebSubSettings, urls: Sequence[str], agent: str) -> list[Ping]:
    """Ping every hub for every URL; failures are logged and returned, never raised."""
    if not ws.hubs or not urls:
        return []
    results = asyncio.run(_ping_all(ws, list(dict.fromkeys(urls)), agent))
    failed = [p for p in results if not p.ok]
    for p in failed:
        log.warning("WebSub ping to %s for %s failed: %s", p.hub, p.url, p.detail)
    log.info("WebSub: %d of %d pings accepted", len(results) - len(failed), len(results))
    return results
