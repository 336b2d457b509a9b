"""JSON Feed and the landing page: same items as the XML feeds, and nothing
an article says can get into the page as markup."""

from __future__ import annotations

import json

from lxml import etree

from feeder.app.pipeline import build

from conftest import Site, good_fields
from feeds import parse_feed

EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def test_json_feed_has_the_same_items_ids_and_dates(site: Site, now):
    site.article("a.md", "Some *body* [link](/x).", **good_fields(1, topics=["AI", "Space"], images=[
        {"url": "https://img.example.org/a.jpg", "width": 10, "height": 10}]))
    site.article("b.txt", **good_fields(2, topics=["AI"]))
    build(site.settings, now=now)
    data = json.loads((site.output / "feed.json").read_bytes())
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert data["feed_url"] == "https://feeds.example.net/news/feed.json"
    atom = parse_feed(site.output / "atom.xml")
    assert [i["id"] for i in data["items"]] == [e.id for e in atom.entries]
    first = data["items"][1]
    assert first["content_html"].startswith("<p>Some <em>body</em>")
    assert first["summary"] == "Excerpt of article 1."
    assert first["image"] == "https://img.example.org/a.jpg"
    assert first["tags"] == ["AI", "Space"]
    assert first["authors"] == [{"name": "Example Wire", "url": "https://example.org/"}]
    assert first["date_published"] == "2024-01-02T00:00:00+00:00"
    assert data["items"][0]["content_html"].startswith("<p>Excerpt of article 2.</p>")
    for item in data["items"]:  # what JSON Feed 1.1 requires of every item
        assert isinstance(item["id"], str) and ("content_html" in item or "content_text" in item)


def test_landing_page_lists_every_feed_with_counts_and_headlines(site: Site, now):
    for n in range(7):
        site.article(f"{n}.txt", **good_fields(n, topics=["AI"] if n % 2 else ["Space"]))
    build(site.settings, now=now)
    page = etree.fromstring((site.output / "index.html").read_bytes(), etree.HTMLParser())
    alternates = {(el.get("type"), el.get("href")) for el in page.iter("link") if el.get("rel") == "alternate"}
    opml = etree.fromstring((site.output / "index.opml").read_bytes())
    listed = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    assert {href for _, href in alternates} == listed and len(listed) == 9
    sections = page.findall(".//section")
    assert [s.findtext("h2") for s in sections] == ["All topics", "AI", "Space"]  # the site is named once, above
    assert [len(s.findall("p")) for s in sections] == [2, 2, 2]  # no filler description: count, subscribe
    assert [s.find("p[@class='count']").text for s in sections] == ["7 items", "3 items", "4 items"]
    assert len(sections[0].findall(".//ol/li")) == 5
    assert sections[1].find(".//ol/li/a").text == "Article number 5"


def test_hostile_text_cannot_inject_markup(site: Site, now):
    site.article("a.txt", **good_fields(1, title=f"Title {EVIL}", topics=[f"Topic {EVIL}"],
                                        provider={"name": f"Prov {EVIL}"}))
    build(site.settings, now=now)
    raw = (site.output / "index.html").read_bytes()
    page = etree.fromstring(raw, etree.HTMLParser())
    assert not page.findall(".//script") and not page.findall(".//img")
    assert all(not k.startswith("on") for el in page.iter() for k in el.keys())
    data = json.loads((site.output / "feed.json").read_bytes())
    # JSON Feed titles, tags and names are plain text: the characters as written, never HTML
    [item] = data["items"]
    assert item["title"] == f"Title {EVIL}" and item["tags"] == [f"Topic {EVIL}"]
    assert "<script" not in item["content_html"] and "&lt;script&gt;" in item["content_html"]
