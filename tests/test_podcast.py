"""Podcast feeds, checked with gPodder's podcastparser and with feedparser,
with media files served on 127.0.0.1 for the lengths the articles leave out."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from datetime import timedelta

import feedparser
import podcastparser
from lxml import etree

from feeder.app.pipeline import build
from feeder.config import LinkSettings, TopicSettings
from feeder.model import PodcastSettings, item_id

from conftest import Site, good_fields, validate_atom
from httpserver import Reply

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"
SHOW = PodcastSettings(
    image="https://cdn.example.net/show/cover.webp?v=3", category="Technology", subcategory="Tech News",
    explicit=False, author="Example Audio", owner_name="Pat Producer", owner_email="pat@example.net",
    type="episodic", language="en-GB", locked=True,
)


def podcast_site(site: Site, http_server, **show_changes) -> None:
    http_server.route("/media/ep1.mp3", Reply(200, {"Content-Type": "audio/mpeg"}, body=b"\xff\xfb" * 5000))
    # HEAD without a length; GET's headers have one (the body is never read).
    http_server.route("/media/ep2.m4a", lambda h: Reply(200, {"Content-Type": "audio/mp4"}) if h.command == "HEAD"
                      else Reply(200, {"Content-Type": "audio/mp4"}, body=b"m" * 7777))
    site.configure(
        topics={"Audio": TopicSettings(title="The Example Podcast", description="Weekly news, read aloud.",
                                       podcast=replace(SHOW, **show_changes))},
        links=LinkSettings(enabled=True, allow_private=True, system_dns=False, retries=0, timeout=3,
                           hosts={"media.test": ("127.0.0.1",), "news.example.org": ("127.0.0.1",),
                                  "canary.test": ("127.0.0.1",)}, canary_host="canary.test"),
    )
    http_server.route("/", Reply(200))
    media = f"http://media.test:{http_server.port}/media"
    site.article("ep0.md", "Show notes with [a link](notes.html).", **good_fields(
        0, title="Episode 0", topics=["Audio"], originalUrl=f"http://news.example.org:{http_server.port}/",
        enclosure={"url": f"{media}/ep0.mp3", "type": "audio/mpeg", "length": 123456, "duration": "00:42:05"},
        images=[{"url": "https://cdn.example.net/ep0.jpg", "width": 1400, "height": 1400}]))
    site.article("ep1.md", **good_fields(
        1, title="Episode 1", topics=["Audio"], originalUrl=f"http://news.example.org:{http_server.port}/",
        enclosure={"url": f"{media}/ep1.mp3", "duration": 1800}, episodeType="bonus"))
    site.article("ep2.md", **good_fields(
        2, title="Episode 2", topics=["Audio"], originalUrl=f"http://news.example.org:{http_server.port}/",
        enclosure={"url": f"{media}/ep2.m4a", "duration": "1:01:01"}))
    site.article("ep3.md", **good_fields(
        3, title="Episode 3", topics=["Audio"], originalUrl=f"http://news.example.org:{http_server.port}/",
        enclosure={"url": f"{media}/missing.mp3", "type": "audio/mpeg"}))


def test_podcastparser_accepts_the_show_with_every_field_right(site: Site, http_server, now):
    podcast_site(site, http_server)
    report = build(site.settings, now=now)
    rss = (site.output / "topics/audio/rss.xml").read_bytes()
    show = podcastparser.parse("https://feeds.example.net/news/topics/audio/rss.xml", io.BytesIO(rss))
    assert show["title"] == "Test Site: The Example Podcast"
    assert show["cover_url"] == SHOW.image
    assert show["itunes_categories"] == [["Technology", "Tech News"]]
    assert show["explicit"] is False
    assert show["itunes_owner"] == {"name": "Pat Producer", "email": "pat@example.net"}
    assert show["type"] == "episodic"
    episodes = {e["title"]: e for e in show["episodes"]}
    assert set(episodes) == {"Episode 0", "Episode 1", "Episode 2", "Episode 3"}
    media = f"http://media.test:{http_server.port}/media"
    assert episodes["Episode 0"]["enclosures"] == [{"url": f"{media}/ep0.mp3", "file_size": 123456,
                                                     "mime_type": "audio/mpeg"}]
    assert episodes["Episode 1"]["enclosures"] == [{"url": f"{media}/ep1.mp3", "file_size": 10000,
                                                     "mime_type": "audio/mpeg"}]
    assert episodes["Episode 2"]["enclosures"] == [{"url": f"{media}/ep2.m4a", "file_size": 7777,
                                                     "mime_type": "audio/mp4"}]
    assert episodes["Episode 3"]["enclosures"] == []  # its length could not be learned: no enclosure at all
    assert episodes["Episode 0"]["total_time"] == 42 * 60 + 5
    assert episodes["Episode 1"]["total_time"] == 1800
    assert episodes["Episode 2"]["total_time"] == 3661
    assert episodes["Episode 0"]["guid"] == item_id("ep0")
    assert episodes["Episode 1"]["type"] == "bonus" and episodes["Episode 0"]["type"] == "full"
    assert episodes["Episode 0"]["episode_art_url"] == "https://cdn.example.net/ep0.jpg"
    assert episodes["Episode 2"]["published"] == int((now.replace(year=2024, month=1, day=3, hour=0)).timestamp())
    assert b'length="None"' not in rss
    [warning] = report.warnings
    assert warning.path == "ep3.md" and "missing.mp3" in warning.problem and "HTTP 404" not in warning.problem
    assert http_server.hits("/media/ep0.mp3") == {}  # complete in its front matter: never asked for


def test_channel_tags_apple_and_podcasting_2_ask_for(site: Site, http_server, now):
    podcast_site(site, http_server)
    build(site.settings, now=now)
    channel = etree.fromstring((site.output / "topics/audio/rss.xml").read_bytes()).find("channel")
    assert channel.find(f"{ITUNES}explicit").text == "false"  # not feedgen's yes/no/clean
    assert channel.find(f"{ITUNES}image").get("href") == SHOW.image  # kept although it does not end in .jpg
    assert channel.find(f"{ITUNES}author").text == "Example Audio"
    assert channel.find("language").text == "en-GB"
    assert channel.find("image/url").text == SHOW.image
    guid = channel.find(f"{PODCAST}guid").text
    assert guid == str(uuid.uuid5(uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"),
                                  "feeds.example.net/news/topics/audio/rss.xml"))
    locked = channel.find(f"{PODCAST}locked")
    assert (locked.text, locked.get("owner")) == ("yes", "pat@example.net")
    parsed = feedparser.parse((site.output / "topics/audio/rss.xml").read_bytes())
    assert not parsed.bozo
    assert parsed.feed.image.href == SHOW.image and parsed.feed.podcast_guid == guid
    ep0 = next(e for e in parsed.entries if e.title == "Episode 0")
    assert ep0.enclosures[0]["length"] == "123456" and ep0.itunes_duration == "00:42:05"
    assert ep0.id == item_id("ep0") and ep0.published_parsed[:3] == (2024, 1, 1)
    # Only the podcast topic's feed is a podcast feed.
    assert b"itunes" not in (site.output / "rss.xml").read_bytes()


def test_podcast_guid_is_fixed_once_published(site: Site, http_server, now):
    podcast_site(site, http_server)
    build(site.settings, now=now)
    first = etree.fromstring((site.output / "topics/audio/rss.xml").read_bytes()).find(f"channel/{PODCAST}guid").text
    site.configure(site=replace(site.settings.site, base_url="https://moved.example.com/"))
    build(site.settings, now=now + timedelta(hours=1))
    after = etree.fromstring((site.output / "topics/audio/rss.xml").read_bytes()).find(f"channel/{PODCAST}guid").text
    assert after == first


def test_explicit_true_and_unlocked(site: Site, http_server, now):
    podcast_site(site, http_server, explicit=True, locked=False, owner_email=None)
    build(site.settings, now=now)
    channel = etree.fromstring((site.output / "topics/audio/rss.xml").read_bytes()).find("channel")
    assert channel.find(f"{ITUNES}explicit").text == "true"
    locked = channel.find(f"{PODCAST}locked")
    assert locked.text == "no" and locked.get("owner") is None


def test_atom_carries_each_enclosure_with_type_and_length(site: Site, http_server, now):
    podcast_site(site, http_server)
    build(site.settings, now=now)
    atom = etree.fromstring((site.output / "topics/audio/atom.xml").read_bytes())
    ns = "{http://www.w3.org/2005/Atom}"
    enclosures = {e.findtext(f"{ns}title"): e.find(f"{ns}link[@rel='enclosure']") for e in atom.iter(f"{ns}entry")}
    assert enclosures["Episode 0"].attrib == {"rel": "enclosure", "href": enclosures["Episode 0"].get("href"),
                                              "type": "audio/mpeg", "length": "123456"}
    assert enclosures["Episode 2"].get("length") == "7777"
    assert enclosures["Episode 3"].get("type") == "audio/mpeg" and enclosures["Episode 3"].get("length") is None
    validate_atom([site.output / "topics/audio/atom.xml"])
    parsed = feedparser.parse((site.output / "topics/audio/atom.xml").read_bytes())
    ep0 = next(e for e in parsed.entries if e.title == "Episode 0")
    assert ep0.enclosures[0]["length"] == "123456"


def test_a_length_learned_later_updates_the_feed(site: Site, http_server, now):
    podcast_site(site, http_server)
    build(site.settings, now=now)
    http_server.route("/media/missing.mp3", Reply(200, {"Content-Type": "audio/mpeg", "Content-Length": "42"}))
    report = build(site.settings, now=now + timedelta(days=2))  # the failed probe is due again
    assert report.warnings == []
    rss = (site.output / "topics/audio/rss.xml").read_bytes()
    show = podcastparser.parse("x", io.BytesIO(rss))
    ep3 = next(e for e in show["episodes"] if e["title"] == "Episode 3")
    assert ep3["enclosures"][0]["file_size"] == 42
