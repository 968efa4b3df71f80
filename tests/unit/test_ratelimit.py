"""Rate limits' pure parts and identity's use of the origin factor (the counting against the database:
integration/test_ratelimit_db.py)."""
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from contracts.identity.schemas import OtpRequest
from services.identity import domain
from services.identity.domain import OTP_PER_ORIGIN_HOUR, OTP_PER_PHONE_HOUR
from tests.fakes import FakeStore
from wenzhen import ratelimit
from wenzhen.auth import Caller
from wenzhen.config import Settings
from wenzhen.crypto import Keyring, new_key_settings
from wenzhen.errors import TooManyRequests
from wenzhen.ratelimit import Limit

THREE_A_MINUTE = Limit("test-1m", 3, timedelta(minutes=1), "slow down")
START = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)  # on a window boundary


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


def _identity(factor: float) -> domain.Identity:
    cfg = Settings(rate_limit_origin_factor=factor, otp_resend_seconds=0)
    return domain.Identity(FakeStore(), Keyring.from_env(new_key_settings()), signer=SimpleNamespace(), cfg=cfg,
                           passwords=SimpleNamespace(), clock=lambda: START)


def _codes_from_one_origin(factor: float, numbers: int) -> int:
    """How many of ``numbers`` different phones get a code from one address within the hour."""
    idn = _identity(factor)
    caller = Caller(origin_ip="127.0.0.1")
    sent = 0
    for n in range(numbers):
        try:
            domain.request_otp(idn, caller, OtpRequest(phone=f"139{n:08d}", purpose="register"))
            sent += 1
        except TooManyRequests:
            pass
    return sent


@pytest.mark.parametrize(("factor", "sent"), [(1, 30), (2, 60), (0, 100)])
def test_identity_scales_its_per_origin_code_limit_by_the_factor(factor, sent):
    assert OTP_PER_ORIGIN_HOUR.max == 30
    assert _codes_from_one_origin(factor, 100) == sent


def test_the_per_phone_limit_stays_whatever_the_factor():
    idn = _identity(0)
    got = 0
    for n in range(OTP_PER_PHONE_HOUR.max + 3):
        try:
            request = OtpRequest(phone="13900000001", purpose="register")
            domain.request_otp(idn, Caller(origin_ip=f"10.0.0.{n}"), request)
            got += 1
        except TooManyRequests:
            pass
    assert got == OTP_PER_PHONE_HOUR.max


def test_the_setting_is_read_from_the_environment():
    assert Settings.from_env({}).rate_limit_origin_factor == 1
    assert Settings.from_env({"RATE_LIMIT_ORIGIN_FACTOR": "0"}).rate_limit_origin_factor == 0
    assert Settings.from_env({"RATE_LIMIT_ORIGIN_FACTOR": "2.5"}).rate_limit_origin_factor == 2.5
