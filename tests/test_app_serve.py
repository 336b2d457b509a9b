"""`feeder serve` as a real process: headers, conditional requests, gzip and
the folder's boundaries."""

from __future__ import annotations

import http.client
import os
import threading
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from feeder.app.pipeline import build

from conftest import ServeProcess, Site, free_port, good_fields

pytestmark = pytest.mark.no_state  # never opens the state database: runs once


@pytest.fixture(scope="module")
def served_site(tmp_path_factory):
    """One built site and one server for the whole module: these tests only read."""
    from datetime import datetime, timezone

    tmp_path = tmp_path_factory.mktemp("served")
    site = Site(tmp_path)
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    site.article("a.txt", **good_fields(1, topics=["AI"]))
    site.article("b.md", "Body", **good_fields(2, topics=["Space"]))
    port = free_port()
    cfg = site.config_file({"site": {"title": "Test Site", "base_url": f"http://127.0.0.1:{port}/"},
                            "serve": {"max_age": "10m"}, "websub": {"hubs": [HUB], "timeout": 1}})
    from feeder.config import load_config

    build(load_config(cfg), now=now)
    server = ServeProcess(["serve", "--config", str(cfg), "--port", str(port)], port, tmp_path / "serve.log")
    yield site, server
    assert server.stop() == 0, server.text()[-4000:]


@pytest.fixture
def served(served_site):
    return served_site[1]


@pytest.fixture
def site(served_site):  # the served site (shadows conftest's fresh one)
    return served_site[0]


# Nothing listens there: pings are refused at once, and never leave the machine.
HUB = "http://127.0.0.1:9/hub"

EXPECTED_TYPES = {
    "/rss.xml": "application/rss+xml; charset=utf-8",
    "/atom.xml": "application/atom+xml; charset=utf-8",
    "/feed.json": "application/feed+json; charset=utf-8",
    "/topics/ai/rss.xml": "application/rss+xml; charset=utf-8",
    "/index.opml": "text/x-opml; charset=utf-8",
    "/index.html": "text/html; charset=utf-8",
    "/": "text/html; charset=utf-8",
}


@pytest.mark.parametrize(("path", "ctype"), EXPECTED_TYPES.items())
def test_content_types_and_caching_headers(served, site: Site, path, ctype):
    r = httpx.get(served.url(path))
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.headers["cache-control"] == "max-age=600"
    assert r.headers["etag"].startswith('"') and not r.headers["etag"].startswith("W/")
    rel = "index.html" if path == "/" else path.lstrip("/")
    mtime = (site.output / rel).stat().st_mtime
    assert r.headers["last-modified"] == formatdate(mtime, usegmt=True)
    assert r.content == (site.output / rel).read_bytes()


def test_conditional_requests_get_304(served):
    url = served.url("/topics/ai/atom.xml")
    first = httpx.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"other", W/{etag}'}, {"If-None-Match": "*"},
                    {"If-Modified-Since": modified}):
        r = httpx.get(url, headers=headers)
        assert r.status_code == 304, headers
        assert r.content == b"" and r.headers["etag"] == etag
    assert httpx.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    assert httpx.get(url, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status_code == 200
    # If-None-Match wins over If-Modified-Since.
    assert httpx.get(url, headers={"If-None-Match": '"stale"', "If-Modified-Since": modified}).status_code == 200


def test_gzip_when_asked_with_vary(served, site: Site):
    url = served.url("/rss.xml")
    with httpx.Client() as client:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
        refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in plain.headers and "content-encoding" not in refused.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content == (site.output / "rss.xml").read_bytes()  # httpx decodes gzip
    assert int(packed.headers["content-length"]) < int(plain.headers["content-length"]) / 2
    assert packed.headers["etag"] != plain.headers["etag"]
    again = httpx.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304


def test_head_and_link_headers(served):
    r = httpx.head(served.url("/topics/space/feed.json"))
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 100
    assert r.headers["link"] == (f'<{served.url("/topics/space/feed.json")}>; rel="self", '
                                 f'<{HUB}>; rel="hub"')
    assert "link" not in httpx.head(served.url("/index.html")).headers


def raw_status(port: int, path: str) -> int:
    """A request sent exactly as written: no client-side normalisation of the path."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize("path", [
    "/../feeder.yaml", "/topics/../../feeder.yaml", "/%2e%2e/feeder.yaml", "/%2E%2E%2Ffeeder.yaml",
    "/topics/%2e%2e/%2e%2e/feeder.yaml", "//etc/passwd", "/etc/passwd", "/topics/", "/topics", "/topics/ai/",
    "/.hidden", "/topics/.x", "/rss.xml%00.txt", "/..%5cfeeder.yaml", "/nope.xml", "/state/feeder.sqlite3",
    "/%2Fetc%2Fpasswd",
])
def test_only_files_inside_the_output_folder_are_served(served, site: Site, path):
    (site.output / ".hidden").write_text("secret")
    (site.output / "topics" / ".x").write_text("secret")
    assert raw_status(served.port, path) == 404


def test_symlinks_out_of_the_folder_are_404(served, site: Site, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    (site.output / "leak.txt").symlink_to(secret)
    (site.output / "leakdir").symlink_to(tmp_path)
    (site.output / "inside.xml").symlink_to(site.output / "rss.xml")
    assert raw_status(served.port, "/leak.txt") == 404
    assert raw_status(served.port, "/leakdir/secret.txt") == 404
    assert raw_status(served.port, "/inside.xml") == 200


def test_a_feed_replaced_while_served_is_served_whole(served, site: Site):
    from feeder.output.writer import Publisher

    versions = [(f"<rss>{'x' * 200_000}{i}</rss>").encode() for i in range(3)]
    pub = Publisher(site.output)
    pub.write("swap.xml", versions[0])
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            pub.write("swap.xml", versions[i % 3])

    t = threading.Thread(target=writer)
    t.start()
    seen = set()
    try:
        with httpx.Client() as client:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                for enc in ("identity", "gzip"):
                    r = client.get(served.url("/swap.xml"), headers={"Accept-Encoding": enc})
                    assert r.status_code == 200
                    assert r.content in versions
                    seen.add(r.content)
    finally:
        stop.set()
        t.join()
    assert len(seen) >= 2


def test_serve_reports_a_busy_port(tmp_path: Path):
    import socket

    site = Site(tmp_path)
    site.article("a.txt", **good_fields(1))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        from conftest import run_feeder

        proc = run_feeder("serve", "--config", str(site.config_file()), "--port", str(port), timeout=20)
    assert proc.returncode == 5 and "cannot listen" in proc.stderr and "Traceback" not in proc.stderr


def test_daemon_serves_too(tmp_path: Path):
    site = Site(tmp_path / "d")
    site.article("a.txt", **good_fields(1))
    port = free_port()
    cfg = site.config_file({"schedule": {"rescan": "1s", "link_check": "1h"}})
    server = ServeProcess(["daemon", "--config", str(cfg), "--serve", f"127.0.0.1:{port}"], port,
                          tmp_path / "daemon.log")
    try:
        deadline = time.monotonic() + 10
        while httpx.get(server.url("/rss.xml")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(server.url("/rss.xml")).headers["content-type"].startswith("application/rss+xml")
    finally:
        assert server.stop() == 0, server.text()[-4000:]
    assert not os.path.exists(site.output / ".feeder-rss.xml.tmp")
