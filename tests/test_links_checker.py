"""The link checker against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from feeder import __version__
from feeder.config import LinkSettings
from feeder.links.checker import LinkChecker, RoundResult, classify_status, parse_retry_after
from feeder.model import Verdict
from feeder.net.guard import StaticResolver, is_public_address

from httpserver import Reply, free_port

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
RESOLVER = StaticResolver({"site.test": ("127.0.0.1",), "other.test": ("127.0.0.1",), "canary.test": ("127.0.0.1",)})


def settings(**kw) -> LinkSettings:
    base = LinkSettings(allow_private=True, timeout=3, connect_timeout=1, read_timeout=2, retries=0,
                        canary_host="canary.test", system_dns=False, budget=20)
    return replace(base, **kw)


class Sleeps:
    """Records the checker's sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def run(urls, links=None, resolver=RESOLVER, **kw) -> RoundResult:
    async def go():
        async with LinkChecker(links or settings(), resolver, clock=lambda: NOW, **kw) as checker:
            return await checker.run(urls)
    return asyncio.run(go())


def one(url, **kw):
    return run([url], **kw).results[url]


def test_200_is_alive(http_server):
    http_server.route("/ok", Reply(200))
    r = one(http_server.url("/ok", "site.test"))
    assert (r.verdict, r.reason, r.status) == (Verdict.ALIVE, "ok", 200)
    assert r.checked_at == NOW
    assert http_server.hits("/ok") == {"HEAD": 1}


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirect_chain_to_200(http_server, code):
    http_server.route("/a", Reply(code, {"Location": "/b"}))
    http_server.route("/b", Reply(code, {"Location": http_server.url("/c", "other.test")}))
    http_server.route("/c", Reply(200))
    r = one(http_server.url("/a", "site.test"))
    assert r.verdict is Verdict.ALIVE
    assert r.final_url == http_server.url("/c", "other.test")
    assert r.redirects == (http_server.url("/b", "site.test"), http_server.url("/c", "other.test"))


def test_redirect_chain_to_404_is_dead(http_server):
    http_server.route("/moved", Reply(301, {"Location": "/gone-now"}))
    r = one(http_server.url("/moved"))
    assert (r.verdict, r.reason, r.status) == (Verdict.DEAD, "not-found", 404)
    assert r.final_url == http_server.url("/gone-now")


def test_redirect_loop(http_server):
    http_server.route("/x", Reply(302, {"Location": "/y"}))
    http_server.route("/y", Reply(302, {"Location": "/x"}))
    r = one(http_server.url("/x"))
    assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "redirect-loop")


def test_too_many_redirects(http_server):
    for i in range(12):
        http_server.route(f"/r{i}", Reply(302, {"Location": f"/r{i + 1}"}))
    r = one(http_server.url("/r0"))
    assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "too-many-redirects")
    assert len(r.redirects) == 11
    assert sum(http_server.hits().values()) <= 2 * 11  # HEAD, then at most one GET per hop


@pytest.mark.parametrize(("code", "reason"), [(404, "not-found"), (410, "gone")])
def test_404_and_410_are_dead_after_a_confirming_get(http_server, code, reason):
    http_server.route("/p", Reply(code))
    r = one(http_server.url("/p"))
    assert (r.verdict, r.reason, r.status) == (Verdict.DEAD, reason, code)
    assert http_server.hits("/p") == {"HEAD": 1, "GET": 1}


def test_head_rejecting_server_falls_back_to_get_and_remembers(http_server):
    http_server.route("/page", lambda h: Reply(405) if h.command == "HEAD" else Reply(200))
    http_server.route("/other", lambda h: Reply(405) if h.command == "HEAD" else Reply(200))
    first = run([http_server.url("/page")])
    assert first.results[http_server.url("/page")].verdict is Verdict.ALIVE
    assert first.needs_get == {"127.0.0.1": True}
    second = run([http_server.url("/other")], needs_get=first.needs_get)
    assert second.results[http_server.url("/other")].verdict is Verdict.ALIVE
    assert http_server.hits("/other") == {"GET": 1}


def test_429_with_retry_after_slows_the_host_then_retries(http_server):
    answers = iter([Reply(429, {"Retry-After": "7"}), Reply(200)])
    http_server.route("/limited", lambda h: next(answers))
    sleeps = Sleeps()
    r = one(http_server.url("/limited"), links=settings(retries=1), sleep=sleeps)
    assert r.verdict is Verdict.ALIVE
    assert sleeps.calls and sleeps.calls[0] == pytest.approx(7, abs=0.01)
    assert http_server.hits("/limited") == {"HEAD": 2}


