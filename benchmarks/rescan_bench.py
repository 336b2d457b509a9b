"""Build and rescan times on a generated corpus, link checks off, against
the floor of what the machine allows, and the daemon's edit-to-feed latency.

    python benchmarks/rescan_bench.py                 # N = 10,000 and 100,000
    python benchmarks/rescan_bench.py --n 10000
    python benchmarks/rescan_bench.py --n 1000000 --dir /var/tmp   # by hand: ~3 GB, minutes to generate
    python benchmarks/rescan_bench.py --n 1000000 --dir /var/tmp --reuse   # keep the corpus for the next run
    python benchmarks/rescan_bench.py --python /opt/feeder/bin/python     # feeder as installed there
    python benchmarks/rescan_bench.py --layout flat   # one folder of files (also: mixed)
    python benchmarks/rescan_bench.py --archive monthly   # with archived feeds (RFC 5005)

For each N it generates realistic articles in the seed's format (~3 KB each,
~40 topics with a skewed distribution, ~60% published), then times, each as
its own `feeder build` process: a cold build (empty state), a rescan with
nothing changed, a rescan after changing one file, and one after adding 100
files. Beside them, in the same run: the floors, `find CONTENT -type f
-printf '%s %T@\n'` (what a no-change rescan must at least do) and one
Python thread that stats and reads every file (what a cold build must at
least do). The no-change rescan and find alternate five times and each is
taken at its median. Then a `feeder daemon` watching the folder: the time from each of
20 changes (10 new articles, 10 edits of the newest) to the all-topics feed
showing it, median and 95th percentile. Prints wall time and peak memory,
and how the time of the cold build, the one-file change and the 100 new
files divides among feeder's stages (from `-vv`).
Nothing is asserted: the figures are for reading.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

LOREM = ("Researchers and companies announced new results this week as the industry weighs costs, "
         "regulation and the pace of adoption across markets in Europe, Asia and the Americas. ").split()
PROVIDERS = [("TechCrunch", "techcrunch.com"), ("Reuters", "reuters.com"), ("Nature", "nature.com"),
             ("The Verge", "theverge.com"), ("Ars Technica", "arstechnica.com"), ("BBC News", "bbc.co.uk")]
TOPICS = [f"Topic {i:02d}" for i in range(40)]
WEIGHTS = [1 / (i + 1) for i in range(40)]  # Zipf-like: a few big topics, a long tail


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(LOREM) for _ in range(n)).capitalize()


def article(rng: random.Random, n: int) -> str:
    prov, dom = rng.choice(PROVIDERS)
    topics = sorted(set(rng.choices(TOPICS, WEIGHTS, k=rng.choice([1, 1, 2, 3]))))
    day = f"20{rng.randint(19, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    url = f"https://www.{dom}/{day.replace('-', '/')}/story-{n}/"
    lines = [
        "---", "category: news", f'title: "{words(rng, 10)} {n}"', f'excerpt: "{words(rng, 55)}"',
        f"publishedDateTime: {day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        f'originalUrl: "{url}"', f'webUrl: "{url}"', "type: article", f"quality: {rng.randint(1, 99)}",
        f"heat: {rng.randint(-1, 50)}", f"published: {'true' if rng.random() < 0.6 else 'false'}", "",
        "provider:", f'  name: "{prov}"', f"  domain: {dom}", "", "topics:", *[f"  - {t}" for t in topics], "",
        "images:", f'  - url: "https://cdn.{dom}/img/{n}.jpg"', "    width: 1200", "    height: 675",
        "    isCached: true", "", "related:",
    ]
    for r in range(3):
        lines += [f'  - title: "{words(rng, 9)}"', f'    excerpt: "{words(rng, 50)}"',
                  f"    publishedDateTime: {day}T08:00:00Z", f'    webUrl: "https://www.{dom}/related/{n}-{r}/"',
                  "    type: article", "    provider:", f'      name: "{prov}"', f"      domain: {dom}",
                  f"    quality: {rng.randint(1, 99)}"]
    lines += ["", f'secured: "{rng.getrandbits(2048):x}"', "---", ""]
    return "\n".join(lines)


def place(layout: str, i: int, n: int) -> str:
    """The folder of article `i` of `n` in a layout: nested (folders of 1,000),
    flat (one folder, as a newsroom's export), or mixed (three folders holding
    most files beside many folders of ten)."""
    if layout == "flat":
        return ""
    if layout == "mixed":
        return f"huge{i % 3}" if i % 10 else f"small{i // 100:04d}"
    return f"batch{i // 1000:03d}"


def generate(folder: Path, n: int, start: int = 0, seed: int = 1, layout: str = "nested") -> None:
    rng = random.Random(seed + start)
    made: set[str] = set()
    for i in range(start, start + n):
        sub = folder / place(layout, i, n)
        if sub.name not in made:
            sub.mkdir(parents=True, exist_ok=True)
            made.add(sub.name)
        (sub / f"{i:06d}_{rng.getrandbits(40):010x}.txt").write_text(article(rng, i), encoding="utf-8")


# The interpreter that runs feeder (--python): this one unless told.
FEEDER_PYTHON = sys.executable

# As users run it: with bytecode cached (an environment may turn that off for its own tools).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


# Started through this small process: a child that Python starts with vfork
# inherits the peak RSS of the process that started it (the kernel keeps the
# high-water mark of the memory it shared until exec), so measured from this
# benchmark, which lists a million paths, every build would show its size.
_MEASURE = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); "
            "print(u.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(s))")


def editable_install(python: str) -> bool:
    """Whether `python` imports feeder through an editable install's finder,
    which every start of the interpreter imports (with pathlib and more)."""
    probe = ("import importlib.metadata as m, json; d = m.distribution('feeder-publish').read_text('direct_url.json'); "
             "print(bool(d and json.loads(d).get('dir_info', {}).get('editable')))")
    # From /: a checkout in the working folder would answer with its own metadata.
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False, cwd="/").stdout
    return out.strip() == "True"


def run_build(config: Path, stages: dict[str, float] | None = None) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one `feeder build`; with `stages`, also
    the seconds of each of its stages, as `-vv` reports them."""
    verbosity = "-vv" if stages is not None else "-q"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, FEEDER_PYTHON, "-m", "feeder", "build", verbosity,
                           "--config", str(config)], env=CHILD_ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"feeder build failed with status {proc.returncode}: {proc.stderr[-2000:]}")
    lines = proc.stderr.strip().splitlines()
    if stages is not None:
        # "feeder: DEBUG: timings: scan and parse 11.924 s, link checks 0.000 s, ..."
        reported = next(line for line in lines if "timings: " in line).split("timings: ", 1)[1]
        for part in reported.split(", "):
            name, seconds, _ = part.rsplit(" ", 2)
            stages[name] = float(seconds)
    return elapsed, int(lines[-1]) / 1024


