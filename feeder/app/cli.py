"""The `feeder` command line. Sets up logging; everything else is wiring.

The exit statuses are `EXIT_STATUSES` below; the README's table lists the
same ones (a test compares them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from feeder._version import __version__
from feeder.app.exitstatus import (
    EXIT_CONFIG,
    EXIT_CONTENT,
    EXIT_INTERRUPTED_INT,
    EXIT_INTERRUPTED_TERM,
    EXIT_LISTEN,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SOURCES,
    describe_listen_error,
)
from feeder.app.logs import setup_logging
from feeder.config import Settings, find_config, host_port, load_config
from feeder.errors import Cancelled, ConfigError, FeederError, LockTimeout, OutputError, StateError

if TYPE_CHECKING:
    from feeder.app.pipeline import BuildReport

log = logging.getLogger("feeder")

def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH",
                        help="configuration file (default: $FEEDER_CONFIG, else config/feeder.yaml or "
                             "./feeder.yaml, whichever exists)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output (repeat for debug)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress or summary; problems are still reported on stderr")
    parser.add_argument("--log-format", choices=("text", "json"),
                        help="log lines as readable text or one JSON object each (default: log.format, text)")


def _seconds(value: str) -> float:
    """A number of seconds, zero or more (argparse turns the error into a usage message)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {value!r}") from None
    if not number >= 0 or number == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value!r}")
    return number


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, not {value!r}")
    return int(value)


DESCRIPTION = (
    "Publish RSS 2.0, Atom 1.0 and JSON Feed 1.1 feeds from a folder of articles: one set per topic and one "
    "for all topics, with an OPML list and a landing page. feeder checks each article's original URL, "
    "follows other sites' feeds into the content folder, and runs from cron (build) or as a daemon that "
    "publishes each change as it happens, checks links and ingests on a schedule."
)


def _command(sub: Any, name: str, func: Callable[[argparse.Namespace, Settings], int], summary: str,
             description: str) -> argparse.ArgumentParser:
    """One subcommand, with the options every command has."""
    command: argparse.ArgumentParser = sub.add_parser(name, help=summary, description=description)
    _common(command)
    command.set_defaults(func=func, parser=command)
    return command


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feeder",
        description=DESCRIPTION,
        epilog="Run 'feeder COMMAND --help' for a command's options. Exit statuses: see the README.",
    )
    parser.add_argument("--version", action="version", version=f"feeder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    build = _command(sub, "build", cmd_build, "scan the content folder and write every feed once",
                     "Scan the content folder and write every feed once (the cron job).")
    build.add_argument("--strict", action="store_true",
                       help="exit with status 1 when a content file is skipped or has a warning")
    build.add_argument("--wait", type=_seconds, metavar="SECONDS",
                       help="how long to wait for another build to finish (default: lock_timeout)")
    build.add_argument("--ingest", action="store_true", help="fetch the due sources first (as feeder ingest)")

    ingest = _command(sub, "ingest", cmd_ingest, "fetch the followed feeds and write their new entries",
                      "Fetch every due source once and write new and updated entries into the content folder.")
    ingest.add_argument("--source", metavar="NAME", help="only this source (its name or folder)")
    ingest.add_argument("--force", action="store_true", help="fetch even sources that are not due yet")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")

    daemon = _command(sub, "daemon", cmd_daemon, "run in the foreground: publish changes, check links, ingest",
                      "Run in the foreground (for systemd): publish each change to the content folder as "
                      "filesystem events report it (or rescan every schedule.rescan), check links every "
                      "schedule.link_check and, with sources configured, ingest the followed feeds every "
                      "schedule.ingest. SIGTERM/SIGINT stop it, SIGHUP reloads the configuration.")
    daemon.add_argument("--serve", metavar="HOST:PORT", type=_host_port,
                        help="also serve the output folder, /healthz and /metrics over HTTP")

    serve = _command(sub, "serve", cmd_serve, "serve the output folder over HTTP",
                     "Serve the output folder over HTTP with ETag, Last-Modified, 304s, gzip and Cache-Control "
                     "(for production, nginx: config/nginx.conf).")
    serve.add_argument("--host", help="address to listen on (default: serve.host, 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: serve.port, 8080)")

    check = _command(sub, "check", cmd_check, "check the original URLs of published articles and report",
                     "Check the original URLs of published articles that are due (or all with --all), store "
                     "the results and print a report.")
    check.add_argument("--all", action="store_true", help="check every URL, not only those due")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--budget", type=_seconds, metavar="SECONDS",
                       help="stop checking after this long (default: links.budget; 0 with --all: no limit)")

    status = _command(sub, "status", cmd_status, "what the last build and the state database say, without scanning",
                      "Print the last build, the next scheduled rounds, counts of files and articles, dead and "
                      "unknown URLs, failing sources and every feed, from the state database alone (safe while "
                      "a daemon runs).")
    status.add_argument("--json", action="store_true", help="print it as JSON")

    from feeder.app.sources_cli import add_commands

    add_commands(sub, _command)

    state = sub.add_parser("state", help="manage the state database",
                           description="Manage the state database (SQLite in state_dir, or state.url).")
    state_sub = state.add_subparsers(dest="state_command", metavar="ACTION")
    state_sub.required = True
    copy = _command(state_sub, "copy", cmd_state_copy, "copy the whole state into an empty database",
                    "Copy the configured state (SQLite in state_dir, or state.url / FEEDER_STATE_URL) into an "
                    "empty one: a postgresql:// URL, or a folder for SQLite. Builds wait while it copies. "
                    "Then point state.url (or FEEDER_STATE_URL) at the copy.")
    copy.add_argument("--to", required=True, metavar="URL_OR_FOLDER",
                      help="a postgresql://user@host/db URL, or a state folder (SQLite)")
    return parser


