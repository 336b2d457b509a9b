"""The command line as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Site, good_fields, run_feeder, write_corpus
from feeds import parse_feed


def test_build_prints_a_summary_and_exits_zero(site: Site):
    site.article("a.txt", **good_fields(1))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    proc = run_feeder("build", "--config", str(site.config_file()))
    assert proc.returncode == 0, proc.stderr
    assert "2 files read, 1 articles, 1 published, 1 skipped" in proc.stdout
    # problems go to stderr, every wrong field of a file in one line
    assert ("skipped bad.txt: field 'title' is required; field 'publishedDateTime' is required; "
            "field 'originalUrl' is required; field 'published' must be true or false") in proc.stderr
    parse_feed(site.output / "rss.xml")


def test_strict_fails_on_bad_content_but_still_publishes(site: Site):
    site.article("a.txt", **good_fields(1))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    proc = run_feeder("build", "--strict", "-q", "--config", str(site.config_file()))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert len(parse_feed(site.output / "rss.xml").entries) == 1


def test_bad_configuration_exits_2_naming_the_key(site: Site):
    cfg = site.config_file()
    cfg.write_text(cfg.read_text() + "feeds:\n  max_itmes: 3\n")
    proc = run_feeder("build", "--config", str(cfg))
    assert proc.returncode == 2
    assert "feeds.max_itmes: unknown setting" in proc.stderr


def test_missing_content_folder_exits_2(site: Site):
    shutil.rmtree(site.content)
    proc = run_feeder("build", "--config", str(site.config_file()))
    assert proc.returncode == 2
    assert "content folder" in proc.stderr


def test_unwritable_output_exits_3(site: Site):
    site.article("a.txt", **good_fields(1))
    site.output.write_text("not a folder")
    proc = run_feeder("build", "--config", str(site.config_file()))
    assert proc.returncode == 3
    assert str(site.output) in proc.stderr


def test_feeder_config_environment_variable(site: Site):
    site.article("a.txt", **good_fields(1))
    env = {**os.environ, "FEEDER_CONFIG": str(site.config_file())}
    proc = run_feeder("build", cwd=site.root, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (site.output / "atom.xml").exists()


@pytest.mark.parametrize("args", [["--help"], ["build", "--help"]])
def test_help(args):
    proc = run_feeder(*args)
    assert proc.returncode == 0 and "usage: feeder" in proc.stdout


def offline_sample(tmp_path):
    """A copy of the repository's sample whose name lookups never leave the machine
    and all fail, as on this (offline) machine."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    cfg = tmp_path / "config" / "feeder.yaml"
    data = yaml.safe_load(cfg.read_text())
    data.setdefault("links", {}).update({"system_dns": False, "hosts": {}})
    cfg.write_text(yaml.safe_dump(data))
    return tmp_path


def test_sample_project_builds_from_its_own_folder(tmp_path):
    """What the README's first command does, in a copy of the repository's sample."""
    offline_sample(tmp_path)
    proc = run_feeder("build", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0 skipped" in proc.stdout
    assert "held back" not in proc.stdout  # unreachable URLs never unpublish anything
    assert proc.stderr.count("the network looks unreachable") == 1
    feeds = sorted((tmp_path / "feeds").rglob("*.xml"))
    assert len(feeds) >= 10
    for path in feeds:
        parse_feed(path)
    assert (tmp_path / "feeds" / "index.opml").exists()


# -- a build stopped by a signal -------------------------------------------------

def _processes_marked(marker: str) -> list[str]:
    """Command lines of live processes whose environment carries `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []


def _until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _assert_whole(output: Path) -> None:
    import gzip
    import json as json_

    from lxml import etree

    assert not [p for p in output.rglob(".feeder-*")], "temporary files left behind"
    for path in output.rglob("*"):
        if path.suffix == ".xml" or path.name.endswith(".opml"):
            etree.fromstring(path.read_bytes())  # whole: parses
        elif path.suffix == ".json":
            json_.loads(path.read_bytes())
        elif path.suffix == ".gz":
            gzip.decompress(path.read_bytes())


MOMENTS = {
    # when the build holds the lock: it is scanning
    "scan": lambda pid, site: (site.state / "feeder.lock").exists(),
    # when the worker pool's fork server is up: parsing in parallel
    "parallel parse": lambda pid, site: bool(_children(pid)),
    # when the first feed is on disk: rendering and writing
    "write": lambda pid, site: any(site.output.glob("topics/*/rss.xml")),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigterm_stops_a_parallel_build_cleanly_at_any_moment(site: Site, tmp_path: Path, moment: str):
    import subprocess
    import sys
    import threading
    import uuid

    write_corpus(site.content, 3000)
    cfg = site.config_file()
    marker = f"FEEDER_TEST_RUN={uuid.uuid4()}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-m", "feeder", "build", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert _until(lambda: MOMENTS[moment](proc.pid, site) or proc.poll() is not None), f"never reached {moment}"
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    streams: dict[str, bytes] = {}

    def drain() -> None:
        streams["out"], streams["err"] = proc.communicate()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), f"no end-of-file on stdout/stderr 10 s after SIGTERM ({moment})"
    assert time.monotonic() - sent < 10
    err = streams["err"].decode()
    assert proc.returncode == 143, (moment, proc.returncode, err)
    assert "stopped by SIGTERM" in err and "Traceback" not in err and "leaked" not in err, err
    assert _until(lambda: not _processes_marked(marker), 5), _processes_marked(marker)
    _assert_whole(site.output)

    again = run_feeder("build", "--config", str(cfg), timeout=120)
    assert again.returncode == 0, again.stderr
    cold = Site(tmp_path / "cold")
    shutil.rmtree(cold.content)
    shutil.copytree(site.content, cold.content)
    assert run_feeder("build", "--config", str(cold.config_file()), timeout=120).returncode == 0
    assert site.outputs() == cold.outputs()
