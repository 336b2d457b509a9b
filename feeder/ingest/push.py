"""The daemon's WebSub round: record what the hubs verified, ask hubs to
subscribe, renew or unsubscribe (`feeder.ingest.websub.plan_actions`
decides), and hand the server the subscriptions as they now stand. Requests
go through the address guard like every other."""

from __future__ import annotations

import asyncio
import logging
import queue
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx

from feeder.config import Settings
from feeder.ingest.run import failure_wait
from feeder.ingest.websub import Action, Inbox, plan_actions
from feeder.net.guard import AddressGuard, BlockedAddress, Resolver
from feeder.net.http import describe_http_error, make_client, make_resolver
from feeder.storage.sources import Subscription
from feeder.storage.state import State

__all__ = ["PushRound", "push_round"]

log = logging.getLogger(__name__)


@dataclass
class PushRound:
    requested: list[str] = field(default_factory=list)  # "subscribe source", ...
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"websub: {len(self.requested)} request(s), {len(self.failed)} failed"


def apply_verifications(state: State, inbox: Inbox, settings: Settings, now: datetime) -> None:
    """What the hubs verified (or denied) since the last round, into the state;
    a denied one is asked for again after a back-off."""
    while True:
        try:
            source, after = inbox.changed.get_nowait()
        except queue.Empty:
            return
        if after is None:
            state.delete_subscription(source)
            log.info("websub: %s: unsubscribed", source)
        else:
            current = state.subscriptions().get(source)
            if current is not None and current.token != after.token:
                continue  # replaced since: a verification of the old one
            if after.state == "failed" and after.retry_at is None:
                after = replace(after, retry_at=(now + failure_wait(after.failures, settings.ingest)).isoformat())
            state.save_subscription(after)
            log.info("websub: %s: %s%s", source, after.state,
                     f" ({after.last_error})" if after.last_error else f" until {after.expires}")


def push_round(settings: Settings, inbox: Inbox, *, now: datetime | None = None,
               resolver: Resolver | None = None) -> PushRound:
    """One round; the daemon runs it on a schedule and after each ingest."""
    from datetime import timezone

    push = settings.ingest.websub
    now = now or datetime.now(timezone.utc)
    report = PushRound()
    if push is None:
        return report
    with State.open(settings.state_dir, settings.state.url) as state:
        apply_verifications(state, inbox, settings, now)
        subs = state.subscriptions()
        actions = plan_actions(subs, state.all_sources(), {s.slug for s in settings.sources}, push, now)
        requests: list[Action] = []
        for action in actions:
            sub = action.sub
            if action.kind == "forget":
                state.delete_subscription(sub.source)
                subs.pop(sub.source, None)
            elif action.kind == "expire":
                why = "the lease ran out" if sub.state == "active" else "the hub never verified it"
                failed = replace(sub, state="failed", failures=sub.failures + 1, last_error=why,
                                 retry_at=now.isoformat())
                state.save_subscription(failed)
                subs[sub.source] = failed
                log.warning("websub: %s: %s; polling until it is subscribed again", sub.source, why)
            else:
                # Recorded before the request: a hub may verify before it answers.
                mode_state = "unsubscribing" if action.kind == "unsubscribe" else \
                    ("active" if sub.state == "active" else "pending")
                sent = replace(sub, state=mode_state, requested=now.isoformat())
                state.save_subscription(sent)
                subs[sub.source] = sent
                requests.append(replace(action, sub=sent))
        inbox.load(subs.values())
        counts = inbox.take_counts()
        if counts:
            state.count_pushes(counts)
    if not requests:
        return report
    results = asyncio.run(_send_all(settings, requests, resolver or make_resolver(settings.links)))
    with State.open(settings.state_dir, settings.state.url) as state:
        apply_verifications(state, inbox, settings, now)
        current = state.subscriptions()
        for action, problem in zip(requests, results, strict=True):
            sub = action.sub
            report.requested.append(f"{action.kind} {sub.source}")
            if problem is None:
                continue
            report.failed.append(f"{action.kind} {sub.source}: {problem}")
            now_sub = current.get(sub.source)
            if now_sub is None or now_sub.token != sub.token:
                continue
            if action.kind == "unsubscribe":
                log.warning("websub: %s: the hub did not take the unsubscription (%s); its lease will run out",
                            sub.source, problem)
                state.delete_subscription(sub.source)
                current.pop(sub.source)
                continue
            failures = now_sub.failures + 1
            failed = replace(now_sub, state="failed", failures=failures, last_error=problem,
                             retry_at=(now + failure_wait(failures, settings.ingest)).isoformat())
            if now_sub.state == "active" and now_sub.expires and datetime.fromisoformat(now_sub.expires) > now:
                # A renewal that failed: the lease still runs; asked again later.
                failed = replace(failed, state="active")
            state.save_subscription(failed)
            current[sub.source] = failed
            log.warning("websub: %s: the hub refused or could not be reached (%s); polling meanwhile",
                        sub.source, problem)
        inbox.load(current.values())
    return report


async def _send_all(settings: Settings, actions: list[Action], resolver: Resolver) -> list[str | None]:
    push = settings.ingest.websub
    assert push is not None
    guard = AddressGuard(resolver, allow_private=settings.links.allow_private)
    async with make_client(guard, settings.links, timeout=settings.ingest.timeout) as client:
        return list(await asyncio.gather(*(_send(client, push.callback, push.lease.total_seconds(), a)
                                           for a in actions)))


def callback_url(base: str, sub: Subscription) -> str:
    return base.rstrip("/") + "/" + sub.token


async def _send(client: httpx.AsyncClient, base: str, lease: float, action: Action) -> str | None:
    """One subscription request; None when the hub accepted it (2xx), else why not."""
    sub = action.sub
    form = {"hub.callback": callback_url(base, sub), "hub.topic": sub.topic,
            "hub.mode": "unsubscribe" if action.kind == "unsubscribe" else "subscribe"}
    if action.kind != "unsubscribe":
        form |= {"hub.secret": sub.secret, "hub.lease_seconds": str(int(lease))}
    try:
        r = await client.post(sub.hub, data=form)
    except BlockedAddress:
        return "blocked-address"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return describe_http_error(exc)[0]
    if 200 <= r.status_code < 300:
        return None
    return f"HTTP {r.status_code}"
