"""Link checks inside builds and `feeder check`, end to end, against a real
server on 127.0.0.1 and a resolver that answers the tests' own names."""

from __future__ import annotations

import json
from datetime import timedelta

from feeder.app.pipeline import build
from feeder.config import LinkSettings
from feeder.model import item_id

from conftest import Site, good_fields, run_feeder
from feeds import ids
from httpserver import Reply

HOSTS = {"site.test": ("127.0.0.1",), "canary.test": ("127.0.0.1",)}


def links_on(site: Site, **kw) -> None:
    site.configure(links=LinkSettings(
        enabled=True, allow_private=True, system_dns=False, hosts=HOSTS, canary_host="canary.test",
        retries=0, timeout=2, connect_timeout=1, read_timeout=1, budget=10,
        recheck_after=timedelta(hours=1), unknown_retry=timedelta(minutes=10), **kw,
    ))


class Switch:
    """A route whose status the test flips between builds."""

    def __init__(self, status: int = 200):
        self.status = status

    def __call__(self, handler) -> Reply:
        return Reply(self.status)


def test_feeds_contain_exactly_what_the_policy_keeps(site: Site, http_server, now):
    links_on(site)
    flaky, bounce = Switch(200), Switch(200)
    http_server.route("/ok", Reply(200))
    http_server.route("/missing", Reply(404))
    http_server.route("/err", Reply(500))
    http_server.route("/shared", Reply(200))
    http_server.route("/flaky", flaky)
    http_server.route("/bounce", bounce)
    url = lambda p: http_server.url(p, "site.test")  # noqa: E731
    site.article("ok.txt", **good_fields(1, originalUrl=url("/ok")))
    site.article("missing.txt", **good_fields(2, originalUrl=url("/missing")))
    site.article("err.txt", **good_fields(3, originalUrl=url("/err")))
    site.article("flaky.txt", **good_fields(4, originalUrl=url("/flaky")))
    site.article("bounce.txt", **good_fields(5, originalUrl=url("/bounce")))
    for n in (6, 7, 8):
        site.article(f"shared{n}.txt", **good_fields(n, originalUrl=url("/shared")))
    site.article("draft.txt", **good_fields(9, originalUrl=url("/draft"), published=False))

    def feed() -> set[str]:
        got = set(ids(site.output / "rss.xml"))
        assert got == set(ids(site.output / "atom.xml"))
        return got

    everything = {item_id(n) for n in ("ok", "err", "flaky", "bounce", "shared6", "shared7", "shared8")}
    report = build(site.settings, now=now)
    assert feed() == everything  # the never-published dead one is held back
    assert report.held_back == 1 and report.links and report.links.checked == 6
    assert http_server.hits("/shared") == {"HEAD": 1}
    assert http_server.hits("/draft") == {}  # unpublished articles are not checked

    flaky.status = bounce.status = 404
    build(site.settings, now=now + timedelta(hours=1))
    assert feed() == everything  # one dead verdict removes nothing that was published

    bounce.status = 200
    build(site.settings, now=now + timedelta(hours=2))
    assert feed() == everything - {item_id("flaky")}  # two dead verdicts an hour apart

    build(site.settings, now=now + timedelta(hours=3))
    assert item_id("bounce") in feed()  # one 404 then alive again: never removed

    flaky.status = 200
    build(site.settings, now=now + timedelta(hours=4))
    assert item_id("flaky") in feed()  # back when alive again


def test_require_alive_holds_new_articles_until_checked_alive(site: Site, http_server, now):
    links_on(site, require_alive=True)
    http_server.route("/err", Reply(503))
    http_server.route("/ok", Reply(200))
    site.article("a.txt", **good_fields(1, originalUrl=http_server.url("/err", "site.test")))
    site.article("b.txt", **good_fields(2, originalUrl=http_server.url("/ok", "site.test")))
    build(site.settings, now=now)
    assert ids(site.output / "rss.xml") == [item_id("b")]


def test_disabled_links_send_nothing(site: Site, http_server, now):
    site.article("a.txt", **good_fields(1, originalUrl=http_server.url("/missing")))
    report = build(site.settings, now=now)
    assert report.links is None and sum(http_server.hits().values()) == 0
    assert ids(site.output / "rss.xml") == [item_id("a")]


def test_check_command_reports_and_stores(site: Site, http_server):
    http_server.route("/ok", Reply(200))
    http_server.route("/gone", Reply(410))
    http_server.route("/err", Reply(500))
    site.article("a.txt", **good_fields(1, originalUrl=http_server.url("/ok", "site.test")))
    site.article("b.txt", **good_fields(2, originalUrl=http_server.url("/gone", "site.test")))
    site.article("c.txt", **good_fields(3, originalUrl=http_server.url("/gone", "site.test")))
    site.article("d.txt", **good_fields(4, originalUrl=http_server.url("/err", "site.test")))
    cfg = site.config_file({"links": {"allow_private": True, "system_dns": False, "retries": 0,
                                      "hosts": {"site.test": "127.0.0.1", "canary.test": "127.0.0.1"},
                                      "canary_host": "canary.test"}})
    proc = run_feeder("check", "--json", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["counts"] == {"alive": 1, "dead": 1, "unknown": 1}
    assert data["urls"] == 3 and data["checked"] == 3 and not data["network_down"]
    dead = data["problems"][0]
    assert (dead["verdict"], dead["reason"], dead["status"]) == ("dead", "gone", 410)
    assert dead["articles"] == ["b.txt", "c.txt"]

    proc = run_feeder("check", "--config", str(cfg))  # nothing is due: earlier findings are only counted
    assert proc.returncode == 0
    assert "3 URLs, 0 checked: 1 alive, 1 dead, 1 unknown" in proc.stdout
    assert "used by" not in proc.stdout
    assert "2 dead or unknown URL(s) from earlier rounds not listed: feeder check -v lists them" in proc.stdout

    proc = run_feeder("check", "-v", "--config", str(cfg))  # -v lists everything stored
    assert proc.returncode == 0
    assert "dead    gone (HTTP 410) " + http_server.url("/gone", "site.test") in proc.stdout
    assert "used by b.txt" in proc.stdout and "used by c.txt" in proc.stdout
    assert sum(http_server.hits().values()) == 5  # HEAD+GET for /gone and /err, HEAD for /ok: once


def test_check_command_fails_when_it_cannot_run(site: Site):
    cfg = site.config_file()  # links disabled
    proc = run_feeder("check", "--config", str(cfg))
    assert proc.returncode == 2 and "disabled" in proc.stderr


def test_sample_content_check_is_quick_and_unknown(tmp_path):
    from test_app_cli import offline_sample

    offline_sample(tmp_path)
    proc = run_feeder("check", "--json", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["network_down"] and data["counts"] == {"unknown": data["urls"]}
    assert {p["reason"] for p in data["problems"]} == {"network-down"}
