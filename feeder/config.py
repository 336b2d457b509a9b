"""Loading and validating the YAML configuration into typed, frozen settings.

Relative paths in the file are resolved against the folder that holds the
configuration file, so `feeder build --config /etc/feeder/feeder.yaml` behaves
the same from any working directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from feeder.errors import ConfigError, describe_os_error, describe_yaml_error

if TYPE_CHECKING:
    from feeder.model import PodcastSettings  # a topic's show settings travel with its Topic

__all__ = [
    "Every",
    "IngestSettings",
    "LinkSettings",
    "LogSettings",
    "ScheduleSettings",
    "ServeSettings",
    "Settings",
    "SiteSettings",
    "SourceSettings",
    "TopicSettings",
    "WebSubSettings",
    "find_config",
    "host_port",
    "load_config",
    "parse_duration",
]

CONFIG_ENV = "FEEDER_CONFIG"
STATE_URL_ENV = "FEEDER_STATE_URL"
DEFAULT_LOCATIONS = ("config/feeder.yaml", "feeder.yaml")
# Beside the configuration unless it says otherwise: the sources `feeder sources` manages.
SOURCES_FILE = "sources.yaml"


@dataclass(frozen=True)
class SiteSettings:
    title: str = "feeder"
    base_url: str = "http://localhost:8080/"  # public URL of the output folder
    link: str = ""  # the website the feeds belong to; defaults to base_url
    description: str = ""
    language: str = "en"
    author: str = ""
    author_email: str = ""

    @property
    def home(self) -> str:
        return self.link or self.base_url


@dataclass(frozen=True)
class TopicSettings:
    title: str | None = None
    description: str | None = None
    aliases: tuple[str, ...] = ()
    slug: str | None = None
    podcast: PodcastSettings | None = None
    max_items: int | None = None  # this topic's feed size (default: feeds.max_items; a podcast: every episode)


@dataclass(frozen=True)
class CustomFeed:
    """A feed defined by a query over the articles' fields (`feeds.custom`)."""

    slug: str  # its folder under topics/, and its identity
    title: str
    description: str
    topics: tuple[str, ...] = ()  # any of these (after aliases)
    all_topics: tuple[str, ...] = ()  # all of these
    exclude_topics: tuple[str, ...] = ()  # none of these
    providers: tuple[str, ...] = ()  # provider name or domain, any of (case-insensitive)
    category: str | None = None
    type: str | None = None
    min_quality: int | None = None  # articles without a quality never match
    min_heat: int | None = None
    max_items: int | None = None  # default: feeds.max_items


@dataclass(frozen=True)
class LinkSettings:
    """How original URLs are checked (see README, "Link checks")."""

    enabled: bool = True
    timeout: float = 10.0  # hard deadline for one check, redirects included
    connect_timeout: float = 5.0
    read_timeout: float = 5.0
    concurrency: int = 64
    per_host: int = 4
    retries: int = 2  # extra attempts for an unknown result
    max_redirects: int = 10
    dead_after: int = 2
    recheck_after: timedelta = timedelta(days=1)
    unknown_retry: timedelta = timedelta(minutes=15)
    max_retry_after: float = 120.0
    require_alive: bool = False
    allow_private: bool = False
    budget: float = 30.0  # seconds of checking within one `feeder build`
    user_agent: str = ""
    canary_host: str = "example.com"
    system_dns: bool = True
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def agent(self) -> str:
        from feeder._version import __version__

        return self.user_agent or f"feeder/{__version__}"


