"""The check every rendered document passes before it replaces the public
one: the rules on their own, and a renderer that goes wrong in a real build."""

from __future__ import annotations

import json

import pytest

from feeder.app import cli
from feeder.model import item_id
from feeder.output.verify import document_problem, feed_problems

from conftest import Site, good_fields
from feeds import ids

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>a</title></item></channel></rss>'
ATOM = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b'<entry><id>x</id></entry><entry><id>y</id></entry></feed>')
JSON = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "a"}]}).encode()


@pytest.mark.no_state
def test_sound_documents_pass():
    assert document_problem("rss", RSS, 1) is None
    assert document_problem("atom", ATOM, 2) is None
    assert document_problem("json", JSON, 1) is None
    assert document_problem("opml", b"<opml version='2.0'><head/><body/></opml>") is None
    assert feed_problems({"rss": RSS, "json": JSON}, 1) == {}


@pytest.mark.no_state
@pytest.mark.parametrize(("kind", "data", "items", "problem"), [
    ("rss", RSS[:-10], 1, "not well-formed XML"),
    ("rss", b"<html><body/></html>", 0, "not <rss>"),
    ("rss", b"<rss version='2.0'/>", 0, "not <rss> with a <channel>"),
    ("rss", RSS, 2, "1 item where 2 were planned"),
    ("atom", RSS, 1, "not an Atom <feed>"),
    ("atom", b"<feed><entry/></feed>", 1, "not an Atom <feed>"),  # no namespace
    ("atom", ATOM, 3, "2 items where 3 were planned"),
    ("json", b'{"version": "https://jsonfeed.org/version/1.1", "items": [', 0, "not valid JSON"),
    ("json", b'{"items": []}', 0, "not a JSON Feed"),
    ("json", b'{"version": "https://jsonfeed.org/version/1.1"}', 0, "without an items list"),
    ("json", b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"title": "x"}]}', 1, "without an id"),
    ("json", b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": ""}]}', 1, "without an id"),
    ("json", JSON, 0, "1 item where 0 were planned"),
    ("opml", b"<opml/>", None, "not <opml> with a <body>"),
])
def test_broken_documents_are_named_with_the_reason(kind: str, data: bytes, items: int | None, problem: str):
    found = document_problem(kind, data, items)
    assert found is not None and problem in found


def test_a_broken_rendering_keeps_the_old_file_is_reported_and_fails_the_build(site: Site, monkeypatch, capsys):
    site.article("a.md", **good_fields(1))
    cfg = site.config_file()
    assert cli.main(["build", "-q", "--config", str(cfg)]) == 0
    before = {p: (site.output / p).read_bytes() for p in ("feed.json", "rss.xml", "topics/ai/feed.json")}

    import feeder.render.jsonfeed as jsonfeed

    real = jsonfeed.render_json_feed

    def truncated(*args, **kwargs) -> bytes:  # a renderer defect: half a document
        data = real(*args, **kwargs)
        return data[: len(data) // 2]

    monkeypatch.setattr(jsonfeed, "render_json_feed", truncated)
    site.article("b.md", **good_fields(2))
    capsys.readouterr()
    assert cli.main(["build", "-q", "--config", str(cfg)]) == 3  # the output's exit status
    err = capsys.readouterr().err
    assert "feed.json" in err and "not valid JSON" in err and "kept the old one" in err
    for rel in ("feed.json", "topics/ai/feed.json"):
        assert (site.output / rel).read_bytes() == before[rel]
        json.loads((site.output / rel).read_bytes())
    # The feed was checked as a whole: none of its formats moved on without the others.
    assert (site.output / "rss.xml").read_bytes() == before["rss.xml"]

    monkeypatch.setattr(jsonfeed, "render_json_feed", real)  # fixed: the next build writes it
    assert cli.main(["build", "-q", "--config", str(cfg)]) == 0
    assert [i["id"] for i in json.loads((site.output / "feed.json").read_bytes())["items"]] == \
        [item_id("b"), item_id("a")]
    assert sorted(ids(site.output / "rss.xml")) == sorted([item_id("a"), item_id("b")])