def test_retry_after_longer_than_the_budget_is_not_waited_for(http_server):
    http_server.route("/limited", Reply(429, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    started = time.monotonic()
    r = one(http_server.url("/limited"), links=settings(retries=3, budget=5), sleep=sleeps)
    assert (r.verdict, r.reason, r.status) == (Verdict.UNKNOWN, "rate-limited", 429)
    assert sleeps.calls == [] and time.monotonic() - started < 3
    assert http_server.hits("/limited") == {"HEAD": 1}


def test_retry_after_caps_at_max_retry_after(http_server):
    answers = iter([Reply(503, {"Retry-After": "600"}), Reply(200)])
    http_server.route("/busy", lambda h: next(answers) if h.command == "HEAD" else Reply(503))
    sleeps = Sleeps()
    one(http_server.url("/busy"), links=settings(retries=1, max_retry_after=2, budget=20), sleep=sleeps)
    assert max(sleeps.calls) <= 2


@pytest.mark.parametrize("code", [500, 503])
def test_server_errors_are_unknown_and_retried_with_backoff(http_server, code):
    http_server.route("/err", Reply(code))
    sleeps = Sleeps()
    r = one(http_server.url("/err"), links=settings(retries=2), sleep=sleeps, rng=lambda: 1.0)
    assert (r.verdict, r.reason, r.status) == (Verdict.UNKNOWN, "server-error", code)
    assert http_server.hits("/err") == {"HEAD": 3, "GET": 3}
    assert sleeps.calls == [1.0, 2.0]  # exponential, full jitter (rng fixed at its maximum)


@pytest.mark.parametrize(("code", "headers"), [(403, {"Server": "cloudflare", "cf-mitigated": "challenge"}),
                                               (999, {}), (503, {"Server": "ddos-guard"})])
def test_bot_protection_is_unknown(http_server, code, headers):
    http_server.route("/bot", Reply(code, headers))
    r = one(http_server.url("/bot"))
    assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "bot-protection")


@pytest.mark.parametrize("code", [401, 403])
def test_auth_answers_are_unknown(http_server, code):
    http_server.route("/auth", Reply(code))
    assert one(http_server.url("/auth")).reason == f"http-{code}"


def test_server_that_never_answers_times_out(silent_server):
    started = time.monotonic()
    r = one(f"http://127.0.0.1:{silent_server.port}/", links=settings(timeout=0.5, read_timeout=5))
    assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "timeout")
    assert time.monotonic() - started < 2


def test_connection_refused():
    r = one(f"http://127.0.0.1:{free_port()}/")
    assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "connection-refused")


def test_a_large_body_is_never_downloaded(http_server):
    mb = b"x" * 1_000_000
    http_server.route("/big", lambda h: Reply(405) if h.command == "HEAD" else Reply(200, stream=(mb, 10, 0.3)))
    started = time.monotonic()
    r = one(http_server.url("/big"))
    elapsed = time.monotonic() - started
    assert r.verdict is Verdict.ALIVE
    assert elapsed < 1.5  # the whole body takes 3 s to stream
    deadline = time.monotonic() + 5
    while not http_server.streamed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert http_server.streamed and http_server.streamed[0] < 10_000_000


def test_nxdomain_is_dead_and_sends_nothing(http_server):
    r = one(f"http://vanished.test:{http_server.port}/x")
    assert (r.verdict, r.reason) == (Verdict.DEAD, "nxdomain")
    assert sum(http_server.hits().values()) == 0


def test_offline_machine_gives_network_down_not_dead():
    offline = StaticResolver({})  # every lookup fails, the canary's too
    result = run(["https://www.example.org/a", "https://news.example.net/b"], resolver=offline)
    assert result.network_down
    assert {(r.verdict, r.reason) for r in result.results.values()} == {(Verdict.UNKNOWN, "network-down")}


def test_mixed_round_keeps_real_nxdomain(http_server):
    http_server.route("/ok", Reply(200))
    result = run([http_server.url("/ok", "site.test"), "http://vanished.test/x"])
    assert not result.network_down
    assert result.results["http://vanished.test/x"].verdict is Verdict.DEAD


def test_private_addresses_are_not_fetched(http_server):
    http_server.route("/ok", Reply(200))
    links = settings(allow_private=False)
    for url in (http_server.url("/ok"), http_server.url("/ok", "site.test"), f"http://[::1]:{http_server.port}/ok"):
        r = one(url, links=links)
        assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "blocked-address"), url
    assert sum(http_server.hits().values()) == 0


