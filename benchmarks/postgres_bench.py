"""PostgreSQL against SQLite, and link checks shared by instances.

    python benchmarks/postgres_bench.py                  # both parts, N = 100,000
    python benchmarks/postgres_bench.py --n 20000 --skip-links

Part 1, rescans: one generated corpus (benchmarks/rescan_bench.py's), each
phase its own `feeder build` process, with SQLite in state_dir and with
PostgreSQL on this machine in turn (so that both see the same changes and
the same machine): a cold build, a no-change rescan (median of five), one
edited file, 100 new files. Prints each and the ratio.

Part 2, link checks: 10,000 published articles whose URLs spread over 100
loopback hosts answering after 20 ms (benchmarks/slow_server.py), checked by
one process, then by two processes sharing the PostgreSQL state (each claims
hosts, see feeder.links.rounds). Prints checks per second and the CPU
seconds the checkers used, so the scaling per core is visible.

A PostgreSQL server with its default durability is started for the run
(tests/pgserver.py: initdb and pg_ctl, as the postgres user when run as
root). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import pgserver  # noqa: E402
import rescan_bench  # noqa: E402

import slow_server  # noqa: E402


def fresh_schema(server: pgserver.PostgresServer, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    return server.url(schema=name)


def build(config: Path, url: str | None) -> float:
    env = dict(rescan_bench.CHILD_ENV)
    env.pop("FEEDER_STATE_URL", None)
    if url:
        env["FEEDER_STATE_URL"] = url
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "feeder", "build", "-q", "--config", str(config)], env=env, check=True)
    return time.perf_counter() - started


def rescans(server: pgserver.PostgresServer, root: Path, n: int) -> None:
    content = root / "content"
    rescan_bench.generate(content, n)
    print(f"\nPart 1: rescans, N = {n:,} (SQLite and PostgreSQL alternate on the same folder)")
    configs: dict[str, tuple[Path, str | None]] = {}
    for backend in ("sqlite", "postgresql"):
        config = root / f"{backend}.yaml"
        config.write_text(yaml.safe_dump({
            "site": {"title": "Bench", "base_url": "https://bench.example/feeds/"},
            "content_dir": str(content), "output_dir": str(root / f"feeds-{backend}"),
            "state_dir": str(root / f"state-{backend}"), "links": {"enabled": False},
        }))
        configs[backend] = (config, fresh_schema(server, "bench_rescan") if backend == "postgresql" else None)
    results: dict[str, dict[str, float]] = {b: {} for b in configs}

    def each(phase: str, runs: int = 1) -> None:
        times: dict[str, list[float]] = {b: [] for b in configs}
        for _ in range(runs):
            for backend, (config, url) in configs.items():
                times[backend].append(build(config, url))
        for backend in configs:
            results[backend][phase] = statistics.median(times[backend])

    rescan_bench.floor_read(content)  # the page cache, warm for both
    each("cold build")
    each("rescan, nothing changed", runs=5)
    victim = sorted(content.rglob("*.txt"))[1]
    victim.write_text(victim.read_text().replace('title: "', 'title: "Updated: ', 1))
    each("rescan, one file changed")  # both see the same edit
    rescan_bench.generate(content, 100, start=n, seed=7)
    each("rescan, 100 files added")
    for phase in results["sqlite"]:
        s, p = results["sqlite"][phase], results["postgresql"][phase]
        print(f"  {phase:<28} SQLite {s:7.2f} s   PostgreSQL {p:7.2f} s   ratio {p / s:4.2f}x")


def links(server: pgserver.PostgresServer, root: Path, urls: int, hosts: int, delay: float) -> None:
    port = rescan_bench_free_port()
    ready = mp.Event()
    proc = mp.Process(target=slow_server.run, args=(hosts, port, delay, ready), daemon=True)
    proc.start()
    ready.wait(30)
    addresses = slow_server.loopback_hosts(hosts)
    content = root / "links-content"
    content.mkdir()
    for i in range(urls):
        (content / f"a{i:05d}.md").write_text(
            f"---\ntitle: Article {i}\npublishedDateTime: 2025-01-01T00:00:00Z\n"
            f"originalUrl: http://h{i % hosts}.bench:{port}/article/{i}\npublished: true\ntopics: [T]\n---\n")
    config = root / "links.yaml"
    config.write_text(yaml.safe_dump({
        "site": {"title": "Bench", "base_url": "https://bench.example/feeds/"},
        "content_dir": str(content), "output_dir": str(root / "links-feeds"), "state_dir": str(root / "links-state"),
        "links": {"enabled": False, "allow_private": True, "system_dns": False, "retries": 0, "per_host": 4,
                  "concurrency": 64, "hosts": {f"h{i}.bench": [a] for i, a in enumerate(addresses)}},
    }))
    url = fresh_schema(server, "bench_links")
    build(config, url)  # the catalog, with link checks off
    print(f"\nPart 2: link checks, {urls:,} URLs over {hosts} hosts answering after {delay * 1000:g} ms, "
          f"concurrency 64, 4 per host, one state in PostgreSQL")
    worker = ("import json, sys, time, resource\n"
              "from dataclasses import replace\n"
              "from feeder.config import load_config\n"
              "from feeder.links.check import check_shared_links\n"
              "s = load_config(sys.argv[1]); s = replace(s, links=replace(s.links, enabled=True))\n"
              "r = check_shared_links(s, budget=600)\n"
              "u = resource.getrusage(resource.RUSAGE_SELF)\n"
              "print(json.dumps({'checked': r.checked, 'cpu': u.ru_utime + u.ru_stime}))\n")
    env = {**rescan_bench.CHILD_ENV, "FEEDER_STATE_URL": url}
    try:
        for instances in (1, 2):
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DELETE FROM links")
            started = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", worker, str(config)], env=env, stdout=subprocess.PIPE,
                                      text=True) for _ in range(instances)]
            outs = [json.loads(p.communicate()[0]) for p in procs]
            wall = time.perf_counter() - started
            checked = sum(o["checked"] for o in outs)
            cpu = sum(o["cpu"] for o in outs)
            print(f"  {instances} instance(s): {checked:,} checked in {wall:5.2f} s = {checked / wall:7,.0f} checks/s; "
                  f"CPU {cpu:5.2f} s ({checked / cpu:6,.0f} checks per CPU second); shares "
                  f"{[o['checked'] for o in outs]}")
    finally:
        proc.terminate()
        proc.join(5)


def rescan_bench_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="corpus size for the rescans")
    ap.add_argument("--urls", type=int, default=10_000)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--skip-rescans", action="store_true")
    ap.add_argument("--skip-links", action="store_true")
    a = ap.parse_args()
    server = pgserver.PostgresServer.start(durable=True)
    root = Path(tempfile.mkdtemp(prefix="feeder-pgbench-"))
    try:
        print(f"{os.cpu_count()} CPUs; PostgreSQL on 127.0.0.1:{server.port} (default durability: fsync, "
              "synchronous commits; SQLite in WAL mode with synchronous=NORMAL, as feeder opens it)")
        if not a.skip_rescans:
            rescans(server, root, a.n)
        if not a.skip_links:
            links(server, root, a.urls, a.hosts, a.delay)
    finally:
        server.destroy()
        subprocess.run(["rm", "-rf", str(root)], check=False)



if __name__ == "__main__":
    main()
