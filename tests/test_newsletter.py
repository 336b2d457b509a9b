"""What RSS-to-email tools read, and digest feeds: one item per closed day or
week that never changes once the period is over."""

from __future__ import annotations

import email.utils
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import feedparser
from lxml import etree

from feeder.app.pipeline import build
from feeder.selection.digests import closed_periods, period_label, period_start

from conftest import Site, good_fields, validate_atom
from feeds import parse_feed

UTC = timezone.utc


def test_every_item_has_what_email_tools_read(site: Site, now):
    site.article("a.md", "Body with [a relative link](more/) and ![img](pic.png).", **good_fields(
        1, images=[{"url": "https://img.example.org/lead.jpg", "width": 1200, "height": 630}]))
    site.article("b.txt", **good_fields(2, excerpt="Plain teaser <b>only</b> & nothing more."))
    build(site.settings, now=now)
    root = etree.fromstring((site.output / "rss.xml").read_bytes())
    for item in root.iter("item"):
        pub = item.findtext("pubDate")
        assert email.utils.parsedate_to_datetime(pub).year == 2024 and pub[:3] in ("Tue", "Wed")  # English
        assert item.find("guid").get("isPermaLink") == "false"
        description = item.findtext("description")
        assert "<" not in description  # a plain-text teaser (HTML-escaped text, no markup)
        html = item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
        doc = etree.fromstring(f"<div>{html}</div>", etree.HTMLParser())
        urls = [el.get(a) for el in doc.iter() for a in ("href", "src") if el.get(a)]
        assert urls and all(u.startswith("https://") for u in urls), urls
    a = next(i for i in root.iter("item") if i.findtext("title") == "Article number 1")
    media = a.find("{http://search.yahoo.com/mrss/}content")
    assert media.attrib == {"url": "https://img.example.org/lead.jpg", "medium": "image", "type": "image/jpeg",
                            "width": "1200", "height": "630"}
    b = next(i for i in root.iter("item") if i.findtext("title") == "Article number 2")
    # The excerpt is text, as HTML once escaped: readers show it as written (no tags, no &amp;amp;).
    assert feedparser.parse((site.output / "rss.xml").read_bytes()).entries[0].summary == \
        "Plain teaser &lt;b&gt;only&lt;/b&gt; &amp; nothing more."
    assert "Read more at Example Wire" in b.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")


def test_closed_periods_in_the_configured_zone():
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 in Paris, the day after the clocks went forward
    days = closed_periods("daily", now, paris, 3)
    assert [(s.isoformat(), e.isoformat()) for s, e in days] == [
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),  # a 23-hour day
        ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"),
        ("2026-03-27T00:00:00+01:00", "2026-03-28T00:00:00+01:00"),
    ]
    weeks = closed_periods("weekly", now, paris, 2)
    assert [s.date().isoformat() for s, _ in weeks] == ["2026-03-23", "2026-03-16"]  # Mondays
    assert period_start("weekly", now, paris).date().isoformat() == "2026-03-30"
    assert period_label("daily", days[0][0]) == "Sunday 29 March 2026"
    assert period_label("weekly", weeks[0][0]) == "week of 23 March 2026"


def test_daily_digest_has_one_fixed_item_per_closed_day(site: Site):
    site.configure(digest="daily")
    day = datetime(2025, 6, 10, tzinfo=UTC)
    for n, hours in enumerate([1, 5, 26, 27, 50, 74]):  # 10 June twice, 11 June twice, 12 June, 13 June
        site.article(f"{n}.txt", **good_fields(n, publishedDateTime=day + timedelta(hours=hours)))
    now = day + timedelta(days=3, hours=12)  # 13 June, 12:00: 10, 11 and 12 June are closed
    build(site.settings, now=now)
    digest = parse_feed(site.output / "digest/rss.xml")
    assert [e.title for e in digest.entries] == [
        "Test Site: Thursday 12 June 2025", "Test Site: Wednesday 11 June 2025", "Test Site: Tuesday 10 June 2025"]
    assert [e.published_parsed[:3] for e in digest.entries] == [(2025, 6, 13), (2025, 6, 12), (2025, 6, 11)]
    first = digest.entries[2]
    assert "2 articles from Test Site, Tuesday 10 June 2025" in first.content[0].value
    assert "Article number 0" in first.content[0].value and "Article number 1" in first.content[0].value
    assert (site.output / "topics/ai/digest/atom.xml").exists()
    validate_atom([site.output / "digest/atom.xml", site.output / "topics/ai/digest/atom.xml"])
    before = {e.id: (e.title, e.content[0].value) for e in digest.entries}

    # Later: an article of a closed day is edited, one is unpublished: closed items do not change.
    site.article("0.txt", **good_fields(0, title="Renamed later", publishedDateTime=day + timedelta(hours=1)))
    site.article("2.txt", **good_fields(2, published=False, publishedDateTime=day + timedelta(hours=26)))
    build(site.settings, now=now + timedelta(days=1))
    later = parse_feed(site.output / "digest/rss.xml")
    after = {e.id: (e.title, e.content[0].value) for e in later.entries}
    assert {k: after[k] for k in before} == before
    assert len(later.entries) == 4  # 13 June has closed too
    opml = (site.output / "index.opml").read_bytes()
    assert b"digest/rss.xml" in opml and b"(daily digest)" in opml
    assert b"Daily digest:" in (site.output / "index.html").read_bytes()


def test_digest_appears_when_its_period_closes_without_any_file_changing(site: Site):
    site.configure(digest="weekly")
    monday = datetime(2025, 6, 9, 9, tzinfo=UTC)
    site.article("a.txt", **good_fields(1, publishedDateTime=monday))
    build(site.settings, now=monday + timedelta(days=3))
    assert parse_feed(site.output / "digest/rss.xml").entries == []
    report = build(site.settings, now=monday + timedelta(days=7))  # the week of 9 June has closed
    assert not report.unchanged
    [item] = parse_feed(site.output / "digest/rss.xml").entries
    assert item.title == "Test Site: Week of 9 June 2025"


def test_digest_rebuild_is_byte_identical(site: Site, now):
    site.configure(digest="daily")
    for n in range(5):
        site.article(f"{n}.txt", **good_fields(n, publishedDateTime=now - timedelta(days=n, hours=3)))
    build(site.settings, now=now)
    first = site.outputs()
    site.configure(max_items=site.settings.max_items)  # same settings
    build(replace(site.settings), now=now + timedelta(minutes=5))
    assert site.outputs() == first
