"""WebSub: hub links in every format, and one ping per changed feed per build,
against a hub on 127.0.0.1 that records them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs

from lxml import etree

from feeder.app.pipeline import build
from feeder.config import WebSubSettings

from conftest import Site, good_fields
from feeds import parse_feed
from httpserver import Reply, ScriptedServer


class Hub:
    def __init__(self, server: ScriptedServer, status: int = 204):
        self.pings: list[tuple[str, str]] = []
        self.status = status
        server.route("/hub", self.receive)
        self.url = server.url("/hub")

    def receive(self, handler) -> Reply:
        length = int(handler.headers.get("Content-Length", 0))
        form = parse_qs(handler.rfile.read(length).decode())
        self.pings.append((form["hub.mode"][0], form["hub.url"][0]))
        return Reply(self.status)

    def urls(self) -> list[str]:
        urls = [url for _, url in self.pings]
        self.pings.clear()
        return sorted(urls)


def with_hub(site: Site, hub: Hub, **kw) -> None:
    # The test hub is on 127.0.0.1: pings go through the address guard like every request.
    site.configure(websub=WebSubSettings(hubs=(hub.url,), timeout=3, **kw),
                   links=replace(site.settings.links, allow_private=True))


def test_feeds_carry_hub_and_self_links(site: Site, http_server, now):
    hub = Hub(http_server)
    with_hub(site, hub)
    site.article("a.txt", **good_fields(1))
    build(site.settings, now=now)
    atom = parse_feed(site.output / "atom.xml")
    assert {ln.rel: ln.href for ln in atom.feed.links}["hub"] == hub.url
    rss = etree.fromstring((site.output / "rss.xml").read_bytes())
    links = {el.get("rel"): el.get("href") for el in rss.iter("{http://www.w3.org/2005/Atom}link")}
    assert links == {"self": "https://feeds.example.net/news/rss.xml", "hub": hub.url}
    assert json.loads((site.output / "feed.json").read_bytes())["hubs"] == [{"type": "WebSub", "url": hub.url}]


def test_one_ping_per_changed_feed_and_none_when_nothing_changed(site: Site, http_server, now):
    hub = Hub(http_server)
    with_hub(site, hub)
    site.article("a.txt", **good_fields(1, topics=["AI"]))
    site.article("b.txt", **good_fields(2, topics=["Space"]))
    base = "https://feeds.example.net/news/"
    build(site.settings, now=now)
    everything = sorted(f"{base}{folder}{name}" for folder in ("", "topics/ai/", "topics/space/")
                        for name in ("rss.xml", "atom.xml", "feed.json"))
    assert hub.urls() == everything
    assert all(mode == "publish" for mode, _ in hub.pings)

    build(site.settings, now=now + timedelta(hours=1))
    assert hub.urls() == []  # nothing changed: no pings

    site.article("b.txt", **good_fields(2, title="Edited", topics=["Space"]))
    build(site.settings, now=now + timedelta(hours=2))
    assert hub.urls() == sorted(f"{base}{folder}{name}" for folder in ("", "topics/space/")
                                for name in ("rss.xml", "atom.xml", "feed.json"))


def test_a_failing_hub_is_logged_and_never_fails_the_build(site: Site, http_server, now, caplog):
    hub = Hub(http_server, status=503)
    with_hub(site, hub, retries=1)
    site.article("a.txt", **good_fields(1))
    report = build(site.settings, now=now)
    assert "rss.xml" in report.written
    assert len(hub.pings) == 2 * 6  # six feed URLs, each tried twice
    assert "WebSub ping to" in caplog.text and "HTTP 503" in caplog.text


def test_an_unreachable_hub_does_not_hold_the_build_up(site: Site, silent_server, now):
    import time

    site.configure(websub=WebSubSettings(hubs=(f"http://127.0.0.1:{silent_server.port}/hub",), timeout=1))
    site.article("a.txt", **good_fields(1))
    started = time.monotonic()
    report = build(site.settings, now=now)
    assert time.monotonic() - started < 5
    assert (site.output / "rss.xml").exists() and report.written


def test_a_ping_to_a_private_address_is_refused_unless_allowed(site: Site, http_server, now, caplog):
    from feeder.config import LinkSettings
    from feeder.output.websub import ping_hubs

    hub = Hub(http_server)
    ws = WebSubSettings(hubs=(hub.url,), timeout=3, retries=2)
    [refused] = ping_hubs(ws, ["https://feeds.example.net/news/rss.xml"], LinkSettings(allow_private=False))
    assert not refused.ok and "blocked-address" in refused.detail
    assert hub.pings == []  # nothing was sent
    assert "WebSub ping to" in caplog.text and "blocked-address" in caplog.text
    # A hub reached by name is checked on the addresses the name resolves to.
    from feeder.net.guard import StaticResolver

    named = f"http://hub.test:{http_server.port}/hub"
    [by_name] = ping_hubs(WebSubSettings(hubs=(named,), timeout=3), ["https://x.example/rss.xml"],
                          LinkSettings(allow_private=False), StaticResolver({"hub.test": ("127.0.0.1",)}))
    assert not by_name.ok and hub.pings == []
    [allowed] = ping_hubs(ws, ["https://feeds.example.net/news/rss.xml"], LinkSettings(allow_private=True))
    assert allowed.ok and hub.urls() == ["https://feeds.example.net/news/rss.xml"]
