"""Log output: the usual text lines, or one JSON object a line (``AISC_LOG_FORMAT=json``).

A JSON line holds ``time`` (UTC, ISO 8601 to the millisecond), ``level``, ``logger`` and
``message``, the formatted ``exception`` when there is one, and for the server's access log the
request's ``client``, ``method``, ``path`` (with secrets in its query redacted, as in the text
log: ``aisc.app.RedactSecrets``), ``http_version`` and ``status``. A log collector reads the
fields without parsing the message.

``uvicorn_log_config`` is the server's logging for uvicorn (its own loggers, the access log and
the platform's); ``configure_logging`` the worker's and the command line's.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from aisc.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # uvicorn's access record: '%s - "%s %s HTTP/%s" %d' % (client, method, path, ver, status)
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry.update(zip(ACCESS_FIELDS, args, strict=True))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _level(settings: Settings) -> str:
    return settings.log_level.upper()


def uvicorn_log_config(settings: Settings) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for ``settings``: None keeps uvicorn's own text format."""
    if settings.log_format != "json":
        return None
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "aisc.logs.JsonFormatter"}},
        "handlers": {
            "default": handler,
            "access": {**handler, "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": _level(settings), "propagate": False},
            "uvicorn.error": {"level": _level(settings)},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": _level(settings)},
    }


def configure_logging(settings: Settings) -> None:
    """The worker's (and any long-running command's) logging, in the configured format."""
    if settings.log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(_level(settings))
        return
    logging.basicConfig(level=_level(settings), format=TEXT_FORMAT)
