import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.text import clean_text, html_to_text, render_markdown, sanitize_html, xml_safe
from feeder.urls import is_http_url

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


def test_xml_safe_keeps_what_xml_allows_and_drops_the_rest():
    allowed = "tab\t nl\n cr\r é 中 😀 \ue000 \ufffd"
    assert xml_safe(allowed) == allowed
    assert xml_safe("a\x00b\x08c\x1fd\ud800e\udfff f\ufffe\uffff") == "abcde f"


def test_html_to_text_decodes_entities_without_reintroducing_control_characters():
    assert html_to_text("a &#1; b &amp; &lt;i&gt;") == "a b & <i>"


def test_markdown_is_sanitized_and_urls_made_absolute():
    html = render_markdown(
        "[rel](../other) ![img](pic.png) [js](javascript:alert(1)) <a href='javascript:x()'>x</a>"
        "<script>alert(1)</script><iframe src='https://evil.example/'></iframe>"
        "<img src='https://ok.example/a.png' onerror='alert(1)'>",
        "https://site.example/articles/one/",
    )
    assert 'href="https://site.example/articles/other"' in html
    assert 'src="https://site.example/articles/one/pic.png"' in html
    assert "javascript:" not in html.replace("[js](javascript:alert(1))", "")
    for bad in ("<script", "<iframe", "onerror", "alert(1)</script"):
        assert bad not in html


def test_relative_urls_without_a_base_are_dropped():
    assert "href" not in sanitize_html('<a href="/x">x</a>', None)


def test_is_http_url():
    assert is_http_url("https://example.org/a?b=c")
    assert not is_http_url("https:///nohost")
    assert not is_http_url("mailto:a@b.c")
    assert not is_http_url("https://exa mple.org/")
    assert not is_http_url("http://[::1")


_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=40)
       | st.text(" \t\n\xa0\u2003ab\x00\ud800\ufffe", max_size=12))
def test_text_is_cleaned_as_the_rules_say(text: str):
    """The fast paths give what the rules give: no character XML cannot
    carry, whitespace runs but the no-break space collapsed, ends trimmed."""
    safe = _NOT_XML.sub("", text)
    assert xml_safe(text) == safe
    assert clean_text(text) == re.sub(r"[^\S\xa0]+", " ", safe).strip()


def test_a_body_built_to_be_slow_renders_whole():
    from feeder.text import MAX_DEPTH, TooDeep, render_markdown

    html = render_markdown("*a* " * 250_000, "https://example.org/")
    assert html.count("<em>a</em>") == 250_000
    assert "deep" in render_markdown("> " * (MAX_DEPTH - 1) + "deep", None)  # and a paragraph inside
    for deep in ("> " * 50_000 + "deep", "<div>" * 100_000 + "deep", "<ul><li>" * 300 + "deep"):
        with pytest.raises(TooDeep):
            render_markdown(deep, None)
