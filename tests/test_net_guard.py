"""The address guard's decisions, form by form: every way of writing an
address that leads to a private one is refused, the same forms leading to
public addresses are allowed. Nothing here connects anywhere."""

from __future__ import annotations

import ipaddress

import pytest

from feeder.net.guard import BadHost, embedded_ipv4, ip_literal, ipv4_number, is_public_address
from feeder.net.http import BadTarget, target_url

pytestmark = pytest.mark.no_state


@pytest.mark.parametrize(("address", "public"), [
    # IPv4-compatible (deprecated ::a.b.c.d)
    ("::127.0.0.1", False), ("::10.0.0.1", False), ("::8.8.8.8", True),
    # IPv4-mapped
    ("::ffff:127.0.0.1", False), ("::ffff:192.168.0.1", False), ("::ffff:8.8.8.8", True),
    # NAT64, well-known prefix (RFC 6052)
    ("64:ff9b::7f00:1", False), ("64:ff9b::a00:1", False), ("64:ff9b::a9fe:a9fe", False),
    ("64:ff9b::808:808", True),
    # NAT64, local-use prefix (RFC 8215, a /48: the address around the u octet)
    ("64:ff9b:1:a00:0:100::", False), ("64:ff9b:1:7f00:0:1::", False), ("64:ff9b:1:808:8:800::", True),
    # 6to4
    ("2002:a00:1::", False), ("2002:7f00:1::", False), ("2002:808:808::", True),
    # Teredo: server and client must both be public (the client is stored inverted)
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # client 10.0.0.1
    ("2001:0:808:808:8000:63bf:f7f7:f7f7", True),  # server and client 8.8.8.8
    # and plain ones, for contrast
    ("::1", False), ("::", False), ("fe80::1", False), ("2001:4860:4860::8888", True), ("8.8.8.8", True),
])
def test_embedded_ipv4_addresses_are_judged(address: str, public: bool):
    assert is_public_address(address) is public


def test_each_form_names_the_address_it_leads_to():
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::a00:1")) == [ipaddress.IPv4Address("10.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b:1:a00:0:100::")) == [ipaddress.IPv4Address("10.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("::a00:1")) == [ipaddress.IPv4Address("10.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("2001:4860:4860::8888")) == []


@pytest.mark.parametrize(("host", "address"), [
    ("0177.0.0.1", "127.0.0.1"), ("127.000.000.001", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("10.0.0.1.", "10.0.0.1"), ("8.8.8.8", "8.8.8.8"), ("0", "0.0.0.0"),
])
def test_ipv4_in_any_spelling_browsers_accept(host: str, address: str):
    assert str(ipv4_number(host)) == address
    assert str(ip_literal(host)) == address


@pytest.mark.parametrize("host", ["1.2.3.256", "1.2.3.4.5", "0x1g.0.0.1", "08.0.0.1", "256.1", "1..2"])
def test_numbers_that_make_no_address_are_refused(host: str):
    with pytest.raises(BadHost):
        ipv4_number(host)


@pytest.mark.parametrize("host", ["example.com", "1.example", "a1", "xn--bcher-kva.example"])
def test_names_are_names(host: str):
    assert ipv4_number(host) is None and ip_literal(host) is None


def test_a_request_goes_to_the_address_the_url_means():
    assert str(target_url("http://0177.0.0.1:8080/feed.xml?a=1#f")) == "http://127.0.0.1:8080/feed.xml?a=1#f"
    assert str(target_url("http://user@0x7f.1/x")) == "http://user@127.0.0.1/x"
    assert str(target_url("https://example.org/a b")) == "https://example.org/a%20b"
    for bad in ("http://1.2.3.256/", "ftp://example.org/", "http:///x", "mailto:a@b.c"):
        with pytest.raises(BadTarget):
            target_url(bad)
