"""config/nginx.conf with Debian's nginx on 127.0.0.1: the production setup
sends the same caching headers as `feeder serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from feeder.app.pipeline import build

from conftest import ROOT, Site, free_port, good_fields

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    if NGINX is None:
        pytest.fail("nginx is not installed; .ci/run installs it (apt-get install nginx)")
    from datetime import datetime, timezone

    root = tmp_path_factory.mktemp("nginx")
    site = Site(root / "site")
    for n in range(3):
        site.article(f"{n}.txt", **good_fields(n, topics=["AI"]))
    build(site.settings, now=datetime(2025, 6, 1, tzinfo=timezone.utc))
    port = free_port()
    conf = (ROOT / "config" / "nginx.conf").read_text()
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("/srv/feeder/feeds", str(site.output))
    (root / "logs").mkdir()
    (root / "site.conf").write_text(conf)
    temp = "\n".join(f"    {k}_temp_path {root}/tmp_{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root, nginx's workers would drop to an account that cannot read pytest's private folders.
    user = "user root;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
{temp}
    include {root}/site.conf;
}}
""")
    proc = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(url + "/index.opml")
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(root / 'logs/error.log').read_text()}") from None
            time.sleep(0.05)
    yield site, url
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize(("path", "ctype"), [
    ("/rss.xml", "application/rss+xml; charset=utf-8"), ("/atom.xml", "application/atom+xml; charset=utf-8"),
    ("/topics/ai/feed.json", "application/feed+json; charset=utf-8"), ("/index.opml", "text/x-opml; charset=utf-8"),
    ("/", "text/html; charset=utf-8"),
])
def test_types_etag_and_cache_control(nginx, path, ctype):
    site, url = nginx
    r = httpx.get(url + path, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.headers["content-type"] == ctype
    assert r.headers["etag"] and r.headers["last-modified"]
    assert r.headers["cache-control"] == "max-age=300"
    assert r.content == (site.output / ("index.html" if path == "/" else path.lstrip("/"))).read_bytes()


def test_conditional_requests_and_precompressed_gzip(nginx):
    _, url = nginx
    with httpx.Client() as client:
        plain = client.get(url + "/topics/ai/atom.xml", headers={"Accept-Encoding": "identity"})
        assert client.get(url + "/topics/ai/atom.xml", headers={"If-None-Match": plain.headers["etag"],
                                                                "Accept-Encoding": "identity"}).status_code == 304
        assert client.get(url + "/topics/ai/atom.xml", headers={"If-Modified-Since": plain.headers["last-modified"],
                                                                "Accept-Encoding": "identity"}).status_code == 304
        packed = client.get(url + "/topics/ai/atom.xml", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # the build's .gz copy, decoded
    assert packed.headers["link"] == f'<{url}/topics/ai/atom.xml>; rel="self"'


def test_nothing_outside_or_hidden_is_served(nginx):
    site, url = nginx
    (site.output / ".secret").write_text("no")
    for path in ("/.secret", "/topics/", "/../site.conf"):
        assert httpx.get(url + path).status_code == 404, path
