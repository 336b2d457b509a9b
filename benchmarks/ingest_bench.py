"""One `feeder ingest` round over many sources, against the ideal.

    python benchmarks/ingest_bench.py                  # 1,000 and 10,000 sources
    python benchmarks/ingest_bench.py --n 10000 --concurrency 64 --latency 0.02

A server in a process of its own serves N feeds on 127.0.0.1, each
answering after `--latency` seconds: most with `304 Not Modified` to the
validators of the last fetch, `--changed` of them (a share) with a new
entry, `--failing` of them with `500`. A first round fetches every feed
(each 200, each writing an article); then the timed round, every source
due (`--force`), each its own `feeder ingest` process with its peak memory.
The ideal is what the latency alone costs at the configured concurrency:
sources × latency / concurrency. Nothing is asserted: the figures are for
reading.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

_MEASURE = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); "
            "print(u.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(s))")


def serve(port: int, latency: float, changed: float, failing: float, ready: multiprocessing.synchronize.Event
          ) -> None:
    """The feeds: /feed/N.xml. Round r of a feed is its ETag; a changed feed moves on each request."""
    import asyncio

    from aiohttp import web

    rounds: dict[int, int] = {}

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        await asyncio.sleep(latency)
        if (n % 1000) < failing * 1000:
            return web.Response(status=500, text="broken")
        moves = (n % 1000) >= 1000 - changed * 1000
        current = rounds.get(n, 0)
        if moves and request.headers.get("If-None-Match"):
            current += 1
            rounds[n] = current
        etag = f'"{n}-{current}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        items = "".join(f"<item><title>Feed {n} entry {r}</title><link>https://feed{n}.example/{r}</link>"
                        f"<guid>feed{n}-{r}</guid><pubDate>Mon, 01 Jun 2025 08:00:00 GMT</pubDate></item>"
                        for r in range(current + 1))
        body = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {n}</title>"
                f"<link>https://feed{n}.example/</link><description>d</description>{items}</channel></rss>")
        return web.Response(text=body, content_type="application/rss+xml", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/feed/{n}.xml", feed)
    runner = web.AppRunner(app, access_log=None)

    async def main() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_ingest(python: str, config: Path) -> tuple[float, float, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, python, "-m", "feeder", "ingest", "--force", "-q",
                           "--config", str(config)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    lines = proc.stderr.strip().splitlines()
    return elapsed, int(lines[-1]) / 1024, "\n".join(lines[:-1])[-500:]


def bench(n: int, args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"feeder-ingest-{n}-", dir=args.dir))
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, args.latency, args.changed, args.failing, ready),
                                     daemon=True)
    server.start()
    try:
        ready.wait(30)
        config = root / "feeder.yaml"
        config.write_text(yaml.safe_dump({
            "content_dir": str(root / "content"), "output_dir": str(root / "feeds"), "state_dir": str(root / "state"),
            "links": {"enabled": False, "allow_private": True},
            "ingest": {"concurrency": args.concurrency, "min_interval": "1s", "timeout": "20s"},
            "sources": [{"url": f"http://127.0.0.1:{port}/feed/{i}.xml", "name": f"feed {i}", "publish": True}
                        for i in range(n)],
        }))
        first, first_rss, _ = run_ingest(args.python, config)
        second, rss, out2 = run_ingest(args.python, config)
        ideal = n * args.latency / args.concurrency
        print(f"\n{n:,} sources, {args.concurrency} at once, {args.latency * 1000:g} ms each "
              f"({args.changed:.0%} changed, {args.failing:.0%} failing):")
        print(f"  first round (every feed new):   {first:7.2f} s, peak RSS {first_rss:6.0f} MB")
        print(f"  round, mostly 304:              {second:7.2f} s, peak RSS {rss:6.0f} MB")
        print(f"  ideal (sources x latency / concurrency): {ideal:.2f} s; round / ideal: {second / ideal:.2f}x")
        if out2.strip():
            print(f"  stderr: {out2.strip()[:300]}")
    finally:
        server.terminate()
        server.join(5)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, action="append", help="sources (repeatable; default 1000 and 10000)")
    ap.add_argument("--concurrency", type=int, default=64, help="ingest.concurrency (default 64)")
    ap.add_argument("--latency", type=float, default=0.02, help="seconds each answer takes (default 0.02)")
    ap.add_argument("--changed", type=float, default=0.05, help="share of feeds with a new entry (default 0.05)")
    ap.add_argument("--failing", type=float, default=0.02, help="share of feeds answering 500 (default 0.02)")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary folder)")
    ap.add_argument("--python", default=sys.executable, help="the Python that runs feeder")
    args = ap.parse_args()
    os.environ.pop("FEEDER_STATE_URL", None)
    for n in args.n or [1000, 10_000]:
        bench(n, args)


if __name__ == "__main__":
    main()
