from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.content.reader import parse_article, read_article
from feeder.content.scan import scan_folder
from feeder.errors import ContentError

from conftest import SECRET, SEED, Site, article_text, good_fields

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

UTC = timezone.utc


def parse(text: str | bytes, tz=UTC, rel: str = "x/a.txt"):
    data = text.encode() if isinstance(text, str) else text
    return parse_article(data, rel=rel, tz=tz)


def problem(text: str | bytes) -> str:
    with pytest.raises(ContentError) as info:
        parse(text)
    assert info.value.path == Path("x/a.txt")
    return info.value.problem


def test_the_seed_parses_with_every_field():
    a = parse(SEED.read_bytes(), rel="000_005fe135b4900bd1.txt")
    assert a.id == "000_005fe135b4900bd1"
    assert a.title.startswith("Scale AI Gets A $325M Series E")
    assert a.published_at == datetime(2021, 4, 19, 16, 9, tzinfo=UTC)
    assert a.published is False
    assert a.provider and a.provider.name == "datanami.com"
    assert a.topics == ("AI",)
    assert a.images[0].width == 370 and a.images[0].height == 290
    assert len(a.related) == 2 and a.related[0].provider.name == "TechCrunch"
    assert a.quality == 31 and a.heat == -1


def test_secured_is_never_read_into_the_article():
    a = parse(article_text(**good_fields()))
    assert SECRET not in repr(a)
    assert not hasattr(a, "secured")


def test_id_field_wins_over_the_file_name():
    assert parse(article_text(**good_fields(id="story-42"))).id == "story-42"
    assert parse(article_text(**good_fields()), rel="deep/er/abc_123.md").id == "abc_123"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T10:00:00+02:00", datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00", datetime(2024, 3, 1, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))),
        (date(2024, 7, 1), datetime(2024, 7, 1, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))),
    ],
)
def test_dates_are_timezone_aware_with_the_default_zone(value, expected):
    text = article_text(**good_fields(publishedDateTime=value))
    a = parse(text, tz=ZoneInfo("Europe/Paris"))
    assert a.published_at == expected
    assert a.published_at.tzinfo is not None


def test_unquoted_naive_yaml_timestamp_uses_default_zone():
    text = article_text(**good_fields()).replace(
        "publishedDateTime: 2024-01-02 00:00:00+00:00", "publishedDateTime: 2024-01-02 09:30:00"
    )
    a = parse(text, tz=ZoneInfo("America/New_York"))
    assert a.published_at == datetime(2024, 1, 2, 9, 30, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"published": "yes"}, "field 'published' must be true or false, not the string 'yes'"),
        ({"published": None}, "field 'published' must not be empty"),
        ({"title": None}, "field 'title' must not be empty"),
        ({"title": 2024}, "field 'title' must be text, not the number 2024"),
        ({"title": "\x01\x02"}, "field 'title' has no text once control characters are removed"),
        ({"originalUrl": "ftp://example.org/a"}, "field 'originalUrl' must be an absolute http or https URL"),
        ({"originalUrl": "/relative/path"}, "field 'originalUrl' must be an absolute http or https URL"),
        ({"originalUrl": "not a url"}, "field 'originalUrl' must be an absolute http or https URL"),
        ({"publishedDateTime": "last tuesday"}, "field 'publishedDateTime' must be an ISO 8601 date"),
        ({"publishedDateTime": 12}, "field 'publishedDateTime' must be a date-time"),
        ({"topics": {"a": 1}}, "field 'topics' must be a list, not a mapping"),
        ({"topics": ["ok", 3]}, "field 'topics[1]' must be text"),
        ({"id": ["a"]}, "field 'id' must be text"),
    ],
)
def test_wrong_fields_are_named(over, message):
    assert message in problem(article_text(**good_fields(**over)))


def test_missing_required_field_is_named():
    fields = good_fields()
    del fields["originalUrl"]
    assert problem(article_text(**fields)) == "field 'originalUrl' is required"


