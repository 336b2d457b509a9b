"""Logging set-up for the command line (the only place handlers are made).

Two formats: readable text (the default), or one JSON object per line for
log collectors, with the time, level, logger, message and the structured
fields a record carries (round, path, url, source, reason).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

__all__ = ["STRUCTURED_FIELDS", "JsonFormatter", "setup_logging"]

# Fields a log call may attach with `extra=`; the JSON format writes them out.
STRUCTURED_FIELDS = ("round", "path", "url", "source", "reason")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(verbosity: int, *, timestamps: bool = False, fmt: str = "text") -> None:
    """-1 (quiet) and 0 show warnings and errors, 1 information, 2 and more debugging."""
    # -q hides progress and summaries, never problems: a cron job run with -q
    # mails exactly the warnings and errors.
    level = {-1: logging.WARNING, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        text = "%(asctime)s %(levelname)s %(name)s: %(message)s" if timestamps else "feeder: %(levelname)s: %(message)s"
        handler.setFormatter(logging.Formatter(text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 2:
        # Keep third-party chatter (httpx logs every request at INFO) out of -v.
        for name in ("httpx", "httpcore", "apscheduler"):
            logging.getLogger(name).setLevel(max(level, logging.WARNING))
