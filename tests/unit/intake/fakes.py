"""What intake's capability fakes share: the per-account limits, counted in memory, and the data keys."""
from __future__ import annotations

from collections import Counter

from wenzhen.crypto import Keyring, new_key_settings
from wenzhen.errors import TooManyRequests
from wenzhen.ratelimit import Limit

KEYS = Keyring.from_env(new_key_settings())


class CountedLimits:
    """``hit_limit`` as ``wenzhen.ratelimit.hit`` answers it, within one window that never ends."""

    def __init__(self) -> None:
        self.hits: Counter = Counter()

    def hit_limit(self, limit: Limit, key: str) -> None:
        self.hits[(limit.name, key)] += 1
        if self.hits[(limit.name, key)] > limit.max:
            raise TooManyRequests(limit.message, retry_after=limit.window.total_seconds())