def test_broken_yaml_gives_line_and_column():
    text = "---\ntitle: ok\npublished: true\nbad: [unclosed\n---\nbody\n"
    msg = problem(text)
    assert msg.startswith("invalid YAML at line ")
    assert "\n" not in msg


def test_yaml_tags_construct_nothing(tmp_path):
    marker = tmp_path / "pwned"
    text = (
        "---\n"
        f"title: !!python/object/apply:os.system ['touch {marker}']\n"
        "published: true\n---\n"
    )
    # Tags are ignored: the value is plain data (here a list, which no title may be).
    assert problem(text).startswith("field 'title' must be text, not a list")
    assert not marker.exists()
    named = article_text(**good_fields()).replace("title: Article number 1", "title: !!python/name:os.system x")
    assert problem(named).startswith("invalid YAML")


def test_alias_bombs_and_duplicate_keys_are_refused():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    assert "invalid YAML" in problem("---\n" + laughs + "---\n")
    assert "is given a second time (first at line 2)" in problem("---\ntitle: a\ntitle: b\n---\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("---\ntitle: caf\xe9\n---\n".encode("latin-1"), "not UTF-8 text (invalid byte at offset 14)"),
        (b"just some text\n", "no YAML front-matter block"),
        (b"---\ntitle: never closed\npublished: true\n", "not closed"),
        (b"---\n- a\n- b\n---\n", "front matter must be a mapping of fields, not a list"),
        (b"---\n---\nbody", "front matter must be a mapping of fields, not empty"),
    ],
)
def test_unreadable_files(data, message):
    assert message in problem(data)


def test_file_over_the_size_limit_is_not_read(site: Site):
    site.write("big.txt", article_text("x" * 5000, **good_fields()))
    [f] = scan_folder(site.content)
    with pytest.raises(ContentError, match=r"over the limit of 1,000 \(content.max_file_size\)"):
        read_article(f, max_size=1000, tz=UTC)


def test_a_file_that_grew_or_shrank_since_the_scan_is_read_as_it_is_now(site: Site):
    site.write("a.txt", article_text("short", **good_fields()))
    [f] = scan_folder(site.content)
    site.write("a.txt", article_text("a much longer body " * 50, **good_fields()))
    assert read_article(f, max_size=100_000, tz=UTC).body.count("longer") == 50
    site.write("a.txt", article_text("", **good_fields(title="T")))
    assert read_article(f, max_size=100_000, tz=UTC).title == "T"
    # Grown past the limit since the scan: still refused.
    site.write("a.txt", article_text("x" * 5000, **good_fields()))
    with pytest.raises(ContentError, match="over the limit"):
        read_article(f, max_size=1000, tz=UTC)


def test_bom_and_crlf_are_accepted():
    text = "\ufeff" + article_text("Body line\n", **good_fields()).replace("\n", "\r\n")
    a = parse(text)
    assert a.title == "Article number 1" and a.body == "Body line"


def test_control_characters_are_removed():
    text = article_text("body \x0b\x1b[31m red\n", **good_fields(title="Bad\x01\x02 title\x0c", excerpt="ok \x1f fine"))
    a = parse(text)
    assert a.title == "Bad title"
    assert a.excerpt == "ok fine"
    assert a.body == "body [31m red"


def test_title_and_excerpt_are_text_kept_as_written():
    """Text is text: what looks like markup or an entity is kept (renderers escape it), never stripped or decoded."""
    a = parse(article_text(**good_fields(title="<b>Bold</b> &amp; <script>alert(1)</script>brave",
                                         excerpt="<img src=x onerror=alert(1)>Hi <i>there</i>")))
    assert a.title == "<b>Bold</b> &amp; <script>alert(1)</script>brave"
    assert a.excerpt == "<img src=x onerror=alert(1)>Hi <i>there</i>"
    for title in ("History of the <blink> tag", "Using std::vector<int> in C++", "<blink>", "A &nbsp; B"):
        assert parse(article_text(**good_fields(title=title))).title == title


