from pathlib import Path

import pytest

from feeder.config import find_config, load_config, parse_config
from feeder.errors import ConfigError

pytestmark = pytest.mark.no_state  # never opens the state database: runs once

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_and_relative_paths_resolve_against_the_config_folder(tmp_path):
    cfg = tmp_path / "etc" / "feeder.yaml"
    cfg.parent.mkdir()
    cfg.write_text("site: {title: T, base_url: 'https://x.example/feeds'}\ncontent_dir: ../articles\n")
    s = load_config(cfg)
    assert s.content_dir == tmp_path / "articles"  # normalized: messages never show etc/../articles
    assert s.output_dir == tmp_path / "feeds"
    assert s.site.base_url == "https://x.example/feeds/"  # a folder: always ends with /
    assert s.max_items == 50 and s.timezone == "UTC"


def test_absolute_paths_are_kept(tmp_path):
    s = parse_config({"output_dir": str(tmp_path / "out")}, base=Path("/somewhere"))
    assert s.output_dir == tmp_path / "out"


def test_shipped_configuration_is_valid():
    s = load_config(ROOT / "config" / "feeder.yaml")
    assert s.content_dir.resolve() == (ROOT / "content").resolve()
    assert "ai" in {k.casefold() for k in s.topics}


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"site": {"titel": "typo"}}, "site.titel", "unknown setting"),
        ({"feeds": {"max_items": 0}}, "feeds.max_items", "at least 1"),
        ({"feeds": {"max_items": "ten"}}, "feeds.max_items", "must be a whole number"),
        ({"site": {"base_url": "feeds.example.org"}}, "site.base_url", "absolute http(s) URL"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"topics": {"AI": {"slug": "../x"}}}, "topics.AI.slug", "lower-case letters"),
        ({"topics": {"AI": {"aliases": [1]}}}, "topics.AI.aliases", "list of texts"),
        ({"site": ["not", "a", "mapping"]}, "site", "must be a mapping"),
        ({"content_dir": ""}, "content_dir", "must not be empty"),
    ],
)
def test_bad_settings_name_the_key(data, key, message):
    with pytest.raises(ConfigError) as info:
        parse_config(data, base=Path("."))
    assert info.value.key == key
    assert message in str(info.value)


def test_broken_yaml_names_the_file_and_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("site:\n  title: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line \d+"):
        load_config(cfg)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_config_discovery_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEEDER_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="no configuration file found"):
        find_config()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "feeder.yaml").write_text("{}")
    assert find_config() == Path("config/feeder.yaml")
    monkeypatch.setenv("FEEDER_CONFIG", "/env/feeder.yaml")
    assert find_config() == Path("/env/feeder.yaml")
    assert find_config("explicit.yaml") == Path("explicit.yaml")


@pytest.mark.parametrize(("data", "key", "message"), [
    ({"state": {"url": "mysql://db/feeder"}}, "state.url", "must be a postgresql:// URL"),
    ({"ha": {"output": "own"}}, "ha.output", "need a shared state"),
    ({"state": {"url": "postgresql://db/feeder"}, "ha": {"output": "mirrored"}}, "ha.output", "shared"),
    ({"ha": {"failover": "0s"}}, "ha.failover", "at least 1 seconds"),
])
def test_bad_state_and_ha_settings_name_the_key(data, key, message):
    with pytest.raises(ConfigError) as err:
        parse_config(data, base=Path("/srv"))
    assert err.value.key == key and message in str(err.value)


def test_the_state_url_comes_from_the_environment_first(monkeypatch):
    assert parse_config({}, base=Path("/srv")).state.url is None  # SQLite in state_dir
    file_url = {"state": {"url": "postgresql://feeder@db.file/feeder"}}
    assert parse_config(file_url, base=Path("/srv")).state.url == "postgresql://feeder@db.file/feeder"
    monkeypatch.setenv("FEEDER_STATE_URL", "postgresql://feeder@db.env/feeder")
    assert parse_config(file_url, base=Path("/srv")).state.url == "postgresql://feeder@db.env/feeder"
    settings = parse_config({"ha": {"output": "own", "failover": "4s"}}, base=Path("/srv"))
    assert settings.ha.failover == 4.0 and settings.output_key.endswith(":/feeds")
