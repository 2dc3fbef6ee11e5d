"""Structured logs, one line per record: JSON lines (the default, for a log collector) or
`key=value` text (`ENISHI_LOG_FORMAT=text`, for a terminal). Log records carry ids, codes, counts
and timings, never personal data: no names, emails, phone numbers, query variables or exception
messages from the database. A record logged while a request is served carries its `request_id`."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

LOG_FORMATS = ("json", "text")
# Set by the HTTP layer for the length of a request (graphql/observe.py).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# uvicorn adds `color_message`, the same text with terminal colour codes: noise in JSON.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def _fields(record: logging.LogRecord) -> dict:
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    current = request_id.get()
    if current is not None:
        fields.setdefault("request_id", current)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{key}={json.dumps(value, ensure_ascii=False, default=str)}" for key, value in _fields(record).items())
        line = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S%z')} {record.levelname} {record.name}: {record.getMessage()}"
        return f"{line} {pairs}" if pairs else line


def configure(level: str = "INFO", log_format: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints query strings, which for GET /graphql can hold variables; the
    # app logs one line per request itself (graphql/observe.py).
    logging.getLogger("uvicorn.access").disabled = True