def test_blank_topics_are_ignored_and_duplicates_collapsed():
    a = parse(article_text(**good_fields(topics=["AI", "", "  ", "AI", "Space  Flight"])))
    assert a.topics == ("AI", "Space Flight")


def test_enclosure_fields():
    a = parse(article_text(**good_fields(enclosure={"url": "https://cdn.example.org/e1.mp3", "type": "audio/mpeg",
                                                    "length": 1234, "duration": "01:02:03"})))
    assert a.enclosure and a.enclosure.duration == 3723 and a.enclosure.length == 1234


def test_scan_is_recursive_sorted_and_skips_hidden_and_other_files(site: Site):
    site.write("b.md", "x")
    site.write("sub/a.txt", "x")
    site.write("sub/deeper/c.TXT", "x")
    site.write(".hidden.txt", "x")
    site.write(".git/config.txt", "x")
    site.write("notes.rst", "x")
    site.write("draft.txt~", "x")
    (site.content / "loop").symlink_to(site.content)
    assert [f.rel for f in scan_folder(site.content)] == ["b.md", "sub/a.txt", "sub/deeper/c.TXT"]


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("---\ntitle: T\npublished: true\n---\nBody\n", "Body"),
        ("---  \ntitle: T\npublished: true\n----\t\nBody\n\n---\n\nMore\n", "Body\n\n---\n\nMore"),
        ("---\ntitle: T\npublished: true\n---", ""),
        ("---\ntitle: T\npublished: true\n---\n---\n", "---"),
    ],
)
def test_front_matter_delimiters(text, body):
    fields = "publishedDateTime: 2024-01-01\noriginalUrl: https://example.org/x\n"
    a = parse(text.replace("title: T\n", "title: T\n" + fields))
    assert a.title == "T" and a.body == body


def test_a_dashed_line_inside_a_value_is_not_a_delimiter():
    text = article_text(**good_fields(excerpt="a --- b")).replace("excerpt: a --- b", "excerpt: |\n  a\n  ---x\n  b")
    assert parse(text).excerpt == "a ---x b"


def warnings_of(text: str) -> tuple[object, list[str]]:
    found: list[str] = []
    article = parse_article(text.encode(), rel="x/a.txt", tz=UTC, warnings=found)
    return article, found


@pytest.mark.parametrize(
    ("over", "message", "kept"),
    [
        ({"images": [{"width": 3}]}, "field 'images[0].url' is required; left out", lambda a: a.images == ()),
        ({"images": ["ftp://x.example/a.png", "https://x.example/b.png"]},
         "field 'images[0]' must be an absolute http or https URL, not the string 'ftp://x.example/a.png'; left out",
         lambda a: [i.url for i in a.images] == ["https://x.example/b.png"]),
        ({"images": [{"url": "https://x.example/a.png", "width": "wide"}]},
         "field 'images[0].width' must be a number, not the string 'wide'; left out",
         lambda a: a.images[0].url == "https://x.example/a.png" and a.images[0].width is None),
        ({"provider": {"domain": "x.org"}}, "field 'provider.name' is required; left out",
         lambda a: a.provider is None),
        ({"related": [{"title": "t"}, {"title": "u", "webUrl": "https://r.example/u"}]},
         "field 'related[0].originalUrl' is required; left out", lambda a: [r.title for r in a.related] == ["u"]),
        ({"enclosure": {"type": "audio/mpeg"}}, "field 'enclosure.url' is required; left out",
         lambda a: a.enclosure is None),
        ({"enclosure": {"url": "https://m.example/e.mp3", "length": -1}},
         "field 'enclosure.length' must not be negative; left out", lambda a: a.enclosure is None),
        ({"quality": True}, "field 'quality' must be a number, not the boolean true; left out",
         lambda a: a.quality is None),
        ({"webUrl": "javascript:alert(1)"}, "field 'webUrl' must be an absolute http or https URL",
         lambda a: a.web_url is None),
        ({"updatedDateTime": "soon"}, "field 'updatedDateTime' must be an ISO 8601 date",
         lambda a: a.updated_at is None),
    ],
)
def test_an_unusable_optional_field_is_left_out_with_a_warning(over, message, kept):
    article, found = warnings_of(article_text(**good_fields(**over)))
    assert len(found) == 1 and found[0].startswith(message), found
    assert kept(article)
    assert article.title == "Article number 1"  # the article itself is still published


