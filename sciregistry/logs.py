"""Logging: one configuration for ``serve`` and the CLI, and the request id in every line.

``log_format = "plain"`` (default)::

    2026-12-03 09:30:01,123 INFO sciregistry.access [rid=4f2a...]: GET /v2/<name>/manifests/<reference> 200 ...

``log_format = "json"``: one JSON object per line (python-json-logger), with ``time``, ``level``,
``logger``, ``message``, ``request_id`` and, on access lines, the fields listed in
:data:`ACCESS_FIELDS`.

The request id lives in a context variable set by the HTTP layer for the duration of one request
(``sciregistry.api.observe``); :class:`RequestIdFilter` copies it onto every record, so a line
logged anywhere while serving that request (an error, a warning of a library) carries it.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

request_id: ContextVar[str] = ContextVar("sciregistry_request_id", default="-")

ACCESS_LOGGER = "sciregistry.access"
ACCESS_FIELDS = ("method", "route", "path", "status", "bytes_in", "bytes_out", "duration_ms", "principal",
                 "remote_addr", "request_id")
LOG_FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [rid=%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's, else "-") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                             rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    if log_format != "plain":
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return logging.Formatter(PLAIN_FORMAT)


def configure_logging(level: str = "INFO", log_format: str = "plain", stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one stream handler in ``log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler


def plain_access_line(f: dict[str, Any]) -> str:
    """The message of an access line in the plain format (the same fields as the JSON one)."""
    return (f"{f['remote_addr']} {f['principal']} \"{f['method']} {f['path']}\" {f['status']} "
            f"in={f['bytes_in']} out={f['bytes_out']} {f['duration_ms']}ms route={f['route']}")
