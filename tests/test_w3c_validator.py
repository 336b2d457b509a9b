"""Every RSS and Atom file feeder writes passes the W3C Feed Validation
Service's own validator, run offline: on the sample content and on content
with non-ASCII URLs, ampersands and markup in text, HTML bodies, a podcast
and digests."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import lxml.html
import yaml
from lxml import etree

from feeder.app.pipeline import build
from feeder.config import TopicSettings
from feeder.model import PodcastSettings

from conftest import ROOT, Site, good_fields, run_feeder
from feeds import parse_feed
from feedvalidator import problems

NOW = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


def test_the_sample_content_validates_without_errors_or_warnings(tmp_path: Path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    cfg = tmp_path / "config" / "feeder.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["links"] = {"enabled": False}
    data["feeds"] = {**data.get("feeds", {}), "digest": "daily"}
    cfg.write_text(yaml.safe_dump(data))
    proc = run_feeder("build", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    feeds = sorted((tmp_path / "feeds").rglob("*.xml"))
    assert len(feeds) >= 20
    assert problems(feeds) == []


def hard_site(site: Site) -> None:
    """Content as it comes from the world: IRIs, spaces in URLs, markup-like text, HTML bodies."""
    site.configure(
        site=site.settings.site.__class__(title="News & Views <daily>", base_url="https://feeds.example.net/news/",
                                          link="https://example.net/", description="Tom & Jerry's <news>"),
        topics={"Audio": TopicSettings(title="Sounds & <Noise>", description="Shows & more",
                                       podcast=PodcastSettings(image="https://cdn.example.net/cover.jpg",
                                                               category="News", subcategory="Tech News",
                                                               author="A & B", owner_name="Pat & Co",
                                                               owner_email="pat@example.net"))},
        digest="daily",
    )
    site.article("a.md", (
        "Body with <b>HTML</b> & a [link](https://bücher.example/straße?q=a b) and ![pic](bild ä.png)\n\n"
        "<div><p>Tom &amp; Jerry</p><p>2 < 3 &nbsp; ok</p></div>\n"),
        **good_fields(1, title="Tom & Jerry: History of the <blink> tag", excerpt="Using std::vector<int> & more",
                      originalUrl="https://bücher.example/straße?q=a b#teil 2", webUrl="https://ex.example/a%20b/ü",
                      images=["https://img.example/ä.png"],
                      related=[{"title": "R & D <i>", "webUrl": "https://ex.example/ré lated"}],
                      provider={"name": "Bücher & Co", "domain": "bücher.example"},
                      topics=["R&D", "Künstliche Intelligenz"]))
    site.article("b.md", **good_fields(2, title="Episode <1> & friends", topics=["Audio"],
                                       enclosure={"url": "https://media.example/ép 1.mp3", "type": "audio/mpeg",
                                                  "length": 1000, "duration": 61}))
    site.article("c.md", "Only a body: *Markdown* & <i>HTML</i>, no excerpt.\n", **good_fields(
        3, excerpt=None, originalUrl="https://例え.jp/記事?id=1&x=ü"))


def test_content_with_iris_ampersands_and_markup_validates(site: Site):
    hard_site(site)
    report = build(site.settings, now=NOW)
    assert report.published == 3 and not report.skipped
    feeds = sorted(site.output.rglob("*.xml"))
    assert {p.relative_to(site.output).as_posix() for p in feeds} >= {
        "rss.xml", "atom.xml", "topics/audio/rss.xml", "topics/r-d/atom.xml", "digest/rss.xml", "digest/atom.xml"}
    assert problems(feeds) == []


def _json_urls(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [v for k, v in value.items() if k in ("url", "external_url", "feed_url", "home_page_url", "image")]
        return own + [u for inner in value.values() for u in _json_urls(inner)]
    if isinstance(value, list):
        return [u for inner in value for u in _json_urls(inner)]
    return []


def _is_uri(value: str) -> bool:
    return value.isascii() and not any(c in value for c in ' "<>\\^`{|}') and value.isprintable()


def test_every_url_in_every_output_is_a_uri(site: Site):
    hard_site(site)
    build(site.settings, now=NOW)
    seen: list[str] = []
    for path in site.output.rglob("*"):
        if path.suffix in (".xml", ".opml"):
            root = etree.fromstring(path.read_bytes())
            for el in root.iter():
                for attr in ("href", "url", "xmlUrl", "htmlUrl", "src", "uri"):
                    if el.get(attr):
                        seen.append(el.get(attr))
                tag = el.tag if isinstance(el.tag, str) else ""
                if tag.rsplit("}", 1)[-1] in ("link", "id", "uri", "url") and el.text and el.text.strip():
                    seen.append(el.text.strip())
                if tag.rsplit("}", 1)[-1] in ("encoded", "content", "description", "summary") and el.text:
                    for inner in lxml.html.fragment_fromstring(el.text, create_parent="div").iter():
                        seen += [inner.get(a) for a in ("href", "src") if inner.get(a)]
        elif path.suffix == ".json":
            seen += _json_urls(json.loads(path.read_bytes()))
        elif path.suffix == ".html":
            page = lxml.html.fromstring(path.read_bytes())
            seen += [el.get(a) for el in page.iter() for a in ("href", "src") if el.get(a)]
    bad = [u for u in seen if not _is_uri(u)]
    assert seen and not bad, bad
    # The encoded forms, as a reader gets them.
    rss = parse_feed(site.output / "rss.xml")
    links = {e.link for e in rss.entries}
    assert "https://xn--bcher-kva.example/stra%C3%9Fe?q=a%20b#teil%202" in links
    assert "https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B?id=1&x=%C3%BC" in links
    [episode] = [e for e in rss.entries if e.get("enclosures")]
    assert episode.enclosures[0].href == "https://media.example/%C3%A9p%201.mp3"
