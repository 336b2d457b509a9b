"""Aggregation: real RSS, RDF, Atom and JSON Feed documents served on
127.0.0.1, written into the content folder and published by the pipeline."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeder.app.pipeline import build
from feeder.config import IngestSettings, LinkSettings, SourceSettings
from feeder.content.reader import parse_article
from feeder.ingest.run import canonical_link, ingest

from conftest import Site, run_feeder
from feeds import parse_feed, titles
from httpserver import Reply

DATA = Path(__file__).parent / "data" / "sources"
NOW = datetime(2025, 6, 4, 12, 0, tzinfo=timezone.utc)
UTC = timezone.utc


def document(name: str, server) -> bytes:
    return (DATA / name).read_text().replace("{base}", f"http://blog.test:{server.port}").encode()


def setup(site: Site, server, *sources: SourceSettings, **ingest_changes) -> None:
    site.configure(
        sources=sources,
        ingest=replace(IngestSettings(timeout=3), **ingest_changes),
        links=LinkSettings(enabled=False, allow_private=True, system_dns=False,
                           hosts={"blog.test": ("127.0.0.1",), "other.test": ("127.0.0.1",)}),
    )


def source(server, path: str, name: str, **kw) -> SourceSettings:
    from slugify import slugify

    return SourceSettings(url=f"http://blog.test:{server.port}{path}", slug=slugify(name), name=name, **kw)


def articles(site: Site, folder: str) -> dict[str, object]:
    found = {}
    for path in sorted((site.content / folder).glob("*.md")):
        a = parse_article(path.read_bytes(), rel=path.name, tz=UTC)
        found[a.title] = a
    return found


@pytest.fixture
def feeds(http_server):
    for name, ctype in (("rss2.xml", "application/rss+xml"), ("rss1.xml", "application/rdf+xml"),
                        ("atom.xml", "application/atom+xml"), ("feed.json", "application/feed+json")):
        http_server.route(f"/{name}", Reply(200, {"Content-Type": ctype}, document(name, http_server)))
    return http_server


def test_rss2_entries_become_article_files(site: Site, feeds):
    setup(site, feeds, source(feeds, "/rss2.xml", "Lab Notes", topics=("Science",)))
    report = ingest(site.settings, now=NOW)
    assert [s.status for s in report.sources] == ["fetched"] and report.sources[0].new == 4
    found = articles(site, "lab-notes")
    a = found["Bold claims about quantum sensors"]  # HTML in titles becomes text
    base = f"http://blog.test:{feeds.port}"
    assert a.original_url == f"{base}/2025/06/quantum-sensors?utm_source=rss&utm_medium=feed"
    assert a.published_at == datetime(2025, 6, 2, 7, 30, tzinfo=UTC)
    assert a.excerpt == "A new sensor design beats the record."
    assert a.published is False and a.topics == ("Science",)
    assert a.provider and a.provider.name == "Lab Notes" and a.provider.domain == "blog.test"
    assert a.images[0].url == f"{base}/img/sensor-thumb.jpg" and a.images[0].width == 320
    assert f'href="{base}/2025/05/earlier"' in a.body and f'src="{base}/img/sensor.png"' in a.body
    assert "<script" not in a.body and "alert" not in a.body
    undated = found["Notes without a date or a guid"]
    assert undated.published_at == NOW  # first seen
    audio = found["Episode 4: listening to the lab"]
    assert audio.enclosure and (audio.enclosure.type, audio.enclosure.length) == ("audio/mpeg", 1234567)
    assert all(a.id.startswith("lab-notes-") for a in found.values())


def test_rdf_atom_and_json_feed(site: Site, feeds):
    setup(site, feeds, source(feeds, "/rss1.xml", "Journal"), source(feeds, "/atom.xml", "Dev Blog"),
          source(feeds, "/feed.json", "JSON Times"))
    ingest(site.settings, now=NOW)
    base = f"http://blog.test:{feeds.port}"
    assert articles(site, "journal")["Journal entry seven"].published_at == datetime(2025, 5, 30, 10, tzinfo=UTC)
    blog = articles(site, "dev-blog")
    release = blog["Release 2.0 is out"]
    assert release.original_url == f"{base}/blog/posts/release-2.html"  # xml:base resolved
    assert release.updated_at == datetime(2025, 6, 3, 10, tzinfo=UTC)
    assert f'href="{base}/blog/changelog.html"' in release.body  # the content's own xml:base
    assert blog["An entry without an id"].original_url == f"{base}/blog/posts/no-id.html"
    jt = articles(site, "json-times")
    assert jt["JSON item one"].original_url == f"{base}/articles/one"
    assert jt["JSON item one"].images[0].url == f"{base}/images/one.png"
    two = jt["Only text here."]
    assert two.enclosure and two.enclosure.length == 4242 and two.published_at == datetime(2025, 6, 1, 8, tzinfo=UTC)


def test_an_entry_is_never_written_twice(site: Site, feeds):
    setup(site, feeds, source(feeds, "/rss2.xml", "Lab Notes"), source(feeds, "/atom.xml", "Dev Blog"))
    ingest(site.settings, now=NOW)
    files = sorted(p.relative_to(site.content) for p in site.content.rglob("*.md"))
    # The shared story (one canonical link, two sources) is written once.
    shared = [p for p in files if b"shared.example/story/42" in (site.content / p).read_bytes()]
    assert len(shared) == 1
    again = ingest(site.settings, now=NOW + timedelta(hours=2), force=True)
    assert sum(s.new for s in again.sources) == 0
    assert sorted(p.relative_to(site.content) for p in site.content.rglob("*.md")) == files


def test_canonical_links():
    assert canonical_link("HTTP://WWW.Example.com:80/a/b/?utm_source=x&b=2&a=1&fbclid=z#top") == \
        canonical_link("https://example.com/a/b?a=1&b=2#top")
    assert canonical_link("https://example.com/a?id=1") != canonical_link("https://example.com/a?id=2")
    # The fragment tells changelog entries apart; only known tracking parameters go.
    assert canonical_link("https://example.com/changes#v1") != canonical_link("https://example.com/changes#v2")
    for kept in ("ref=v2", "referrer=x", "refresh=1", "reference=3"):
        assert canonical_link(f"https://example.com/a?{kept}") != canonical_link("https://example.com/a"), kept
    for dropped in ("utm_medium=x", "gclid=1", "fbclid=2", "mc_eid=3", "ref_src=twsrc"):
        assert canonical_link(f"https://example.com/a?{dropped}") == canonical_link("https://example.com/a"), dropped
    assert canonical_link("https://bücher.example/ä") == canonical_link("https://xn--bcher-kva.example/%C3%A4")


def test_conditional_requests_and_due_times(site: Site, http_server):
    body = document("rss2.xml", http_server)
    seen: list[dict[str, str]] = []

    def conditional(handler):
        seen.append({k.lower(): v for k, v in handler.headers.items()})
        if handler.headers.get("If-None-Match") == '"v1"':
            return Reply(304, {"ETag": '"v1"'})
        return Reply(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"',
                           "Last-Modified": "Tue, 03 Jun 2025 10:00:00 GMT", "Cache-Control": "max-age=7200"}, body)

    http_server.route("/rss2.xml", conditional)
    setup(site, http_server, source(http_server, "/rss2.xml", "Lab Notes"))
    first = ingest(site.settings, now=NOW).sources[0]
    mtimes = {p: p.stat().st_mtime_ns for p in site.content.rglob("*.md")}
    # max-age 7200 wins over the 15 minute minimum and the feed's 60 minute <ttl>.
    assert first.next_fetch == (NOW + timedelta(hours=2)).isoformat()
    assert ingest(site.settings, now=NOW + timedelta(hours=1)).sources[0].status == "not-due"
    assert len(seen) == 1
    second = ingest(site.settings, now=NOW + timedelta(hours=2)).sources[0]
    assert second.status == "not-modified"
    assert seen[1]["if-none-match"] == '"v1"' and seen[1]["if-modified-since"] == "Tue, 03 Jun 2025 10:00:00 GMT"
    assert {p: p.stat().st_mtime_ns for p in site.content.rglob("*.md")} == mtimes


def test_permanent_redirect_moves_the_source_and_410_stops_it(site: Site, http_server):
    body = document("rss1.xml", http_server)
    http_server.route("/old.xml", Reply(301, {"Location": "/new.xml"}))
    http_server.route("/new.xml", Reply(200, {"Content-Type": "application/rdf+xml"}, body))
    http_server.route("/dead.xml", Reply(410))
    setup(site, http_server, source(http_server, "/old.xml", "Journal"), source(http_server, "/dead.xml", "Dead"))
    report = ingest(site.settings, now=NOW)
    journal, dead = report.sources
    assert journal.status == "fetched" and journal.moved_to == f"http://blog.test:{http_server.port}/new.xml"
    assert "moved permanently" in journal.line()
    assert dead.status == "gone" and "no longer polled" in dead.line()
    ingest(site.settings, now=NOW + timedelta(days=3), force=True)
    assert http_server.hits("/old.xml") == {"GET": 1}  # fetched at its new address since
    assert http_server.hits("/new.xml") == {"GET": 2}
    assert http_server.hits("/dead.xml") == {"GET": 1}  # never again


def test_429_with_retry_after_and_exponential_back_off(site: Site, http_server):
    http_server.route("/busy.xml", Reply(429, {"Retry-After": "3600"}))
    http_server.route("/broken.xml", Reply(500))
    setup(site, http_server, source(http_server, "/busy.xml", "Busy"), source(http_server, "/broken.xml", "Broken"))
    busy, broken = ingest(site.settings, now=NOW).sources
    assert busy.status == "error" and busy.next_fetch == (NOW + timedelta(hours=1)).isoformat()
    assert broken.next_fetch == (NOW + timedelta(minutes=15)).isoformat()
    later = NOW + timedelta(minutes=15)
    assert ingest(site.settings, now=later, only="Broken").sources[0].next_fetch == \
        (later + timedelta(minutes=30)).isoformat()  # doubled


def test_one_broken_source_does_not_hold_up_the_others(site: Site, feeds, silent_server):
    import time

    setup(site, feeds, SourceSettings(url=f"http://127.0.0.1:{silent_server.port}/feed", slug="silent",
                                      name="Silent"), source(feeds, "/rss1.xml", "Journal"), timeout=1)
    started = time.monotonic()
    report = ingest(site.settings, now=NOW)
    assert time.monotonic() - started < 3
    assert {s.name: s.status for s in report.sources} == {"Silent": "error", "Journal": "fetched"}
    assert report.sources[0].error == "timeout"


@pytest.mark.parametrize(("body", "error"), [
    (b"<html><body>Not a feed</body></html>", "bad-feed"),
    (b"{ not json", "bad-feed"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
     b'<rss version="2.0"><channel><title>&xxe;</title><item><title>&xxe;</title>'
     b'<link>http://blog.test/x</link></item></channel></rss>', "hostile XML"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;">'
     b'<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
     b'<rss version="2.0"><channel><title>&lol3;</title></channel></rss>', "hostile XML"),
])
def test_bad_and_hostile_documents_are_reported(site: Site, http_server, body, error):
    http_server.route("/bad.xml", Reply(200, {"Content-Type": "application/xml"}, body))
    setup(site, http_server, source(http_server, "/bad.xml", "Bad"))
    [rep] = ingest(site.settings, now=NOW).sources
    assert rep.status == "error" and error in (rep.error or "")
    assert not list(site.content.rglob("*.md"))


def test_oversized_and_compressed_bomb_bodies_are_refused(site: Site, http_server):
    big = b"<rss>" + b"x" * 50_000 + b"</rss>"
    http_server.route("/big.xml", Reply(200, {"Content-Type": "application/xml"}, big))
    bomb = gzip.compress(b"<rss>" + b" " * 5_000_000 + b"</rss>")
    http_server.route("/bomb.xml", Reply(200, {"Content-Type": "application/xml", "Content-Encoding": "gzip"}, bomb))
    setup(site, http_server, source(http_server, "/big.xml", "Big"), source(http_server, "/bomb.xml", "Bomb"),
          max_bytes=20_000)
    assert len(bomb) < 20_000
    report = ingest(site.settings, now=NOW)
    assert [(s.status, s.error) for s in report.sources] == [("error", "too-large"), ("error", "too-large")]


def test_private_addresses_are_not_fetched(site: Site, feeds):
    setup(site, feeds, source(feeds, "/rss2.xml", "Lab Notes"))
    site.configure(links=replace(site.settings.links, allow_private=False))
    [rep] = ingest(site.settings, now=NOW).sources
    assert (rep.status, rep.error) == ("error", "blocked-address")
    assert feeds.hits("/rss2.xml") == {}


def test_filters_and_max_age(site: Site, feeds):
    setup(site, feeds, source(feeds, "/rss2.xml", "Lab Notes", include=("sensor", "episode"),
                              exclude=("episode",), max_age=timedelta(days=5)))
    [rep] = ingest(site.settings, now=NOW).sources
    assert set(articles(site, "lab-notes")) == {"Bold claims about quantum sensors"}
    assert rep.skipped == 3


def test_an_editors_changes_survive_the_sources_updates(site: Site, http_server):
    v1 = document("rss2.xml", http_server)
    current = {"body": v1}
    http_server.route("/rss2.xml", lambda h: Reply(200, {"Content-Type": "application/rss+xml"}, current["body"]))
    setup(site, http_server, source(http_server, "/rss2.xml", "Lab Notes", topics=("Science",)))
    ingest(site.settings, now=NOW)
    path = next(p for p in (site.content / "lab-notes").glob("*.md") if b"lab-notes-1001" in p.read_bytes()
                or b"quantum-sensors" in p.read_bytes())
    text = path.read_text()
    # The editor publishes it, changes its topics and rewrites the title.
    text = text.replace("published: false", "published: true").replace("- Science", "- Physics")
    text = text.replace("title: Bold claims about quantum sensors", "title: Quantum sensors, checked")
    path.write_text(text)
    # The source then edits the story.
    current["body"] = v1.replace(b"Bold&lt;/b&gt; claims", b"Bolder&lt;/b&gt; claims").replace(
        b"beats the record.", b"beats the record again.")
    report = ingest(site.settings, now=NOW + timedelta(hours=3))
    assert report.sources[0].updated == 1
    a = parse_article(path.read_bytes(), rel=path.name, tz=UTC)
    assert a.published is True and a.topics == ("Physics",)  # editorial fields: never overwritten
    assert a.title == "Quantum sensors, checked"  # changed by the editor: kept
    assert a.excerpt == "A new sensor design beats the record again."  # untouched by the editor: updated
    # A deleted file is not brought back.
    path.unlink()
    current["body"] = current["body"].replace(b"again.", b"once more.")
    ingest(site.settings, now=NOW + timedelta(hours=6))
    assert not path.exists()


def test_end_to_end_published_after_an_editor_flips_the_flag(site: Site, feeds, now):
    setup(site, feeds, source(feeds, "/atom.xml", "Dev Blog", topics=("Releases",)))
    ingest(site.settings, now=NOW)
    build(site.settings, now=NOW)
    assert titles(site.output / "rss.xml") == []  # held for review
    path = next(p for p in (site.content / "dev-blog").glob("*.md") if "title: Release 2.0" in p.read_text())
    path.write_text(path.read_text().replace("published: false", "published: true"))
    build(site.settings, now=NOW)
    assert titles(site.output / "topics/releases/rss.xml") == ["Release 2.0 is out"]
    assert not list(site.content.rglob(".feeder-*"))  # written atomically: no temporary files


def test_ingest_command_and_json_report(site: Site, feeds):
    cfg = site.config_file({
        "sources": [{"url": f"http://blog.test:{feeds.port}/rss1.xml", "name": "Journal", "topics": ["Old"]}],
        "links": {"enabled": False, "allow_private": True, "system_dns": False,
                  "hosts": {"blog.test": "127.0.0.1"}},
    })
    proc = run_feeder("ingest", "--json", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    [rep] = json.loads(proc.stdout)["sources"]
    assert (rep["name"], rep["status"], rep["new"]) == ("Journal", "fetched", 1)
    proc = run_feeder("ingest", "--config", str(cfg))
    assert "Journal: not due until" in proc.stdout
    proc = run_feeder("ingest", "--source", "Nope", "--config", str(cfg))
    assert proc.returncode == 2 and "no source named" in proc.stderr
    proc = run_feeder("build", "--ingest", "--config", str(cfg))
    assert proc.returncode == 0 and "feeder: ingest: 1 source" in proc.stdout
    assert os.path.isdir(site.content / "journal")


# -- choosing, not guessing ------------------------------------------------------

def story_feed(server, title: str, link: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>http://blog.test:{server.port}/</link><description>d</description>"
            f"<item><title>{title}: the shared story</title><link>{link}</link>"
            f"<pubDate>Mon, 02 Jun 2025 08:00:00 GMT</pubDate></item></channel></rss>").encode()


def test_the_source_listed_first_keeps_a_shared_story_whichever_answers_first(site: Site, http_server):
    link = "https://news.example/story?utm_source=a"
    # The first-listed source answers last.
    http_server.route("/slow.xml", Reply(200, {"Content-Type": "application/rss+xml"},
                                         story_feed(http_server, "Slow", link), delay=0.5))
    http_server.route("/fast.xml", Reply(200, {"Content-Type": "application/rss+xml"},
                                         story_feed(http_server, "Fast", link + "&fbclid=x")))
    setup(site, http_server, source(http_server, "/slow.xml", "Slow", topics=("A",)),
          source(http_server, "/fast.xml", "Fast", topics=("B",)))
    report = ingest(site.settings, now=NOW)
    assert [(s.name, s.new, s.skipped) for s in report.sources] == [("Slow", 1, 0), ("Fast", 0, 1)]
    assert [p.parent.name for p in site.content.rglob("*.md")] == ["slow"]
    # A later run keeps it where it is, whatever the order now.
    setup(site, http_server, source(http_server, "/fast.xml", "Fast", topics=("B",)),
          source(http_server, "/slow.xml", "Slow", topics=("A",)))
    again = ingest(site.settings, now=NOW + timedelta(hours=1), force=True)
    assert sum(s.new for s in again.sources) == 0
    assert [p.parent.name for p in site.content.rglob("*.md")] == ["slow"]


def test_fragments_and_meaningful_parameters_tell_entries_apart(site: Site, http_server):
    items = "".join(f"<item><title>Release {v}</title><link>https://example.org/changes{suffix}</link></item>"
                    for v, suffix in (("1", "#v1"), ("2", "#v2"), ("3", "?ref=v3"), ("3 again", "?ref=v3&utm_x=1")))
    http_server.route("/changes.xml", Reply(200, {"Content-Type": "application/rss+xml"}, (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>C</title><link>https://example.org/</link>'
        f"<description>d</description>{items}</channel></rss>").encode()))
    setup(site, http_server, source(http_server, "/changes.xml", "Changes"))
    [rep] = ingest(site.settings, now=NOW).sources
    assert (rep.new, rep.skipped) == (3, 1)
    assert sorted(articles(site, "changes")) == ["Release 1", "Release 2", "Release 3"]


def test_the_same_ingest_twice_from_scratch_gives_identical_folders(tmp_path: Path, feeds, new_state):
    folders = []
    for run in ("one", "two"):
        new_state()
        site = Site(tmp_path / run)
        setup(site, feeds, source(feeds, "/rss2.xml", "Lab Notes"), source(feeds, "/atom.xml", "Dev Blog"),
              source(feeds, "/feed.json", "JSON Times"), source(feeds, "/rss1.xml", "Journal"))
        ingest(site.settings, now=NOW)
        folders.append({p.relative_to(site.content).as_posix(): p.read_bytes()
                        for p in sorted(site.content.rglob("*")) if p.is_file()})
    assert folders[0] and folders[0] == folders[1]


def test_a_source_without_a_name_is_reported_by_its_url(site: Site, http_server):
    http_server.route("/broken.xml", Reply(200, {"Content-Type": "application/rss+xml"}, (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>B</title><link>https://example.org/</link>'
        b"<description>d</description><item><title>A & B</title><link>https://example.org/a</link></item>"
        b"</channel></rss>")))
    url = f"http://blog.test:{http_server.port}/broken.xml"
    cfg = site.config_file({"sources": [{"url": url}],
                            "links": {"enabled": False, "allow_private": True, "system_dns": False,
                                      "hosts": {"blog.test": "127.0.0.1"}}})
    proc = run_feeder("ingest", "-v", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    assert any(f"{url}: fetched: 1 new" in line for line in lines), lines
    assert not [line for line in lines if line.strip().startswith(":") or ": : " in line], lines
    # Malformed, though its entry was recovered and written: reported with the parser's message and line.
    assert f"{url}: fetched: 1 new, 0 updated; problems: malformed XML at line 1" in proc.stderr
    data = json.loads(run_feeder("ingest", "--json", "--force", "--config", str(cfg)).stdout)
    [rep] = data["sources"]
    assert rep["name"] == url and rep["problems"][0].startswith("malformed XML at line 1, column ")


def test_offline_ingest_says_network_down_and_exits_6(site: Site, tmp_path: Path):
    cfg = site.config_file({"sources": [{"url": "https://feeds.example.org/a.xml", "name": "A"},
                                        {"url": "https://other.example.net/b.xml"}],
                            "timezone": "Europe/Berlin",
                            "links": {"enabled": False, "system_dns": False, "hosts": {}}})
    proc = run_feeder("ingest", "--config", str(cfg))
    assert proc.returncode == 6, proc.stderr
    assert "nxdomain" not in proc.stdout + proc.stderr
    assert proc.stderr.count("the network is down") == 1
    assert "A: error: network-down (next try after 2" in proc.stderr
    # To the second, in the configured time zone.
    import re
    assert re.search(r"next try after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0[12]:00\)", proc.stderr), proc.stderr
    data = json.loads(run_feeder("ingest", "--json", "--force", "--config", str(cfg)).stdout)
    assert data["network_down"] and data["all_failed"]
    assert {s["error"] for s in data["sources"]} == {"network-down"}


def test_ingest_without_sources_says_how_to_add_one(site: Site):
    proc = run_feeder("ingest", "--config", str(site.config_file()))
    assert proc.returncode == 0
    assert "no sources to follow: add a 'sources' list to" in proc.stderr and "README" in proc.stderr


def test_round_trip_says_exactly_what_the_source_said(site: Site, http_server):
    """An entry with markup-like text, ampersands, quotes, a non-ASCII URL and a fragment
    goes through ingest and build and reads the same in every format."""
    import lxml.html

    title = 'Tom & Jerry say "hi" about <vector<int>> & the <blink> tag'
    link = "https://bücher.example/straße?q=1&x=ä#teil-2"
    uri = "https://xn--bcher-kva.example/stra%C3%9Fe?q=1&x=%C3%A4#teil-2"
    escaped_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    http_server.route("/rt.xml", Reply(200, {"Content-Type": "application/atom+xml"}, (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>RT</title>'
        "<id>urn:rt</id><updated>2025-06-02T08:00:00Z</updated>"
        f'<entry><id>urn:rt:1</id><title type="text">{escaped_title}</title><link href="{link}"/>'
        "<updated>2025-06-02T08:00:00Z</updated>"
        '<summary type="text">A &lt;b&gt; that is text &amp; "quoted"</summary>'
        '<content type="html">&lt;p&gt;First.&lt;/p&gt;&lt;p&gt;Second &amp;amp; last.&lt;/p&gt;</content>'
        "</entry></feed>").encode()))
    setup(site, http_server, source(http_server, "/rt.xml", "Round Trip", publish=True, topics=("Tests",)))
    ingest(site.settings, now=NOW)
    build(site.settings, now=NOW)
    summary = 'A <b> that is text & "quoted"'
    for name in ("rss.xml", "atom.xml"):
        [e] = parse_feed(site.output / name).entries
        assert e.title == title, name
        assert e.link == uri, name
        assert html_text(e.summary) == summary, name
        assert html_text(e.content[0].value).startswith("First. Second & last."), name
    [item] = json.loads((site.output / "feed.json").read_bytes())["items"]
    assert (item["title"], item["url"], item["summary"]) == (title, uri, summary)
    page = lxml.html.fromstring((site.output / "index.html").read_bytes())
    assert title in page.text_content()
    assert uri in [a.get("href") for a in page.iter("a")]


def html_text(fragment: str) -> str:
    from feeder.text import html_to_text

    return html_to_text(fragment)