def floor_find(content: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["find", str(content), "-type", "f", "-printf", "%s %T@\n"], stdout=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - started


def floor_read(content: Path) -> float:
    """Stat and read every file, one Python thread: the least a cold build does."""
    started = time.perf_counter()
    stack = [str(content)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat()
                    with open(entry.path, "rb") as fh:
                        fh.read()
    return time.perf_counter() - started


def watch_latency(config: Path, content: Path, feed: Path, n: int, edits: int = 20) -> list[float]:
    """Seconds from a change to the all-topics feed showing it, for `edits` changes."""
    import datetime as dt

    log = config.parent / "daemon.log"
    proc = subprocess.Popen([FEEDER_PYTHON, "-m", "feeder", "daemon", "--config", str(config)],
                            stderr=open(log, "wb"), env=CHILD_ENV)
    try:
        deadline = time.monotonic() + 3600
        while "feeder.app.daemon: rescan:" not in log.read_text(errors="replace"):  # the first sweep is done
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the daemon did not start watching: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        if "watching" not in log.read_text(errors="replace"):
            raise SystemExit(f"the daemon is not watching: {log.read_text()[-2000:]}")
        latencies = []
        newest: Path | None = None
        for i in range(edits):
            marker = f"Latency probe {i} {time.time_ns()}"
            when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if i % 2 == 0 or newest is None:
                newest = content / "probes" / f"probe-{i:03d}.txt"
                newest.parent.mkdir(exist_ok=True)
            text = (f'---\ntitle: "{marker}"\npublishedDateTime: {when}\n'
                    f'originalUrl: "https://www.example.org/probe/{i}"\npublished: true\ntopics: [Topic 00]\n---\n')
            started = time.perf_counter()
            newest.write_text(text, encoding="utf-8")
            probe = marker.encode()
            while probe not in feed.read_bytes():
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"change {i} not published within 60 s")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        proc.terminate()
        proc.wait(60)


def bench(n: int, root: Path, *, watch: bool = True, layout: str = "nested", archive: str = "off") -> None:
    content = root / "content"
    t = time.perf_counter()
    if (root / "generated").exists():
        # An earlier run's corpus (--reuse), with the files that run added: a new state and output.
        for name in ("state", "feeds"):
            shutil.rmtree(root / name, ignore_errors=True)
        verb = "reused"
    else:
        generate(content, n, layout=layout)
        (root / "generated").touch()
        verb = "generated"
    size = sum(p.stat().st_size for p in content.rglob("*.txt"))
    print(f"\nN = {n:,}, {layout} layout, archive {archive}: {verb} {size / 1e6:,.0f} MB "
          f"({size / n / 1000:.1f} KB per file) "
          f"in {time.perf_counter() - t:.1f} s")
    config = root / "feeder.yaml"
    config.write_text(yaml.safe_dump({
        "site": {"title": "Bench", "base_url": "https://bench.example/feeds/"},
        "content_dir": str(content), "output_dir": str(root / "feeds"), "state_dir": str(root / "state"),
        "links": {"enabled": False}, **({"feeds": {"archive": archive}} if archive != "off" else {}),
    }))
    phases = []
    reads = floor_read(content)  # also warms the page cache, as for the cold build below
    phases.append(("floor: stat+read all, 1 thread", (floor_read(content), 0.0)))
    cold_stages: dict[str, float] = {}
    phases.append(("cold build", run_build(config, cold_stages)))
    # The two a no-change rescan is judged by, alternated five times and
    # each taken at its median: a busy machine moves both.
    finds, rescans = [], []
    for _ in range(5):
        finds.append(floor_find(content))
        rescans.append(run_build(config))
    phases.append(("floor: find -printf", (statistics.median(finds), 0.0)))
    phases.append(("rescan, nothing changed", (statistics.median([t for t, _ in rescans]), max(m for _, m in rescans))))
    victim = next(content.rglob("*.txt"))
    victim.write_text(victim.read_text().replace('title: "', 'title: "Updated: ', 1))
    stages: dict[str, dict[str, float]] = {"cold build": cold_stages, "rescan, one file changed": {},
                                           "rescan, 100 files added": {}}
    phases.append(("rescan, one file changed", run_build(config, stages["rescan, one file changed"])))
    generate(content, 100, start=n + 100 * len(list(root.glob("added-*"))), seed=7, layout=layout)
    (root / f"added-{time.time_ns()}").touch()
    phases.append(("rescan, 100 files added", run_build(config, stages["rescan, 100 files added"])))
    del reads
    times = dict(phases)
    for name, (elapsed, peak) in phases:
        print(f"  {name:<32} {elapsed:7.2f} s" + (f"   peak RSS {peak:6.0f} MB" if peak else ""))
    floor, stat_floor = times["floor: stat+read all, 1 thread"][0], times["floor: find -printf"][0]
    print(f"  cold build / read floor: {times['cold build'][0] / floor:.1f}x; no-change rescan / find: "
          f"{times['rescan, nothing changed'][0] / stat_floor:.1f}x; one edit adds "
          f"{times['rescan, one file changed'][0] - times['rescan, nothing changed'][0]:+.2f} s; "
          f"100 new files add {times['rescan, 100 files added'][0] - times['rescan, nothing changed'][0]:+.2f} s")
    for name, (elapsed, _) in phases:
        print(f"  per 1,000 files: {name:<32} {elapsed / n * 1000 * 1000:8.1f} ms")
    # What no stage covers: the interpreter's start and imports, opening the
    # state, the lock, and the process's end.
    for name, split in stages.items():
        split = {"outside the stages": times[name][0] - sum(split.values()), **split}
        print(f"  {name} by stage: " + ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in split.items()
                                                 if stage != "link checks"))
    db = root / "state" / "feeder.sqlite3"
    print(f"  state database {db.stat().st_size / 1e6:,.0f} MB; {os.cpu_count()} CPUs")
    if watch:
        lat = sorted(watch_latency(config, content, root / "feeds" / "rss.xml", n))
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(f"  daemon, change to feed: median {statistics.median(lat):.2f} s, p95 {p95:.2f} s, "
              f"max {lat[-1]:.2f} s over {len(lat)} changes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, action="append", help="corpus size (repeatable; default 10000 and 100000)")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary folder, removed afterwards)")
    ap.add_argument("--no-watch", action="store_true", help="skip the daemon's edit-to-feed latency")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python that runs feeder (default: this one); give a normal install's "
                         "(pip install .), as users run it")
    ap.add_argument("--layout", choices=("nested", "flat", "mixed"), default="nested",
                    help="how the files lie: folders of 1,000 (default), one flat folder, or a few huge "
                         "folders beside many small ones")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the corpus in DIR/feeder-bench-N and reuse it in later runs (with --dir)")
    ap.add_argument("--archive", choices=("off", "monthly", "weekly"), default="off",
                    help="feeds.archive: also write every feed's archive documents (RFC 5005)")
    a = ap.parse_args()
    if a.reuse and a.dir is None:
        ap.error("--reuse needs --dir")
    global FEEDER_PYTHON
    FEEDER_PYTHON = a.python
    if editable_install(a.python):
        print(f"note: {a.python} has feeder installed in editable mode, whose import finder adds about "
              "35 ms to every start; for the figures users see, pass --python with a normal install's "
              "interpreter (python3 -m venv V && V/bin/pip install . && ... --python V/bin/python)")
    for n in a.n or [10_000, 100_000]:
        if a.reuse:
            root = a.dir / (f"feeder-bench-{n}" if a.layout == "nested" else f"feeder-bench-{n}-{a.layout}")
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix=f"feeder-bench-{n}-", dir=a.dir))
        try:
            bench(n, root, watch=not a.no_watch, layout=a.layout, archive=a.archive)
        finally:
            if not a.reuse:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
