"""A coarse request budget per caller (OWASP API4: unrestricted resource consumption).

Each gateway worker gives every caller — the account of a valid token, else the
origin address — a token bucket of ``GATEWAY_REQUESTS_PER_MINUTE`` requests that
refills continuously; beyond it the answer is 429 with ``Retry-After``. It is a
first line only: per worker and in memory (n workers ⇒ up to n× the budget), in
front of the exact, database-backed limits on sign-in, SMS codes and sign-up.
An ingress in front of the gateway can add a global limit.

Callers without a token are counted by address (``ip:<address>``); their budget is
``GATEWAY_REQUESTS_PER_MINUTE`` times ``RATE_LIMIT_ORIGIN_FACTOR`` (0: none), the
factor that also scales identity's per-origin limits (local experiments lift both).
"""
from __future__ import annotations

import math
import threading
import time

MAX_CALLERS = 50_000  # buckets kept per worker; the idlest are dropped beyond it
ORIGIN_PREFIX = "ip:"  # how a caller without a token is named: by its address


class Budget:
    def __init__(self, per_minute: int, clock=time.monotonic, origin_factor: float = 1.0):
        if not (origin_factor >= 0 and math.isfinite(origin_factor)):
            raise ValueError(f"RATE_LIMIT_ORIGIN_FACTOR must be a number 0 or more, not {origin_factor}")
        self.capacity = float(per_minute)
        self.origin_capacity = float(per_minute) * origin_factor
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        capacity = self.origin_capacity if caller.startswith(ORIGIN_PREFIX) else self.capacity
        if capacity <= 0:
            return 0.0
        rate = capacity / 60.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(caller, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[caller] = (tokens, now)
                wait = (1 - tokens) / rate
            if len(self._buckets) > MAX_CALLERS:
                self._forget_idlest()
        return wait

    def _forget_idlest(self) -> None:
        by_age = sorted(self._buckets.items(), key=lambda item: item[1][1])
        for caller, _ in by_age[: len(by_age) // 10]:
            del self._buckets[caller]


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
