"""Log lines as text or JSON (``LOG_FORMAT``), and the one line written per request.

A JSON line is one object: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``request_id`` and, where the record has them, ``route`` (the URL rule's template, never the
path, whose ids and query string are personal data), ``method``, ``status``, ``duration_ms``,
``actor_id`` and ``statement`` (a slow query's SQL, without its values).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from ..config import ConfigError

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
#: attributes a record may carry (``extra=``) that a JSON line shows as fields of their own
FIELDS = ("route", "method", "status", "duration_ms", "actor_id", "statement")

request_log = logging.getLogger("crm_core.request")


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module docstring for its fields)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``LOG_FORMAT``; ``ConfigError`` for an unknown one."""
    if log_format not in FORMATS:
        raise ConfigError(f"LOG_FORMAT: must be one of {', '.join(FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


#: ``crm serve``'s gunicorn logging with JSON logs (merged over gunicorn's defaults, one key at a
#: time): its own lines as JSON too; no access lines (the app writes one per request); nothing on
#: the root logger, which would print the app's lines a second time
GUNICORN_JSON_LOGGING = {
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
    "formatters": {"generic": {"()": JsonFormatter}},
}


def log_request(rule: str | None, method: str, status: int, seconds: float | None, actor_id) -> None:
    """The request's line: route template, method, status, duration and actor (no path)."""
    ms = None if seconds is None else round(seconds * 1000, 1)
    request_log.info(
        "%s %s %s %s ms actor=%s",
        method,
        rule or "<unmatched>",
        status,
        "-" if ms is None else ms,
        actor_id if actor_id is not None else "-",
        extra={"route": rule, "method": method, "status": status, "duration_ms": ms, "actor_id": actor_id},
    )
