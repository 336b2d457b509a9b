"""The `feeder` command line. Sets up logging; everything else is wiring.

Exit status: 0 done; 1 content problems under --strict; 2 bad usage or
configuration; 3 output or state folder unusable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .build import BuildReport, build
from .config import Settings, load_config
from .errors import ConfigError, FeederError, OutputError, StateError

log = logging.getLogger("feeder")

EXIT_OK = 0
EXIT_CONTENT = 1
EXIT_CONFIG = 2
EXIT_OUTPUT = 3


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
    p_build.set_defaults(func=cmd_build)
    return parser


def _print_report(report: BuildReport, quiet: bool) -> None:
    if quiet:
        return
    print(f"feeder: {report.summary()}")
    for problem in report.skipped:
        print(f"  skipped {problem}")


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    report = build(settings)
    _print_report(report, args.quiet)
    if args.strict and report.skipped:
        return EXIT_CONTENT
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    _setup_logging(-1 if args.quiet else args.verbose)
    try:
        settings = load_config(args.config)
        return int(args.func(args, settings))
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return EXIT_CONFIG
    except (OutputError, StateError) as exc:
        log.error("%s", exc)
        return EXIT_OUTPUT
    except FeederError as exc:
        log.error("%s", exc)
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
