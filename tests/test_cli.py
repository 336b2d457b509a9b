"""The command line as a real process."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from conftest import ROOT, Site, good_fields, run_feeder
from feeds import parse_feed


def test_build_prints_a_summary_and_exits_zero(site: Site):
    site.article("a.txt", **good_fields(1))
    site.write("bad.txt", "---\npublished: maybe\n---\n")
    proc = run_feeder("build", "--config", str(site.config_file()))
    assert proc.returncode == 0, proc.stderr
    assert "2 files read, 1 articles, 1 published, 1 skipped" in proc.stdout
    assert "skipped bad.txt: field 'published'" in proc.stdout
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
    assert "the network looks unreachable" in proc.stdout
    feeds = sorted((tmp_path / "feeds").rglob("*.xml"))
    assert len(feeds) >= 10
    for path in feeds:
        parse_feed(path)
    assert (tmp_path / "feeds" / "index.opml").exists()
