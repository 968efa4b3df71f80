"""The HTTP baseline: the smallest WSGI app, served by gunicorn the way the gateway is."""
from __future__ import annotations

from collections.abc import Callable, Iterable

BODY = b'{"hello":"world"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