def test_guard_applies_to_every_redirect_hop(http_server):
    http_server.route("/jump", Reply(302, {"Location": f"http://127.0.0.2:{http_server.port}/inside"}))
    http_server.route("/jump-name", Reply(302, {"Location": f"http://internal.test:{http_server.port}/inside"}))
    resolver = StaticResolver({**RESOLVER.table, "internal.test": ("127.0.0.3",)})
    permit = {"127.0.0.1"}.__contains__  # this test's "public" address is 127.0.0.1 alone
    result = run([http_server.url("/jump"), http_server.url("/jump-name")], resolver=resolver,
                 links=settings(allow_private=False), permit=permit)
    for r in result.results.values():
        assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "blocked-address")
    assert http_server.hits("/inside") == {}


def test_shared_url_is_checked_once(http_server):
    http_server.route("/shared", Reply(200))
    url = http_server.url("/shared")
    result = run([url] * 25)
    assert list(result.results) == [url]
    assert http_server.hits("/shared") == {"HEAD": 1}


def test_user_agent_names_feeder_and_version(http_server):
    http_server.route("/ua", Reply(200))
    one(http_server.url("/ua"))
    ua = http_server.requests[0][2]["user-agent"]
    assert ua.startswith(f"feeder/{__version__}")
    one(http_server.url("/ua"), links=settings(user_agent="MyBot/2"))
    assert http_server.requests[1][2]["user-agent"] == "MyBot/2"


def test_concurrency_bounds_per_host_and_overall(http_server):
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def slow(h):
        host = h.headers["Host"].split(":")[0]
        with lock:
            active[host] = active.get(host, 0) + 1
            active["*"] = active.get("*", 0) + 1
            peak[host] = max(peak.get(host, 0), active[host])
            peak["*"] = max(peak.get("*", 0), active["*"])
        time.sleep(0.05)
        with lock:
            active[host] -= 1
            active["*"] -= 1
        return Reply(200)

    http_server.route("/slow", slow)
    resolver = StaticResolver({f"h{i}.test": ("127.0.0.1",) for i in range(4)} | RESOLVER.table)
    urls = [http_server.url("/slow", f"h{i % 4}.test") + f"?n={i}" for i in range(40)]
    result = run(urls, resolver=resolver, links=settings(per_host=2, concurrency=5))
    assert all(r.verdict is Verdict.ALIVE for r in result.results.values())
    assert max(v for k, v in peak.items() if k != "*") <= 2
    assert peak["*"] <= 5


def test_budget_bounds_the_round(silent_server):
    urls = [f"http://127.0.0.1:{silent_server.port}/{i}" for i in range(20)]
    started = time.monotonic()
    result = run(urls, links=settings(budget=0.5, timeout=10, read_timeout=10, per_host=2))
    assert time.monotonic() - started < 2.5
    assert len(result.results) + len(result.unfinished) == 20
    assert result.unfinished


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False), ("10.1.2.3", False),
     ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
     ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
     ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True), ("2002:7f00:1::", False), ("255.255.255.255", False)],
)
def test_public_address_rule(address, public):
    assert is_public_address(address) is public


def test_retry_after_parsing():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sun, 01 Jun 2025 00:01:00 GMT", NOW) == 60
    assert parse_retry_after("soon", NOW) is None


def test_status_classification():
    import httpx

    assert classify_status(204, httpx.Headers()) == (Verdict.ALIVE, "ok")
    assert classify_status(418, httpx.Headers()) == (Verdict.UNKNOWN, "http-418")


def test_a_malformed_response_is_unknown_not_a_crash(http_server):
    http_server.route("/bad", Reply(200, {"Content-Length": "5", "content-length": "7"}))
    r = one(http_server.url("/bad"))
    assert (r.verdict, r.reason) == (Verdict.UNKNOWN, "protocol-error")


def test_redirected_requests_carry_no_body(http_server):
    import httpx

    from feeder.net.guard import AddressGuard
    from feeder.net.http import make_client

    http_server.route("/from", Reply(301, {"Location": "/to"}))
    http_server.route("/to", Reply(200, body=b"ok"))

    async def go():
        async with make_client(AddressGuard(RESOLVER, allow_private=True), settings(),
                               follow_redirects=True) as client:
            r1 = await client.get(http_server.url("/from"))
            r2 = await client.get(http_server.url("/from"))  # on the same kept-alive connection
            return r1, r2

    r1, r2 = asyncio.run(go())
    assert (r1.status_code, r1.content, r2.status_code) == (200, b"ok", 200)
    assert all("transfer-encoding" not in h and h.get("content-length", "0") == "0" for _, _, h in
               http_server.requests)
    assert isinstance(r1, httpx.Response)