def test_every_wrong_field_of_a_file_is_reported_at_once():
    text = article_text(**good_fields(title=7, published="yes", originalUrl="nope", images=[{"width": 1}]))
    assert problem(text) == ("field 'title' must be text, not the number 7; "
                             "field 'originalUrl' must be an absolute http or https URL, not the string 'nope'; "
                             "field 'published' must be true or false, not the string 'yes'")


def test_urls_become_uris_and_a_url_with_a_space_is_accepted():
    a = parse(article_text(**good_fields(originalUrl="https://bücher.example/straße?q=a b#teil 2",
                                         webUrl="https://ex.example/a%20b/ü",
                                         images=["https://img.example/ä.png"])))
    assert a.original_url == "https://xn--bcher-kva.example/stra%C3%9Fe?q=a%20b#teil%202"
    assert a.web_url == "https://ex.example/a%20b/%C3%BC"  # an existing escape is kept as it is
    assert a.images[0].url == "https://img.example/%C3%A4.png"


def test_files_parse_in_any_thread_after_the_first_parsing_thread_ended():
    """The daemon parses in its scheduler's threads. yaml-rs crashes the
    interpreter when the thread that imported it has ended and another calls
    it; importing feeder (in the main thread) imports it first."""
    import subprocess
    import sys

    script = f"""
import threading
from datetime import timezone
import feeder  # as the CLI does, in the main thread
data = open({str(SEED)!r}, "rb").read()
def parse():
    from feeder.content.reader import parse_article  # the first time: loads the parsing stack
    print(parse_article(data, rel="a.txt", tz=timezone.utc).id)
for _ in range(3):
    worker = threading.Thread(target=parse)
    worker.start()
    worker.join()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["a"] * 3



_VALUES = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.booleans(),
                    st.just("https://example.org/r"), st.just("  Spaced\tout  "), st.just("not a url"),
                    st.datetimes(timezones=st.just(timezone.utc)), st.datetimes(),
                    st.dictionaries(st.sampled_from(["name", "domain"]), st.one_of(st.none(), st.text(max_size=10),
                                                                                 st.integers())))


def _outcome(read, value):
    from feeder.content.reader import _FieldReader

    reader = _FieldReader("x.md", {}, UTC)
    try:
        return read(reader, value), tuple(reader.warnings)
    except ContentError as exc:
        return exc.problem, tuple(reader.warnings)


@given(item=st.one_of(_VALUES, st.dictionaries(
    st.sampled_from(["title", "webUrl", "originalUrl", "excerpt", "publishedDateTime", "provider", "other"]),
    _VALUES)))
@settings(max_examples=400, deadline=None)
def test_the_quick_reading_of_related_items_and_providers_is_the_full_one(item):
    assert _outcome(lambda r, v: r.related_item(v, "related[0]"), item) == \
        _outcome(lambda r, v: r._related_item(v, "related[0]"), item)
    assert _outcome(lambda r, v: r.provider(v, "provider"), item) == \
        _outcome(lambda r, v: _full_provider(r, v, "provider"), item)


def _full_provider(reader, value, field):
    """The provider as the reader reads one without its quick path."""
    from feeder.model import Provider
    from feeder.text import clean_text

    if value is None:
        return None
    if isinstance(value, str):
        name = clean_text(value)
        return Provider(name) if name else None
    m = reader.mapping(value, field)
    name = reader.text(reader.require(m, "name", field + "."), field + ".name", required=True)
    domain = reader.opt_str(m.get("domain"), field + ".domain")
    return Provider(name, domain)