@dataclass(frozen=True)
class Every:
    """When a job runs: an interval (`90s`, `5m`, `1h`) or a five-field
    crontab line (`*/5 * * * *`, UTC). Checked once, here; the daemon only
    turns it into a trigger."""

    text: str
    seconds: float | None = None  # an interval
    crontab: str | None = None  # or a crontab line

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, value: object) -> Every:
        """Raises ValueError naming what is wrong."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = f"{value}s"
        if not isinstance(value, str):
            raise ValueError("must be an interval such as 90s, 5m or 1h, or a crontab line")
        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError:
            from apscheduler.triggers.cron import CronTrigger

            if len(value.split()) != 5:
                raise ValueError(f"is neither an interval (90s, 5m, 1h) nor a crontab line: {value!r}") from None
            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"is neither an interval (90s, 5m, 1h) nor a crontab line: {exc}") from None
            return cls(value, crontab=value.strip())
        if seconds <= 0:
            raise ValueError("must be longer than 0 seconds")
        return cls(value, seconds=seconds)


@dataclass(frozen=True)
class ScheduleSettings:
    """When the daemon runs its jobs."""

    rescan: Every = Every("5m", seconds=300)
    link_check: Every = Every("1h", seconds=3600)
    ingest: Every = Every("15m", seconds=900)
    link_budget: float = 600.0  # seconds of checking per link-check job
    watch: bool = True  # publish each change to the content folder as filesystem events report it
    sweep: Every = Every("1d", seconds=86400)  # with watch: a full scan, for what events cannot see


@dataclass(frozen=True)
class WebSubSettings:
    hubs: tuple[str, ...] = ()
    timeout: float = 5.0  # seconds for all pings of one build
    retries: int = 2


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_age: int = 300  # Cache-Control max-age, seconds
    metrics: bool = True  # `daemon --serve` answers /healthz and /metrics
    admin_listen: tuple[str, int] | None = None  # answer them there instead of beside the feeds


@dataclass(frozen=True)
class LogSettings:
    format: str = "text"  # or "json": one object per line, for log collectors


@dataclass(frozen=True)
class SourceSettings:
    """A feed feeder follows, writing its entries into the content folder."""

    url: str
    slug: str  # folder under content_dir, and the prefix of its articles' ids
    name: str | None = None  # the provider's name (default: the feed's own title)
    topics: tuple[str, ...] = ()
    publish: bool = False  # whether new articles start as published: true
    max_age: timedelta | None = None  # ignore entries older than this
    include: tuple[str, ...] = ()  # keep only entries whose title or summary has one of these
    exclude: tuple[str, ...] = ()  # drop entries whose title or summary has one of these
    in_file: bool = False  # listed in the sources file (which `feeder sources` edits), not the configuration


@dataclass(frozen=True)
class PushSettings:
    """Subscribing to the WebSub hubs sources advertise (`ingest.websub`)."""

    callback: str  # the public base URL at which `daemon --serve` answers hubs
    lease: timedelta = timedelta(days=10)  # asked of the hub; renewed when four fifths have passed
    poll_interval: timedelta = timedelta(hours=6)  # polling while pushes arrive: a safety net
    allow_sha1: bool = False  # accept deliveries signed with SHA-1 (hubs older than WebSub)
    max_per_minute: int = 60  # deliveries accepted per source per minute; more are refused unread
    verify_within: timedelta = timedelta(minutes=10)  # a subscription the hub has not verified by then failed

    @property
    def path(self) -> str:
        """The callback's path: one URL below it per source."""
        return urlsplit(self.callback).path.rstrip("/") + "/"


@dataclass(frozen=True)
class IngestSettings:
    min_interval: timedelta = timedelta(minutes=15)  # never fetch a source more often
    timeout: float = 20.0  # hard deadline for one fetch
    max_bytes: int = 10 * 1024 * 1024  # a larger body is refused (counted after decompression)
    concurrency: int = 8
    max_backoff: timedelta = timedelta(days=1)  # longest wait after repeated failures
    websub: PushSettings | None = None  # subscribe to sources' hubs (needs `daemon --serve`)


def _state_url_from_env() -> str | None:
    return os.environ.get(STATE_URL_ENV) or None


@dataclass(frozen=True)
class StateSettings:
    # postgresql://user@host/db: shared state; None: SQLite in state_dir. Settings
    # made in code follow FEEDER_STATE_URL too, as a loaded file does.
    url: str | None = field(default_factory=_state_url_from_env)


@dataclass(frozen=True)
class HaSettings:
    """Several instances sharing one PostgreSQL state (README, "More than one machine")."""

    failover: float = 10.0  # seconds within which a standby daemon takes over from a lost publisher
    # shared: one publisher writes one output folder all instances share; own:
    # every instance renders its own output folder (each serves it).
    output: str = "shared"


