"""Sessions' pure rules: lifetimes, refresh rotation and reuse, lockout counting, TOTP steps and their replay."""
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from services.identity.accounts.rules import Account
from services.identity.sessions import rules
from services.identity.sessions.rules import Challenge, Session, token_hash
from services.identity.settings import Policy
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, TooManyRequests, Unauthorized

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
POLICY = Policy()


def account(kind: str = "patient", status: str = "active", **changes) -> Account:
    role = {"patient": Role.patient, "staff": Role.doctor, "visitor": Role.visitor}[kind]
    return Account(id="acc_1", kind=kind, role=role, status=status, login_index="ix", created_at=NOW, **changes)


def session(**changes) -> Session:
    return Session(**{"id": "ses_1", "account_id": "acc_1", "created_at": NOW, "expires_at": NOW + timedelta(days=30),
                      "refresh_hash": token_hash("current"), "previous_hashes": (token_hash("older"),), **changes})


def test_sessions_last_thirty_days_for_patients_twelve_hours_for_staff_and_a_day_for_visitors():
    assert rules.session_lifetime("patient", POLICY) == timedelta(days=30)
    assert rules.session_lifetime("staff", POLICY) == timedelta(hours=12)
    assert rules.session_lifetime("visitor", POLICY) == timedelta(days=1)
    assert rules.session_lifetime("staff", Policy(staff_session=timedelta(hours=8))) == timedelta(hours=8)


def test_a_refresh_token_rotates_only_while_it_is_the_live_session_s_current_one():
    assert rules.may_rotate(session(), "current", NOW)
    assert not rules.may_rotate(session(), "older", NOW)
    assert not rules.may_rotate(session(), "current", NOW + timedelta(days=30))  # the session's end
    assert not rules.may_rotate(session(revoked_at=NOW), "current", NOW)
    assert not rules.may_rotate(None, "current", NOW)


def test_a_replaced_refresh_token_presented_again_is_a_reuse():
    assert rules.refresh_reused(session(), "older")
    assert not rules.refresh_reused(session(), "current") and not rules.refresh_reused(session(), "never")
    assert not rules.refresh_reused(session(revoked_at=NOW), "older")  # ended already
    assert not rules.refresh_reused(None, "older")


def test_the_last_fifty_replaced_tokens_are_remembered():
    kept = ()
    for n in range(60):
        kept = rules.kept_hashes(kept, f"h{n}")
    assert len(kept) == 50 and kept[0] == "h10" and kept[-1] == "h59"


def test_tokens_split_into_session_and_secret_or_the_session_has_ended():
    assert rules.split_token("ses_ABC.s3cr3t", "ses") == ("ses_ABC", "s3cr3t")
    for wrong in ("ses_ABC.", "mfa_ABC.x", "nonsense", ".x"):
        with pytest.raises(Unauthorized):
            rules.split_token(wrong, "ses")


def test_every_fifth_failure_locks_for_the_lockout_and_the_lock_ends():
    assert [n for n in range(1, 12) if rules.locks(n, POLICY)] == [5, 10]
    until = rules.lock_until(NOW, POLICY)
    assert until == NOW + timedelta(minutes=15)
    with pytest.raises(TooManyRequests) as info:
        rules.refuse_if_locked(until, NOW + timedelta(minutes=5))
    assert info.value.retry_after == 600 and "10 minute(s)" in info.value.detail
    rules.refuse_if_locked(until, until)  # over
    rules.refuse_if_locked(None, NOW)


def test_a_right_password_forgives_a_patient_s_failures_but_not_a_staff_member_s():
    assert rules.password_clears_failures(account("patient"))
    assert not rules.password_clears_failures(account("staff"))
    assert rules.needs_second_factor(account("staff")) and not rules.needs_second_factor(account("patient"))


def test_a_disabled_account_neither_signs_in_nor_finishes_a_sign_in():
    with pytest.raises(Unauthorized):
        rules.require_may_sign_in(account("staff", "disabled"))
    rules.require_may_sign_in(account("staff", "pending_mfa"))
    assert rules.may_finish_mfa(account("staff", "active")) and rules.may_finish_mfa(account("staff", "pending_mfa"))
    assert not rules.may_finish_mfa(account("staff", "disabled"))
    assert not rules.may_finish_mfa(account("staff", "pending_activation")) and not rules.may_finish_mfa(None)


def test_a_totp_code_is_its_step_give_or_take_one_and_works_once():
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(NOW)
    assert rules.matching_step(secret, totp.generate_otp(step), NOW) == step
    assert rules.matching_step(secret, totp.generate_otp(step - 1), NOW) == step - 1  # clock drift
    assert rules.matching_step(secret, totp.generate_otp(step + 1), NOW) == step + 1
    assert rules.matching_step(secret, totp.generate_otp(step + 2), NOW) is None
    assert rules.replayed(step, last_step=step) and rules.replayed(step - 1, last_step=step)
    assert not rules.replayed(step + 1, last_step=step)


def test_a_challenge_is_taken_with_its_secret_unused_unexpired_and_below_five_attempts():
    challenge = Challenge(id="mfa_1", account_id="acc_1", enrol=False, attempts=0,
                          expires_at=NOW + rules.MFA_TTL, secret_hash=token_hash("s"))
    assert rules.may_take_challenge(challenge, "s", NOW)
    assert not rules.may_take_challenge(challenge, "t", NOW)
    assert not rules.may_take_challenge(challenge, "s", NOW + timedelta(minutes=5))
    assert not rules.may_take_challenge(replace(challenge, attempts=rules.MFA_MAX_ATTEMPTS), "s", NOW)
    assert not rules.may_take_challenge(replace(challenge, used_at=NOW), "s", NOW)


def test_a_token_lists_intake_s_links_else_the_kept_copy_and_only_for_patients():
    patient = account("patient", patients=("pat_1",))
    assert rules.token_patients(patient, ["pat_1", "pat_2"]) == ("pat_1", "pat_2")
    assert rules.token_patients(patient, None) == ("pat_1",)
    assert rules.token_patients(account("staff", patients=("pat_1",)), ["pat_1"]) == ()


def test_a_revoked_session_s_tokens_are_refused_for_their_lifetime_and_the_leeway():
    assert rules.last_valid_access(NOW, POLICY) == NOW + timedelta(seconds=630)


def test_visitors_are_anonymous_and_logout_needs_a_session():
    rules.require_anonymous(Principal(kind="anonymous"))
    with pytest.raises(Forbidden):
        rules.require_anonymous(Principal.user("acc_1", Role.patient))
    rules.require_session(Principal.user("acc_1", Role.patient, sid="ses_1"))
    for principal in (Principal.user("acc_1", Role.patient), Principal.service("notify")):
        with pytest.raises(Unauthorized):
            rules.require_session(principal)
