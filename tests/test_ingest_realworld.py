"""Real-world feeds, entry by entry: what a subscriber reads back from
feeder's RSS, Atom and JSON Feed is what the source meant.

Every document of `tests/data/realworld` (captures of real sites from other
readers' test suites; see its SOURCES.md) is served on 127.0.0.1, followed
with `feeder ingest` and published with `feeder build`. The expectations
are read from each document here, with feedparser and lxml, by the rules
the README states: each text by the type of the element it came from, the
entry's `rel="alternate"` link (or, for an episode without a page, its
enclosure), its date, its first audio or video enclosure, and the content as
the body.

Allowed differences, and only these:
* whitespace: texts are compared with all whitespace removed (feeder turns
  block boundaries into spaces and collapses runs);
* trimming: an excerpt is the start of the summary's text, cut at a word
  and ended with "…" past 300 characters;
* URI encoding: links are compared as `feeder.urls.to_uri` writes them
  (IDNA host, UTF-8 percent-encoding);
* sanitizing: what a `<script>` or `<style>` holds is not text a reader sees,
  nor is the text an `<svg>` drawing holds (feeder's sanitizer drops both),
  and the body may be followed by feeder's "Read more" link and related list.

Entries feeder leaves out must be reported with their reason: no http(s)
link and no enclosure, an id repeated within the document, or a story an
earlier-listed source brought (same canonical link).
"""

from __future__ import annotations

import calendar
import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html
import pytest

from feeder.urls import canonical_link, to_uri

from conftest import Site, run_feeder
from feeds import parse_feed
from httpserver import Reply

pytestmark = pytest.mark.no_state  # one ingest and build for the module, on SQLite

CORPUS = Path(__file__).parent / "data" / "realworld"
DOCUMENTS = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".xml", ".rss", ".atom", ".json"))
HTML = ("text/html", "application/xhtml+xml", "html", "xhtml")
_TOTALS: Counter[str] = Counter()


def squeeze(text: str) -> str:
    return "".join(text.split())


def visible_text(value: str, kind: str | None) -> str:
    """What a reader sees of a field: HTML's text (scripts, styles and
    drawings are not text), or the text itself."""
    if not value:
        return ""
    if kind and kind.lower() in HTML:
        try:
            root = lxml.html.fragment_fromstring(value, create_parent="div")
        except Exception:  # not parseable as HTML: its text is what it is
            return value
        for bad in root.xpath("//script|//style|//*[local-name()='svg']"):
            bad.drop_tree()
        return root.text_content()
    return value


def when(parsed: Any) -> datetime | None:
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def uri(href: str, base: str) -> str | None:
    if not href or not href.strip():
        return None
    try:
        value = to_uri(urljoin(base, href.strip()))
    except ValueError:
        return None
    return value if re.match(r"(?i)https?://[^/?#\s]+", value) else None


class Expected:
    """One entry as its source meant it."""

    def __init__(self, key: str, title: str, link: str | None, page: str | None, excerpt: str, body: str,
                 date: datetime | None, enclosure: tuple[str, str, int | None] | None):
        self.key, self.title, self.link, self.page = key, title, link, page
        self.excerpt, self.body, self.date, self.enclosure = excerpt, body, date, enclosure


