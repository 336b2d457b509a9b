"""Hostile and unlucky inputs, each through the real command line, daemon or
server: one bad file, name, folder or URL is reported with what it is and
why, never stops the rest, never leaks a secret and never costs without
bound."""

from __future__ import annotations

import json

import pytest

from conftest import Site, article_text, free_port, get_url, good_fields, run_feeder, wait_until
from httpserver import Reply

RSS = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><link>http://example.org/</link>"
       b"<description>d</description><item><title>One</title><link>https://example.org/1</link>"
       b"<guid>w-1</guid></item></channel></rss>")


def ingest_json(site: Site, sources: list[dict], allow_private: bool) -> tuple[int, dict, str]:
    cfg = site.config_file({"sources": sources, "links": {"enabled": False, "allow_private": allow_private}})
    done = run_feeder("ingest", "--force", "--json", "--config", str(cfg))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_odd_ipv4_spellings_in_source_urls_are_judged_as_the_address_they_mean(site: Site, http_server):
    http_server.route("/feed.xml", Reply(200, {"Content-Type": "application/rss+xml"}, RSS))
    port = http_server.port
    sources = [{"url": f"http://0177.0.0.1:{port}/feed.xml", "name": "Octal"},
               {"url": f"http://127.000.000.001:{port}/feed.xml", "name": "Padded"},
               {"url": "http://1.2.3.256/feed.xml", "name": "Nonsense"},
               {"url": f"http://127.0.0.1:{port}/feed.xml", "name": "Plain"}]
    code, report, _ = ingest_json(site, sources, allow_private=False)
    assert code == 6  # every due source failed, each for its own reason
    assert [(s["name"], s["status"], s["error"]) for s in report["sources"]] == [
        ("Octal", "error", "blocked-address"), ("Padded", "error", "blocked-address"),
        ("Nonsense", "error", "bad-url"), ("Plain", "error", "blocked-address")]
    assert not http_server.requests  # the guard decided before anything was sent

    site.new = True
    code, report, _ = ingest_json(site, sources, allow_private=True)
    assert code == 0
    assert [(s["name"], s["status"]) for s in report["sources"]] == [
        ("Octal", "fetched"), ("Padded", "fetched"), ("Nonsense", "error"), ("Plain", "fetched")]


def test_a_source_that_redirects_to_itself_is_a_redirect_loop(site: Site, http_server):
    port = http_server.port
    http_server.route("/loop.xml", Reply(302, {"Location": f"http://127.0.0.1:{port}/loop.xml"}))
    http_server.route("/a.xml", Reply(301, {"Location": "/b.xml"}))
    http_server.route("/b.xml", Reply(301, {"Location": "/a.xml"}))
    http_server.route("/far.xml", Reply(302, {"Location": "http://1.2.3.256/x"}))
    http_server.route("/moved.xml", Reply(301, {"Location": "/feed.xml"}))
    http_server.route("/feed.xml", Reply(200, {"Content-Type": "application/rss+xml"}, RSS))
    sources = [{"url": f"http://127.0.0.1:{port}{path}", "name": name}
               for path, name in (("/loop.xml", "Self"), ("/a.xml", "Pair"), ("/far.xml", "Far"),
                                  ("/moved.xml", "Moved"))]
    code, report, _ = ingest_json(site, sources, allow_private=True)
    assert code == 0
    assert [(s["name"], s["status"], s["error"]) for s in report["sources"]] == [
        ("Self", "error", "redirect-loop"), ("Pair", "error", "redirect-loop"), ("Far", "error", "bad-redirect"),
        ("Moved", "fetched", None)]
    assert report["sources"][3]["moved_to"] == f"http://127.0.0.1:{port}/feed.xml"


