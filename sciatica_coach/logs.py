"""Logs as one JSON object per line, so a log pipeline filters on fields instead of regexes.

`serve` turns this on for every logger, gunicorn's included; `demo` keeps plain text for a
person reading a terminal.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

from shared.user_ref import user_ref

#: Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class RequestFilter(logging.Filter):
    """Stamps every record logged while a request is handled with the request's id and, once
    the request is known to act for a user, that user's ref (never the id itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not has_request_context():
            return True
        request_id = g.get("request_id")
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        raw_user = g.get("log_user")
        if raw_user and not hasattr(record, "user"):
            record.user = user_ref(str(raw_user))
        return True


class JsonFormatter(logging.Formatter):
    """One line per record: time, level, logger, message, then any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for JSON on stderr; gunicorn's access log is silenced, ours replaces it."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["request"],
            }
        },
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            # gunicorn's own lines go up to the root handler, so they are JSON too.
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def configure(level: str = "INFO") -> None:
    """Send every log record, and every warning, through the JSON formatter from now on."""
    logging.config.dictConfig(logging_config(level))
    logging.captureWarnings(True)  # e.g. gevent's, which would print a plain line to stderr
