"""`feeder sources`: discovering a site's feed, OPML import and export as
feed readers write them, the sources file edited with its comments kept,
and a running daemon picking up what `sources add` saved."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from feeder.config import load_config
from feeder.ingest.discover import common_candidates, feed_links, is_feed, is_html
from feeder.ingest.opml import BadOpml, Outline, read_opml, write_opml
from feeder.ingest.sourcefile import add_sources, remove_source

from conftest import ROOT, Site, run_feeder, wait_until
from httpserver import Reply

OPML = ROOT / "tests" / "data" / "opml"
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Example Blog</title>
<link>https://blog.example.org/</link><description>d</description>
<item><title>One</title><link>https://blog.example.org/1</link><guid>https://blog.example.org/1</guid>
<pubDate>Mon, 01 Dec 2025 10:00:00 GMT</pubDate></item>
<item><title>Two</title><link>https://blog.example.org/2</link><guid>https://blog.example.org/2</guid>
<pubDate>Tue, 02 Dec 2025 10:00:00 GMT</pubDate></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Example Atom</title><id>urn:x</id><updated>2025-12-03T00:00:00Z</updated>
<entry><title>A</title><id>urn:a</id><link href="https://blog.example.org/a"/><updated>2025-12-03T00:00:00Z</updated>
</entry></feed>"""
JSONFEED = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Example JSON",
                       "items": [{"id": "1", "url": "https://blog.example.org/j1", "title": "J"}]}).encode()
