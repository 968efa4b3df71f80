"""Fixed-window rate limits and cooldowns against the real database (the atomic upserts are MongoDB's)."""
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import by_id
from wenzhen import ratelimit
from wenzhen.errors import TooManyRequests
from wenzhen.ratelimit import RATE_LIMITS, Limit

pytestmark = pytest.mark.integration

THREE_A_MINUTE = Limit("test-1m", 3, timedelta(minutes=1), "slow down")
START = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)  # on a window boundary


def test_attempts_are_counted_up_to_the_limit_then_refused_with_the_wait(db_store):
    store = db_store
    assert [ratelimit.hit(store, THREE_A_MINUTE, "k", START + timedelta(seconds=s)) for s in (0, 10, 20)] == [1, 2, 3]
    with pytest.raises(TooManyRequests) as info:
        ratelimit.hit(store, THREE_A_MINUTE, "k", START + timedelta(seconds=45))
    assert info.value.retry_after == 15 and info.value.detail == "slow down"


def test_a_new_window_starts_afresh_and_old_windows_expire(db_store):
    store = db_store
    for _ in range(3):
        ratelimit.hit(store, THREE_A_MINUTE, "k", START + timedelta(seconds=59))
    assert ratelimit.hit(store, THREE_A_MINUTE, "k", START + timedelta(seconds=60)) == 1
    windows = sorted(by_id(store[RATE_LIMITS]).values(), key=lambda d: d["_id"])
    assert [(w["count"], w["expires_at"]) for w in windows] == [(3, START + timedelta(minutes=1)),
                                                                 (1, START + timedelta(minutes=2))]
    start = int(START.timestamp())
    assert [w["_id"] for w in windows] == [f"test-1m:k:{start}", f"test-1m:k:{start + 60}"]


def test_keys_and_limits_are_counted_apart(db_store):
    store = db_store
    other = Limit("test-other", 1, timedelta(minutes=1))
    for _ in range(3):
        ratelimit.hit(store, THREE_A_MINUTE, "a", START)
    assert ratelimit.hit(store, THREE_A_MINUTE, "b", START) == 1
    assert ratelimit.hit(store, other, "a", START) == 1
    with pytest.raises(TooManyRequests) as info:
        ratelimit.hit(store, other, "a", START + timedelta(seconds=59, milliseconds=500))
    assert info.value.retry_after == 1  # never "retry in 0 seconds"


def test_refused_attempts_still_count(db_store):
    store = db_store
    for _ in range(5):
        try:
            ratelimit.hit(store, THREE_A_MINUTE, "k", START)
        except TooManyRequests:
            pass
    (window,) = by_id(store[RATE_LIMITS]).values()
    assert window["count"] == 5


def test_a_cooldown_allows_one_attempt_per_gap_measured_from_the_last_allowed_one(db_store):
    store = db_store
    ratelimit.cooldown(store, "resend", "k", 60, "wait a minute", now=START)
    with pytest.raises(TooManyRequests) as info:
        ratelimit.cooldown(store, "resend", "k", 60, "wait a minute", now=START + timedelta(seconds=20))
    assert info.value.retry_after == 40 and info.value.detail == "wait a minute"
    ratelimit.cooldown(store, "resend", "k", 60, "wait a minute", now=START + timedelta(seconds=60))
    with pytest.raises(TooManyRequests) as info:  # the refused attempt did not move the clock; the allowed one did
        ratelimit.cooldown(store, "resend", "k", 60, "wait a minute", now=START + timedelta(seconds=90))
    assert info.value.retry_after == 30
    (record,) = by_id(store[RATE_LIMITS]).values()
    assert record["_id"] == "resend:k" and record["last"] == START + timedelta(seconds=60)
    assert record["expires_at"] == START + timedelta(seconds=120)


def test_cooldowns_of_other_keys_and_names_are_apart(db_store):
    store = db_store
    ratelimit.cooldown(store, "resend", "a", 60, "wait", now=START)
    ratelimit.cooldown(store, "resend", "b", 60, "wait", now=START)
    ratelimit.cooldown(store, "other", "a", 60, "wait", now=START)
    assert len(by_id(store[RATE_LIMITS])) == 3
