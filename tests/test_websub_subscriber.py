"""WebSub subscriptions to the hubs sources advertise: the decisions as pure
functions, then a real daemon against a hub written for the tests
(`websub_hub.Hub`, on 127.0.0.1), from subscription to delivery to
unsubscription, and the hub going away."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeder.config import PushSettings
from feeder.ingest.websub import Inbox, plan_actions, signature_problem, verify_intent
from feeder.storage.sources import SourceRow, Subscription

from conftest import Site, free_port, get_url, run_feeder, wait_until
from httpserver import Reply
from websub_hub import Hub

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
PUSH = PushSettings("https://feeds.example.net/websub/")


# -- signatures -----------------------------------------------------------------------------------------------

def sign(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}={hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()}"


@pytest.mark.no_state
@pytest.mark.parametrize(("header", "allow_sha1", "expected"), [
    (sign("s3cret", b"<feed/>"), False, None),
    (sign("s3cret", b"<feed/>", "sha512"), False, None),
    (sign("s3cret", b"<feed/>", "sha384").upper().replace("SHA384", "sha384"), False, None),  # hex in capitals
    (sign("s3cret", b"<feed/>", "sha1"), False, "weak-algorithm"),
    (sign("s3cret", b"<feed/>", "sha1"), True, None),
    (sign("other", b"<feed/>"), False, "wrong-signature"),
    (sign("s3cret", b"<feed/> "), False, "wrong-signature"),
    (None, False, "missing-signature"),
    ("", False, "missing-signature"),
    ("sha256", False, "bad-signature-format"),
    ("md5=abcdef", False, "unknown-algorithm"),
])
def test_a_delivery_is_judged_by_its_signature(header, allow_sha1, expected):
    assert signature_problem("s3cret", header, b"<feed/>", allow_sha1=allow_sha1) == expected


# -- verification of intent -----------------------------------------------------------------------------------

SUB = Subscription("blog", "https://hub.example/", "https://blog.example/feed", "tok", "sec", "pending")


@pytest.mark.no_state
def test_only_a_subscription_asked_for_is_confirmed():
    ok = {"hub.mode": "subscribe", "hub.topic": SUB.topic, "hub.challenge": "c123", "hub.lease_seconds": "600"}
    status, body, after = verify_intent(SUB, ok, NOW)
    assert (status, body) == (200, "c123")
    assert after is not None and after.state == "active" and after.lease == 600
    assert after.expires == (NOW + timedelta(seconds=600)).isoformat()
    assert verify_intent(None, ok, NOW)[0] == 404  # an unknown callback
    assert verify_intent(SUB, {**ok, "hub.topic": "https://evil.example/"}, NOW)[0] == 404  # another topic
    assert verify_intent(SUB, {**ok, "hub.mode": "unsubscribe"}, NOW)[0] == 404  # not asked for
    assert verify_intent(SUB, {**ok, "hub.challenge": ""}, NOW)[0] == 400
    gone = replace(SUB, state="unsubscribing")
    assert verify_intent(gone, {**ok, "hub.mode": "unsubscribe"}, NOW) == (200, "c123", None)
    assert verify_intent(gone, ok, NOW)[0] == 404  # a subscription it no longer wants
    status, _, denied = verify_intent(SUB, {"hub.mode": "denied", "hub.topic": SUB.topic, "hub.reason": "no"}, NOW)
    assert status == 200 and denied is not None and denied.state == "failed" and "denied: no" in denied.last_error


# -- what to ask of the hubs ----------------------------------------------------------------------------------

def row(key: str = "blog", hub: str | None = "https://hub.example/", self_url: str | None = "https://blog.example/feed",
        ) -> SourceRow:
    return SourceRow(key, "https://blog.example/feed", "https://blog.example/feed", hub=hub, self_url=self_url)


@pytest.mark.no_state
def test_plan_subscribes_renews_expires_and_unsubscribes():
    kinds = lambda subs, rows, configured={"blog"}, now=NOW: [  # noqa: E731
        (a.kind, a.sub.source) for a in plan_actions(subs, rows, configured, PUSH, now)]
    assert kinds({}, [row()]) == [("subscribe", "blog")]
    assert kinds({}, [row(hub=None)]) == []  # no hub advertised: polled
    assert kinds({}, [row()], configured=set()) == []
    active = replace(SUB, state="active", lease=1000, expires=(NOW + timedelta(seconds=1000)).isoformat())
    assert kinds({"blog": active}, [row()]) == []
    assert kinds({"blog": active}, [row()], now=NOW + timedelta(seconds=801)) == [("subscribe", "blog")]
    assert kinds({"blog": active}, [row()], now=NOW + timedelta(seconds=1000)) == [("expire", "blog")]
    # A renewal keeps its callback and secret; a new hub gets new ones.
    renew = plan_actions({"blog": active}, [row()], {"blog"}, PUSH, NOW + timedelta(seconds=900))[0]
    assert renew.sub.token == active.token
    moved = plan_actions({"blog": active}, [row(hub="https://other-hub.example/")], {"blog"}, PUSH, NOW)[0]
    assert moved.kind == "subscribe" and moved.sub.token != active.token and moved.sub.secret != active.secret
    # Removed from the configuration, or no hub any more: unsubscribed.
    assert kinds({"blog": active}, [row()], configured=set()) == [("unsubscribe", "blog")]
    assert kinds({"blog": active}, [row(hub=None)]) == [("unsubscribe", "blog")]
    pending = replace(SUB, requested=NOW.isoformat())
    assert kinds({"blog": pending}, [row()], now=NOW + timedelta(minutes=5)) == []
    assert kinds({"blog": pending}, [row()], now=NOW + timedelta(minutes=10)) == [("expire", "blog")]
    failed = replace(SUB, state="failed", retry_at=(NOW + timedelta(minutes=2)).isoformat())
    assert kinds({"blog": failed}, [row()]) == []
    assert kinds({"blog": failed}, [row()], now=NOW + timedelta(minutes=2)) == [("subscribe", "blog")]
    assert kinds({"blog": failed}, [row()], configured=set()) == [("forget", "blog")]


@pytest.mark.no_state
def test_the_inbox_refuses_forgeries_without_queueing_them():
    inbox = Inbox(replace(PUSH, max_per_minute=3), 1000)
    active = replace(SUB, state="active", secret="k")
    inbox.load([active])
    assert inbox.delivery("nope", sign("k", b"x"), b"x", "") == "unknown-subscription"
    assert inbox.delivery("tok", sign("bad", b"x"), b"x", "") == "wrong-signature"
    assert inbox.deliveries.empty()
    assert inbox.delivery("tok", sign("k", b"x"), b"x", "application/atom+xml") == "accepted"
    assert inbox.deliveries.get_nowait().source == "blog"
    assert [inbox.allowed("tok") for _ in range(4)] == [True, True, True, False]  # three a minute
    assert inbox.take_counts() == {"unknown-subscription": 1, "wrong-signature": 1, "accepted": 1}
    assert inbox.take_counts() == {}


# -- a real daemon and a real hub -----------------------------------------------------------------------------

def atom(feed_url: str, hub: str, entries: list[tuple[str, str]], *, twice: bool = False) -> bytes:
    items = "".join(
        f"<entry><title>{title}</title><id>urn:pushed:{key}</id><link href='https://blog.example.org/{key}'/>"
        f"<updated>2026-01-0{1 + n % 9}T10:00:00Z</updated><summary>About {title}.</summary></entry>"
        for n, (key, title) in enumerate(entries * (2 if twice else 1)))
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<title>Pushed Blog</title><id>urn:pushed</id><updated>2026-01-01T10:00:00Z</updated>"
            f"<link rel='hub' href='{hub}'/><link rel='self' href='{feed_url}'/>{items}</feed>").encode()


class PushSite:
    def __init__(self, site: Site, http_server, hub: Hub, **push):
        self.site, self.http_server, self.hub = site, http_server, hub
        self.port = free_port()
        self.feed_url = http_server.url("/feed.atom")
        self.entries = [("one", "First post")]
        http_server.route("/feed.atom", lambda h: Reply(200, {"Content-Type": "application/atom+xml"},
                                                        atom(self.feed_url, hub.url, self.entries)))
        self.config = site.config_file({
            "links": {"enabled": False, "allow_private": True},
            "schedule": {"rescan": "1h", "ingest": "1h", "watch": True},
            "ingest": {"min_interval": "1s", "websub": {"callback": f"http://127.0.0.1:{self.port}/websub/",
                                                        **push}},
        })
        (site.root / "sources.yaml").write_text(f"- url: {self.feed_url}\n  name: Pushed\n  publish: true\n")

    def start(self, daemons):
        done = run_feeder("ingest", "--config", str(self.config))  # learns the hub and the topic
        assert done.returncode == 0, done.stderr
        self.daemon = daemons(self.config, self.site.root / "daemon.log", "--serve", f"127.0.0.1:{self.port}")
        wait_until(lambda: self.hub.subscribed(self.feed_url), 20, "the subscription")
        return self.daemon

    def published(self, text: str) -> bool:
        return text.encode() in (self.site.output / "rss.xml").read_bytes()

    def status(self) -> dict:
        return json.loads(run_feeder("status", "--json", "--config", str(self.config)).stdout)


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.close()


def test_subscribe_verify_deliver_and_publish(site: Site, http_server, hub: Hub, daemons):
    ps = PushSite(site, http_server, hub)
    d = ps.start(daemons)
    sub = hub.subscribed(ps.feed_url)[0]
    assert sub.callback.startswith(f"http://127.0.0.1:{ps.port}/websub/") and sub.secret and len(sub.secret) >= 32
    assert hub.requests[0]["hub.lease_seconds"] == str(10 * 86400)
    wait_until(lambda: ps.published("First post"), 20, "the first post")
    # A good delivery is published at once.
    assert hub.publish(ps.feed_url, atom(ps.feed_url, hub.url, [("two", "Pushed post"), ("one", "First post")])) \
        == [202]
    wait_until(lambda: ps.published("Pushed post"), 10, "the pushed post")
    # Missing and wrong signatures are acknowledged and ignored; so is SHA-1.
    for signature, title in (("missing", "Unsigned"), ("wrong", "Forged"), ("sha1", "Weak")):
        body = atom(ps.feed_url, hub.url, [(title.lower(), title)])
        assert hub.publish(ps.feed_url, body, signature=signature) == [200]
    # The same entry twice in one delivery: one article.
    assert hub.publish(ps.feed_url, atom(ps.feed_url, hub.url, [("three", "Twice")], twice=True)) == [202]
    wait_until(lambda: ps.published("Twice"), 10, "the doubled entry")
    assert (site.output / "rss.xml").read_bytes().count(b"Twice</title>") == 1
    for title in ("Unsigned", "Forged", "Weak"):
        assert not ps.published(title)
    assert len(list((site.content / "pushed").glob("*.md"))) == 3
    # Forged verifications: an unknown callback, another topic, a mode never asked for.
    base = sub.callback
    for url, params in ((base + "x", {"hub.topic": ps.feed_url}), (base, {"hub.topic": "http://evil.example/"}),
                        (base, {"hub.topic": ps.feed_url, "hub.mode": "unsubscribe"})):
        query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.challenge": "zz", **params})
        status, _, body = get_url(f"{url}?{query}")
        assert status == 404 and body != b"zz"
    # What the daemon counted, in /metrics and feeder status.
    status, _, metrics = get_url(f"http://127.0.0.1:{ps.port}/metrics")
    text = metrics.decode()
    assert 'feeder_websub_subscriptions{state="active"} 1.0' in text
    assert 'feeder_websub_pushes_total{outcome="accepted"} 2.0' in text
    assert 'feeder_websub_pushes_total{outcome="wrong-signature"} 1.0' in text
    assert 'feeder_websub_pushes_total{outcome="missing-signature"} 1.0' in text
    assert 'feeder_websub_pushes_total{outcome="weak-algorithm"} 1.0' in text
    wait_until(lambda: ps.status()["pushes"].get("accepted") == 2, 40, "the counts saved")
    assert ps.status()["websub"] == {"active": 1}
    # While pushes arrive, polling is only a safety net: the next poll is poll_interval away.
    done = run_feeder("ingest", "--force", "--config", str(ps.config))
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_feeder("sources", "list", "--json", "--config", str(ps.config)).stdout)
    assert listed[0]["websub"] == "active"
    due = datetime.fromisoformat(listed[0]["next_fetch"])
    assert due - datetime.now(timezone.utc) > timedelta(hours=5, minutes=50)  # poll_interval 6h, not min_interval
    assert d.stop() == 0


def test_a_lease_is_renewed_and_a_removed_source_unsubscribed(site: Site, http_server, hub: Hub, daemons):
    ps = PushSite(site, http_server, hub, lease="4s")
    ps.start(daemons)
    first = hub.subscribed(ps.feed_url)[0]
    assert first.lease == 4
    # Renewed at four fifths of the lease, with the same callback and secret.
    wait_until(lambda: len([v for v in hub.verifications if v.mode == "subscribe" and v.confirmed]) >= 3, 20,
               "two renewals")
    again = hub.subscribed(ps.feed_url)[0]
    assert (again.callback, again.secret) == (first.callback, first.secret)
    # Removed: the daemon reloads, asks to unsubscribe, and confirms it.
    done = run_feeder("sources", "remove", "Pushed", "--config", str(ps.config))
    assert done.returncode == 0, done.stderr
    wait_until(lambda: not hub.subscribed(ps.feed_url), 20, "the unsubscription")
    assert any(v.mode == "unsubscribe" and v.confirmed for v in hub.verifications)
    wait_until(lambda: ps.status()["websub"] == {}, 20, "the subscription forgotten")
    # A delivery to the old callback is refused now.
    status, _, _ = get_url(first.callback, method="POST")
    assert status == 404


def test_when_the_hub_goes_away_the_source_is_polled_again(site: Site, http_server, hub: Hub, daemons):
    ps = PushSite(site, http_server, hub, lease="3s", poll_interval="1h")
    d = ps.start(daemons)
    hub.close()  # gone: renewals fail, the lease runs out
    wait_until(lambda: "the lease ran out" in d.text(), 20, "the lapse")
    wait_until(lambda: ps.status()["websub"].get("failed") == 1, 20, "the failed subscription")
    # Polling resumes: the next ingest fetches the feed although the hub had it.
    ps.entries = [("polled", "Found by polling")]
    done = run_feeder("ingest", "--config", str(ps.config))
    assert done.returncode == 0, done.stderr
    assert "1 new" in done.stdout
    assert d.stop() == 0


def test_a_hub_that_refuses_or_denies_leaves_the_source_polled(site: Site, http_server, daemons):
    for hub_options in ({"refuse": True}, {"deny": True}):
        h = Hub(**hub_options)
        try:
            root = site.root / next(iter(hub_options))
            s = Site(root)
            ps = PushSite(s, http_server, h)
            assert run_feeder("ingest", "--config", str(ps.config)).returncode == 0
            d = daemons(ps.config, root / "daemon.log", "--serve", f"127.0.0.1:{ps.port}")
            wait_until(lambda ps=ps: ps.status()["websub"].get("failed") == 1, 20, "the failure")
            listed = json.loads(run_feeder("sources", "list", "--json", "--config", str(ps.config)).stdout)
            assert listed[0]["websub"] == "failed"
            assert d.stop() == 0
        finally:
            h.close()


def test_a_delivery_too_large_or_too_frequent_is_refused_unread(site: Site, http_server, hub: Hub, daemons):
    ps = PushSite(site, http_server, hub, max_per_minute=2)
    ps.start(daemons)
    big = b"<feed>" + b" " * 11 * 1024 * 1024 + b"</feed>"
    assert hub.publish(ps.feed_url, big) == [413]
    ok = atom(ps.feed_url, hub.url, [("one", "First post")])
    statuses = [hub.publish(ps.feed_url, ok)[0] for _ in range(4)]
    assert statuses[-1] == 429 and statuses.count(202) <= 2


def test_websub_configuration_errors(tmp_path: Path):
    from feeder.config import parse_config
    from feeder.errors import ConfigError

    base = {"site": {"title": "T", "base_url": "https://feeds.example.net/"}}
    with pytest.raises(ConfigError, match="callback: is required"):
        parse_config({**base, "ingest": {"websub": {}}}, base=tmp_path)
    with pytest.raises(ConfigError, match="callback"):
        parse_config({**base, "ingest": {"websub": {"callback": "ftp://x/"}}}, base=tmp_path)
    with pytest.raises(ConfigError, match="leese"):
        parse_config({**base, "ingest": {"websub": {"callback": "https://f.example/ws/", "leese": "1d"}}},
                     base=tmp_path)
    push = parse_config({**base, "ingest": {"websub": {"callback": "https://f.example/ws"}}},
                        base=tmp_path).ingest.websub
    assert push is not None and push.path == "/ws/" and push.lease == timedelta(days=10)