XML = {"Content-Type": "application/rss+xml"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(*links: str, base: str = "") -> bytes:
    head = f'<base href="{base}">' if base else ""
    return (f"<!DOCTYPE html><html><head><title>Blog</title>{head}{''.join(links)}</head>"
            "<body><p>Hello</p></body></html>").encode()


# -- discovery: pure ------------------------------------------------------------------------------------------

@pytest.mark.no_state
def test_a_page_names_its_feeds_rss_first_relative_links_resolved():
    html = page('<link rel="alternate" type="application/atom+xml" href="/atom.xml" title="Atom">',
                '<link rel="stylesheet" href="/style.css">',
                '<link rel="alternate" type="application/feed+json" href="feed.json">',
                '<link rel="alternate" type="application/rss+xml" href="https://cdn.example.org/rss" title="RSS ">',
                '<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">',
                '<link rel="Alternate" type="application/rss+xml" href="https://cdn.example.org/rss">')
    found = feed_links(html, "https://blog.example.org/posts/")
    assert [(f.kind, f.url, f.title) for f in found] == [
        ("rss", "https://cdn.example.org/rss", "RSS"),
        ("atom", "https://blog.example.org/atom.xml", "Atom"),
        ("json", "https://blog.example.org/posts/feed.json", ""),
    ]


@pytest.mark.no_state
def test_discovery_follows_base_href_and_ignores_what_is_no_feed():
    html = page('<link rel="alternate" type="application/rss+xml" href="rss.xml">', base="https://other.example/b/")
    assert [f.url for f in feed_links(html, "https://blog.example.org/")] == ["https://other.example/b/rss.xml"]
    assert feed_links(page('<link rel="alternate" type="application/rss+xml" href="javascript:x()">'),
                      "https://a.example/") == []
    assert feed_links(b"", "https://a.example/") == []
    assert feed_links(b"\x00\xff garbage", "https://a.example/") == []
    assert common_candidates("https://blog.example.org/a/b?c")[:4] == [
        "https://blog.example.org/feed", "https://blog.example.org/rss.xml", "https://blog.example.org/atom.xml",
        "https://blog.example.org/index.xml"]


@pytest.mark.no_state
def test_pages_and_feeds_are_told_apart():
    assert is_html("text/html; charset=utf-8", b"<rss")
    assert is_html("", b"  <!DOCTYPE html><html>")
    assert not is_html("application/rss+xml", RSS)
    assert is_feed("application/xml", RSS) and is_feed("", ATOM) and is_feed("application/feed+json", JSONFEED)
    assert not is_feed("text/html", page())


# -- OPML: pure -------------------------------------------------------------------------------------------------

@pytest.mark.no_state
@pytest.mark.parametrize(("name", "expected"), [
    ("miniflux.opml", [("https://www.debian.org/News/news", "Debian News", ()),
                       ("https://jvns.ca/atom.xml", "Julia Evans", ("Blog - Tech",)),
                       ("https://blog.rust-lang.org/feed.xml", "Rust Blog", ("Blog - Tech",))]),
    ("freshrss.opml", [("https://github.com/FreshRSS/FreshRSS/releases.atom", "FreshRSS releases", ()),
                       ("http://www.nature.com/nature/current_issue/rss", "Nature", ("Science",))]),
    ("netnewswire.opml", [("http://daringfireball.net/index.xml", "Daring Fireball", ()),
                          ("https://nnw.ranchero.com/feed.json", "NetNewsWire News", ("Apple",)),
                          ("http://topics.nytimes.com/top/news/international/countriesandterritories/vietnam/"
                           "?rss=1", "NYT > Vietnam", ("Apple",))]),
    ("feedly.opml", [("https://news.ycombinator.com/rss", "Hacker News", ("Tech",)),
                     ("http://feeds.feedburner.com/ruanyifeng", "阮一峰的网络日志", ("Tech",)),
                     ("http://feeds.feedburner.com/HighScalability", "High Scalability", ("Every Day",)),
                     ("https://news.ycombinator.com/rss", "Hacker News", ("Every Day",))]),
    ("inoreader.opml", [("http://cdc.tencent.com/feed/", "腾讯CDC", ("Design",)),
                        ("http://www.rologo.com/feed", "Rologo 标志共和国", ("Design",)),
                        ("https://ilovetypography.com/feed/", "I Love Typography", ("Design", "Typography"))]),
])
def test_each_readers_export_is_read(name, expected):
    found = read_opml((OPML / name).read_bytes())
    assert [(o.url, o.title, o.categories) for o in found] == expected


@pytest.mark.no_state
@pytest.mark.parametrize(("data", "message"), [
    (b"<opml><body><outline xmlUrl='x'", "not well-formed XML"),
    (b"<rss version='2.0'/>", "not an OPML document"),
    (b"<opml version='2.0'><head/></opml>", "without a <body>"),
    (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]><opml><body>&a;</body></opml>', "entity"),
    (b"", "not well-formed XML"),
])
def test_broken_opml_is_one_clear_line(data, message):
    with pytest.raises(BadOpml, match=message) as caught:
        read_opml(data)
    assert "\n" not in str(caught.value)


@pytest.mark.no_state
def test_export_reads_back_the_same():
    outlines = [Outline("https://a.example/feed", "A & B", "https://a.example/", ("AI", "Tech/News")),
                Outline("https://b.example/rss", "", "", ()),
                Outline("https://c.example/atom", "C", "", ("AI",))]
    data = write_opml(outlines, "Site: followed feeds")
    again = read_opml(data)
    # Grouped in a folder by first topic: the AI ones together.
    assert [(o.url, o.html_url, o.categories) for o in again] == [
        ("https://a.example/feed", "https://a.example/", ("AI", "Tech News")),
        ("https://c.example/atom", "", ("AI",)), ("https://b.example/rss", "", ())]
    assert again[0].title == "A & B" and again[2].title == "b.example"
    assert write_opml(outlines, "Site: followed feeds") == data  # no date: the same bytes


# -- the sources file -------------------------------------------------------------------------------------------

@pytest.mark.no_state
def test_editing_keeps_every_comment_outside_the_changed_entries(tmp_path: Path):
    path = tmp_path / "sources.yaml"
    original = ("# Our sources, reviewed every quarter.\n"
                "- url: https://a.example/feed   # the main one\n"
                "  name: A\n"
                "  topics: [AI]      # flow style stays\n"
                "\n"
                "# Science\n"
                "- url: \"https://b.example/rss\"\n"
                "  name: 'B'\n")
    path.write_text(original)
    add_sources(path, [{"url": "https://c.example/atom", "name": "C", "publish": False}])
    text = path.read_text()
    assert text.startswith(original)  # byte for byte
    assert [e["name"] for e in yaml.safe_load(text)] == ["A", "B", "C"]
    removed = remove_source(path, lambda e: e["name"] == "B")
    assert removed == {"url": "https://b.example/rss", "name": "B"}
    text = path.read_text()
    assert "# Our sources, reviewed every quarter.\n- url: https://a.example/feed   # the main one\n" in text
    assert "  topics: [AI]      # flow style stays\n" in text
    assert [e["name"] for e in yaml.safe_load(text)] == ["A", "C"]
    assert remove_source(path, lambda e: False) is None


# -- the commands ---------------------------------------------------------------------------------------------

def config(site: Site, **extra) -> Path:
    return site.config_file({"links": {"enabled": False, "allow_private": True}, **extra})


def sources_of(cfg: Path) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(s.url, s.name, s.topics) for s in load_config(cfg).sources]


