"""WebSub subscriptions (W3C WebSub): a source whose feed advertises a hub
is pushed to as soon as it publishes, instead of waiting for the next poll.

- Each source gets a callback URL of its own (`ingest.websub.callback` plus
  a random token) and a random `hub.secret`; the daemon asks the hub to
  subscribe, renews the lease when four fifths of it have passed, and asks
  to unsubscribe when the source is removed.
- The hub's verification of intent is answered only for a request the
  daemon made: the token, the mode and the topic must match a pending
  subscription (or one being cancelled).
- A delivery is accepted only with a valid `X-Hub-Signature` (sha256 or
  stronger; sha1 only when allowed); a flood of forged posts costs one HMAC
  each: no database, no parsing. Accepted documents are queued for the daemon,
  which ingests them at once through the same rules as a poll.
- A subscription that fails or lapses leaves the source to polling, and is
  asked for again with back-off; while pushes arrive, polling slows to
  `poll_interval` as a safety net.

The decisions (`plan_actions`, `verify_intent`, `signature_problem`) are
pure functions; `Inbox` is what the server thread and the daemon share.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feeder.config import PushSettings
from feeder.storage.sources import SourceRow, Subscription

__all__ = ["Action", "Delivery", "Inbox", "plan_actions", "signature_problem", "verify_intent"]

log = logging.getLogger(__name__)

# Strongest first; sha1 only when `allow_sha1` (hubs older than WebSub sign with it).
_ALGORITHMS = {"sha512": hashlib.sha512, "sha384": hashlib.sha384, "sha256": hashlib.sha256, "sha1": hashlib.sha1}
RENEW_AT = 0.8  # of the lease
_MAX_LEASE = 365 * 86400  # a hub that grants more is renewed as if it granted a year


def signature_problem(secret: str, header: str | None, body: bytes, *, allow_sha1: bool) -> str | None:
    """Why a delivery's `X-Hub-Signature` does not prove it came from the hub
    (None when it does): one HMAC, compared in constant time."""
    if not header:
        return "missing-signature"
    method, _, given = header.strip().partition("=")
    method = method.strip().lower()
    digest = _ALGORITHMS.get(method)
    if digest is None or not given:
        return "bad-signature-format" if not given else "unknown-algorithm"
    if method == "sha1" and not allow_sha1:
        return "weak-algorithm"
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return None if hmac.compare_digest(expected, given.strip().lower()) else "wrong-signature"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # subscribe, unsubscribe, expire, forget
    sub: Subscription


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def new_subscription(source: str, hub: str, topic: str) -> Subscription:
    return Subscription(source, hub, topic, secrets.token_urlsafe(24), secrets.token_hex(32), "pending")


def plan_actions(subs: dict[str, Subscription], sources: Iterable[SourceRow], configured: set[str],
                 push: PushSettings, now: datetime) -> list[Action]:
    """What to ask of the hubs now: subscribe (new, renewing, changed hub or
    topic, a failure's retry, a verification that never came), unsubscribe
    (a source no longer configured), expire (a lease that ran out)."""
    actions: list[Action] = []
    advertised = {row.key: row for row in sources if row.key in configured}
    for key, row in advertised.items():
        if not row.hub or not row.self_url or row.gone:
            continue
        sub = subs.get(key)
        if sub is None or sub.state == "unsubscribing" or (sub.hub, sub.topic) != (row.hub, row.self_url):
            # A new hub or topic: a new callback and secret too.
            actions.append(Action("subscribe", new_subscription(key, row.hub, row.self_url)))
            continue
        expires, requested, retry = _at(sub.expires), _at(sub.requested), _at(sub.retry_at)
        if sub.state == "active" and expires is not None:
            lease = min(sub.lease or _MAX_LEASE, _MAX_LEASE)
            if now >= expires:
                actions.append(Action("expire", sub))
            elif now >= expires - timedelta(seconds=lease * (1 - RENEW_AT)):
                actions.append(Action("subscribe", sub))  # a renewal: same callback, same secret
        elif sub.state == "pending" and requested is not None and now - requested >= push.verify_within:
            actions.append(Action("expire", sub))  # the hub never verified it
        elif sub.state == "failed" and (retry is None or now >= retry):
            actions.append(Action("subscribe", sub))
    for key, sub in subs.items():
        if key in advertised and advertised[key].hub:
            continue
        requested = _at(sub.requested)
        if sub.state in ("active", "pending"):
            actions.append(Action("unsubscribe", sub))
        elif sub.state == "unsubscribing" and requested is not None and now - requested >= push.verify_within:
            actions.append(Action("forget", sub))  # the hub never confirmed: its lease will run out
        elif sub.state == "failed":
            actions.append(Action("forget", sub))
    return actions


def verify_intent(sub: Subscription | None, params: dict[str, str], now: datetime,
                  ) -> tuple[int, str, Subscription | None]:
    """The answer to a hub's verification request (GET on the callback): the
    status, the body (the challenge when it is confirmed) and the
    subscription as it now stands (None: forget it)."""
    mode, topic = params.get("hub.mode", ""), params.get("hub.topic", "")
    if sub is None or topic != sub.topic:
        return 404, "unknown subscription", sub
    if mode == "denied":
        reason = params.get("hub.reason", "")[:200] or "no reason given"
        return 200, "", replace(sub, state="failed", last_error=f"denied: {reason}", failures=sub.failures + 1,
                                retry_at=None)
    challenge = params.get("hub.challenge", "")
    if not challenge:
        return 400, "no hub.challenge", sub
    if mode == "subscribe" and sub.state in ("pending", "active"):
        try:
            granted = int(params.get("hub.lease_seconds", "") or 0)
        except ValueError:
            granted = 0
        lease = granted if granted > 0 else None  # no lease: treated as a year's
        ends = now + timedelta(seconds=min(lease or _MAX_LEASE, _MAX_LEASE))
        return 200, challenge, replace(sub, state="active", lease=lease, expires=ends.isoformat(),
                                       failures=0, last_error=None)
    if mode == "unsubscribe" and sub.state == "unsubscribing":
        return 200, challenge, None
    return 404, "not asked for", sub


@dataclass(frozen=True, slots=True)
class Delivery:
    source: str
    body: bytes
    content_type: str
    received: float  # time.monotonic()


class Inbox:
    """What the server thread and the daemon share: the subscriptions by
    callback token (so a delivery is judged without the database), the
    verification results and deliveries for the daemon to act on, and the
    pushes counted by outcome."""

    def __init__(self, push: PushSettings, max_bytes: int):
        self.push, self.max_bytes = push, max_bytes
        self._lock = threading.Lock()
        self._by_token: dict[str, Subscription] = {}
        self.deliveries: queue.Queue[Delivery] = queue.Queue(maxsize=1000)
        self.changed: queue.Queue[tuple[str, Subscription | None]] = queue.Queue()
        self.counts: Counter[str] = Counter()  # since the daemon last saved them
        self.totals: Counter[str] = Counter()  # since the start, for /metrics
        self._buckets: dict[str, tuple[float, float]] = {}  # token: (tokens, at)
        # Called (from the server's thread) when a verification changed a
        # subscription: the daemon records it at once rather than at its next round.
        self.on_change: Callable[[], None] | None = None

    def load(self, subs: Iterable[Subscription]) -> None:
        with self._lock:
            self._by_token = {s.token: s for s in subs}

    def reconfigure(self, push: PushSettings, max_bytes: int) -> None:
        self.push, self.max_bytes = push, max_bytes

    def known(self, token: str) -> bool:
        return token in self._by_token

    def verification(self, token: str, params: dict[str, str], now: datetime) -> tuple[int, str]:
        with self._lock:
            sub = self._by_token.get(token)
            status, body, after = verify_intent(sub, params, now)
            if sub is not None and after is not sub:
                if after is None:
                    del self._by_token[token]
                else:
                    self._by_token[token] = after
                self.changed.put((sub.source, after))
                if self.on_change is not None:
                    self.on_change()
        if sub is not None and status != 200:
            log.warning("websub: refused a verification for %s (%s %s): %s", sub.source,
                        params.get("hub.mode", "?"), params.get("hub.topic", "?")[:200], body)
        return status, body

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1
            self.totals[outcome] += 1

    def take_counts(self) -> dict[str, int]:
        with self._lock:
            counts, self.counts = dict(self.counts), Counter()
        return counts

    def allowed(self, token: str) -> bool:
        """The rate limit: a token bucket of `max_per_minute` per subscription."""
        rate = self.push.max_per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(token, (float(self.push.max_per_minute), now))
            tokens = min(float(self.push.max_per_minute), tokens + (now - at) * rate)
            if tokens < 1:
                self._buckets[token] = (tokens, now)
                return False
            self._buckets[token] = (tokens - 1, now)
            return True

    def delivery(self, token: str, signature: str | None, body: bytes, content_type: str) -> str:
        """Judge a delivery whose body was read (at most `max_bytes`): its
        outcome, 'accepted' or why it was refused. An accepted one is queued."""
        sub = self._by_token.get(token)
        if sub is None or sub.state != "active":
            outcome = "unknown-subscription"
        else:
            outcome = signature_problem(sub.secret, signature, body, allow_sha1=self.push.allow_sha1) or "accepted"
        if outcome == "accepted":
            assert sub is not None
            try:
                self.deliveries.put_nowait(Delivery(sub.source, body, content_type, time.monotonic()))
            except queue.Full:
                outcome = "queue-full"
        self._count(outcome)
        return outcome

    def refused(self, reason: str) -> None:
        """A delivery refused before its body was judged (too large, too many)."""
        self._count(reason)

    def states(self, now: datetime) -> dict[str, int]:
        """Subscriptions by state, 'expiring' for an active one due for renewal."""
        found: Counter[str] = Counter()
        with self._lock:
            subs = list(self._by_token.values())
        for sub in subs:
            found[_shown_state(sub, now)] += 1
        return dict(found)


def _shown_state(sub: Subscription, now: datetime) -> str:
    expires = _at(sub.expires)
    if sub.state == "active" and expires is not None:
        lease = min(sub.lease or _MAX_LEASE, _MAX_LEASE)
        if now >= expires - timedelta(seconds=lease * (1 - RENEW_AT)):
            return "expiring"
    return sub.state


def shown_states(subs: Iterable[Subscription], now: datetime) -> dict[str, int]:
    found: Counter[str] = Counter(_shown_state(s, now) for s in subs)
    return dict(found)
