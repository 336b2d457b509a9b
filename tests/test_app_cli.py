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
    assert "2 files read, 1 article, 1 published, 1 skipped" in proc.stdout
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


# -- the first hour --------------------------------------------------------------

def test_quiet_hides_the_summary_but_never_problems(site: Site):
    site.article("a.txt", **good_fields(1))
    site.article("warn.txt", **good_fields(2, images=["ftp://x.example/a.png"]))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    cfg = str(site.config_file())
    proc = run_feeder("build", "-q", "--config", cfg)
    assert proc.returncode == 0 and proc.stdout == ""
    assert "skipped bad.txt: field 'title' is required" in proc.stderr
    assert "warning warn.txt: field 'images[0]' must be an absolute http or https URL" in proc.stderr
    proc = run_feeder("build", "-q", "--strict", "--config", cfg)
    assert proc.returncode == 1 and proc.stdout == "" and "skipped bad.txt" in proc.stderr
    # A warning alone is enough for --strict.
    (site.content / "bad.txt").unlink()
    proc = run_feeder("build", "-q", "--strict", "--config", cfg)
    assert proc.returncode == 1 and "warning warn.txt" in proc.stderr
    assert len(parse_feed(site.output / "rss.xml").entries) == 2  # the article with a warning is published


def test_waiting_for_the_lock_is_said_once(site: Site):
    from feeder.storage.lock import BuildLock

    site.article("a.txt", **good_fields(1))
    with BuildLock(site.state, timeout=1):
        proc = run_feeder("build", "-q", "--wait", "0.5", "--config", str(site.config_file()))
    assert proc.returncode == 4
    waiting = [line for line in proc.stderr.splitlines() if "waiting up to" in line]
    assert waiting == [f"feeder: WARNING: another feeder build holds {site.state / 'feeder.lock'} "
                       f"(process {os.getpid()}); waiting up to 0.5 s for it to finish"]


def test_a_content_folder_reached_through_a_link_is_published(site: Site):
    site.article("a.txt", **good_fields(1))
    site.article("news/b.txt", **good_fields(2))
    link = site.root / "content-link"
    link.symlink_to(site.content, target_is_directory=True)
    proc = run_feeder("build", "-q", "--config", str(site.config_file({"content_dir": str(link)})))
    assert proc.returncode == 0, proc.stderr
    assert len(parse_feed(site.output / "rss.xml").entries) == 2


def test_the_folder_is_listed_only_once_the_build_holds_the_lock(site: Site):
    """A file the lock's holder writes before it lets go is in the next build:
    the build starts listing the folder early, but never before it holds the lock."""
    import subprocess
    import sys

    from feeder.storage.lock import BuildLock

    site.article("a.txt", **good_fields(1))
    with BuildLock(site.state, timeout=1):
        proc = subprocess.Popen([sys.executable, "-m", "feeder", "build", "-q", "--wait", "60", "--config",
                                 str(site.config_file())], stderr=subprocess.PIPE, text=True)
        assert "waiting up to 60 s" in proc.stderr.readline()
        site.article("b.txt", **good_fields(2))
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    proc.stderr.close()
    assert len(parse_feed(site.output / "rss.xml").entries) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["serve", "--port", "99999"], "expected a port number from 1 to 65535, not '99999'"),
    (["serve", "--port", "http"], "expected a port number from 1 to 65535"),
    (["check", "--budget", "-5"], "must be 0 or more seconds, not '-5'"),
    (["build", "--wait", "-1"], "must be 0 or more seconds, not '-1'"),
    (["build", "--wait", "nan"], "must be 0 or more seconds"),
    (["daemon", "--serve", "127.0.0.1:0"], "expected HOST:PORT"),
])
def test_numbers_are_checked_by_the_argument_parser(site: Site, args, message):
    proc = run_feeder(*args, "--config", str(site.config_file()))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_state_dir_that_is_a_file_is_named_as_such(site: Site):
    site.article("a.txt", **good_fields(1))
    site.state.write_text("oops")
    proc = run_feeder("build", "--config", str(site.config_file()))
    assert proc.returncode == 3
    assert f"{site.state}: state_dir is not a folder" in proc.stderr and "File exists" not in proc.stderr


def test_paths_in_messages_are_normalized(tmp_path: Path):
    (tmp_path / "config").mkdir()
    (tmp_path / "content").mkdir()
    (tmp_path / "state").write_text("a file")
    (tmp_path / "config" / "feeder.yaml").write_text(
        "site: {title: T, base_url: 'https://x.example/'}\ncontent_dir: ../content\nstate_dir: ../state\n"
        "output_dir: ../feeds\nlinks: {enabled: false}\n")
    proc = run_feeder("build", cwd=tmp_path)
    assert proc.returncode == 3
    assert f"{tmp_path / 'state'}: state_dir is not a folder" in proc.stderr and "/../" not in proc.stderr


def test_an_empty_content_folder_builds_with_a_warning(site: Site):
    proc = run_feeder("build", "-q", "--config", str(site.config_file()))
    assert proc.returncode == 0
    assert f"no article files found in {site.content}" in proc.stderr
    assert parse_feed(site.output / "rss.xml").entries == []


def test_the_readme_exit_status_table_matches_the_code():
    from feeder.app.exitstatus import EXIT_STATUSES

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| exit status | meaning |"):].split("\n\n", 1)[0].splitlines()[2:]
    rows = {int(status.strip()): meaning.strip() for _, status, meaning, _ in (row.split("|") for row in table)}
    assert rows == EXIT_STATUSES


def test_help_says_what_feeder_is():
    proc = run_feeder("--help")
    text = " ".join(proc.stdout.split())
    assert "RSS 2.0, Atom 1.0 and JSON Feed 1.1" in text and "daemon" in text
    daemon = " ".join(run_feeder("daemon", "--help").stdout.split())
    assert "ingest" in daemon and "schedule.ingest" in daemon


def test_the_sample_configuration_explains_base_url_first():
    top = (ROOT / "config" / "feeder.yaml").read_text().split("site:", 1)[0]
    assert "base_url" in top and "before" in top.lower()
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):readme.index("## Content files")]
    assert "site.base_url" in quick_start


def test_check_offline_says_so_once_and_lists_what_this_run_found(tmp_path: Path):
    offline_sample(tmp_path)
    first = run_feeder("check", cwd=tmp_path, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("the network looks unreachable") == 1
    assert "network looks unreachable" not in first.stdout  # said once, on stderr, not again in the summary
    listed = [line for line in first.stdout.splitlines() if line.strip().startswith("unknown")]
    assert listed and all("network-down" in line for line in listed)
    second = run_feeder("check", cwd=tmp_path, timeout=60)  # nothing due: nothing checked, nothing repeated
    assert "network looks unreachable" not in second.stderr
    assert not [line for line in second.stdout.splitlines() if line.strip().startswith("unknown")]
    assert f"{len(listed)} dead or unknown URL(s) from earlier rounds not listed" in second.stdout
    everything = run_feeder("check", "-v", cwd=tmp_path, timeout=60)
    assert len([line for line in everything.stdout.splitlines() if line.strip().startswith("unknown")]) == len(listed)
