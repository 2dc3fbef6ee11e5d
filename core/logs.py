"""Structured (JSON lines) logs. Log records carry ids, codes, counts and timings, never personal
data: no names, emails, phone numbers, query variables or exception messages from the database."""

from __future__ import annotations

import json
import logging
import sys

# uvicorn adds `color_message`, the same text with terminal colour codes: noise in JSON.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints query strings, which for GET /graphql can hold variables.
    logging.getLogger("uvicorn.access").disabled = True
