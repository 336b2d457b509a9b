"""URLs as subscribers get them: RFC 3986 URIs, nothing else changed."""

from __future__ import annotations

import pytest

from feeder.urls import http_uri, is_http_url, to_uri

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


@pytest.mark.parametrize(("given", "uri"), [
    ("https://example.org/a?b=c#d", "https://example.org/a?b=c#d"),  # already a URI: untouched
    ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
    ("https://ex.example/a b?q=x y#f g", "https://ex.example/a%20b?q=x%20y#f%20g"),
    ("https://ex.example/a%20b/ü", "https://ex.example/a%20b/%C3%BC"),  # existing escapes kept
    ("https://ex.example/100%", "https://ex.example/100%25"),  # a lone % is encoded
    ("https://ex.example/%7euser/%2F", "https://ex.example/%7euser/%2F"),  # case and reserved escapes kept
    ("https://ex.example/a{b}|c", "https://ex.example/a%7Bb%7D%7Cc"),
    ("http://[::1]:8080/ä", "http://[::1]:8080/%C3%A4"),
    ("https://user:pä@例え.jp:8443/x", "https://user:p%C3%A4@xn--r8jz45g.jp:8443/x"),
    ("  https://example.org/trim  ", "https://example.org/trim"),
])
def test_to_uri(given: str, uri: str):
    assert to_uri(given) == uri
    assert to_uri(uri) == uri  # idempotent


@pytest.mark.parametrize("bad", ["ftp://example.org/a", "mailto:a@b.example", "/relative", "https:///nohost",
                                 "https://exa mple.org/", "http://[::1", "https://ex.example:port/", "",
                                 "javascript:alert(1)", "https://a..b\u0000/",
                                 "https://a\u0000b.bücher.example/"])
def test_not_http_urls(bad: str):
    assert http_uri(bad) is None and not is_http_url(bad)


def test_a_host_that_cannot_be_a_domain_name_is_refused():
    assert http_uri("https://a\u200db.example/") is None or http_uri("https://a\u200db.example/").isascii()
    with pytest.raises(ValueError):
        to_uri("https://\u0378.example/")  # an unassigned code point
