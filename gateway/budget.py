"""A coarse request budget per caller (OWASP API4: unrestricted resource consumption).

Each gateway worker gives every caller — the account of a valid token, else the
origin address — a token bucket of ``GATEWAY_REQUESTS_PER_MINUTE`` requests that
refills continuously; beyond it the answer is 429 with ``Retry-After``. It is a
first line only: per worker and in memory (n workers ⇒ up to n× the budget), in
front of the exact, database-backed limits on sign-in, SMS codes and sign-up.
An ingress in front of the gateway can add a global limit.
"""
from __future__ import annotations

import math
import threading
import time

MAX_CALLERS = 50_000  # buckets kept per worker; the idlest are dropped beyond it


class Budget:
    def __init__(self, per_minute: int, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        if self.capacity <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[caller] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if len(self._buckets) > MAX_CALLERS:
                self._forget_idlest()
        return wait

    def _forget_idlest(self) -> None:
        by_age = sorted(self._buckets.items(), key=lambda item: item[1][1])
        for caller, _ in by_age[: len(by_age) // 10]:
            del self._buckets[caller]


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
