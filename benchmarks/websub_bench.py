"""Push-to-feed latency with WebSub: from a hub's delivery POST to the
published feed showing the new entry, through a real `feeder daemon
--serve` subscribed to the W3C-style hub the tests use, all on 127.0.0.1.

    python benchmarks/websub_bench.py              # 20 deliveries
    python benchmarks/websub_bench.py --n 50 --articles 10000

Prints the median, 95th percentile and maximum over the deliveries, and the
polling delay the same source would see instead (half of
ingest.min_interval on average). With --articles, the content folder holds
that many other articles too (a build has more to do). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from websub_hub import Hub  # noqa: E402 - the hub the tests use


def atom(feed_url: str, hub: str, entries: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<entry><title>{title}</title><id>urn:bench:{key}</id>"
                    f"<link href='https://blog.example.org/{key}'/><updated>2026-01-01T10:00:00Z</updated>"
                    f"<summary>{title}.</summary></entry>" for key, title in entries)
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Bench</title>"
            f"<id>urn:bench</id><updated>2026-01-01T10:00:00Z</updated><link rel='hub' href='{hub}'/>"
            f"<link rel='self' href='{feed_url}'/>{items}</feed>").encode()


class FeedServer:
    """The source's own feed, on 127.0.0.1."""

    def __init__(self) -> None:
        self.body = b""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.atom"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="deliveries (default 20)")
    ap.add_argument("--articles", type=int, default=0, help="other articles in the content folder")
    ap.add_argument("--python", default=sys.executable, help="the Python that runs feeder")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="feeder-websub-bench-"))
    hub, feed = Hub(), FeedServer()
    proc = None
    try:
        if a.articles:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from rescan_bench import generate

            generate(root / "content" / "local", a.articles)
        feed.body = atom(feed.url, hub.url, [("0", "Seed entry")])
        port = free_port()
        config = root / "feeder.yaml"
        config.write_text(yaml.safe_dump({
            "site": {"title": "Bench", "base_url": "https://bench.example/feeds/"},
            "content_dir": str(root / "content"), "output_dir": str(root / "feeds"),
            "state_dir": str(root / "state"),
            "links": {"enabled": False, "allow_private": True},
            "schedule": {"rescan": "1h", "ingest": "1h", "watch": True},
            "sources": [{"url": feed.url, "name": "Pushed", "publish": True}],
            "ingest": {"websub": {"callback": f"http://127.0.0.1:{port}/websub/", "max_per_minute": 1000}},
        }))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([a.python, "-m", "feeder", "ingest", "-q", "--config", str(config)], check=True, env=env)
        log = open(root / "daemon.log", "wb")
        proc = subprocess.Popen([a.python, "-m", "feeder", "daemon", "--config", str(config), "--serve",
                                 f"127.0.0.1:{port}"], stderr=log, env=env)
        deadline = time.monotonic() + 120
        while not hub.subscribed(feed.url) or not (root / "feeds" / "rss.xml").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"no subscription: {(root / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.05)
        rss = root / "feeds" / "rss.xml"
        entries = [("0", "Seed entry")]
        latencies = []
        for i in range(1, a.n + 1):
            marker = f"Pushed probe {i} {time.time_ns()}"
            entries.insert(0, (str(i), marker))
            body = atom(feed.url, hub.url, entries[:20])
            probe = marker.encode()
            started = time.perf_counter()
            statuses = hub.publish(feed.url, body)
            if statuses != [202]:
                raise SystemExit(f"delivery {i} answered {statuses}")
            while probe not in rss.read_bytes():
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"delivery {i} not published within 60 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.2)  # deliveries apart, as a real hub sends them
        lat = sorted(latencies)
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(f"WebSub push to published feed, {len(lat)} deliveries, {a.articles:,} other articles: "
              f"median {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
        print("the same source polled every ingest.min_interval (15m by default): 7.5 min on average, "
              "15 min at worst")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        hub.close()
        feed.httpd.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
