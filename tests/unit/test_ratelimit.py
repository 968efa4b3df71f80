"""Rate limits' pure parts (the counting against the database: integration/test_ratelimit_db.py; identity's use of
the origin factor: unit/identity/accounts/test_usecases.py)."""
from datetime import timedelta

import pytest

from wenzhen import ratelimit
from wenzhen.config import Settings
from wenzhen.errors import TooManyRequests
from wenzhen.ratelimit import Limit

THREE_A_MINUTE = Limit("test-1m", 3, timedelta(minutes=1), "slow down")


def test_too_many_requests_travels_with_its_wait():
    error = TooManyRequests("wait", retry_after=12.4)
    again = TooManyRequests(*error.args)  # how the caller's side re-creates it from exc_args
    assert again.retry_after == 12 and again.detail == "wait"
    assert TooManyRequests("wait").retry_after is None


# RATE_LIMIT_ORIGIN_FACTOR: the per-origin limits, scaled or lifted for local experiments ----------------------------
def test_the_origin_factor_scales_a_limit_and_zero_lifts_it():
    assert ratelimit.scaled(THREE_A_MINUTE, 1) is THREE_A_MINUTE
    assert ratelimit.scaled(THREE_A_MINUTE, 10).max == 30 and ratelimit.scaled(THREE_A_MINUTE, 10).window == \
        THREE_A_MINUTE.window
    assert ratelimit.scaled(THREE_A_MINUTE, 0.1).max == 1  # never below one attempt
    assert ratelimit.scaled(THREE_A_MINUTE, 0) is None
    for wrong in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            ratelimit.scaled(THREE_A_MINUTE, wrong)


def test_the_setting_is_read_from_the_environment():
    assert Settings.from_env({}).rate_limit_origin_factor == 1
    assert Settings.from_env({"RATE_LIMIT_ORIGIN_FACTOR": "0"}).rate_limit_origin_factor == 0
    assert Settings.from_env({"RATE_LIMIT_ORIGIN_FACTOR": "2.5"}).rate_limit_origin_factor == 2.5
