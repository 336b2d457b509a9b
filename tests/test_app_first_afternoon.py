"""What a new user meets in the first afternoon, through the real command
line and daemon: every message says what to do, nothing is said twice, and
the README says what the commands do."""

from __future__ import annotations

import json
import re
import socket
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feeder.app.cli import make_parser

from conftest import ROOT, Site, free_port, get_url, good_fields, run_feeder, wait_until
from feeds import parse_feed
from httpserver import Reply

README = (ROOT / "README.md").read_text(encoding="utf-8")
RSS = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>Local</title><link>http://x.test/</link>"
       b"<description>d</description><item><title>One</title><link>https://example.org/1</link><guid>1</guid>"
       b"</item></channel></rss>")


def config(site: Site, **extra) -> Path:
    return site.config_file(extra)


def test_a_local_source_says_how_to_allow_it_and_a_source_not_due_how_to_force_it(site: Site, http_server):
    http_server.route("/rss.xml", Reply(200, {"Content-Type": "application/rss+xml"}, RSS))
    sources = [{"url": http_server.url("/rss.xml"), "name": "Local RSS"}]
    done = run_feeder("ingest", "--config", str(config(site, sources=sources)))
    assert done.returncode == 6
    assert "Local RSS: error: blocked-address" in done.stderr
    assert "links.allow_private: true" in done.stderr
    allowed = config(site, sources=sources, links={"enabled": False, "allow_private": True})
    fetched = run_feeder("ingest", "--force", "--config", str(allowed))
    assert fetched.returncode == 0 and "Local RSS: fetched: 1 new" in fetched.stdout
    again = run_feeder("ingest", "--config", str(allowed))
    assert "not due until" in again.stdout and "feeder ingest --force" in again.stdout
    comment = (ROOT / "config" / "feeder.yaml").read_text()
    assert "links.allow_private: true" in comment and "--force" in comment


def test_the_postgresql_install_line_installs_this_project():
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name != "feeder"  # another project has that name on the package index
    assert "pip install 'feeder[postgresql]'" not in README
    assert ".venv/bin/pip install '.[postgresql]'" in README
    assert f"{name.replace('-', '_')}-<version>-py3-none-any.whl[postgresql]" in README


def test_check_quiet_prints_only_what_this_round_found(site: Site, http_server):
    http_server.route("/alive", Reply(200))
    site.article("a.md", **good_fields(1, originalUrl=http_server.url("/alive"), webUrl=None))
    cfg = config(site, links={"enabled": True, "allow_private": True, "system_dns": False})
    quiet = run_feeder("check", "-q", "--config", str(cfg))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    loud = run_feeder("check", "--all", "--config", str(cfg))
    assert "feeder: links: 1 URL, 1 checked: 1 alive" in loud.stdout
    http_server.route("/alive", Reply(404))
    gone = run_feeder("check", "-q", "--all", "--config", str(cfg))
    assert "dead" in gone.stdout and http_server.url("/alive") in gone.stdout and "feeder: links" not in gone.stdout


def test_a_utf16_file_is_named_for_what_it_is(site: Site):
    text = "---\ntitle: Notepad\npublishedDateTime: 2024-05-01T00:00:00Z\noriginalUrl: https://e.org/1\n" \
           "published: true\n---\n"
    site.write("notepad.md", text.encode("utf-16"))
    done = run_feeder("build", "--config", str(config(site)))
    assert "skipped notepad.md: UTF-16 text" in done.stderr and "save it as UTF-8" in done.stderr


def test_state_copy_refuses_an_unknown_url_and_a_copy_into_itself(site: Site, tmp_path: Path, monkeypatch):
    cfg = config(site)
    monkeypatch.chdir(tmp_path)
    done = run_feeder("state", "copy", "--to", "mysql://x", "--config", str(cfg))
    assert done.returncode == 2 and "unknown kind of state URL 'mysql://'" in done.stderr
    assert not (tmp_path / "mysql:").exists()
    import os

    url = os.environ.get("FEEDER_STATE_URL")
    itself = run_feeder("state", "copy", "--to", url or str(site.state), "--config", str(cfg))
    assert itself.returncode == 2 and "the target is the state being copied" in itself.stderr


def test_an_emptied_topic_feed_keeps_the_date_of_its_last_item(site: Site):
    site.article("a.md", **good_fields(1, topics=["Alpha"]))
    site.article("b.md", **good_fields(5, topics=["Beta"]))
    cfg = config(site)
    assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
    for name in ("b.md", "a.md"):  # one topic emptied, then the whole site
        site.article(name, **good_fields(5 if name == "b.md" else 1, topics=["Beta" if name == "b.md" else "Alpha"],
                                         published=False))
        assert run_feeder("build", "-q", "--config", str(cfg)).returncode == 0
        beta = parse_feed(site.output / "topics" / "beta" / "atom.xml").feed
        assert beta.updated.startswith("2024-01-06"), beta.updated  # article 5's date, never 2000-01-01
        rss = (site.output / "topics" / "beta" / "rss.xml").read_text()
        assert "2000" not in re.search(r"<lastBuildDate>(.*?)</lastBuildDate>", rss).group(1)
    assert parse_feed(site.output / "atom.xml").feed.updated.startswith("2024-01-02")  # the last it showed


def test_a_lone_daemon_that_publishes_says_so_in_its_metrics(site: Site, tmp_path: Path, daemons):
    site.article("a.md", **good_fields(1))
    port = free_port()
    d = daemons(config(site), tmp_path / "d.log", "--serve", f"127.0.0.1:{port}")
    wait_until(lambda: "feeder_publisher 1.0" in get_url(f"http://127.0.0.1:{port}/metrics")[2].decode(), 20,
               "the daemon to say it publishes")
    assert d.stop() == 0, d.text()[-4000:]