def test_add_discovers_the_feed_a_page_names_and_saves_it(site: Site, http_server):
    http_server.route("/", Reply(200, HTML, page(
        '<link rel="alternate" type="application/atom+xml" href="/atom.xml">',
        '<link rel="alternate" type="application/rss+xml" href="/feed.rss" title="Posts">')))
    http_server.route("/feed.rss", Reply(200, XML, RSS))
    http_server.route("/atom.xml", Reply(200, {"Content-Type": "application/atom+xml"}, ATOM))
    cfg = config(site)
    done = run_feeder("sources", "add", http_server.url("/"), "--topic", "AI", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "names 2 feeds" in done.stdout and "Example Blog: 2 entries, newest 2025-12-02" in done.stdout
    assert sources_of(cfg) == [(http_server.url("/feed.rss"), "Example Blog", ("AI",))]
    assert (site.root / "sources.yaml").read_text().startswith("# Feeds feeder follows")
    # The same feed again, by another spelling of its address: refused.
    again = run_feeder("sources", "add", http_server.url("/feed.rss/"), "--config", str(cfg))
    assert again.returncode == 2 and "already followed as Example Blog" in again.stderr
    # --pick takes the other one.
    done = run_feeder("sources", "add", http_server.url("/"), "--pick", "2", "--name", "Atom side",
                      "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert sources_of(cfg)[1] == (http_server.url("/atom.xml"), "Atom side", ())
    bad = run_feeder("sources", "add", http_server.url("/"), "--pick", "3", "--config", str(cfg))
    assert bad.returncode != 0 and "names 2 feed(s)" in bad.stderr


def test_add_takes_a_feed_itself_and_tries_the_usual_paths_for_a_page_naming_none(site: Site, http_server):
    http_server.route("/feed.json", Reply(200, {"Content-Type": "application/feed+json"}, JSONFEED))
    cfg = config(site)
    done = run_feeder("sources", "add", http_server.url("/feed.json"), "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "Example JSON: 1 entries" in done.stdout
    http_server.route("/blog/", Reply(200, HTML, page()))
    http_server.route("/index.xml", Reply(200, {"Content-Type": "application/xml"}, RSS))
    done = run_feeder("sources", "add", http_server.url("/blog/"), "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert f"found one at {http_server.url('/index.xml')}" in done.stdout
    assert [u for u, _, _ in sources_of(cfg)] == [http_server.url("/feed.json"), http_server.url("/index.xml")]


@pytest.mark.parametrize(("route", "reply", "message"), [
    ("/", Reply(200, HTML, page()), "names no feed"),  # and no usual path answers
    ("/", Reply(404, HTML, b"<html><body>Not found</body></html>"), "answered HTTP 404"),
    ("/", Reply(200, {"Content-Type": "application/xml"}, b"<html><body>oops</body></html>"),
     "not a feed feeder can read"),
])
def test_add_refuses_what_is_no_feed_and_saves_nothing(site: Site, http_server, route, reply, message):
    http_server.route(route, reply)
    cfg = config(site)
    done = run_feeder("sources", "add", http_server.url("/"), "--config", str(cfg))
    assert done.returncode == 6, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (site.root / "sources.yaml").exists()


def test_add_goes_through_the_address_guard(site: Site, http_server):
    http_server.route("/feed.rss", Reply(200, XML, RSS))
    cfg = site.config_file({"links": {"enabled": False}})  # private addresses refused
    done = run_feeder("sources", "add", http_server.url("/feed.rss"), "--config", str(cfg))
    assert done.returncode == 6 and "blocked" in done.stderr
    assert http_server.hits() == {}


def test_import_every_readers_export_skipping_duplicates(site: Site):
    cfg = config(site)
    counts = {}
    for name in ("miniflux.opml", "freshrss.opml", "netnewswire.opml", "feedly.opml", "inoreader.opml"):
        done = run_feeder("sources", "import", str(OPML / name), "--config", str(cfg))
        assert done.returncode == 0, done.stderr
        counts[name] = done.stdout.strip().splitlines()[-1]
    assert "imported 3 of 3" in counts["miniflux.opml"]
    assert "imported 3 of 3" in counts["feedly.opml"]  # Hacker News is in two folders: one source
    followed = {u: (n, t) for u, n, t in sources_of(cfg)}
    assert len(followed) == 14
    assert followed["https://news.ycombinator.com/rss"] == ("Hacker News", ("Tech", "Every Day"))
    assert followed["https://ilovetypography.com/feed/"] == ("I Love Typography", ("Design", "Typography"))
    assert followed["https://github.com/FreshRSS/FreshRSS/releases.atom"][1] == ()
    # Importing the same file again adds nothing, and says so.
    done = run_feeder("sources", "import", str(OPML / "inoreader.opml"), "--topic", "Other", "--config", str(cfg))
    assert "imported 0 of 3" in done.stdout and "3 already followed" in done.stdout
    assert done.stdout.count("skipped") == 3
    assert len(sources_of(cfg)) == 14


def test_import_with_topic_and_publish(site: Site):
    cfg = config(site)
    done = run_feeder("sources", "import", str(OPML / "inoreader.opml"), "--topic", "Design", "--topic", "Asia",
                      "--publish", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    settings = load_config(cfg)
    assert all(s.topics == ("Design", "Asia") and s.publish for s in settings.sources)


def test_broken_opml_is_one_line_and_changes_nothing(site: Site, tmp_path: Path):
    cfg = config(site)
    bad = tmp_path / "bad.opml"
    bad.write_bytes(b"<opml><body><outline xmlUrl='https://a.example/'")
    done = run_feeder("sources", "import", str(bad), "--config", str(cfg))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "bad.opml: not well-formed XML" in done.stderr
    assert not (site.root / "sources.yaml").exists()


def test_export_is_read_by_import_again_with_no_change(site: Site, tmp_path: Path):
    cfg = config(site)
    run_feeder("sources", "import", str(OPML / "feedly.opml"), "--config", str(cfg))
    out = tmp_path / "export.opml"
    done = run_feeder("sources", "export", "--output", str(out), "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    outlines = read_opml(out.read_bytes())
    assert [(o.url, o.title, o.categories) for o in outlines] == [
        ("https://news.ycombinator.com/rss", "Hacker News", ("Tech", "Every Day")),
        ("http://feeds.feedburner.com/ruanyifeng", "阮一峰的网络日志", ("Tech",)),
        ("http://feeds.feedburner.com/HighScalability", "High Scalability", ("Every Day",))]
    before = (site.root / "sources.yaml").read_bytes()
    again = run_feeder("sources", "import", str(out), "--config", str(cfg))
    assert "imported 0 of 3" in again.stdout
    assert (site.root / "sources.yaml").read_bytes() == before
    # To standard output too.
    assert run_feeder("sources", "export", "--config", str(cfg)).stdout.encode() == out.read_bytes()


def test_list_and_remove(site: Site, http_server):
    http_server.route("/feed.rss", Reply(200, XML, RSS))
    cfg = site.config_file({"links": {"enabled": False, "allow_private": True},
                            "sources": [{"url": "https://configured.example/feed", "name": "Configured"}]})
    run_feeder("sources", "add", http_server.url("/feed.rss"), "--name", "Blog", "--config", str(cfg))
    listed = json.loads(run_feeder("sources", "list", "--json", "--config", str(cfg)).stdout)
    assert [(s["name"], s["in"], s["last_fetch"]) for s in listed] == [
        ("Configured", "configuration", None), ("Blog", "sources file", None)]
    run_feeder("ingest", "--source", "Blog", "--config", str(cfg))
    listed = json.loads(run_feeder("sources", "list", "--json", "--config", str(cfg)).stdout)
    blog = listed[1]
    assert blog["outcome"] == "ok" and blog["last_fetch"] and blog["next_fetch"] and blog["title"] == "Example Blog"
    text = run_feeder("sources", "list", "--config", str(cfg)).stdout
    assert "Blog: http://127.0.0.1" in text and "last fetch" in text
    refused = run_feeder("sources", "remove", "Configured", "--config", str(cfg))
    assert refused.returncode == 2 and "remove it there" in refused.stderr
    assert run_feeder("sources", "remove", "Nobody", "--config", str(cfg)).returncode == 2
    done = run_feeder("sources", "remove", "Blog", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert [n for _, n, _ in sources_of(cfg)] == ["Configured"]


def test_a_running_daemon_picks_up_sources_add(site: Site, http_server, daemons):
    http_server.route("/feed.rss", Reply(200, XML, RSS))
    cfg = config(site, schedule={"rescan": "1h", "ingest": "2s", "watch": True})
    d = daemons(cfg, site.root / "daemon.log")
    wait_until(lambda: "feeder daemon started" in d.text(), 20, "the daemon")
    started = time.monotonic()
    done = run_feeder("sources", "add", http_server.url("/feed.rss"), "--name", "Blog", "--publish",
                      "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    wait_until(lambda: "sources.yaml changed: reloading" in d.text(), 15, "the reload")
    # Fetched at its next ingest round, and its entries published.
    wait_until(lambda: b"blog.example.org/2" in (site.output / "rss.xml").read_bytes(), 30, "the entries")
    assert time.monotonic() - started < 30
    assert d.stop() == 0
