"""Ingest keeps what each entry's source meant: one minimal document per
defect once found in real feeds, through ingest and a build, read back with
feedparser; and the upgrade from files an earlier version wrote."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from feeder.app.pipeline import build
from feeder.config import IngestSettings, LinkSettings, SourceSettings
from feeder.content.reader import parse_article
from feeder.ingest.run import ingest
from feeder.model import item_id

from conftest import Site, open_state, run_feeder
from feeds import parse_feed
from httpserver import Reply

NOW = datetime(2025, 6, 4, 12, 0, tzinfo=timezone.utc)


def rss(items: str, extra_ns: str = "") -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            f'{extra_ns}><channel><title>Source</title><link>http://show.test/</link><description>d</description>'
            f"{items}</channel></rss>").encode()


@pytest.fixture
def served(site: Site, http_server):
    """Serve a document at /feed.xml and follow it as the source 'Show'."""

    def serve(document: bytes, *, publish: bool = True, **source: object) -> SourceSettings:
        http_server.route("/feed.xml", Reply(200, {"Content-Type": "application/rss+xml"}, document))
        src = SourceSettings(url=http_server.url("/feed.xml"), slug="show", name="Show", publish=publish,
                             **source)  # type: ignore[arg-type]
        site.configure(sources=(src,), ingest=IngestSettings(timeout=3), max_items=500,
                       links=LinkSettings(enabled=False, allow_private=True))
        return src

    return serve


def written(site: Site) -> dict[str, object]:
    found = {}
    for path in sorted((site.content / "show").glob("*.md")):
        a = parse_article(path.read_bytes(), rel=path.name, tz=timezone.utc)
        found[a.title] = a
    return found


def published_json(site: Site) -> dict[str, dict]:
    build(site.settings, now=NOW)
    return {i["title"]: i for i in json.loads((site.output / "feed.json").read_bytes())["items"]}


def test_content_encoded_without_a_summary_gives_an_excerpt_of_text(site: Site, served):
    served(rss("<item><title>Wild</title><link>https://show.test/wild</link><guid>w1</guid>"
               "<content:encoded><![CDATA[<h4>Using Wild Ingredients in the Kitchen</h4><figure>"
               '<img alt="" src="https://show.test/a.jpg"/></figure><p>Forage &amp; cook.</p>]]></content:encoded>'
               "</item>"))
    ingest(site.settings, now=NOW)
    item = published_json(site)["Wild"]
    assert item["summary"] == "Using Wild Ingredients in the Kitchen Forage & cook."
    assert "<h4>Using Wild Ingredients in the Kitchen</h4>" in item["content_html"]
    [entry] = parse_feed(site.output / "rss.xml").entries
    assert entry.summary == "Using Wild Ingredients in the Kitchen Forage &amp; cook."  # text, escaped as HTML


def test_entries_of_one_source_sharing_a_link_are_distinct_articles(site: Site, served):
    episodes = "".join(
        f"<item><title>Episode {n}</title><link>http://www.taverncast.com</link><guid>tc-{n}</guid>"
        f"<pubDate>{n:02d} May 2025 08:00:00 GMT</pubDate>"
        f'<enclosure url="https://media.show.test/{n}.mp3" length="{1000 + n}" type="audio/mpeg"/></item>'
        for n in range(1, 8))
    served(rss(episodes))
    report = ingest(site.settings, now=NOW).sources[0]
    assert (report.new, report.skipped) == (7, 0)
    items = published_json(site)
    assert sorted(items) == [f"Episode {n}" for n in range(1, 8)]
    assert {i["attachments"][0]["url"] for i in items.values()} == {f"https://media.show.test/{n}.mp3"
                                                                    for n in range(1, 8)}


def test_an_html_body_is_never_read_again_as_markdown(site: Site, served):
    body = ("<p>We're *yawn* back</p><p>Bäcker*innen und Steuerberater*innen</p>"
            "<div>- not a list\n# not a heading\n_nor emphasis_</div>")
    served(rss(f"<item><title>Asterisks</title><link>https://show.test/a</link><guid>a1</guid>"
               f"<description><![CDATA[{body}]]></description></item>"))
    ingest(site.settings, now=NOW)
    [article] = written(site).values()
    assert article.body_format == "html"
    html = published_json(site)["Asterisks"]["content_html"]
    for literal in ("We're *yawn* back", "Bäcker*innen und Steuerberater*innen", "- not a list",
                    "# not a heading", "_nor emphasis_"):
        assert literal in html, literal
    assert "<em>" not in html and "<li>" not in html and "<h1>" not in html


def test_an_episode_without_a_page_is_kept_with_its_media_as_its_address(site: Site, served):
    served(rss("<item><title>Episode 12</title><guid>ep-12</guid><pubDate>Mon, 02 Jun 2025 08:00:00 GMT</pubDate>"
               '<enclosure url="https://media.show.test/12.mp3" length="4242" type="audio/mpeg"/></item>'
               "<item><title>Just words</title><guid>w-1</guid><description>No page, no media.</description></item>"))
    report = ingest(site.settings, now=NOW).sources[0]
    assert report.new == 1
    assert report.left_out == [{"reason": "no-link", "entry": "Just words", "why": "no http(s) link and no enclosure"}]
    [article] = written(site).values()
    assert article.original_url == "https://media.show.test/12.mp3" and article.web_url is None
    item = published_json(site)["Episode 12"]
    assert item["url"] == "https://media.show.test/12.mp3" and "external_url" not in item
    assert item["attachments"][0]["size_in_bytes"] == 4242


def test_every_left_out_entry_is_reported_with_its_reason(site: Site, served, tmp_path: Path):
    import yaml

    other = site.content / "other"
    other.mkdir()
    from email.utils import format_datetime

    recent = format_datetime(datetime.now(timezone.utc), usegmt=True)  # the command line's clock is the wall's
    served(rss("<item><title>Old news</title><link>https://show.test/old</link><guid>o</guid>"
               "<pubDate>Mon, 01 Jan 2024 08:00:00 GMT</pubDate></item>"
               "<item><title>Sponsored post</title><link>https://show.test/s</link><guid>s</guid>"
               f"<pubDate>{recent}</pubDate></item>"
               "<item><title>Fresh</title><link>https://show.test/f</link><guid>f</guid>"
               f"<pubDate>{recent}</pubDate></item>"
               "<item><title>Fresh again</title><link>https://show.test/f2</link><guid>f</guid></item>"
               "<item><title>Nowhere</title><guid>n</guid></item>"))
    cfg = yaml.safe_load(site.config_file().read_text())
    cfg["sources"] = [{"url": site.settings.sources[0].url, "name": "Show", "max_age": "30d",
                       "exclude": ["sponsored"], "publish": True}]
    cfg["links"] = {"enabled": False, "allow_private": True}
    path = tmp_path / "feeder.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = run_feeder("ingest", "--json", "--config", str(path))
    [rep] = json.loads(done.stdout)["sources"]
    assert {(left["reason"], left["entry"]) for left in rep["left_out"]} == {
        ("too-old", "Old news"), ("excluded", "Sponsored post"), ("duplicate-id", "Fresh again"),
        ("no-link", "Nowhere")}
    assert rep["skipped"] == 4
    (site.content / "show").rename(tmp_path / "kept")  # written again by the next run
    done = run_feeder("ingest", "--force", "-v", "--config", str(path))
    assert "left out: Old news: older than max_age" in done.stderr
    assert "left out: Nowhere: no http(s) link and no enclosure" in done.stderr
    assert "4 left out (1 repeats the id of an earlier entry of the document, 1 matches an exclude keyword, " \
           "1 no http(s) link and no enclosure, 1 older than max_age)" in done.stdout + done.stderr

    from feeder.app.metrics import Metrics
    from feeder.ingest.run import IngestReport, SourceReport

    metrics = Metrics()
    report = IngestReport([SourceReport("Show", "u", status="fetched",
                                        left_out=[dict(left) for left in rep["left_out"]])])
    metrics.ingest(report)
    text = metrics.render().decode()
    assert 'feeder_ingest_left_out_total{reason="no-link"} 1.0' in text


def test_a_first_run_that_writes_nothing_still_leaves_a_content_folder(site: Site, served):
    served(rss("<item><title>Nowhere</title><guid>n</guid></item>"))
    site.content.rmdir()
    ingest(site.settings, now=NOW)
    assert (site.content / "show").is_dir()
    report = build(site.settings, now=NOW)  # empty feeds, not "the content folder does not exist"
    assert report.published == 0 and (site.output / "rss.xml").exists()


def test_files_ingested_by_an_earlier_version_are_upgraded_without_duplicates(site: Site, served):
    episodes = "".join(
        f"<item><title>Episode {n}</title><link>http://www.taverncast.com</link><guid>tc-{n}</guid>"
        f"<pubDate>{n:02d} May 2025 08:00:00 GMT</pubDate><description><![CDATA[<p>Show *{n}*</p>]]>"
        f"</description></item>" for n in range(1, 5))
    src = served(rss(episodes))
    ingest(site.settings, now=NOW)
    build(site.settings, now=NOW)
    files = sorted((site.content / "show").glob("*.md"))
    first = files[0]
    # What the earlier version left: one file for the shared link (the others
    # recorded as its duplicates), and no bodyFormat in the file it wrote.
    with open_state(site.state) as state:
        rows = {row.entry.rsplit("/", 1)[-1]: row for row in state.ingested_files("show")}  # guids, resolved
        keeper = rows["tc-1"]
        assert keeper.path is not None
        for n in range(2, 5):
            row = rows[f"tc-{n}"]
            assert row.path is not None
            (site.content / row.path).unlink()
            state.save_ingested(replace(row, article_id=keeper.article_id, path=None, written="{}"))
        state.conn.execute("DELETE FROM meta WHERE key LIKE 'body_format@%'")
    keeper_file = site.content / keeper.path
    keeper_file.write_text(keeper_file.read_text().replace("bodyFormat: html\n", ""))
    assert "bodyFormat" not in keeper_file.read_text()
    before_ids = {p.name for p in (site.content / "show").glob("*.md")}

    report = ingest(replace(site.settings, sources=(src,)), now=NOW, force=True).sources[0]
    assert report.new == 3 and report.skipped == 0
    after = {p.name for p in (site.content / "show").glob("*.md")}
    assert before_ids <= after and len(after) == 4  # nothing renamed, the merged episodes are back
    assert {p.name for p in files} == after  # with the ids they had when they were distinct
    assert "bodyFormat: html" in keeper_file.read_text()
    items = published_json(site)
    assert sorted(items) == [f"Episode {n}" for n in range(1, 5)]
    assert "Show *1*" in items["Episode 1"]["content_html"]
    assert items["Episode 1"]["id"] == item_id(keeper.article_id)  # the subscriber's item keeps its id
    assert first.exists()


def test_an_editors_markdown_body_in_an_ingested_file_is_left_alone(site: Site, served):
    served(rss("<item><title>T</title><link>https://show.test/t</link><guid>t</guid>"
               "<description>&lt;p&gt;From the source&lt;/p&gt;</description></item>"))
    ingest(site.settings, now=NOW)
    [path] = (site.content / "show").glob("*.md")
    text = path.read_text().replace("bodyFormat: html\n", "")
    path.write_text(text.split("---\n", 2)[0] + "---\n" + text.split("---\n", 2)[1] + "---\nAn *editor's* body.\n")
    with open_state(site.state) as state:
        state.conn.execute("DELETE FROM meta WHERE key LIKE 'body_format@%'")
    ingest(site.settings, now=NOW, force=True)
    assert "bodyFormat" not in path.read_text()
    assert "<em>editor's</em>" in published_json(site)["T"]["content_html"]

