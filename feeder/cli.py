"""The `feeder` command line. Sets up logging; everything else is wiring.

Exit status: 0 done; 1 content problems under --strict; 2 bad usage or
configuration; 3 output or state folder unusable; 4 another build held the
lock for longer than we were willing to wait.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__
from .config import Settings, find_config, load_config
from .errors import ConfigError, FeederError, LockTimeout, OutputError, StateError

if TYPE_CHECKING:
    from .build import BuildReport

log = logging.getLogger("feeder")

EXIT_OK = 0
EXIT_CONTENT = 1
EXIT_CONFIG = 2
EXIT_OUTPUT = 3
EXIT_LOCKED = 4


def _setup_logging(verbosity: int, *, timestamps: bool = False) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if timestamps else "feeder: %(levelname)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 2:
        # Keep third-party chatter (httpx logs every request at INFO) out of -v.
        for name in ("httpx", "httpcore", "apscheduler"):
            logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH",
                        help="configuration file (default: $FEEDER_CONFIG or config/feeder.yaml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output (repeat for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feeder",
        description="Publish RSS 2.0 and Atom 1.0 feeds from a folder of articles.",
    )
    parser.add_argument("--version", action="version", version=f"feeder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p_build = sub.add_parser("build", help="scan the content folder and write every feed once",
                             description="Scan the content folder and write every feed once (the cron job).")
    _common(p_build)
    p_build.add_argument("--strict", action="store_true", help="exit with status 1 when a content file is skipped")
    p_build.add_argument("--wait", type=float, metavar="SECONDS",
                         help="how long to wait for another build to finish (default: lock_timeout)")
    p_build.add_argument("--ingest", action="store_true", help="fetch the due sources first (as feeder ingest)")
    p_build.set_defaults(func=cmd_build)

    p_ingest = sub.add_parser("ingest", help="fetch the followed feeds and write their new entries",
                              description="Fetch every due source once and write new and updated entries into "
                                          "the content folder.")
    _common(p_ingest)
    p_ingest.add_argument("--source", metavar="NAME", help="only this source (its name or folder)")
    p_ingest.add_argument("--force", action="store_true", help="fetch even sources that are not due yet")
    p_ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    p_ingest.set_defaults(func=cmd_ingest)

    p_daemon = sub.add_parser("daemon", help="run in the foreground, rescanning and checking on a schedule",
                              description="Run APScheduler in the foreground (for systemd): a rescan every "
                                          "schedule.rescan and a link check every schedule.link_check. "
                                          "SIGTERM/SIGINT stop it, SIGHUP reloads the configuration.")
    _common(p_daemon)
    p_daemon.add_argument("--serve", metavar="HOST:PORT", type=_host_port,
                          help="also serve the output folder over HTTP (as feeder serve)")
    p_daemon.set_defaults(func=cmd_daemon)

    p_serve = sub.add_parser("serve", help="serve the output folder over HTTP",
                             description="Serve the output folder over HTTP with ETag, Last-Modified, 304s, "
                                         "gzip and Cache-Control (for production, nginx: config/nginx.conf).")
    _common(p_serve)
    p_serve.add_argument("--host", help="address to listen on (default: serve.host, 127.0.0.1)")
    p_serve.add_argument("--port", type=int, help="port to listen on (default: serve.port, 8080)")
    p_serve.set_defaults(func=cmd_serve)

    p_check = sub.add_parser("check", help="check the original URLs of published articles and report",
                             description="Check the original URLs of published articles that are due "
                                         "(or all with --all), store the results and print a report.")
    _common(p_check)
    p_check.add_argument("--all", action="store_true", help="check every URL, not only those due")
    p_check.add_argument("--json", action="store_true", help="print the report as JSON")
    p_check.add_argument("--budget", type=float, metavar="SECONDS",
                         help="stop checking after this long (default: links.budget; 0 with --all: no limit)")
    p_check.set_defaults(func=cmd_check)
    return parser


def _print_report(report: BuildReport, quiet: bool) -> None:
    if quiet:
        return
    print(f"feeder: {report.summary()}")
    for problem in report.skipped:
        print(f"  skipped {problem}")
    for problem in report.warnings:
        print(f"  warning {problem}")


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from .ingest import ingest

    if args.source and not any(args.source in (s.name, s.slug) for s in settings.sources):
        log.error("no source named %r in the configuration", args.source)
        return EXIT_CONFIG
    report = ingest(settings, only=args.source, force=args.force)
    if args.json:
        print(json.dumps({"sources": [asdict(s) for s in report.sources]}, indent=2))
    elif not args.quiet:
        print(f"feeder: ingest: {report.summary()}")
        for s in report.sources:
            print(f"  {s.line()}")
    return EXIT_OK


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from .build import build

    if args.ingest and settings.sources:
        from .ingest import ingest

        ingested = ingest(settings)
        if not args.quiet:
            print(f"feeder: ingest: {ingested.summary()}")
    report = build(settings, lock_timeout=args.wait)
    _print_report(report, args.quiet)
    if args.strict and report.skipped:
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
    from .build import check_content_links
    from .links import dead_or_unknown

    if not settings.links.enabled:
        log.error("link checks are disabled (links.enabled: false)")
        return EXIT_CONFIG
    budget = args.budget
    if budget is None:
        budget = 1e9 if args.all else settings.links.budget
    elif budget == 0:
        budget = 1e9
    outcome = check_content_links(settings, everything=args.all, budget=budget, progress=_Progress())
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
                 "articles": sorted(users.get(r.url, []))}
                for r in problems
            ],
        }
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    print(f"feeder: links: {report.summary()}")
    for r in problems:
        status = f" (HTTP {r.last.status})" if r.last.status else ""
        detail = f": {r.last.error}" if r.last.error else ""
        print(f"  {r.last.verdict.value:<7} {r.last.reason}{status} {r.url}{detail}")
        for source in sorted(users.get(r.url, [])):
            print(f"          used by {source}")
    return EXIT_OK


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, such as 127.0.0.1:8080, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def cmd_daemon(args: argparse.Namespace, settings: Settings) -> int:
    from .daemon import Daemon

    path = find_config(args.config).absolute()
    return Daemon(settings, path, serve=args.serve).run()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .serve import serve_forever

    host = args.host or settings.serve.host
    port = settings.serve.port if args.port is None else args.port
    try:
        return serve_forever(settings, host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        return EXIT_OUTPUT


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    # The daemon and server log for journald/systemd: timestamps, and INFO by default.
    daemon = args.command in ("daemon", "serve")
    _setup_logging(-1 if args.quiet else args.verbose + (1 if daemon else 0), timestamps=daemon)
    try:
        settings = load_config(args.config)
        return int(args.func(args, settings))
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
        return 130
    except BrokenPipeError:
        # The reader went away (`feeder check | head`): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