@dataclass(frozen=True)
class Settings:
    site: SiteSettings = field(default_factory=SiteSettings)
    content_dir: Path = Path("content")
    output_dir: Path = Path("feeds")
    state_dir: Path = Path("state")
    timezone: str = "UTC"
    max_file_size: int = 1024 * 1024
    follow_symlinks: bool = False  # follow symbolic links out of the content folder (and into folders)
    max_items: int = 50
    digest: str = "off"  # digest feeds: off, daily or weekly
    archive: str = "off"  # archived feeds (RFC 5005): off, monthly or weekly
    topics: Mapping[str, TopicSettings] = field(default_factory=dict)
    custom_feeds: tuple[CustomFeed, ...] = ()
    links: LinkSettings = field(default_factory=LinkSettings)
    lock_timeout: float = 60.0  # seconds a build waits for another one to finish
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    websub: WebSubSettings = field(default_factory=WebSubSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    log: LogSettings = field(default_factory=LogSettings)
    sources: tuple[SourceSettings, ...] = ()
    ingest: IngestSettings = field(default_factory=IngestSettings)
    state: StateSettings = field(default_factory=StateSettings)
    ha: HaSettings = field(default_factory=HaSettings)
    source: Path | None = None  # the file these settings came from
    sources_file: Path | None = None  # the sources `feeder sources` adds and removes (README, "Following")

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def output_key(self) -> str:
        """Names this instance's output folder in a shared state when each
        instance renders its own; '' for the one output folder."""
        if self.ha.output != "own":
            return ""
        import socket

        return f"{socket.gethostname()}:{self.output_dir}"


def _kind(value: Any) -> str:
    """A value's kind as a message names it (never Python's type names)."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (true or false)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else f"a {type(value).__name__}"


class _UniqueKeys(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader, but a key given twice in one mapping is an error
    (PyYAML keeps the last one without a word)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the constructor below says so
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found the key {key!r} a second time (first at line {first.start_mark.line + 1})",
                    key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class _Reader:
    """Typed access to one mapping of the YAML document, naming keys in errors."""

    def __init__(self, data: Any, prefix: str, path: Path | None):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError("must be a mapping", key=prefix or None, path=path)
        self.data = data
        self.prefix = prefix
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, key=self.key(name), path=self.path)

    def raw(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def text(self, name: str, default: str) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(name, f"must be a text, not {_kind(value)}")
        return value

    def opt_text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, f"must be a text, not {_kind(value)}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be a whole number, not {_kind(value)}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}")
        return value

    def opt_integer(self, name: str) -> int | None:
        return None if self.raw(name) is None else self.integer(name, 0, minimum=-(2 ** 62))

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "must be a list of texts")
        return tuple(value)

    def folder(self, name: str, default: str, base: Path) -> Path:
        value = self.text(name, default)
        if not value.strip():
            raise self.fail(name, "must not be empty")
        p = Path(os.path.expanduser(value))
        # Normalized, so that messages name `/srv/site/state`, not `/srv/site/config/../state`.
        return Path(os.path.normpath(p if p.is_absolute() else base / p))

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, f"must be a number, not {_kind(value)}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum:g}")
        return float(value)

    def duration(self, name: str, default: timedelta) -> timedelta:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(name, str(exc)) from None

    def seconds(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.duration(name, timedelta(seconds=default)).total_seconds()
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum:g} seconds")
        return value

    def section(self, name: str) -> _Reader:
        self.used.add(name)
        return _Reader(self.data.get(name), self.key(name), self.path)

    def finish(self) -> None:
        unknown = sorted(str(k) for k in self.data if k not in self.used)
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(self.used), n=1, cutoff=0.6)
            hint = f": did you mean {self.key(close[0])}?" if close else " (check its spelling)"
            raise self.fail(unknown[0], f"unknown setting{hint}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: object) -> timedelta:
    """`90`, `90s`, `5m`, `1h`, `1d`, `2w` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 90s, 5m, 1h or 1d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must not be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(f"must be a duration such as 90s, 5m, 1h or 1d, not {value!r}")


def _links(r: _Reader) -> LinkSettings:
    d = LinkSettings()
    hosts: dict[str, tuple[str, ...]] = {}
    raw_hosts = r.raw("hosts") or {}
    if not isinstance(raw_hosts, dict):
        raise r.fail("hosts", "must be a mapping of host name to address(es)")
    for name, addrs in raw_hosts.items():
        if isinstance(addrs, str):
            addrs = [addrs]
        if not isinstance(name, str) or not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
            raise r.fail("hosts", "must map host names to an address or a list of addresses")
        for a in addrs:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise r.fail(f"hosts.{name}", f"{a!r} is not an IP address") from None
        hosts[name.lower().rstrip(".")] = tuple(addrs)
    links = LinkSettings(
        enabled=r.flag("enabled", d.enabled),
        timeout=r.seconds("timeout", d.timeout, minimum=0.001),
        connect_timeout=r.seconds("connect_timeout", d.connect_timeout, minimum=0.001),
        read_timeout=r.seconds("read_timeout", d.read_timeout, minimum=0.001),
        concurrency=r.integer("concurrency", d.concurrency, minimum=1),
        per_host=r.integer("per_host", d.per_host, minimum=1),
        retries=r.integer("retries", d.retries, minimum=0),
        max_redirects=r.integer("max_redirects", d.max_redirects, minimum=0),
        dead_after=r.integer("dead_after", d.dead_after, minimum=1),
        recheck_after=r.duration("recheck_after", d.recheck_after),
        unknown_retry=r.duration("unknown_retry", d.unknown_retry),
        max_retry_after=r.seconds("max_retry_after", d.max_retry_after),
        require_alive=r.flag("require_alive", d.require_alive),
        allow_private=r.flag("allow_private", d.allow_private),
        budget=r.seconds("budget", d.budget),
        user_agent=r.text("user_agent", ""),
        canary_host=r.text("canary_host", d.canary_host),
        system_dns=r.flag("system_dns", d.system_dns),
        hosts=hosts,
    )
    r.finish()
    return links


def _schedule(r: _Reader) -> ScheduleSettings:
    d = ScheduleSettings()
    values = {}
    for name in ("rescan", "link_check", "ingest", "sweep"):
        value = r.raw(name)
        try:
            values[name] = getattr(d, name) if value is None else Every.parse(value)
        except ValueError as exc:
            raise r.fail(name, str(exc)) from None
    schedule = ScheduleSettings(
        rescan=values["rescan"], link_check=values["link_check"], ingest=values["ingest"],
        link_budget=r.seconds("link_budget", d.link_budget, minimum=1),
        watch=r.flag("watch", d.watch), sweep=values["sweep"],
    )
    r.finish()
    return schedule


def _sources(parent: _Reader, listed: tuple[Path, Any] | None = None) -> tuple[SourceSettings, ...]:
    """The sources of the configuration's `sources`, then those of the
    sources file (`listed`: its path and its loaded YAML), which `feeder
    sources` edits."""
    sources: list[SourceSettings] = []
    slugs: set[str] = set()
    raw = parent.raw("sources")
    if raw is not None:
        if not isinstance(raw, list):
            raise parent.fail("sources", "must be a list of feeds, each with at least a url")
        sources += _source_list(raw, "sources", parent.path, slugs, in_file=False)
    if listed is not None and listed[1] is not None:
        path, data = listed
        if not isinstance(data, list):
            raise ConfigError("must be a list of feeds, each with at least a url", path=path)
        sources += _source_list(data, "", path, slugs, in_file=True)
    return tuple(sources)


def _source_list(raw: list[Any], prefix: str, path: Path | None, slugs: set[str], *,
                 in_file: bool) -> list[SourceSettings]:
    from slugify import slugify  # imported only when there are sources

    sources: list[SourceSettings] = []
    for i, item in enumerate(raw):
        r = _Reader(item, f"{prefix}[{i}]", path)
        url = r.opt_text("url")
        if not url:
            raise r.fail("url", "is required")
        url = _check_url(r, "url", url)
        name = r.opt_text("name")
        slug = slugify(name or urlsplit(url).hostname or "source", max_length=60) or f"source-{len(slugs)}"
        max_age = r.raw("max_age")
        source = SourceSettings(
            url=url, slug=slug, name=name, topics=r.texts("topics"), publish=r.flag("publish", False),
            max_age=None if max_age is None else r.duration("max_age", timedelta(0)),
            include=tuple(k.casefold() for k in r.texts("include")),
            exclude=tuple(k.casefold() for k in r.texts("exclude")),
            in_file=in_file,
        )
        r.finish()
        if slug in slugs:
            raise r.fail("name", f"another source already uses the folder {slug!r}: give each source a distinct name")
        slugs.add(slug)
        sources.append(source)
    return sources


def _ingest(r: _Reader) -> IngestSettings:
    d = IngestSettings()
    ingest = IngestSettings(
        min_interval=r.duration("min_interval", d.min_interval),
        timeout=r.seconds("timeout", d.timeout, minimum=0.1),
        max_bytes=r.integer("max_bytes", d.max_bytes, minimum=1024),
        concurrency=r.integer("concurrency", d.concurrency, minimum=1),
        max_backoff=r.duration("max_backoff", d.max_backoff),
        websub=_push(r.section("websub")) if r.raw("websub") is not None else None,
    )
    r.finish()
    return ingest


def _push(r: _Reader) -> PushSettings:
    callback = r.opt_text("callback")
    if not callback:
        raise r.fail("callback", "is required: the public URL at which `feeder daemon --serve` answers hubs "
                                 "(e.g. https://feeds.example.org/websub/)")
    callback = _check_url(r, "callback", callback)
    if urlsplit(callback).query or urlsplit(callback).fragment:
        raise r.fail("callback", "must not have a query or a fragment")
    d = PushSettings(callback)
    push = PushSettings(
        callback=callback,
        lease=r.duration("lease", d.lease),
        poll_interval=r.duration("poll_interval", d.poll_interval),
        allow_sha1=r.flag("allow_sha1", d.allow_sha1),
        max_per_minute=r.integer("max_per_minute", d.max_per_minute, minimum=1),
        verify_within=r.duration("verify_within", d.verify_within),
    )
    if push.lease < timedelta(seconds=1):
        raise r.fail("lease", "must be at least 1s")
    r.finish()
    return push


def _websub(r: _Reader) -> WebSubSettings:
    hubs = tuple(_check_url(r, "hubs", hub) for hub in r.texts("hubs"))
    ws = WebSubSettings(
        hubs=hubs,
        timeout=r.seconds("timeout", WebSubSettings.timeout, minimum=0.1),
        retries=r.integer("retries", WebSubSettings.retries, minimum=0),
    )
    r.finish()
    return ws


def _serve(r: _Reader) -> ServeSettings:
    admin = r.opt_text("admin_listen")
    sv = ServeSettings(
        host=r.text("host", ServeSettings.host),
        port=r.integer("port", ServeSettings.port, minimum=0),
        max_age=int(r.seconds("max_age", ServeSettings.max_age)),
        metrics=r.flag("metrics", ServeSettings.metrics),
        admin_listen=None if not admin else _listen_address(r, "admin_listen", admin),
    )
    if sv.port > 65535:
        raise r.fail("port", "must be at most 65535")
    r.finish()
    return sv


def host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9100` for IPv6) as (host, port); ValueError when it is not one."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, such as 127.0.0.1:8080, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _listen_address(r: _Reader, name: str, value: str) -> tuple[str, int]:
    try:
        return host_port(value)
    except ValueError as exc:
        raise r.fail(name, str(exc)) from None


def _state(r: _Reader) -> StateSettings:
    # The environment wins over the file: the URL (and its password) often
    # belongs to the deployment rather than to the configuration.
    configured = r.opt_text("url")
    url = os.environ.get(STATE_URL_ENV) or configured
    if url is not None:
        url = url.strip()
        scheme = url.partition(":")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise r.fail("url", "must be a postgresql:// URL (or be left out for SQLite in state_dir)")
    r.finish()
    return StateSettings(url=url or None)


def _ha(r: _Reader, state: StateSettings) -> HaSettings:
    failover = r.seconds("failover", HaSettings.failover, minimum=1.0)
    output = r.text("output", HaSettings.output)
    if output not in ("shared", "own"):
        raise r.fail("output", "must be shared (one output folder for every instance) or own (one each)")
    if output == "own" and not state.url:
        raise r.fail("output", "own output folders need a shared state: set state.url (or FEEDER_STATE_URL)")
    r.finish()
    return HaSettings(failover=failover, output=output)


def _log(r: _Reader) -> LogSettings:
    fmt = r.text("format", LogSettings.format)
    if fmt not in ("text", "json"):
        raise r.fail("format", "must be text or json")
    r.finish()
    return LogSettings(format=fmt)


def _check_url(reader: _Reader, name: str, value: str) -> str:
    """The URL as a URI (an IRI is encoded: it is written into every feed), or a `ConfigError`."""
    from feeder.urls import http_uri

    uri = http_uri(value)
    if uri is None:
        raise reader.fail(name, f"must be an absolute http(s) URL, got {value!r}")
    return uri


def _site(r: _Reader) -> SiteSettings:
    base_url = _check_url(r, "base_url", r.text("base_url", SiteSettings.base_url))
    if not base_url.endswith("/"):
        base_url += "/"  # it names a folder: urljoin must keep its last segment
    link = r.text("link", "")
    if link:
        link = _check_url(r, "link", link)
    site = SiteSettings(
        title=r.text("title", SiteSettings.title).strip() or SiteSettings.title,
        base_url=base_url,
        link=link,
        description=r.text("description", ""),
        language=r.text("language", "en"),
        author=r.text("author", ""),
        author_email=r.text("author_email", ""),
    )
    r.finish()
    return site


def _podcast(r: _Reader) -> PodcastSettings:
    # Imported here: a rescan reads its configuration before it holds the
    # build lock and lists the folder, and the model's classes cost 15 ms.
    from feeder.model import PodcastSettings

    image = r.opt_text("image")
    if not image:
        raise r.fail("image", "is required for a podcast (a 1400-3000 px JPEG or PNG)")
    image = _check_url(r, "image", image)
    category = r.opt_text("category")
    if not category:
        raise r.fail("category", "is required for a podcast (an Apple Podcasts category such as Technology)")
    kind = r.text("type", "episodic")
    if kind not in ("episodic", "serial"):
        raise r.fail("type", "must be episodic or serial")
    email = r.opt_text("owner_email")
    if email is not None and "@" not in email:
        raise r.fail("owner_email", "must be an e-mail address")
    podcast = PodcastSettings(
        image=image, category=category, subcategory=r.opt_text("subcategory"),
        explicit=r.flag("explicit", False), author=r.opt_text("author"), owner_name=r.opt_text("owner_name"),
        owner_email=email, type=kind, language=r.opt_text("language"), locked=r.flag("locked", False),
    )
    r.finish()
    return podcast


def _topics(r: _Reader) -> dict[str, TopicSettings]:
    topics: dict[str, TopicSettings] = {}
    for name in list(r.data):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("topic names must be non-empty strings", key=r.prefix, path=r.path)
        t = r.section(name)
        slug = t.opt_text("slug")
        if slug is not None and not _valid_slug(slug):
            raise t.fail("slug", "must be lower-case letters, digits and hyphens")
        podcast = _podcast(t.section("podcast")) if t.raw("podcast") is not None else None
        max_items = t.raw("max_items")
        topics[name] = TopicSettings(
            title=t.opt_text("title"),
            description=t.opt_text("description"),
            aliases=t.texts("aliases"),
            slug=slug,
            podcast=podcast,
            max_items=None if max_items is None else t.integer("max_items", 1, minimum=1),
        )
        t.finish()
    return topics


_QUERY_KEYS = ("topics", "all_topics", "exclude_topics", "providers", "category", "type", "min_quality", "min_heat")


def _custom_feeds(r: _Reader, topics: Mapping[str, TopicSettings]) -> tuple[CustomFeed, ...]:
    """`feeds.custom`: slug → a query over the articles' fields, with its title and description."""
    if not r.data:
        return ()
    from feeder.selection.topics import slug_for, topic_key  # only when there are custom feeds

    taken = {ts.slug or slug_for(topic_key(name)): name for name, ts in topics.items()}
    feeds = []
    for slug in list(r.data):
        if not isinstance(slug, str) or not _valid_slug(slug):
            raise ConfigError("a custom feed's name is its folder: lower-case letters, digits and hyphens",
                              key=r.key(str(slug)), path=r.path)
        if slug in taken:
            raise r.fail(slug, f"the topic {taken[slug]!r} has this folder already: name the feed otherwise")
        c = r.section(slug)
        title = c.opt_text("title")
        if not title or not title.strip():
            raise c.fail("title", "is required")
        max_items = c.raw("max_items")
        feed = CustomFeed(
            slug=slug, title=title.strip(), description=c.text("description", "") or title.strip(),
            topics=c.texts("topics"), all_topics=c.texts("all_topics"), exclude_topics=c.texts("exclude_topics"),
            providers=tuple(p.casefold() for p in c.texts("providers")),
            category=c.opt_text("category"), type=c.opt_text("type"),
            min_quality=c.opt_integer("min_quality"), min_heat=c.opt_integer("min_heat"),
            max_items=None if max_items is None else c.integer("max_items", 1, minimum=1),
        )
        c.finish()
        if not any(c.data.get(key) not in (None, [], "") for key in _QUERY_KEYS):
            raise c.fail("topics", "a custom feed needs a query: at least one of " + ", ".join(_QUERY_KEYS))
        feeds.append(feed)
    return tuple(feeds)


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _valid_slug(slug: str) -> bool:
    return len(slug) <= 80 and _SLUG.fullmatch(slug) is not None


def parse_config(data: Any, *, base: Path, source: Path | None = None,
                 listed: tuple[Path, Any] | None = None) -> Settings:
    """Validate a loaded YAML document into `Settings`; `listed` is the
    sources file's path and loaded YAML, when it exists."""
    r = _Reader(data, "", source)
    site = _site(r.section("site"))
    timezone = r.text("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("timezone", f"unknown time zone {timezone!r}") from None
    content = r.section("content")
    max_file_size = content.integer("max_file_size", Settings.max_file_size, minimum=1)
    follow_symlinks = content.flag("follow_symlinks", Settings.follow_symlinks)
    content.finish()
    feeds = r.section("feeds")
    max_items = feeds.integer("max_items", Settings.max_items, minimum=1)
    digest = feeds.raw("digest")
    if digest is None or digest is False:  # YAML reads an unquoted `off` as false
        digest = "off"
    if digest not in ("off", "daily", "weekly"):
        raise feeds.fail("digest", "must be off, daily or weekly")
    archive = feeds.raw("archive")
    if archive is None or archive is False:  # YAML reads an unquoted `off` as false
        archive = "off"
    if archive not in ("off", "monthly", "weekly"):
        raise feeds.fail("archive", "must be off, monthly or weekly")
    topics = _topics(r.section("topics"))
    custom_feeds = _custom_feeds(feeds.section("custom"), topics)
    feeds.finish()
    state = _state(r.section("state"))
    settings = Settings(
        site=site,
        content_dir=r.folder("content_dir", "../content", base),
        output_dir=r.folder("output_dir", "../feeds", base),
        state_dir=r.folder("state_dir", "../state", base),
        timezone=timezone,
        max_file_size=max_file_size,
        follow_symlinks=follow_symlinks,
        max_items=max_items,
        digest=digest,
        archive=archive,
        topics=topics,
        custom_feeds=custom_feeds,
        links=_links(r.section("links")),
        lock_timeout=r.seconds("lock_timeout", Settings.lock_timeout),
        schedule=_schedule(r.section("schedule")),
        websub=_websub(r.section("websub")),
        serve=_serve(r.section("serve")),
        log=_log(r.section("log")),
        sources=_sources(r, listed),
        sources_file=r.folder("sources_file", SOURCES_FILE, base),
        ingest=_ingest(r.section("ingest")),
        state=state,
        ha=_ha(r.section("ha"), state),
        source=source,
    )
    r.finish()
    return settings


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The configuration file to use: the argument, $FEEDER_CONFIG, or a default location."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in DEFAULT_LOCATIONS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        f"no configuration file found (looked for {', '.join(DEFAULT_LOCATIONS)}); "
        f"pass --config PATH or set {CONFIG_ENV}"
    )


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the configuration file (see `find_config`), and the sources file it names."""
    config_path = find_config(path).absolute()
    data = _read_yaml(config_path)
    sources_file = _sources_file(data, config_path)
    listed = None
    if sources_file is not None and sources_file.exists():
        listed = (sources_file, _read_yaml(sources_file))
    return parse_config(data, base=config_path.parent, source=config_path, listed=listed)


def _sources_file(data: Any, config_path: Path) -> Path | None:
    """Where the configuration's sources file is (it need not exist yet)."""
    if not isinstance(data, dict):
        return None  # parse_config says what is wrong
    value = data.get("sources_file", SOURCES_FILE)
    if not isinstance(value, str) or not value.strip():
        return None
    p = Path(os.path.expanduser(value))
    return Path(os.path.normpath(p if p.is_absolute() else config_path.parent / p))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {describe_os_error(exc)}", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=path) from None
    try:
        return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(describe_yaml_error(exc), path=path) from None
