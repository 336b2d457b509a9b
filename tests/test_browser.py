"""The landing page in a real browser: Debian's Chromium, driven by Playwright,
against `feeder serve` on 127.0.0.1."""

from __future__ import annotations

import shutil

import httpx
import pytest
import yaml
from lxml import etree

from conftest import ROOT, ServeProcess, free_port, run_feeder

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium tries to reach Google's
# hosts at start, which this machine refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps"]


@pytest.fixture(scope="module")
def sample_served(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copytree(ROOT / "config", root / "config")
    port = free_port()
    cfg = root / "config" / "feeder.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["site"]["base_url"] = f"http://127.0.0.1:{port}/"
    data["links"] = {"enabled": False}
    cfg.write_text(yaml.safe_dump(data))
    proc = run_feeder("build", "-q", cwd=root)
    assert proc.returncode == 0, proc.stderr
    server = ServeProcess(["serve", "--config", str(cfg), "--port", str(port)], port, root / "serve.log")
    yield root, server
    assert server.stop() == 0, server.text()[-4000:]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def test_landing_page_loads_cleanly_and_every_link_works(sample_served, browser):
    root, server = sample_served
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(server.url("/"), wait_until="load")
    assert response is not None and response.status == 200
    assert page.title() == "Example News: feeds"
    assert problems == []

    alternates = page.eval_on_selector_all(
        'link[rel="alternate"]', "els => els.map(e => [e.type, e.href])")
    opml = etree.fromstring((root / "feeds" / "index.opml").read_bytes())
    listed = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    assert {href for _, href in alternates} == listed
    assert {t for t, _ in alternates} == {"application/rss+xml", "application/atom+xml", "application/feed+json"}

    subscribe = page.eval_on_selector_all(".subscribe a, a[type='text/x-opml']", "els => els.map(e => e.href)")
    assert set(subscribe) >= listed
    with httpx.Client() as client:
        for href in subscribe:
            r = client.get(href)
            assert r.status_code == 200, href
    headings = page.eval_on_selector_all("section h2", "els => els.map(e => e.textContent)")
    # The page heading names the site; sections name only their topic.
    assert headings[0] == "All topics" and "Artificial Intelligence" in headings
    assert not [h for h in headings if "Example News" in h]
    assert page.eval_on_selector_all("script", "els => els.length") == 0
    page.close()


def test_page_is_readable_without_css_or_script(sample_served, browser):
    _, server = sample_served
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server.url("/"))
    text = page.inner_text("main")
    assert "Subscribe:" in text and "RSS" in text and "Atom" in text and "JSON Feed" in text
    context.close()


def test_dates_never_break_and_topics_without_a_description_show_no_filler(sample_served, browser):
    root, server = sample_served
    page = browser.new_page(viewport={"width": 280, "height": 800})  # a narrow phone: lines wrap
    page.goto(server.url("/"))
    lines = page.eval_on_selector_all("time", "els => els.map(e => e.getClientRects().length)")
    assert lines and set(lines) == {1}, lines  # each date on one line, however narrow the page
    described = page.eval_on_selector_all(
        "section", "els => els.map(s => [s.querySelector('h2').textContent,"
                   " [...s.querySelectorAll(':scope > p')].map(p => p.textContent)])")
    config = yaml.safe_load((root / "config" / "feeder.yaml").read_text())
    configured = {(t.get("title") or name): t.get("description") for name, t in config["topics"].items()}
    for heading, paragraphs in described:
        prose = [p for p in paragraphs if not p.startswith("Subscribe:") and not p.endswith(("item", "items"))
                 and "digest:" not in p]
        assert prose == ([configured[heading]] if configured.get(heading) else []), (heading, prose)
        assert not [p for p in prose if "the latest from" in p]
    page.close()
