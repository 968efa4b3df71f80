"""Per-request context: the correlation id (X-Request-ID) that follows a request
from the gateway through RPC and events into every log line.

It travels in Nameko context data under ``request_id`` (AMQP header
``nameko.request_id``) and in event envelopes as ``correlationid``.
"""
from __future__ import annotations

import contextvars
import re
import uuid

REQUEST_ID_KEY = "request_id"
EVENT_ID_KEY = "event_id"  # the event being handled: the causation id of what it emits

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_causation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("causation_id", default=None)

_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def clean_request_id(value: str | None) -> str:
    """Take a caller's request id if it is safe to echo and log, else make one."""
    if value and _VALID.match(value):
        return value
    return uuid.uuid4().hex


def request_id() -> str | None:
    return _request_id.get()


def causation_id() -> str | None:
    return _causation_id.get()


def bind(request_id: str | None, causation: str | None = None) -> None:
    _request_id.set(request_id)
    _causation_id.set(causation)
