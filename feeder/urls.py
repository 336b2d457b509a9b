"""URLs as subscribers must get them: valid RFC 3986 URIs, and the rules
that compare them.

A content file or a followed feed may hold an IRI (`https://bücher.example/straße`)
or a URL with a space in it. Every URL feeder writes goes through `to_uri`
first: the host in IDNA form, everything outside URI characters in the path,
query and fragment percent-encoded as UTF-8, existing `%XX` escapes kept as
they are, nothing else changed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMETERS", "canonical_link", "host_of", "http_uri", "is_http_url", "to_uri"]

# Characters RFC 3986 never allows in a URI, plus a '%' that starts no escape.
_NOT_URI = re.compile(r"[^\x21-\x7e]|[\"<>\\^`{|}]|%(?![0-9A-Fa-f]{2})")
# scheme://authority[/?#rest]
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(//([^/?#]*))?(.*)\Z", re.DOTALL)
_HTTP = re.compile(r"(?i:https?)://[^/?#\s]+(?:[/?#]\S*)?\Z")
# The common case, decided without urlsplit (a cold build checks every URL of every file):
# a plain host name, an optional port, then anything a URI may hold.
_PLAIN_HTTP = re.compile(r"(?i:https?)://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::(\d{1,5}))?(?:[/?#][\x21-\x7e]*)?\Z")


class _NotAUrl(ValueError):
    pass


def _quote(part: str) -> str:
    if part.isascii() and _NOT_URI.search(part) is None:
        return part
    return _NOT_URI.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), part)


def _idna_host(host: str) -> str:
    if host.isascii():
        if _NOT_URI.search(host):
            raise _NotAUrl(f"host {host!r} holds characters no host name may hold")
        return host
    import idna  # installed with httpx

    labels = []
    for label in host.rstrip(".").split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.encode(label, uts46=True).decode("ascii"))
        except idna.IDNAError as exc:
            raise _NotAUrl(f"host {host!r} is not a valid international domain name ({exc})") from None
    encoded = ".".join(labels) + ("." if host.endswith(".") else "")
    if _NOT_URI.search(encoded):
        raise _NotAUrl(f"host {host!r} holds characters no host name may hold")
    return encoded


def _authority(authority: str) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):  # an IPv6 literal, with or without a port
        host, _, rest = hostport.partition("]")
        return f"{_quote(userinfo)}{at}{host}]{rest}"
    host, colon, port = hostport.partition(":")
    return f"{_quote(userinfo)}{at}{_idna_host(host)}{colon}{port}"


def to_uri(url: str) -> str:
    """`url` as a valid URI: IDNA host, UTF-8 percent-encoding of what URIs
    cannot hold, existing escapes and everything else unchanged.

    Raises ValueError for a host that cannot be an international domain name.
    """
    url = url.strip()
    if url.isascii() and _NOT_URI.search(url) is None:
        return url  # the common case: already a URI (and no control character anywhere)
    m = _ABSOLUTE.match(url)
    if m is None or m.group(2) is None:
        return _quote(url)
    scheme, authority, rest = m.group(1), m.group(3), m.group(4)
    return f"{scheme}://{_authority(authority)}{_quote(rest)}"


def http_uri(url: str) -> str | None:
    """The URI form of an absolute http(s) URL, or None when it is not one."""
    try:
        uri = to_uri(url)
    except ValueError:
        return None
    plain = _PLAIN_HTTP.match(uri)
    if plain is not None:
        return uri if plain.group(1) is None or int(plain.group(1)) <= 65535 else None
    if _HTTP.match(uri) is None:
        return None
    try:
        parts = urlsplit(uri)
        if not parts.hostname:
            return None
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return uri


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) URL (an IRI counts: it is encoded on output)."""
    return http_uri(value) is not None


# Parameters that only say where a click came from. Anything else may tell
# two pages apart (`?p=2`, `?ref=v2`) and is kept.
TRACKING_PARAMETERS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid", "mc_cid", "mc_eid",
    "_ga", "_gl", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok", "oly_anon_id",
    "oly_enc_id", "vero_id", "vero_conv", "ref_src", "ref_url", "spm",
})


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in TRACKING_PARAMETERS


def canonical_link(url: str) -> str:
    """The form under which two feeds' links to one story compare equal.

    Scheme, `www.`, default ports, a trailing slash, the order of query
    parameters and known tracking parameters do not tell stories apart; the
    fragment does (`changelog#v1` and `changelog#v2` are two entries).
    """
    parts = urlsplit(to_uri(url))
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https" if parts.scheme in ("http", "https") else parts.scheme, netloc, path,
                       urlencode(sorted(query)), parts.fragment))


def host_of(url: str) -> str:
    """The URL's host, lower-cased ('' without one): what per-host limits and claims count by."""
    return (urlsplit(url).hostname or "").lower()
