"""Rate limits counted in the service's own database (shared by all its processes).

* ``hit(store, LIMIT, key)`` counts one attempt for ``key`` in the current fixed
  window and raises :class:`~wenzhen.errors.TooManyRequests` (with the seconds until
  the window ends) once the window holds more than the limit: one atomic ``$inc``
  with upsert, no read-then-write.
* ``cooldown(store, name, key, seconds)`` allows one attempt per ``seconds``
  (e.g. one SMS code a minute per number), measured from the last allowed one.
* ``scaled(LIMIT, factor)`` is the limit times ``RATE_LIMIT_ORIGIN_FACTOR`` (the
  per-origin limits, lifted for local experiments), or None for no limit.

Documents expire by a TTL index. Keys must not be personal data: pass a blind
index of a phone number, never the number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from wenzhen.errors import TooManyRequests
from wenzhen.storage import Index, Store, update_and_read
from wenzhen.timez import as_utc, utcnow

RATE_LIMITS = "rate_limits"
INDEXES = [Index(RATE_LIMITS, [("expires_at", ASCENDING)], name="window_expiry", options={"expireAfterSeconds": 0})]


@dataclass(frozen=True)
class Limit:
    name: str
    max: int
    window: timedelta
    message: str = "Too many attempts; please wait and try again."


def scaled(limit: Limit, factor: float) -> Limit | None:
    """``limit`` allowing ``factor`` times as many attempts (at least one), or None when ``factor`` is 0 (no limit).
    A negative or non-finite factor is a mistake, not a way to lift a limit: ValueError."""
    if not (factor >= 0 and math.isfinite(factor)):
        raise ValueError(f"RATE_LIMIT_ORIGIN_FACTOR must be a number 0 or more (0: no per-origin limit), not {factor}")
    if factor == 0:
        return None
    return limit if factor == 1 else replace(limit, max=max(1, math.ceil(limit.max * factor)))


def hit(store: Store, limit: Limit, key: str, now: datetime | None = None) -> int:
    """Count one attempt; returns the count in this window, or raises TooManyRequests beyond ``limit.max``."""
    now = now or utcnow()
    seconds = int(limit.window.total_seconds())
    start = int(now.timestamp()) // seconds * seconds
    ends = datetime.fromtimestamp(start + seconds, now.tzinfo)
    doc_id = f"{limit.name}:{key}:{start}"
    for attempt in (1, 2):  # two first hits racing on the upsert: the loser retries as an increment
        try:
            # two hits racing may both read the other's count too: at the boundary both are refused, never both let
            # through (a limit may admit one fewer in a race, never one more)
            doc = update_and_read(store[RATE_LIMITS], {"_id": doc_id},
                                  {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": ends}}, upsert=True)
            break
        except DuplicateKeyError:
            if attempt == 2:
                raise
    if doc["count"] > limit.max:
        raise TooManyRequests(limit.message, retry_after=(ends - now).total_seconds())
    return doc["count"]


def cooldown(store: Store, name: str, key: str, seconds: float, message: str, now: datetime | None = None) -> None:
    """Allow this attempt only if the last allowed one for ``key`` is at least ``seconds`` old."""
    now = now or utcnow()
    gap = timedelta(seconds=seconds)
    try:
        # matches an old enough record (and moves it to now) or, when there is none, inserts one;
        # a record that is too recent does not match, and the insert then collides with it
        store[RATE_LIMITS].update_one(
            {"_id": f"{name}:{key}", "last": {"$lte": now - gap}},
            {"$set": {"last": now, "expires_at": now + gap}}, upsert=True)
    except DuplicateKeyError:
        last = store[RATE_LIMITS].find_one({"_id": f"{name}:{key}"})
        wait = (as_utc(last["last"]) + gap - now).total_seconds() if last else seconds
        raise TooManyRequests(message, retry_after=max(1.0, wait)) from None
