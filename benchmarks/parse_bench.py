"""CPU time to read, parse and check one article file, per file, on one core:
the seed itself and a corpus of generated seed-format files.

    python benchmarks/parse_bench.py                       # this checkout's feeder
    python benchmarks/parse_bench.py --python V/bin/python # feeder as installed there (an older version)

Runs in a child process of the given interpreter, best of five passes over
the same files after a warm-up pass, `time.process_time()` (CPU, not wall):
what a cold build's workers spend per file before writing it to the
database. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import os, sys, time
from zoneinfo import ZoneInfo
from feeder.content.reader import parse_file
from feeder.content.scan import ContentFile

def files_of(paths):
    out = []
    for p in paths:
        st = os.stat(p)
        out.append(ContentFile(p, os.path.basename(p), st.st_size, st.st_mtime_ns))
    return out

def per_file(files, rounds=5):
    tz = ZoneInfo("UTC")
    for f in files:
        parse_file(f, max_size=10_000_000, tz=tz)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for f in files:
            parse_file(f, max_size=10_000_000, tz=tz)
        best = min(best, (time.process_time() - started) / len(files))
    return best * 1e6

seed, corpus = sys.argv[1], sys.argv[2]
print(f"seed file (x1000):            {per_file(files_of([seed] * 1000)):6.1f} us CPU per file")
names = sorted(os.listdir(corpus))
print(f"{len(names):,} generated files:       {per_file(files_of([os.path.join(corpus, n) for n in names])):6.1f} "
      "us CPU per file")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="the Python that runs feeder (default: this one)")
    ap.add_argument("--n", type=int, default=5000, help="generated files (default 5000)")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from rescan_bench import generate

    seed = next((ROOT / "content").rglob("000_005fe135b4900bd1.txt"))
    with tempfile.TemporaryDirectory(prefix="feeder-parse-bench-") as tmp:
        corpus = Path(tmp) / "content"
        generate(corpus, a.n, layout="flat")
        # From another folder: `-m`-less, but the checkout must not shadow an installed feeder.
        proc = subprocess.run([a.python, "-c", _CHILD, str(seed), str(corpus)], cwd=tmp, text=True,
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        print(proc.stdout, end="")


if __name__ == "__main__":
    main()