def test_ingest_reports_each_problem_once(site: Site, http_server):
    http_server.route("/gone.xml", Reply(500))
    sources = [{"url": http_server.url("/gone.xml"), "name": "Broken"}]
    cfg = config(site, sources=sources, links={"enabled": False, "allow_private": True})
    for flags in ((), ("-v",)):
        done = run_feeder("ingest", "--force", *flags, "--config", str(cfg))
        out = done.stdout + done.stderr
        assert out.count("Broken: error: http-500") == 1, out


def test_a_future_article_is_counted_as_scheduled(site: Site):
    later = datetime.now(timezone.utc) + timedelta(days=3)
    site.article("soon.md", **good_fields(1, publishedDateTime=later))
    site.article("draft.md", **good_fields(2, published=False))
    cfg = config(site)
    done = run_feeder("build", "-v", "--config", str(cfg))
    assert "2 articles, 0 published, 1 scheduled, 0 skipped" in done.stdout
    assert f"next scheduled publication: {later.replace(microsecond=0).isoformat()}" in done.stdout
    status = json.loads(run_feeder("status", "--json", "--config", str(cfg)).stdout)
    assert status["scheduled"] == 1 and status["next_publication"] == later.replace(microsecond=0).isoformat()
    assert "1 scheduled" in run_feeder("status", "--config", str(cfg)).stdout


def test_words_counts_and_usage(site: Site, tmp_path: Path):
    site.article("a.md", **good_fields(1))
    cfg = config(site)
    done = run_feeder("build", "--config", str(cfg))
    assert "1 file read, 1 article, 1 published, 0 skipped; 2 feeds" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text() + "feeds: {max_items: '5'}\n")
    assert "feeds.max_items: must be a whole number, not the text '5'" in run_feeder(
        "build", "--config", str(bad)).stderr
    bad.write_text(cfg.read_text() + "feeds: {max_item: 5}\n")
    assert "feeds.max_item: unknown setting: did you mean feeds.max_items?" in run_feeder(
        "build", "--config", str(bad)).stderr
    bad.write_text(cfg.read_text() + "lock_timeout: 5s\nlock_timeout: 9s\n")
    assert re.search(r"line \d+.*'lock_timeout' a second time \(first at line \d+\)",
                     run_feeder("build", "--config", str(bad)).stderr)
    site.write("twice.md", "---\ntitle: A\ntitle: B\npublishedDateTime: 2024-05-01T00:00:00Z\n"
                           "originalUrl: https://e.org/2\npublished: true\n---\n")
    assert "skipped twice.md: invalid YAML at line 3: the key 'title' is given a second time (first at line 2)" \
        in run_feeder("build", "--config", str(cfg)).stderr
    usage = run_feeder("build", "--bogus")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: feeder build")
    assert "./feeder.yaml" in run_feeder("build", "--help").stdout


def test_a_port_in_use_is_said_once(site: Site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_feeder("serve", "--port", str(port), "--config", str(config(site)))
    assert done.returncode == 5
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in done.stderr
    assert done.stderr.count(str(port)) == 1


def test_a_daemon_without_sources_announces_no_ingest(site: Site, tmp_path: Path, daemons):
    site.article("a.md", **good_fields(1))
    port = free_port()
    cfg = config(site, schedule={"rescan": "1h"})
    d = daemons(cfg, tmp_path / "d.log", "--serve", f"127.0.0.1:{port}")
    body = wait_until(lambda: (r := get_url(f"http://127.0.0.1:{port}/healthz"))[0] == 200 and r[2], 20, "health")
    assert "ingest" not in json.loads(body)["next_round"] and "rescan" in json.loads(body)["next_round"]
    status = json.loads(run_feeder("status", "--json", "--config", str(cfg)).stdout)
    assert "ingest" not in status["next_rounds"]
    assert d.stop() == 0, d.text()[-4000:]
    started = next(line for line in d.text().splitlines() if "feeder daemon started" in line)
    assert "ingest" not in started and "link-check" not in started  # link checks are off in the tests


def test_the_readme_says_what_each_command_takes():
    synopsis = README.split("## Command line", 1)[1].split("```", 2)[1]
    parser = make_parser()
    commands = {}
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        if name == "state":
            inner = next(a for a in command._actions if a.dest == "state_command")
            for inner_name, inner_command in inner.choices.items():
                commands[f"state {inner_name}"] = inner_command
        else:
            commands[name] = command
    common = {"-h", "--help", "-v", "--verbose", "-q", "--quiet", "--log-format", "--config", "-c"}
    lines = {m.group(1): line for line in synopsis.splitlines()
             if (m := re.match(r"feeder ((?:state )?\w+)", line.strip()))}
    assert set(lines) == set(commands)
    for name, command in commands.items():
        options = {o for a in command._actions for o in a.option_strings} - common
        named = set(re.findall(r"(--[a-z-]+)", lines[name])) - common
        longest = {max((o for o in a.option_strings), key=len) for a in command._actions if a.option_strings} - common
        assert named == longest, (name, named, longest)
        assert options >= named
    assert "Every command takes `-v`/`-q` and `--log-format text|json`" in README


def test_the_quick_start_says_what_it_prints_offline():
    quick = README.split("## Quick start", 1)[1].split("## ", 1)[0]
    assert "a WARNING\nline says the network looks unreachable" in quick