def expected_xml(data: bytes, url: str) -> list[Expected]:
    d = feedparser.parse(data, response_headers={"content-location": url})
    found = []
    for e in d.entries:
        links = [lk for lk in e.get("links") or [] if lk.get("rel", "alternate") == "alternate" and lk.get("href")]
        html_links = [lk for lk in links if (lk.get("type") or "text/html") in ("text/html", "application/xhtml+xml")]
        chosen = (html_links or links or [None])[0]
        page = uri(chosen["href"], url) if chosen else None
        if page is None and not links:
            enclosure_hrefs = {lk.get("href") for lk in e.get("links") or [] if lk.get("rel") == "enclosure"}
            if e.get("link") and e.get("link") not in enclosure_hrefs:
                page = uri(e["link"], url)
        enclosure = None
        for enc in e.get("enclosures") or []:
            kind = enc.get("type") or ""
            href = uri(enc.get("href") or "", url)
            if href and kind.startswith(("audio/", "video/")):
                length = str(enc.get("length") or "").strip()
                enclosure = (href, kind, int(length) if length.isdigit() and int(length) > 0 else None)
                break
        contents = e.get("content") or []
        if contents:
            body, body_type = contents[0].get("value", ""), contents[0].get("type")
        else:
            body, body_type = e.get("summary", ""), (e.get("summary_detail") or {}).get("type")
        detail = e.get("summary_detail")
        summary, summary_type = (detail["value"], detail.get("type")) if detail and detail.get("value") \
            else (body, body_type)
        title = visible_text(e.get("title", ""), (e.get("title_detail") or {}).get("type"))
        key = " ".join((e.get("id") or "").split()) or page or (enclosure[0] if enclosure else "")
        found.append(Expected(key, title, page or (enclosure[0] if enclosure else None), page,
                              visible_text(summary, summary_type), visible_text(body, body_type),
                              when(e.get("published_parsed")) or when(dict.get(e, "updated_parsed")), enclosure))
    return found


def expected_json(data: bytes, url: str) -> list[Expected]:
    found = []
    for item in json.loads(data).get("items") or []:
        page = uri(item.get("url") or item.get("external_url") or "", url)
        html, text, summary = item.get("content_html") or "", item.get("content_text") or "", item.get("summary")
        body = visible_text(html, "html") if html else text
        date = item.get("date_published") or item.get("date_modified")
        parsed = datetime.fromisoformat(date) if date else None
        found.append(Expected(str(item.get("id") or page), item.get("title") or "", page, page,
                              summary if summary else body, body,
                              parsed.astimezone(timezone.utc) if parsed else None, None))
    return found