def _print_report(report: BuildReport, args: argparse.Namespace) -> None:
    if not args.quiet:
        print(f"feeder: {report.summary()}")
        if args.verbose and report.next_publication is not None:
            print(f"feeder: next scheduled publication: {report.next_publication.isoformat(timespec='seconds')}")
    # Problems go to stderr whatever the verbosity: cron mails them. With JSON
    # logs they are log records like every other line of stderr.
    for kind, problems in (("skipped", report.skipped), ("warning", report.warnings)):
        for problem in problems:
            _problem(args, f"{kind} {problem}", path=problem.path)


def _problem(args: argparse.Namespace, text: str, **fields: str) -> None:
    """A problem on stderr: a plain line, or with JSON logs a log record like every other line."""
    if str(getattr(args, "log_format_in_use", None) or args.log_format or "text") == "json":
        log.warning("%s", text, extra=fields)
    else:
        print(f"feeder: {text}", file=sys.stderr)


def cmd_state_copy(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.storage.copy import copy_state
    from feeder.storage.db import is_postgres_url
    from feeder.storage.lock import locked_state
    from feeder.storage.state import State

    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", args.to)
    if scheme and not is_postgres_url(args.to):
        raise ConfigError(f"unknown kind of state URL '{scheme.group(1)}://': give a postgresql:// URL, or a "
                          "folder for SQLite", key="--to")
    to_url = args.to if is_postgres_url(args.to) else None
    to_dir = settings.state_dir if to_url else Path(args.to).absolute()
    same = to_url == settings.state.url if to_url or settings.state.url else \
        os.path.realpath(to_dir) == os.path.realpath(settings.state_dir)
    if same:
        raise ConfigError("the target is the state being copied: give another database or folder", key="--to")
    with locked_state(settings.state_dir, settings.state.url, timeout=settings.lock_timeout,
                      cancel=args.cancel) as source, State.open(to_dir, to_url) as target:
        counts = copy_state(source, target)
        if not args.quiet:
            print(f"feeder: copied {sum(counts.values())} rows from {source.label} to {target.label} "
                  f"({', '.join(f'{t} {n}' for t, n in counts.items() if n)})")
    return EXIT_OK


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:

    from feeder.ingest.run import ingest

    if not settings.sources:
        where = settings.source or "the configuration file"
        log.warning("no sources to follow: add a 'sources' list to %s (see the README, "
                    "\"Following other feeds\", and config/feeder.yaml for an example)", where)
        return EXIT_OK
    if args.source and not any(args.source in (s.name, s.slug) for s in settings.sources):
        log.error("no source named %r in the configuration", args.source)
        return EXIT_CONFIG
    report = ingest(settings, only=args.source, force=args.force, cancel=args.cancel)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        if not args.quiet:
            print(f"feeder: ingest: {report.summary()}")
        for s in report.sources:
            if s.needs_attention:
                _problem(args, s.line(), source=s.url)
            elif not args.quiet:
                print(f"  {s.line()}")
            if args.verbose:
                for left in s.left_out:
                    print(f"    left out: {left['entry']}: {left['why']}", file=sys.stderr)
        if report.network_down:
            log.warning("the network is down: no source could be reached (no name lookup worked, "
                        "and %s did not resolve either)", settings.links.canary_host)
    return EXIT_SOURCES if report.all_failed else EXIT_OK


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    if args.ingest and settings.sources:
        from feeder.ingest.run import ingest

        ingested = ingest(settings, cancel=args.cancel)
        if not args.quiet:
            print(f"feeder: ingest: {ingested.summary()}")
        for s in ingested.sources:
            if s.needs_attention:
                _problem(args, s.line(), source=s.url)
    from feeder.app.headstart import head_start

    with head_start(settings, timeout=settings.lock_timeout if args.wait is None else args.wait,
                    cancel=args.cancel) as started:
        from feeder.app.pipeline import build

        report = build(settings, lock_timeout=args.wait, cancel=args.cancel, head_start=started)
    if report.files == 0:
        log.warning("no article files found in %s (feeder reads *.txt and *.md files, in subfolders too); "
                    "the feeds were written empty", settings.content_dir)
    _print_report(report, args)
    if args.strict and (report.skipped or report.warnings):
        return EXIT_CONTENT
    return EXIT_OK


class _Progress:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done != total):
            return
        self.last = now
        sys.stderr.write(f"\rchecking links: {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.links.check import check_content_links
    from feeder.links.rounds import dead_or_unknown

    if not settings.links.enabled:
        log.error("link checks are disabled (links.enabled: false)")
        return EXIT_CONFIG
    budget = args.budget
    if budget is None:
        budget = 1e9 if args.all else settings.links.budget
    elif budget == 0:
        budget = 1e9
    outcome = check_content_links(settings, everything=args.all, budget=budget, progress=_Progress(),
                                  cancel=args.cancel)
    report, users = outcome.report, outcome.users
    problems = dead_or_unknown(outcome.records)
    if args.json:
        payload = {
            "urls": report.urls, "checked": report.checked, "unfinished": report.unfinished,
            "network_down": report.network_down, "counts": dict(report.counts),
            "not_checked": report.urls - len(outcome.records),
            "problems": [
                {"url": r.url, "verdict": r.last.verdict.value, "reason": r.last.reason, "status": r.last.status,
                 "error": r.last.error, "final_url": r.last.final_url, "redirects": list(r.last.redirects),
                 "checked_at": r.last.checked_at.isoformat(), "dead_count": r.dead_count,
                 "checked_now": r.url in report.checked_urls, "articles": sorted(users.get(r.url, []))}
                for r in problems
            ],
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    if not args.quiet:
        print(f"feeder: links: {report.summary()}")
    # What this run found; earlier rounds' findings only when asked for.
    everything = args.all or args.verbose > 0
    shown = problems if everything else [r for r in problems if r.url in report.checked_urls]
    for r in shown:
        status = f" (HTTP {r.last.status})" if r.last.status else ""
        detail = f": {r.last.error}" if r.last.error else ""
        print(f"  {r.last.verdict.value:<7} {r.last.reason}{status} {r.url}{detail}")
        for source in sorted(users.get(r.url, [])):
            print(f"          used by {source}")
    earlier = len(problems) - len(shown)
    if earlier and not args.quiet:
        print(f"  {earlier} dead or unknown URL(s) from earlier rounds not listed: feeder check -v lists them")
    return EXIT_OK


def _host_port(value: str) -> tuple[str, int]:
    try:
        return host_port(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_daemon(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.app.daemon import Daemon

    path = find_config(args.config).absolute()

    def relog(new: Settings) -> None:
        if args.log_format is None:  # a format given on the command line stays
            setup_logging(args.verbosity, timestamps=True, fmt=new.log.format)

    return Daemon(settings, path, serve=args.serve, on_reload=relog).run()


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.app.status import read_status

    status = read_status(settings)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        for line in status.lines():
            print(line)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.app.serve import serve_forever

    host = args.host or settings.serve.host
    port = settings.serve.port if args.port is None else args.port
    try:
        return serve_forever(settings, host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, describe_listen_error(exc))
        return EXIT_LISTEN


class _StopSignals:
    """SIGTERM and SIGINT ask the running command to stop at its next safe
    point (between two files, never inside one), as the daemon does; a
    second signal stops it at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._old: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[threading.Event]:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)
        try:
            yield self.event
        finally:
            for signum, old in self._old.items():
                signal.signal(signum, old)

    @property
    def status(self) -> int:
        return EXIT_INTERRUPTED_TERM if self.signum == signal.SIGTERM else EXIT_INTERRUPTED_INT


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # The command's own usage, not the top-level one: `feeder build --bogus`.
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    # The daemon and server log for journald/systemd: timestamps, and INFO by default.
    daemon = args.command in ("daemon", "serve")
    verbosity = args.verbosity = -1 if args.quiet else args.verbose + (1 if daemon else 0)
    setup_logging(verbosity, timestamps=daemon, fmt=args.log_format or "text")
    stop = _StopSignals()
    try:
        settings = load_config(args.config)
        args.log_format_in_use = args.log_format or settings.log.format
        if args.log_format is None and settings.log.format != "text":
            setup_logging(verbosity, timestamps=daemon, fmt=settings.log.format)
        if daemon:  # they handle their own signals
            return int(args.func(args, settings))
        with stop.installed() as args.cancel:
            return int(args.func(args, settings))
    except Cancelled:
        name = signal.Signals(stop.signum or signal.SIGINT).name
        log.warning("stopped by %s before finishing; every file written is whole, the next run completes "
                    "the work", name)
        return stop.status
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return EXIT_CONFIG
    except LockTimeout as exc:
        log.error("%s", exc)
        return EXIT_LOCKED
    except (OutputError, StateError) as exc:
        log.error("%s", exc)
        return EXIT_OUTPUT
    except FeederError as exc:
        log.error("%s", exc)
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED_INT
    except BrokenPipeError:
        # The reader went away (`feeder check | head`): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
