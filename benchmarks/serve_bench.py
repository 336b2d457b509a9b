"""HTTP load on `feeder serve` and on nginx (config/nginx.conf) serving the
same output folder, with wrk on loopback.

    python benchmarks/serve_bench.py [--duration 10] [--connections 64]

Measures full responses, gzip responses and conditional (If-None-Match → 304)
requests for the all-topics RSS feed of a generated site, and prints requests
per second and feeder's share of nginx's rate. Needs Debian's wrk and nginx.
Nothing is asserted: the figures are for reading.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rescan_bench

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def etag(url: str, encoding: str) -> str:
    req = urllib.request.Request(url, method="HEAD", headers={"Accept-Encoding": encoding})
    with urllib.request.urlopen(req) as r:
        return r.headers["ETag"]


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> tuple[float, int]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout)[: ]+(\d+)", out))
    return rate, errors


def start_nginx(root: Path, output: Path, port: int) -> subprocess.Popen[bytes]:
    conf = (ROOT / "config" / "nginx.conf").read_text()
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("/srv/feeder/feeds", str(output))
    (root / "logs").mkdir(exist_ok=True)
    (root / "site.conf").write_text(conf)
    temp = "\n".join(f"{k}_temp_path {root}/tmp_{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"{user}\nworker_processes 1;\ndaemon off;\npid {root}/nginx.pid;\nerror_log {root}/logs/error.log;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{ include /etc/nginx/mime.types; access_log off;\n{temp}\n"
        f"include {root}/site.conf; }}\n")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return subprocess.Popen([nginx, "-p", str(root), "-c", str(root / "nginx.conf")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="feeder-serve-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        rescan_bench.generate(root / "content", 2000)
        fport, nport = free_port(), free_port()
        cfg = root / "feeder.yaml"
        cfg.write_text(yaml.safe_dump({
            "site": {"title": "Bench", "base_url": f"http://127.0.0.1:{fport}/"},
            "content_dir": str(root / "content"), "output_dir": str(root / "feeds"),
            "state_dir": str(root / "state"), "links": {"enabled": False},
        }))
        subprocess.run([sys.executable, "-m", "feeder", "build", "-q", "--config", str(cfg)], check=True)
        size = (root / "feeds" / "rss.xml").stat().st_size
        procs.append(subprocess.Popen([sys.executable, "-m", "feeder", "serve", "-q", "--config", str(cfg),
                                       "--port", str(fport)]))
        procs.append(start_nginx(root, root / "feeds", nport))
        servers = {"feeder serve": f"http://127.0.0.1:{fport}/rss.xml", "nginx": f"http://127.0.0.1:{nport}/rss.xml"}
        for url in servers.values():
            wait_for(url)
        print(f"/rss.xml is {size / 1000:.0f} KB; wrk, 2 threads, {a.connections} connections, {a.duration} s each; "
              f"{os.cpu_count()} CPUs")
        results: dict[tuple[str, str], float] = {}
        for kind in ("full", "gzip", "conditional (304)"):
            for name, url in servers.items():
                enc = "gzip" if kind == "gzip" else "identity"
                headers = {"Accept-Encoding": enc}
                if kind.startswith("conditional"):
                    headers["If-None-Match"] = etag(url, enc)
                rate, errors = wrk(url, headers, a.duration, a.connections)
                results[kind, name] = rate
                print(f"  {kind:<18} {name:<13} {rate:10,.0f} req/s  errors {errors}")
            print(f"  {'':<18} feeder/nginx  {results[kind, 'feeder serve'] / results[kind, 'nginx']:10.0%}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