@pytest.fixture(scope="module")
def published(tmp_path_factory, request):
    """The whole corpus ingested and built once: (site, ingest report, the documents by source name)."""
    from httpserver import ScriptedServer

    server = ScriptedServer()
    request.addfinalizer(server.close)
    site = Site(tmp_path_factory.mktemp("realworld"))
    sources, documents = [], {}
    for n, path in enumerate(DOCUMENTS):
        route = f"/{path.parent.name}/{path.name}"
        kind = "application/feed+json" if path.suffix == ".json" else "application/xml"
        server.route(route, Reply(200, {"Content-Type": kind}, path.read_bytes()))
        name = f"{n:02d} {path.parent.name} {path.stem}"
        sources.append({"url": server.url(route), "name": name, "publish": True})
        documents[name] = (path, server.url(route))
    cfg = site.config_file({"sources": sources, "feeds": {"max_items": 100_000},
                            "links": {"enabled": False, "allow_private": True}})
    done = run_feeder("ingest", "--force", "--json", "--config", str(cfg), timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    built = run_feeder("build", "--config", str(cfg), timeout=300)
    assert built.returncode == 0, built.stderr
    return site, report, documents


def test_the_corpus_is_what_its_notes_say():
    systems = (CORPUS / "SOURCES.md").read_text()
    assert len(DOCUMENTS) >= 20
    for path in DOCUMENTS:
        assert f"{path.name}" in systems, path


def test_every_entry_reads_back_as_its_source_meant_it(published):
    site, report, documents = published
    items = json.loads((site.output / "feed.json").read_bytes())["items"]
    rss = {e.id: e for e in parse_feed(site.output / "rss.xml").entries}
    atom = {e.id: e for e in parse_feed(site.output / "atom.xml").entries}
    by_link: dict[tuple[str | None, str, str | None], list[dict[str, Any]]] = {}
    for item in items:
        key = (item["url"], squeeze(item["title"]), item["date_published"][:19])
        by_link.setdefault(key, []).append(item)
    reports = {s["name"]: s for s in report["sources"]}
    seen_links: set[str] = set()
    mismatches: list[str] = []
    counts: Counter[str] = Counter()
    for name, (path, url) in documents.items():
        data = path.read_bytes()
        entries = expected_json(data, url) if path.suffix == ".json" else expected_xml(data, url)
        rep = reports[name]
        left = Counter(left["reason"] for left in rep["left_out"])
        expected_left: Counter[str] = Counter()
        keys: set[str] = set()
        counts["documents"] += 1
        for entry in entries:
            counts["entries"] += 1
            if entry.key in keys:
                expected_left["duplicate-id"] += 1
                continue
            keys.add(entry.key)
            if entry.link is None:
                expected_left["no-link"] += 1
                continue
            canonical = canonical_link(entry.link)
            if canonical in seen_links and not entry.key:
                expected_left["duplicate-story"] += 1
                continue
            candidates = [i for i in items if i["url"] == entry.link and squeeze(i["title"]) == squeeze(entry.title)
                          and (entry.date is None or i["date_published"][:19] == entry.date.isoformat()[:19])]
            if not candidates and canonical in seen_links:
                expected_left["duplicate-story"] += 1
                continue
            seen_links.add(canonical)
            if len(candidates) != 1:
                mismatches.append(f"{name}: {entry.title!r} ({entry.link}): {len(candidates)} items in the feed")
                continue
            item = candidates[0]
            counts["entries compared"] += 1
            # Title, link and date: the same in every format.
            for fmt, parsed in (("rss", rss.get(item["id"])), ("atom", atom.get(item["id"]))):
                if parsed is None or squeeze(parsed.title) != squeeze(entry.title) or parsed.link != entry.link:
                    mismatches.append(f"{name}: {entry.title!r}: {fmt} title or link differs")
            counts["titles"] += 1
            counts["links"] += 1
            if entry.page is None and item.get("external_url"):
                mismatches.append(f"{name}: {entry.title!r}: a web page where the source has none")
            if entry.date is not None:
                counts["dates"] += 1
            # The excerpt: the summary's text (the content's when it has no summary), trimmed.
            excerpt = squeeze(item.get("summary", ""))
            meant = squeeze(entry.excerpt)
            if excerpt.endswith("…"):
                if not meant.startswith(excerpt[:-1]):
                    mismatches.append(f"{name}: {entry.title!r}: excerpt {item.get('summary')!r} is not the "
                                      f"start of {entry.excerpt[:120]!r}")
            elif excerpt != meant:
                mismatches.append(f"{name}: {entry.title!r}: excerpt {item.get('summary', '')[:120]!r} != "
                                  f"{entry.excerpt[:120]!r}")
            counts["excerpts"] += 1
            # The body: its text, whole, in the item's content.
            if entry.body.strip():
                content = squeeze(visible_text(item.get("content_html", ""), "html"))
                if squeeze(entry.body) not in content:
                    mismatches.append(f"{name}: {entry.title!r}: body differs: {entry.body[:150]!r} / "
                                      f"{visible_text(item.get('content_html', ''), 'html')[:150]!r}")
                counts["bodies"] += 1
            if entry.enclosure is not None:
                attachment = (item.get("attachments") or [{}])[0]
                got = (attachment.get("url"), attachment.get("mime_type"), attachment.get("size_in_bytes"))
                if got != entry.enclosure:
                    mismatches.append(f"{name}: {entry.title!r}: enclosure {got} != {entry.enclosure}")
                counts["enclosures"] += 1
        if left != expected_left:
            mismatches.append(f"{name}: left out {dict(left)}, expected {dict(expected_left)}")
        counts.update({f"left out: {reason}": n for reason, n in left.items()})
    _TOTALS.update(counts)
    print("\nreal-world corpus:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          f"; mismatches {len(mismatches)}")
    assert not mismatches, "\n".join(mismatches[:40])
    assert counts["entries compared"] > 300 and len(documents) >= 20


def test_every_left_out_entry_is_reported_with_its_reason(published):
    _, report, _ = published
    for source in report["sources"]:
        assert source["skipped"] == len(source["left_out"])
        for left in source["left_out"]:
            assert left["reason"] and left["entry"] and left["why"]

