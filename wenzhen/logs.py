"""Structured JSON logs with the correlation id on every line.

Policy: log identifiers and outcomes, never payloads. As a second line of
defence a filter masks anything shaped like a Chinese mobile number or
resident ID number before a line is written.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from wenzhen import context

_MOBILE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def redact(text: str) -> str:
    return _RESIDENT_ID.sub("[id-redacted]", _MOBILE.sub("[phone-redacted]", text))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = ""):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "request_id": context.request_id(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            line.update(extra)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class ExpectedErrors(logging.Filter):
    """Nameko logs an entrypoint's declared error (a full slot, a wrong code: the caller's mistake, answered with a
    4xx) as a warning with its whole traceback; a rush of refusals then buries the real warnings. It is kept as an
    info line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nameko.containers" and str(record.msg).startswith("(expected)"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def logging_config(service: str, level: str = "INFO") -> dict:
    """A ``logging.config.dictConfig`` for one process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "filters": {"expected": {"()": ExpectedErrors}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr,
                                "filters": ["expected"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "pika": {"level": "WARNING"},
            "kombu": {"level": "WARNING"},
            "amqp": {"level": "WARNING"},
            "pymongo": {"level": "WARNING"},
        },
    }


def setup(service: str, level: str = "INFO") -> None:
    import logging.config

    logging.config.dictConfig(logging_config(service, level))
