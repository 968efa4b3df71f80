"""Prometheus metrics of the gateway, aggregated across gunicorn's worker processes.

gunicorn.conf.py points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before
the workers start; each worker writes its samples there and ``/metrics``
reads them all. Labels are the route *template*, never the path, so patient
ids cannot end up in a metric.
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter("wenzhen_gateway_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("wenzhen_gateway_request_duration_seconds", "Time to answer an HTTP request",
                    ["method", "route"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def observe(method: str, route: str | None, status: int, seconds: float) -> None:
    route = route or "unmatched"
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
