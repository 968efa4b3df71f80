"""Accounts' pure rules: logins, what a code request sends, when a code may be tried or delivered, consents."""
from datetime import UTC, datetime, timedelta

import pytest

from contracts.identity.schemas import ConsentGrant, OtpPurpose
from services.identity.accounts import consent, rules
from services.identity.accounts.rules import OTP_MAX_ATTEMPTS, OtpCode
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, InvalidInput, Unauthorized

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def code(**changes) -> OtpCode:
    return OtpCode(**{"id": "otp_1", "purpose": OtpPurpose.register, "kind": "code", "created_at": NOW,
                      "expires_at": NOW + timedelta(minutes=5), **changes})


def test_a_phone_is_its_eleven_digits_and_a_username_its_lower_case():
    assert rules.login_value("+86 138-1234-5678") == rules.login_value("13812345678") == "13812345678"
    assert rules.login_value("  Wang.Fang ") == "wang.fang"


def test_a_code_request_sends_a_code_a_notice_or_nothing():
    assert rules.otp_kind(OtpPurpose.register, has_account=False) == "code"
    assert rules.otp_kind(OtpPurpose.register, has_account=True) == "already_registered"
    assert rules.otp_kind(OtpPurpose.reset_password, has_account=True) == "code"
    assert rules.otp_kind(OtpPurpose.reset_password, has_account=False) is None


def test_a_code_may_be_tried_while_unused_unexpired_and_below_its_attempts():
    assert rules.may_try(code(), NOW)
    assert not rules.may_try(code(), NOW + timedelta(minutes=5))  # expired
    assert not rules.may_try(code(used_at=NOW), NOW)
    assert not rules.may_try(code(attempts=OTP_MAX_ATTEMPTS), NOW)
    assert rules.may_try(code(attempts=OTP_MAX_ATTEMPTS - 1), NOW)
    assert not rules.may_try(code(kind="already_registered"), NOW)  # a notice has nothing to type
    assert not rules.may_try(None, NOW)


def test_a_code_is_delivered_until_it_expires_and_says_its_minutes():
    assert rules.deliverable(code(), NOW) and not rules.deliverable(code(), NOW + timedelta(minutes=6))
    assert rules.valid_minutes(code()) == 5
    assert rules.valid_minutes(code(expires_at=NOW + timedelta(seconds=20))) == 1  # never "0 minutes"


def test_both_current_consents_are_needed_and_a_stale_one_is_named():
    current = consent.current_versions()
    assert rules.require_current_consents(ConsentGrant(**current)) == current
    with pytest.raises(InvalidInput) as info:
        rules.require_current_consents(ConsentGrant(privacy_notice=current["privacy_notice"],
                                                    sensitive_health_data="2020-01-01"))
    assert [e["field"] for e in info.value.errors] == ["consent.sensitive_health_data"]


def test_the_origin_factor_scales_per_origin_limits_and_zero_lifts_them():
    assert rules.origin_limit(rules.OTP_PER_ORIGIN_HOUR, 1).max == 30
    assert rules.origin_limit(rules.OTP_PER_ORIGIN_HOUR, 2).max == 60
    assert rules.origin_limit(rules.SIGNUP_PER_ORIGIN_HOUR, 0) is None


def test_only_notify_fetches_codes_and_only_the_signed_in_see_their_account():
    rules.require_notify(Principal.service("notify"))
    for principal in (Principal.service("intake"), Principal.user("acc_1", Role.admin), Principal(kind="anonymous")):
        with pytest.raises(Forbidden):
            rules.require_notify(principal)
    rules.require_signed_in(Principal.user("acc_1", Role.patient))
    with pytest.raises(Unauthorized):
        rules.require_signed_in(Principal.service("notify"))
