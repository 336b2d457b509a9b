"""The feed parser used by ingest, on documents in memory: each field is
read by its declared type, wrong types are ignored and reported, and the
entry's page is the link a reader would open."""

from __future__ import annotations

import json

import pytest

from feeder.ingest.parse import parse_feed
from feeder.text import text_to_html

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

BASE = "https://source.example/feed"


def atom(entries: str, title: str = '<title type="text">Feed</title>') -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">{title}'
            f"<id>urn:x</id><updated>2025-01-01T00:00:00Z</updated>{entries}</feed>").encode()


def entry(inner: str, link: str = '<link href="https://source.example/a"/>') -> str:
    return f"<entry><id>urn:e</id><updated>2025-01-01T00:00:00Z</updated>{link}{inner}</entry>"


def rss(items: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://source.example/</link>'
            f"<description>d</description>{items}</channel></rss>").encode()


def test_atom_text_is_text_whatever_it_looks_like():
    [item] = parse_feed(atom(entry(
        '<title type="text">Using std::vector&lt;int&gt; &amp; the &lt;blink&gt; tag</title>'
        '<summary type="text">&lt;p&gt;not a paragraph&lt;/p&gt; &amp;amp;</summary>'
        '<content type="text">*not emphasis* &lt;b&gt;\n\nsecond</content>')), url=BASE).items
    assert item.title == "Using std::vector<int> & the <blink> tag"
    assert item.summary == "<p>not a paragraph</p> &amp;"
    # A text body is escaped so that neither HTML nor Markdown in it acts.
    assert item.content_html == text_to_html("*not emphasis* <b>\n\nsecond")
    assert item.content_html == "<p>*not emphasis* &lt;b&gt;</p>\n\n<p>second</p>"


def test_atom_html_and_xhtml_become_text_with_word_boundaries():
    [item] = parse_feed(atom(entry(
        '<title type="html">&lt;b&gt;Bold&lt;/b&gt; &amp;amp; co&amp;nbsp;ltd</title>'
        '<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>First.</p><p>Second.</p>'
        "<ul><li>one</li><li>two</li></ul>line<br/>break</div></summary>")), url=BASE).items
    assert item.title == "Bold & co\xa0ltd"
    assert item.summary == "First. Second. one two line break"


def test_rss_descriptions_are_html():
    [item] = parse_feed(rss(
        "<item><title>A &amp; B</title><link>https://source.example/a</link>"
        "<description>&lt;p&gt;First.&lt;/p&gt;&lt;p&gt;Second&amp;nbsp;part.&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;"
        "</description></item>"), url=BASE).items
    assert item.title == "A & B"
    assert item.summary == "First. Second\xa0part."
    assert "<p>First.</p>" in item.content_html and "script" not in item.content_html


def test_the_alternate_link_is_the_entry_page():
    doc = atom(entry("<title>t</title>", link='<link rel="enclosure" href="https://cdn.example/a.mp3" '
                     'type="audio/mpeg" length="10"/><link rel="alternate" href="https://source.example/page"/>')
               + entry("<title>u</title>", link='<link rel="alternate" type="text/html"/>'
                       '<link rel="alternate" href="https://source.example/second"/>'))
    first, second = parse_feed(doc, url=BASE).items
    assert first.link == "https://source.example/page"
    assert first.enclosure and first.enclosure.url == "https://cdn.example/a.mp3"
    assert second.link == "https://source.example/second"
    [item] = parse_feed(rss('<item><title>x</title><link></link><atom:link xmlns:atom="http://www.w3.org/2005/Atom"'
                            ' rel="alternate" href="https://source.example/rss-page"/></item>'), url=BASE).items
    assert item.link == "https://source.example/rss-page"


def test_links_become_uris_and_keep_their_fragment():
    [item] = parse_feed(rss("<item><title>x</title><link>https://bücher.example/straße#teil 2</link></item>"),
                        url=BASE).items
    assert item.link == "https://xn--bcher-kva.example/stra%C3%9Fe#teil%202"


def test_an_enclosure_without_a_url_is_no_enclosure():
    [item] = parse_feed(rss('<item><title>x</title><link>https://source.example/a</link>'
                            '<enclosure type="audio/mpeg" length="100"/></item>'), url=BASE).items
    assert item.enclosure is None


def test_a_malformed_document_is_reported_with_the_parsers_message_and_line():
    feed = parse_feed(rss("<item><title>A & B</title><link>https://source.example/a</link></item>\n"
                          "<item><title>ok</title><link>https://source.example/b</link></item>"), url=BASE)
    assert [i.link for i in feed.items][:1] == ["https://source.example/a"]
    [problem] = feed.problems
    assert problem.startswith("malformed XML at line 1, column ") and "not well-formed" in problem
    assert "entries recovered" in problem


def json_feed(*items: object) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": list(items)}).encode()


def test_json_content_text_is_the_body_shown_literally():
    [item] = parse_feed(json_feed({"id": "1", "url": "https://source.example/1", "title": "T",
                                   "content_text": "Use <b> & *stars*\n\nSecond paragraph " + "word " * 80}),
                        url=BASE).items
    assert item.content_html.startswith("<p>Use &lt;b&gt; &amp; *stars*</p>\n\n<p>Second paragraph word")
    assert item.summary.startswith("Use <b> & *stars* Second paragraph") and item.summary.endswith("…")


def test_json_fields_of_the_wrong_type_are_ignored_and_reported():
    feed = parse_feed(json_feed(
        {"id": "1", "url": 42, "external_url": "https://source.example/ext", "title": ["no"], "summary": True,
         "content_html": "<p>ok</p>", "attachments": [{"mime_type": "audio/mpeg"},
                                                     {"url": "https://cdn.example/e.mp3", "mime_type": 3}]},
        {"url": 7, "title": "nothing usable"},
        "not an object",
    ), url=BASE)
    [item] = feed.items
    assert item.link == "https://source.example/ext"  # the number was not turned into a URL
    assert item.title == "" and item.summary == "ok"
    assert item.enclosure is None  # neither attachment is usable: never one pointing at the feed itself
    assert feed.problems == (
        "item 1: 'url' is a number, not a URL; ignored",
        "item 1: 'title' is a list, not text; ignored",
        "item 1: 'summary' is the boolean true, not text; ignored",
        "item 1 attachment 1: no 'url'; ignored",
        "item 1 attachment 2: 'mime_type' is missing or not text; ignored",
        "item 2: 'url' is a number, not a URL; ignored",
        "item 2: no usable id or url; skipped",
        "item 3: not an object; skipped",
    )