def raw_request(port: int, data: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_oversized_and_malformed_requests_cost_one_short_line_and_are_counted(site: Site, tmp_path, daemons):
    site.article("a.md", **good_fields(1))
    port = free_port()
    d = daemons(site.config_file({"schedule": {"rescan": "1h"}}), tmp_path / "daemon.log", "--serve",
                f"127.0.0.1:{port}")
    wait_until(lambda: get_url(f"http://127.0.0.1:{port}/rss.xml")[0] == 200, 20, "the first build")
    long_path = b"/" + b"a" * 100_000
    for request in (b"GET " + long_path + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n",
                    b"GET " + long_path + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        assert raw_request(port, request).split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    assert get_url(f"http://127.0.0.1:{port}/rss.xml")[0] == 200  # still serving
    metrics = get_url(f"http://127.0.0.1:{port}/metrics")[2].decode()
    assert 'feeder_http_malformed_requests_total{error="LineTooLong"} 3.0' in metrics
    assert d.stop() == 0, d.text()[-4000:]
    log = d.text()
    assert "Traceback" not in log and "aaaaaaaaaa" not in log and "bbbbbbbbbb" not in log
    lines = [line for line in log.splitlines() if "malformed request" in line]
    assert len(lines) == 1 and "LineTooLong" in lines[0] and "127.0.0.1" in lines[0], lines


FRONT = ('publishedDateTime: 2024-05-01T00:00:00Z\noriginalUrl: "https://example.org/{n}"\n'
         "published: true\ntopics: [AI]\n")


def test_nothing_reachable_from_secured_is_published_or_printed(site: Site):
    secret = "TOPSECRET-5f1b"
    site.article("good.md", **good_fields(1))
    cases = {
        "title.md": f'---\nsecured: &s "{secret}"\ntitle: *s\n' + FRONT.format(n=2) + "---\n",
        "topics.md": f'---\nsecured: &s "{secret}"\ntitle: t\n' + FRONT.format(n=3).replace("[AI]", "*s") + "---\n",
        "url.md": f'---\nsecured: &s "http://x.example/{secret}"\ntitle: t\npublishedDateTime: 2024-05-01T00:00:00Z\n'
                  "originalUrl: *s\npublished: true\n---\n",
        "published.md": f'---\nsecured: &s "{secret}"\ntitle: t\noriginalUrl: "https://example.org/5"\n'
                        "publishedDateTime: 2024-05-01T00:00:00Z\npublished: *s\n---\n",
        "merge.md": f'---\nsecured: &s {{name: "{secret}"}}\ntitle: t\n' + FRONT.format(n=6)
                    + "provider:\n  <<: *s\n---\n",
        "copy.md": f'---\nsecured: "{secret}"\ntitle: "Leaked {secret} here"\n' + FRONT.format(n=7) + "---\n",
        "listed.md": f'---\nsecured: &s ["{secret}"]\ntitle: t\n' + FRONT.format(n=8) + "related: *s\n---\n",
    }
    for name, text in cases.items():
        site.write(name, text)
    cfg = site.config_file()
    done = run_feeder("build", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    for rel, data in site.outputs().items():
        assert secret.encode() not in data, rel
        if rel.endswith(".gz"):
            import gzip

            assert secret.encode() not in gzip.decompress(data), rel
    for name in cases:
        assert f"skipped {name}: " in done.stderr and "repeats the value of 'secured'" in done.stderr, name
    assert "1 published" in done.stdout


def test_file_names_that_are_not_utf8_are_reported_and_the_rest_published(site: Site, tmp_path, daemons):
    import os

    from feeder.model import item_id

    from feeds import ids

    site.article("good.md", **good_fields(1))
    bad = os.fsencode(site.content) + b"/bad\xffname.md"
    with open(bad, "w", encoding="utf-8") as fh:
        fh.write(article_text(**good_fields(2)))
    os.mkdir(os.fsencode(site.content) + b"/caf\xe9")
    with open(os.fsencode(site.content) + b"/caf\xe9/inside.md", "w", encoding="utf-8") as fh:
        fh.write(article_text(**good_fields(3)))
    cfg = site.config_file({"schedule": {"rescan": "1s", "watch": True}})
    for _ in range(2):  # the second build reports it again, from what the first one stored
        done = run_feeder("build", "--config", str(cfg))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert "skipped bad\\xffname.md: the file name is not valid UTF-8" in done.stderr
        assert "skipped caf\\xe9/inside.md: the file name is not valid UTF-8" in done.stderr
        assert ids(site.output / "rss.xml") == [item_id("good")]
    assert run_feeder("build", "--strict", "-q", "--config", str(cfg)).returncode == 1

    d = daemons(cfg, tmp_path / "daemon.log", "-v")
    wait_until(lambda: "watching" in d.text(), 20, "the daemon")
    with open(os.fsencode(site.content) + b"/more\xfe.md", "w", encoding="utf-8") as fh:
        fh.write(article_text(**good_fields(4)))
    os.rename(bad, os.fsencode(site.content) + b"/renamed\xff.md")
    site.article("later.md", **good_fields(5))
    wait_until(lambda: item_id("later") in ids(site.output / "rss.xml"), 10, "a good file after bad ones")
    assert d.stop() == 0, d.text()[-4000:]
    assert "Traceback" not in d.text() and "failed" not in d.text()
    done = run_feeder("build", "--config", str(cfg))
    assert "skipped more\\xfe.md" in done.stderr and "skipped renamed\\xff.md" in done.stderr
    assert "bad\\xffname.md" not in done.stderr


def test_symbolic_links_are_followed_only_inside_the_content_folder_unless_configured(site: Site, tmp_path):
    import os

    from feeder.model import item_id

    from feeds import ids

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "folder").mkdir(parents=True)
    (elsewhere / "article.md").write_text(article_text(**good_fields(1)))
    (elsewhere / "folder" / "deep.md").write_text(article_text(**good_fields(2)))
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$not-an-article:19000:0:99999:7:::\n")
    site.article("real/inside.md", **good_fields(3))
    os.symlink(site.content / "real" / "inside.md", site.content / "alias.md")  # inside: read as that file
    os.symlink(elsewhere / "article.md", site.content / "y.md")  # out: not followed
    os.symlink(secret, site.content / "x.md")
    os.symlink(elsewhere / "folder", site.content / "linked")  # a folder out: not descended
    os.symlink(site.content / "real", site.content / "again")  # a folder inside: listed where it is
    os.symlink(site.content, site.content / "real" / "loop")  # a loop

    cfg = site.config_file()
    done = run_feeder("build", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert sorted(ids(site.output / "rss.xml")) == sorted([item_id("inside"), item_id("alias")])
    for name, target in (("x.md", secret), ("y.md", elsewhere / "article.md")):
        assert f"skipped {name}: a symbolic link leading out of the content folder (to {target})" in done.stderr
    assert "not-an-article" not in done.stderr + done.stdout
    assert "deep" not in done.stderr

    cfg = site.config_file({"content": {"follow_symlinks": True}})
    done = run_feeder("build", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    published = set(ids(site.output / "rss.xml"))
    assert {item_id("y"), item_id("deep"), item_id("inside")} <= published
    assert "skipped x.md" in done.stderr and "no YAML front-matter" in done.stderr  # read, and not an article


# As a user without root's power over permissions: root with the two
# capabilities that let it read anything dropped from the process.
WITHOUT_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def run_as_user(*args: str):
    import subprocess
    import sys

    return subprocess.run([*WITHOUT_DAC, sys.executable, "-m", "feeder", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_an_unreadable_folder_is_reported_and_its_articles_stay_published(site: Site):
    import os
    import shutil

    from feeder.model import item_id

    from feeds import ids

    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root's override of permissions"
    site.article("top.md", **good_fields(1))
    site.article("sub/inner.md", **good_fields(2))
    cfg = site.config_file()
    assert run_as_user("build", "-q", "--config", str(cfg)).returncode == 0
    assert sorted(ids(site.output / "rss.xml")) == sorted([item_id("top"), item_id("inner")])
    os.chmod(site.content / "sub", 0)
    try:
        for _ in range(2):  # reported by every build, not only the one that first met it
            done = run_as_user("build", "--config", str(cfg))
            assert done.returncode == 0, done.stderr
            assert "skipped sub/: cannot read this folder (permission denied)" in done.stderr
            assert sorted(ids(site.output / "rss.xml")) == sorted([item_id("top"), item_id("inner")])
        assert run_as_user("build", "--strict", "-q", "--config", str(cfg)).returncode == 1
    finally:
        os.chmod(site.content / "sub", 0o755)
    done = run_as_user("build", "--config", str(cfg))
    assert "cannot read" not in done.stderr
    (site.content / "sub" / "inner.md").unlink()  # readable again, the truth is back
    assert run_as_user("build", "-q", "--config", str(cfg)).returncode == 0
    assert ids(site.output / "rss.xml") == [item_id("top")]


@pytest.mark.sqlite_only
def test_a_damaged_state_database_is_one_line_and_exit_3(site: Site, tmp_path, daemons):
    import random

    from conftest import write_corpus

    write_corpus(site.content, 300)
    cfg = site.config_file()
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    db = site.state / "feeder.sqlite3"
    data = bytearray(db.read_bytes())
    rng = random.Random(5)
    data[4096:] = bytes(rng.getrandbits(8) for _ in range(len(data) - 4096))  # all but the header page
    db.write_bytes(bytes(data))
    site.article("edited.md", **good_fields(1))
    checking = site.config_file({"links": {"enabled": True, "system_dns": False}})
    for command, config in ((["build"], cfg), (["status"], cfg), (["check"], checking), (["build"], cfg)):
        done = run_feeder(*command, "--config", str(config))
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 3 and "Traceback" not in done.stderr, (command, done.stderr)
        assert len(lines) == 1 and str(db) in lines[0] and "damaged" in lines[0], done.stderr
        assert "restore it from a backup" in lines[0] and "rebuilds it from the content folder" in lines[0]
    port = free_port()
    d = daemons(cfg, tmp_path / "daemon.log", "--serve", f"127.0.0.1:{port}")
    _, _, body = wait_until(lambda: (r := get_url(f"http://127.0.0.1:{port}/healthz"))[0] == 503 and r, 20,
                            "/healthz to report the damaged database")
    assert "damaged" in body.decode() and str(db) in body.decode()
    assert d.stop() == 0, d.text()[-4000:]
    assert "Traceback" not in d.text()


@pytest.mark.sqlite_only
def test_a_read_only_state_database_is_one_line_and_leaves_nothing_behind(site: Site):
    import os

    site.article("a.md", **good_fields(1))
    cfg = site.config_file()
    assert run_as_user("build", "-q", "--config", str(cfg)).returncode == 0
    db = site.state / "feeder.sqlite3"
    before = sorted(p.name for p in site.state.iterdir())
    os.chmod(db, 0o444)
    site.article("b.md", **good_fields(2))
    done = run_as_user("build", "--config", str(cfg))
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert str(db) in done.stderr and "cannot be written" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in site.state.iterdir()) == before  # no -wal or -shm of its mode left
    os.chmod(db, 0o644)
    done = run_as_user("build", "--config", str(cfg))
    assert done.returncode == 0, done.stderr


def test_an_article_with_thousands_of_topics_costs_a_bounded_build(site: Site):
    from feeder.content.reader import MAX_TOPICS

    topics = "".join(f"  - t{i}\n" for i in range(2000))
    site.write("many.md", '---\ntitle: "Many"\npublishedDateTime: 2024-01-01T00:00:00Z\n'
                          f'originalUrl: "https://example.org/1"\npublished: true\ntopics:\n{topics}---\n')
    site.article("good.md", **good_fields(2))
    done = run_feeder("build", "--config", str(site.config_file()), timeout=120)
    assert done.returncode == 0, done.stderr
    assert (f"warning many.md: field 'topics' has more than {MAX_TOPICS} topics; the first {MAX_TOPICS} are "
            f"used, the other {2000 - MAX_TOPICS} left out") in done.stderr
    feeds = sorted(p.parent.name for p in (site.output / "topics").glob("*/rss.xml"))
    assert len(feeds) == MAX_TOPICS + 1 and "t99" in feeds and "t100" not in feeds  # and AI
    from feeds import parse_feed

    entry = parse_feed(site.output / "topics" / "t0" / "rss.xml").entries[0]
    assert [t.term for t in entry.tags] == [f"t{i}" for i in range(MAX_TOPICS)]


# -- hunted for: hostile files beside good ones --------------------------------------

def _hostile_text(kind: str, secret: str, n: int, data) -> bytes:
    from hypothesis import strategies as st

    front = (f'publishedDateTime: 2024-03-{1 + n % 28:02d}T10:00:00Z\noriginalUrl: "https://example.org/h{n}"\n'
             "published: true\n")
    if kind == "alias":
        target = data.draw(st.sampled_from(["title", "excerpt", "topics", "originalUrl", "published", "id",
                                            "provider", "webUrl"]))
        lines = {"title": f'"Hostile {n}"', "excerpt": '"x"', "topics": "[AI]", "provider": "{name: P}"}
        lines[target] = "*s"
        body = "".join(f"{k}: {v}\n" for k, v in lines.items())
        extra = front if target not in ("originalUrl", "published") else front.replace(
            f'originalUrl: "https://example.org/h{n}"\n' if target == "originalUrl" else "published: true\n", "")
        return f'---\nsecured: &s "{secret}"\n{body}{extra}---\n'.encode()
    if kind == "merge":
        return (f'---\nsecured: &s {{name: "{secret}", domain: "{secret}.example"}}\ntitle: "M {n}"\n{front}'
                "provider:\n  <<: *s\n---\n").encode()
    if kind == "nested-alias":
        return (f'---\nsecured: &s ["{secret}", {{deep: ["{secret}"]}}]\ntitle: "N {n}"\n{front}'
                "related: [{title: t, webUrl: 'https://example.org/r', excerpt: *s}]\n---\n").encode()
    if kind == "garbage":
        text = data.draw(st.text(max_size=300))
        return f'---\nsecured: "{secret}"\n{text}\n---\n'.encode("utf-8", "surrogatepass")
    if kind == "deep":
        depth = data.draw(st.integers(100, 5000))
        return f'---\nsecured: "{secret}"\ntitle: {"[" * depth}\n---\n'.encode()
    if kind == "huge-list":
        count = data.draw(st.integers(101, 3000))
        topics = ", ".join(f"t{i}" for i in range(count))
        return f'---\nsecured: "{secret}"\ntitle: "L {n}"\n{front}topics: [{topics}]\n---\n'.encode()
    if kind == "controls":
        junk = data.draw(st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=20))
        escaped = junk.encode("unicode_escape").decode()
        return f'---\nsecured: "{secret}"\ntitle: "C {n} {escaped}"\n{front}---\n'.encode()
    if kind == "binary":
        return data.draw(st.binary(max_size=400)) + secret.encode()
    raise AssertionError(kind)


def _hostile_name(data, n: int) -> bytes:
    from hypothesis import strategies as st

    raw = data.draw(st.one_of(
        st.binary(min_size=1, max_size=40),
        st.text(min_size=1, max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ))
    raw = raw.replace(b"/", b"_").replace(b"\0", b"_")
    return b"h%d-" % n + raw + data.draw(st.sampled_from([b".md", b".txt", b".MD"]))


def test_hostile_files_never_stop_the_good_ones_never_leak_and_are_each_reported(tmp_path):
    import gzip
    import os
    import shutil
    import subprocess
    import sys

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from feeder.content.names import shown, to_key
    from feeder.model import item_id

    from feeds import ids

    kinds = ["alias", "merge", "nested-alias", "garbage", "deep", "huge-list", "controls", "binary"]

    @settings(max_examples=int(os.environ.get("FEEDER_HOSTILE_EXAMPLES", "25")), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data(), picks=st.lists(st.sampled_from(kinds), min_size=1, max_size=6))
    def hunt(data, picks):
        root = tmp_path / "site"
        shutil.rmtree(root, ignore_errors=True)
        site = Site(root)
        good = [f"good{i}" for i in range(3)]
        for i, stem in enumerate(good):
            site.article(f"{stem}.md", **good_fields(i, secured="GOOD-SECRET-0a1b2c3d"))
        secrets, names = [], []
        for n, kind in enumerate(picks):
            secret = f"SECRET-{n}-{data.draw(st.integers(10**8, 10**9 - 1))}"
            name = _hostile_name(data, n)
            with open(os.fsencode(site.content) + b"/" + name, "wb") as fh:
                fh.write(_hostile_text(kind, secret, n, data))
            secrets.append(secret)
            names.append(to_key(os.fsdecode(name)))
        done = subprocess.run([sys.executable, "-m", "feeder", "build", "--config", str(site.config_file())],
                              capture_output=True, timeout=120, check=False)  # a hang fails the test
        out, err = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
        assert done.returncode == 0, err
        published = set(ids(site.output / "rss.xml"))
        assert {item_id(stem) for stem in good} <= published
        for key in names:
            reported = f"skipped {shown(key)}: " in err or f"warning {shown(key)}: " in err
            assert reported or item_id(key.rsplit(".", 1)[0]) in published, (shown(key), err)
        everything = [out, err]
        for rel, blob in site.outputs().items():
            everything.append((gzip.decompress(blob) if rel.endswith(".gz") else blob).decode("utf-8", "replace"))
        for secret in [*secrets, "GOOD-SECRET-0a1b2c3d"]:
            assert not any(secret in text for text in everything), secret

    hunt()
