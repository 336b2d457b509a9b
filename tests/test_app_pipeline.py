"""End to end: build a temporary content folder and read every output back."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from feeder.app.pipeline import build
from feeder.model import item_id
from feeder.text import html_to_text

from conftest import SECRET, SEED, Site, article_text, good_fields, validate_atom
from feeds import ids, parse_feed, titles

BAD_FILES: dict[str, bytes | str] = {
    "bad/broken-yaml.txt": "---\ntitle: [unclosed\npublished: true\n---\n",
    "bad/no-title.txt": article_text(**good_fields(90, title=None)),
    "bad/published-yes.txt": article_text(**good_fields(91, published="yes")),
    "bad/not-a-url.md": article_text(**good_fields(92, originalUrl="www.example.org/x")),
    "bad/latin1.txt": "---\ntitle: caf\xe9\npublished: true\n---\n".encode("latin-1"),
    "bad/binary.txt": bytes(range(256)) * 4,
    "bad/huge.txt": article_text("x" * 2_000_000, **good_fields(93)),
    "bad/no-front-matter.md": "# Just markdown\n",
    "bad/python-tag.txt": "---\ntitle: !!python/object/apply:os.getcwd []\npublished: true\n---\n",
    "bad/duplicate-key.txt": "---\ntitle: a\ntitle: b\npublished: true\n---\n",
}


def test_only_published_past_articles_newest_first(site: Site, now: datetime):
    site.article("a.txt", **good_fields(1, publishedDateTime=now - timedelta(days=3)))
    site.article("b.txt", **good_fields(2, publishedDateTime=now - timedelta(days=1)))
    site.article("c.txt", **good_fields(3, publishedDateTime=now - timedelta(days=2), published=False))
    site.article("d.txt", **good_fields(4, publishedDateTime=now + timedelta(minutes=1)))
    report = build(site.settings, now=now)
    assert (report.files, report.articles, report.published, report.skipped) == (4, 4, 2, [])
    for path in (site.output / "rss.xml", site.output / "atom.xml", site.output / "topics/ai/rss.xml"):
        assert titles(path) == ["Article number 2", "Article number 1"]
    # The future article appears on the first build after its time.
    build(site.settings, now=now + timedelta(minutes=2))
    assert titles(site.output / "rss.xml")[0] == "Article number 4"


def test_max_items_keeps_the_newest(site: Site, now: datetime):
    for n in range(12):
        site.article(f"{n:02d}.txt", **good_fields(n, publishedDateTime=now - timedelta(hours=n)))
    build(site.configure(max_items=5), now=now)
    assert titles(site.output / "atom.xml") == [f"Article number {n}" for n in range(5)]


def test_every_output_parses_and_atom_is_schema_valid(site: Site, now: datetime):
    site.write("seed.txt", SEED.read_text().replace("published: false", "published: true"))
    site.article("body.md", "# Heading\n\nSome *body* with [a link](/rel) and <script>alert(1)</script>.\n",
                 **good_fields(2, topics=["AI", "Space"], images=[{"url": "https://img.example.org/a.jpg",
                                                                   "width": 640, "height": 480}]))
    build(site.settings, now=now)
    outputs = sorted(site.output.rglob("*.xml"))
    assert {p.relative_to(site.output).as_posix() for p in outputs} == {
        "rss.xml", "atom.xml", "topics/ai/rss.xml", "topics/ai/atom.xml",
        "topics/space/rss.xml", "topics/space/atom.xml",
    }
    for path in outputs:
        parse_feed(path)
    validate_atom([p for p in outputs if p.name == "atom.xml"])
    etree.fromstring((site.output / "index.opml").read_bytes())


def test_item_fields(site: Site, now: datetime):
    site.article("x/story.md", "Body with [link](more.html).\n", **good_fields(
        5, id="story-5", topics=["AI", "Space"], updatedDateTime=datetime(2024, 2, 1, tzinfo=timezone.utc),
        images=[{"url": "https://img.example.org/a.png", "width": 640, "height": 480}],
        related=[{"title": "Other <b>story</b>", "webUrl": "https://other.example.org/s",
                  "provider": {"name": "Other"}}],
    ))
    build(site.settings, now=now)
    rss = parse_feed(site.output / "rss.xml")
    atom = parse_feed(site.output / "atom.xml")
    for feed in (rss, atom):
        [e] = feed.entries
        assert e.id == item_id("story-5")
        assert e.link == "https://news.example.org/5"
        assert e.published_parsed[:3] == (2024, 1, 6)
        assert e.summary == "Excerpt of article 5."
        assert {t.term for t in e.tags} == {"AI", "Space"}
        assert e.media_content[0]["url"] == "https://img.example.org/a.png"
        assert e.media_content[0]["width"] == "640"
        html = e.content[0].value
        assert 'href="https://news.example.org/more.html"' in html
        # A related title is text: its markup shows literally, it is never markup
        assert 'href="https://other.example.org/s"' in html and "Other &lt;b&gt;story&lt;/b&gt;" in html
        assert "<b>" not in html
    assert atom.entries[0].updated_parsed[:3] == (2024, 2, 1)
    assert atom.entries[0].author == "Example Wire"
    assert rss.entries[0].author == "Example Wire"  # dc:creator
    assert rss.feed.link == "https://example.net/"
    assert rss.feed.title == "Test Site"
    links = {ln.rel: ln.href for ln in atom.feed.links}
    assert links == {"self": "https://feeds.example.net/news/atom.xml", "alternate": "https://example.net/"}
    rss_self = etree.fromstring((site.output / "rss.xml").read_bytes()).find(
        "channel/{http://www.w3.org/2005/Atom}link")
    assert rss_self.get("href") == "https://feeds.example.net/news/rss.xml"
    guid = etree.fromstring((site.output / "rss.xml").read_bytes()).find("channel/item/guid")
    assert guid.get("isPermaLink") == "false"


def test_every_url_is_absolute(site: Site, now: datetime):
    site.article("a.md", "[x](../up) ![i](i.png)", **good_fields(1))
    build(site.settings, now=now)
    feed = json.loads((site.output / "feed.json").read_bytes())
    assert feed["feed_url"].startswith("https://") and feed["home_page_url"].startswith("https://")
    assert 'href="https://news.example.org/up"' in feed["items"][0]["content_html"]
    page = etree.fromstring((site.output / "index.html").read_bytes(), etree.HTMLParser())
    for el in page.iter():
        if el.get("href"):  # data:, is the empty favicon that spares a request
            assert el.get("href").startswith(("https://", "data:,")), el.get("href")
    for path in [*site.output.rglob("*.xml"), *site.output.rglob("*.opml")]:
        root = etree.fromstring(path.read_bytes())
        for el in root.iter():
            for attr in ("href", "url", "src", "xmlUrl", "htmlUrl"):
                if el.get(attr):
                    assert el.get(attr).startswith(("https://", "http://")), (path, el.tag, el.get(attr))
        for html in root.iter("{*}encoded", "{*}content", "content"):
            if html.text:
                frag = etree.fromstring(f"<div>{html.text}</div>", etree.HTMLParser())
                for el in frag.iter():
                    for attr in ("href", "src"):
                        if el.get(attr):
                            assert el.get(attr).startswith("https://"), el.get(attr)


def test_feed_dates_come_from_items_and_rebuild_is_byte_identical(site: Site, now: datetime):
    for n in range(3):
        site.article(f"{n}.txt", **good_fields(n))
    build(site.settings, now=now)
    first = site.outputs()
    mtimes = {p: p.stat().st_mtime_ns for p in site.output.rglob("*") if p.is_file()}
    report = build(site.settings, now=now + timedelta(days=30))
    assert site.outputs() == first
    assert report.written == []
    assert {p: p.stat().st_mtime_ns for p in site.output.rglob("*") if p.is_file()} == mtimes
    atom = parse_feed(site.output / "atom.xml")
    assert atom.feed.updated_parsed[:3] == (2024, 1, 3)  # the newest item's date, not the clock


def test_ids_are_stable_across_builds_and_moves(site: Site, now: datetime):
    path = site.article("story_1.txt", **good_fields(1))
    site.article("nested/story_2.md", **good_fields(2))
    build(site.settings, now=now)
    before = ids(site.output / "rss.xml")
    dest = site.content / "deep" / "er" / "story_1.txt"
    dest.parent.mkdir(parents=True)
    shutil.move(path, dest)
    build(site.settings, now=now)
    assert ids(site.output / "rss.xml") == before
    assert ids(site.output / "atom.xml") == before
    assert before == [item_id("story_2"), item_id("story_1")]


def test_secured_never_reaches_any_output(site: Site, now: datetime):
    site.write("seed.txt", SEED.read_text().replace("published: false", "published: true"))
    site.article("b.txt", **good_fields(2))
    build(site.settings, now=now)
    secret_from_seed = SEED.read_text().split('secured: "')[1].split(";")[0]
    for data in site.outputs().values():
        assert SECRET.encode() not in data
        assert secret_from_seed[:40].encode() not in data


def test_bad_files_are_reported_and_good_ones_published(site: Site, now: datetime):
    site.article("good/one.txt", **good_fields(1))
    site.article("good/two.md", **good_fields(2))
    for rel, data in BAD_FILES.items():
        site.write(rel, data)
    report = build(site.settings, now=now)
    assert titles(site.output / "rss.xml") == ["Article number 2", "Article number 1"]
    reported = {p.path: p.problem for p in report.skipped}
    assert set(reported) == set(BAD_FILES)
    assert reported["bad/broken-yaml.txt"].startswith("invalid YAML at line 3, column 10:")
    assert reported["bad/no-title.txt"] == "field 'title' must not be empty"
    assert "'published' must be true or false" in reported["bad/published-yes.txt"]
    assert "originalUrl" in reported["bad/not-a-url.md"]
    assert "not UTF-8" in reported["bad/latin1.txt"]
    assert "binary" in reported["bad/binary.txt"]
    assert "over the limit" in reported["bad/huge.txt"]
    assert "no YAML front-matter" in reported["bad/no-front-matter.md"]
    assert reported["bad/python-tag.txt"] == ("field 'title' must be text, not a list; "  # every problem at once
                                              "field 'publishedDateTime' is required; field 'originalUrl' is required")
    assert "is given a second time" in reported["bad/duplicate-key.txt"]
    for problem in reported.values():
        assert SECRET not in problem


def test_duplicate_ids_are_reported_once_published_once(site: Site, now: datetime):
    site.article("a/same.txt", **good_fields(1))
    site.article("b/same.md", **good_fields(2))
    report = build(site.settings, now=now)
    assert len(ids(site.output / "rss.xml")) == 1
    assert [(p.path, "already used by a/same.txt" in p.problem) for p in report.skipped] == [("b/same.md", True)]


@pytest.mark.parametrize("topic", ["../../etc", "CON", "", "x" * 300, "/abs/path", "..", "a/../../b", "%2e%2e"])
def test_hostile_topic_names_stay_inside_the_output_folder(site: Site, now: datetime, topic: str):
    site.article("a.txt", **good_fields(1, topics=[topic, "AI"]))
    build(site.settings, now=now)
    out = os.path.realpath(site.output)
    for path in site.root.rglob("*"):
        if path.is_file() and path.suffix in (".xml", ".opml"):
            assert os.path.realpath(path).startswith(out + os.sep), path
    for path in site.output.rglob("*.xml"):
        parse_feed(path)
        assert len(path.parent.name) <= 80


def test_topic_whose_articles_are_unpublished_keeps_an_empty_valid_feed(site: Site, now: datetime):
    path = site.article("a.txt", **good_fields(1, topics=["Space"]))
    build(site.settings, now=now)
    assert len(titles(site.output / "topics/space/rss.xml")) == 1
    path.write_text(article_text(**good_fields(1, topics=["Space"], published=False)))
    build(site.settings, now=now)
    for fmt in ("rss", "atom"):
        assert titles(site.output / f"topics/space/{fmt}.xml") == []
    validate_atom([site.output / "topics/space/atom.xml"])
    path.unlink()
    build(site.settings, now=now)
    assert (site.output / "topics/space/rss.xml").exists()
    assert b"topics/space/rss.xml" in (site.output / "index.opml").read_bytes()


def test_unpublished_topic_names_do_not_leak(site: Site, now: datetime):
    site.article("a.txt", **good_fields(1, topics=["Secret Merger"], published=False))
    site.article("b.txt", **good_fields(2))
    build(site.settings, now=now)
    for data in site.outputs().values():
        assert b"Secret Merger" not in data and b"secret-merger" not in data


def test_opml_lists_every_feed_with_absolute_urls(site: Site, now: datetime):
    site.article("a.txt", **good_fields(1, topics=["AI", "Space"]))
    build(site.settings, now=now)
    root = etree.fromstring((site.output / "index.opml").read_bytes())
    assert root.get("version") == "2.0"
    urls = {o.get("xmlUrl"): o.get("title") for o in root.iter("outline") if o.get("xmlUrl")}
    base = "https://feeds.example.net/news/"
    assert urls == {
        f"{base}{folder}{name}": title
        for folder, title in (("", "Test Site"), ("topics/ai/", "Test Site: AI"), ("topics/space/", "Test Site: Space"))
        for name in ("rss.xml", "atom.xml", "feed.json")
    }


def _markup_elements(fragment: str) -> list[str]:
    """Elements of an HTML fragment that could run code."""
    import lxml.html

    root = lxml.html.fragment_fromstring(fragment or "<p></p>", create_parent="div")
    return [el.tag for el in root.iter() if el.tag in ("script", "iframe")
            or any(a.startswith("on") for a in el.attrib)]


def test_hostile_text_is_escaped_everywhere(site: Site, now: datetime):
    """Text is text: a title that looks like markup reaches every reader as those characters, never as markup."""
    import json

    import lxml.html

    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    title = f"Title {evil} & more"
    site.article("a.md", f"Body {evil}\n", **good_fields(1, title=title, excerpt=f"Ex {evil}",
                                                          provider={"name": f"Prov {evil}"}))
    build(site.settings, now=now)
    for name in ("rss.xml", "atom.xml"):
        feed = parse_feed(site.output / name)
        e = feed.entries[0]
        assert e.title == title, name
        assert e.title_detail.type == "text/plain", name
        assert e.summary_detail.type == "text/html"
        assert f"Ex {evil}" in html_to_text(e.summary)  # shown literally...
        assert "<img" not in e.summary and "Prov &lt;script&gt;" in e.content[0].value
        for html in (e.summary, e.content[0].value):
            assert _markup_elements(html) == [], (name, html)  # ...never as markup
    item = json.loads((site.output / "feed.json").read_bytes())["items"][0]
    assert item["title"] == title and item["summary"] == f"Ex {evil}"
    assert _markup_elements(item["content_html"]) == []
    page = lxml.html.fromstring((site.output / "index.html").read_bytes())
    assert title in page.text_content()
    assert not [el for el in page.iter() if el.tag in ("script", "img") or any(a.startswith("on") for a in el.attrib)]


def test_unwritable_output_fails_with_output_error(site: Site, now: datetime):
    from feeder.errors import OutputError

    site.output.write_text("a file where the folder should be")
    site.article("a.txt", **good_fields(1))
    with pytest.raises(OutputError):
        build(site.settings, now=now)


def test_base_url_with_a_path_and_no_trailing_slash(site: Site, now: datetime, tmp_path: Path):
    from feeder.config import parse_config

    settings = parse_config({"site": {"base_url": "https://cdn.example.com/a/b"}, "content_dir": str(site.content),
                             "output_dir": str(site.output), "state_dir": str(site.state)}, base=tmp_path)
    site.article("a.txt", **good_fields(1))
    build(settings, now=now)
    atom = parse_feed(site.output / "topics/ai/atom.xml")
    assert {ln.rel: ln.href for ln in atom.feed.links}["self"] == "https://cdn.example.com/a/b/topics/ai/atom.xml"


def test_a_build_returns_once_the_listing_it_kept_is_in_place(site: Site, now: datetime, monkeypatch):
    """The listing is written while the build goes on, but is in place before
    the build lets go of its lock: the next build compares with it."""
    import threading

    from feeder.content import catalog as catalog_module
    from feeder.content.scan import is_fingerprint_of

    from conftest import open_state

    site.article("a.txt", **good_fields(1))
    writing, release = threading.Event(), threading.Event()
    write = catalog_module._write_listing

    def slow_write(target, raw):
        writing.set()
        release.wait(30)
        write(target, raw)

    monkeypatch.setattr(catalog_module, "_write_listing", slow_write)
    done: list[object] = []
    builder = threading.Thread(target=lambda: done.append(build(site.settings, now=now)))
    builder.start()
    try:
        assert writing.wait(30)
        builder.join(0.5)
        assert builder.is_alive() and not done, "the build returned before its listing was written"
    finally:
        release.set()
        builder.join(30)
    assert done and done[0].published == 1  # type: ignore[attr-defined]
    with open_state(site.state) as state:
        assert is_fingerprint_of((site.state / "content-listing").read_bytes(), state.get_meta("listing"))
