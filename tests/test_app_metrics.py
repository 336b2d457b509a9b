"""/metrics of a real daemon, parsed with the Prometheus client's own parser:
its counters move by exactly what a round did."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import Site, free_port, get_url, good_fields, wait_until
from httpserver import Reply

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Source</title>
<link>https://source.example/</link><description>d</description>
<item><title>From the source</title><link>https://source.example/one</link><guid>one</guid>
<pubDate>Mon, 02 Jun 2025 08:00:00 GMT</pubDate></item></channel></rss>"""


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = get_url(url)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(snapshot, name: str, **labels: str) -> float:
    return snapshot.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_by_exactly_what_a_round_did(site: Site, tmp_path: Path, daemons, http_server):
    http_server.route("/alive", Reply(200))
    http_server.route("/gone", Reply(404))
    http_server.route("/feed.xml", lambda h: Reply(304) if h.headers.get("If-None-Match") == '"v1"'
                      else Reply(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, FEED))
    site.article("a.txt", **good_fields(1, originalUrl=f"http://news.test:{http_server.port}/alive"))
    port = free_port()
    cfg = site.config_file({
        "schedule": {"rescan": "1s", "ingest": "2s", "link_check": "1h"},
        "links": {"enabled": True, "allow_private": True, "system_dns": False, "retries": 0,
                  "hosts": {"news.test": "127.0.0.1", "feeds.test": "127.0.0.1"}},
        "sources": [{"url": f"http://feeds.test:{http_server.port}/feed.xml", "name": "Source"}],
        "ingest": {"min_interval": "1s"},
    })
    d = daemons(cfg, tmp_path / "daemon.log", "--serve", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/metrics"
    first = wait_until(lambda: (m := samples(url)) and value(m, "feeder_rounds_total", job="ingest", outcome="ok")
                       >= 1 and m, 30, "the first ingest round")
    assert value(first, "feeder_ingest_fetches_total", outcome="fetched") == 1
    assert value(first, "feeder_ingest_entries_total", change="new") == 1
    assert value(first, "feeder_link_checks_total", verdict="alive", reason="ok") == 1
    assert value(first, "feeder_last_success_timestamp_seconds", job="rescan") > 0
    assert value(first, "feeder_build_stage_duration_seconds_count", stage="scan") >= 1

    # One ingest round whose fetch is a 304: exactly one more not_modified, nothing fetched.
    def around_one_ingest_round():
        before = samples(url)
        n = value(before, "feeder_rounds_total", job="ingest", outcome="ok")
        after = wait_until(lambda: (m := samples(url)) and value(m, "feeder_rounds_total", job="ingest",
                                                                 outcome="ok") > n and m, 10, "an ingest round")
        return before, after if value(after, "feeder_rounds_total", job="ingest", outcome="ok") == n + 1 else None

    before, after = wait_until(lambda: (pair := around_one_ingest_round())[1] is not None and pair, 30,
                               "two snapshots around one ingest round")
    assert value(after, "feeder_ingest_fetches_total", outcome="not_modified") - \
        value(before, "feeder_ingest_fetches_total", outcome="not_modified") == 1
    assert value(after, "feeder_ingest_fetches_total", outcome="fetched") == 1

    # One new article whose URL is dead: one dead check, one more held back, the same published.
    published = value(samples(url), "feeder_articles", state="published")
    dead_before = value(samples(url), "feeder_link_checks_total", verdict="dead", reason="not-found")
    site.article("b.txt", **good_fields(2, originalUrl=f"http://news.test:{http_server.port}/gone"))
    m = wait_until(lambda: (m := samples(url)) and value(m, "feeder_articles", state="held_back") == 1 and m, 20,
                   "the dead article held back")
    assert value(m, "feeder_link_checks_total", verdict="dead", reason="not-found") - dead_before == 1
    assert value(m, "feeder_articles", state="published") == published
    # One new article whose URL is alive: one more published.
    site.article("c.txt", **good_fields(3, originalUrl=f"http://news.test:{http_server.port}/alive?c"))
    m = wait_until(lambda: (m := samples(url)) and value(m, "feeder_articles", state="published") == published + 1
                   and m, 20, "the new article published")
    assert value(m, "feeder_link_checks_total", verdict="alive", reason="ok") == 2
    assert value(m, "feeder_http_requests_total", status="200") >= 5  # the requests of this test
    names = {name for name, _ in m}
    assert all(n.startswith("feeder_") or n.startswith(("python_", "process_")) for n in names), names
    assert d.stop() == 0, d.text()[-4000:]
