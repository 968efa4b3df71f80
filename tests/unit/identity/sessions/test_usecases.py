"""Sessions' use cases over an in-memory store with an explicit clock: sign-in and its lockout, the staff's second
factor (a password alone gives no tokens, a code works once, a disabled account cannot finish), refresh rotation and
reuse, logout, revocation, visitors and session lifetimes."""
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest

from contracts.identity.events import AccountLocked, SessionRevoked
from contracts.identity.schemas import Login, MfaChallenge, MfaVerify, Tokens
from services.identity.accounts.rules import STAFF, Account
from services.identity.sessions import rules, usecases
from tests.unit.identity.fakes import NOW, POLICY, FakeIdentityStore, FakePasswords, claims, issuer
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Forbidden, TooManyRequests, Unauthorized
from wenzhen.timez import parse_iso

PHONE = "13812345678"
ANON = Caller(origin_ip="203.0.113.9", request_id="req_1")
SECRET = pyotp.random_base32()


@pytest.fixture
def store() -> FakeIdentityStore:
    fake = FakeIdentityStore()
    fake.insert_patient(None, "acc_p1", PHONE, "h:patient phrase", NOW)
    fake.accounts["acc_d1"] = Account(id="acc_d1", kind=STAFF, role=Role.doctor, status="active",
                                      login_index=fake.login_index("li.ming"), created_at=NOW, username="li.ming",
                                      name="李明", department="urology", password_hash="h:doctor phrase",
                                      totp_enrolled=True, totp_secret=SECRET)
    return fake


def login(store, who="li.ming", password="doctor phrase", at=NOW, links=None, passwords=None):
    return usecases.login(store, ANON, Login(login=who, password=password), at, issuer=issuer(links=links),
                          passwords=passwords or FakePasswords())


def totp(at=NOW, secret=SECRET, steps=0) -> str:
    t = pyotp.TOTP(secret)
    return t.generate_otp(t.timecode(at) + steps)


def mfa(store, challenge: MfaChallenge, code: str, at=NOW) -> Tokens:
    return usecases.verify_mfa(store, ANON, MfaVerify(mfa_token=challenge.mfa_token, code=code), at, issuer=issuer())


def refresh(store, token: str, at=NOW, links=None) -> Tokens:
    return usecases.refresh(store, ANON, token, at, issuer=issuer(links=links))


def session_of(store, tokens: Tokens):
    return store.sessions[claims(tokens.access_token)["sid"]]


# patients ----------------------------------------------------------------------------------------------------------
def test_a_patient_signs_in_with_the_password_for_a_thirty_day_session(store):
    tokens = login(store, PHONE, "patient phrase", links={"acc_p1": ["pat_1"]})
    assert tokens.account_id == "acc_p1" and tokens.expires_in == 600
    token = claims(tokens.access_token)
    assert (token["sub"], token["role"], token["amr"], token["pat"]) == ("acc_p1", "patient", ["pwd"], ["pat_1"])
    assert token["exp"] - token["iat"] == 600
    session = session_of(store, tokens)
    assert session.expires_at == NOW + timedelta(days=30) and parse_iso(tokens.refresh_expires_at) == \
        session.expires_at
    (entry,) = store.audited
    assert (entry["subtype"], entry["agent_id"], entry["detail"]) == ("login", "acc_p1", "pwd")


def test_a_weaker_hash_is_replaced_at_sign_in(store):
    store.accounts["acc_p1"] = replace(store.accounts["acc_p1"], password_hash="old:patient phrase")
    login(store, PHONE, "patient phrase")
    assert store.accounts["acc_p1"].password_hash == "h:patient phrase"


# failures and lockout ----------------------------------------------------------------------------------------------
def test_failures_lock_the_login_whether_or_not_it_exists_and_the_lock_ends(store):
    for who in (PHONE, "13900000000"):  # an account's, and a number without one
        for n in range(POLICY.login_max_failures):
            with pytest.raises(Unauthorized) as info:
                login(store, who, "wrong phrase", at=NOW + timedelta(seconds=n))
            assert info.value.detail == rules.WRONG_LOGIN  # the same for both
        with pytest.raises(TooManyRequests) as info:  # locked: even the right password
            login(store, who, "patient phrase", at=NOW + timedelta(minutes=1))
        assert info.value.retry_after == 14 * 60 + 4
    locked = store.events(AccountLocked)
    assert [e.login_hash for e in locked] == [store.login_index(PHONE), store.login_index("13900000000")]
    failed = [e for e in store.audited if e["outcome"] == "failed"]  # an account's failures are on its trail
    assert len(failed) == 5 and {e["entity_id"] for e in failed} == {"acc_p1"}
    tokens = login(store, PHONE, "patient phrase", at=NOW + timedelta(minutes=15, seconds=4))  # the lock's end
    assert tokens.account_id == "acc_p1" and store.login_index(PHONE) not in store.failures


def test_every_fifth_failure_locks_again(store):
    store.failures[store.login_index(PHONE)] = 5
    for n in range(4):
        with pytest.raises(Unauthorized):
            login(store, PHONE, "wrong phrase", at=NOW + timedelta(seconds=n))
    assert store.events(AccountLocked) == []
    with pytest.raises(Unauthorized):
        login(store, PHONE, "wrong phrase", at=NOW + timedelta(seconds=5))
    assert len(store.events(AccountLocked)) == 1


def test_a_hundred_sign_in_attempts_per_origin_in_fifteen_minutes(store):
    for n in range(100):
        with pytest.raises(Unauthorized):
            login(store, f"nobody{n}", "x")
    with pytest.raises(TooManyRequests):
        login(store, PHONE, "patient phrase")


def test_a_disabled_account_is_refused_and_that_is_audited(store):
    store.accounts["acc_d1"] = replace(store.accounts["acc_d1"], status="disabled")
    with pytest.raises(Unauthorized) as info:
        login(store)
    assert info.value.detail == rules.DISABLED and store.audited[-1]["outcome"] == "denied"


# staff: password and TOTP ------------------------------------------------------------------------------------------
def test_a_staff_password_alone_gives_a_challenge_never_tokens(store):
    challenge = login(store)
    assert isinstance(challenge, MfaChallenge) and challenge.enrolment is None and challenge.expires_in == 300
    assert store.sessions == {} and store.audited == []


def test_a_known_staff_password_does_not_allow_guessing_codes(store):
    for n in range(POLICY.login_max_failures):
        challenge = login(store, at=NOW + timedelta(seconds=n))  # the right password: failures are not forgiven
        with pytest.raises(Unauthorized):
            mfa(store, challenge, "000000" if totp() != "000000" else "111111", at=NOW + timedelta(seconds=n))
    with pytest.raises(TooManyRequests):
        login(store, at=NOW + timedelta(seconds=10))
    assert len(store.events(AccountLocked)) == 1


def test_the_code_finishes_a_staff_sign_in_for_a_twelve_hour_session(store):
    store.failures[store.login_index("li.ming")] = 3
    tokens = mfa(store, login(store), totp())
    token = claims(tokens.access_token)
    assert (token["amr"], token["dept"], "pat" in token) == (["pwd", "otp"], "urology", False)
    assert session_of(store, tokens).expires_at == NOW + timedelta(hours=12)
    assert store.login_index("li.ming") not in store.failures  # both factors done: failures forgiven
    assert store.accounts["acc_d1"].totp_last_step == pyotp.TOTP(SECRET).timecode(NOW)


def test_a_totp_code_works_once_even_across_challenges(store):
    mfa(store, login(store), totp())
    again = login(store, at=NOW + timedelta(seconds=5))
    with pytest.raises(Unauthorized) as info:
        mfa(store, again, totp(), at=NOW + timedelta(seconds=5))
    assert info.value.detail == rules.USED_TOTP and len(store.sessions) == 1
    assert store.failures == {}  # a replay is not a guess
    mfa(store, again, totp(steps=1), at=NOW + timedelta(seconds=5))  # the next step's code
    assert len(store.sessions) == 2


def test_an_account_disabled_between_password_and_code_gets_no_session(store):
    challenge = login(store)
    store.accounts["acc_d1"] = replace(store.accounts["acc_d1"], status="disabled")
    with pytest.raises(Unauthorized) as info:
        mfa(store, challenge, totp())
    assert info.value.detail == rules.DISABLED and store.sessions == {}


def test_a_status_changed_while_the_code_is_checked_leaves_nothing(store):
    challenge = login(store)
    account = store.accounts["acc_d1"]

    class Racing(type(store)):
        def finish_mfa(self, tx, account, step, enrol):
            self.accounts["acc_d1"] = replace(self.accounts["acc_d1"], status="disabled")  # an admin, meanwhile
            return super().finish_mfa(tx, account, step, enrol)

    store.__class__ = Racing
    with pytest.raises(Unauthorized):
        mfa(store, challenge, totp())
    assert store.sessions == {} and store.accounts["acc_d1"] == account  # the body rolled back, the admin's too


def test_a_challenge_expires_and_allows_five_attempts(store):
    challenge = login(store)
    with pytest.raises(Unauthorized) as info:
        mfa(store, challenge, totp(NOW + timedelta(minutes=5)), at=NOW + timedelta(minutes=5))
    assert info.value.detail == rules.CHALLENGE_ENDED
    challenge = login(store, at=NOW + timedelta(minutes=6))
    wrong = "000000" if totp(NOW + timedelta(minutes=6)) != "000000" else "111111"
    for _ in range(rules.MFA_MAX_ATTEMPTS):
        with pytest.raises(Unauthorized):
            mfa(store, challenge, wrong, at=NOW + timedelta(minutes=6))
    store.failures.clear()
    store.locks.clear()
    with pytest.raises(Unauthorized) as info:  # used up, even with the right code
        mfa(store, challenge, totp(NOW + timedelta(minutes=6)), at=NOW + timedelta(minutes=6))
    assert info.value.detail == rules.CHALLENGE_ENDED


def test_enrolment_confirms_the_new_secret_with_its_first_code(store):
    store.accounts["acc_d1"] = replace(store.accounts["acc_d1"], status="pending_mfa", totp_enrolled=False,
                                       totp_secret=None)
    challenge = login(store)
    assert challenge.enrolment is not None and "li.ming" in challenge.enrolment.otpauth_uri
    mfa(store, challenge, totp(secret=challenge.enrolment.secret))
    account = store.accounts["acc_d1"]
    assert (account.status, account.totp_enrolled, account.totp_secret, account.totp_pending) == (
        "active", True, challenge.enrolment.secret, None)


# refresh, logout, revocation ---------------------------------------------------------------------------------------
def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(store):
    first = login(store, PHONE, "patient phrase")
    second = refresh(store, first.refresh_token, at=NOW + timedelta(minutes=5))
    assert second.refresh_token != first.refresh_token and second.refresh_expires_at == first.refresh_expires_at
    third = refresh(store, second.refresh_token, at=NOW + timedelta(minutes=10))
    with pytest.raises(Unauthorized):  # a replaced one came back: someone holds a copy
        refresh(store, first.refresh_token, at=NOW + timedelta(minutes=11))
    (revoked,) = store.events(SessionRevoked)
    assert (revoked.reason, revoked.session_id) == ("refresh token reused", claims(first.access_token)["sid"])
    with pytest.raises(Unauthorized):  # ended for both holders
        refresh(store, third.refresh_token, at=NOW + timedelta(minutes=12))


def test_a_refresh_asks_intake_for_the_links_and_falls_back_on_the_kept_copy(store):
    store.link_patient(None, "acc_p1", "pat_self")
    tokens = login(store, PHONE, "patient phrase")
    assert claims(tokens.access_token)["pat"] == ["pat_self"]  # intake did not answer
    fresh = refresh(store, tokens.refresh_token, links={"acc_p1": ["pat_self", "pat_child"]})
    assert claims(fresh.access_token)["pat"] == ["pat_self", "pat_child"]


def test_a_session_ends_at_its_lifetime_and_with_an_account_that_is_no_longer_active(store):
    tokens = refresh(store, login(store, PHONE, "patient phrase").refresh_token, at=NOW + timedelta(days=29))
    with pytest.raises(Unauthorized):  # rotation stays within the session's 30 days
        refresh(store, tokens.refresh_token, at=NOW + timedelta(days=30))
    staff = mfa(store, login(store), totp())
    with pytest.raises(Unauthorized):
        refresh(store, staff.refresh_token, at=NOW + timedelta(hours=12))
    staff = mfa(store, login(store, at=NOW + timedelta(minutes=1)), totp(NOW + timedelta(minutes=1)),
                at=NOW + timedelta(minutes=1))
    renewed = refresh(store, staff.refresh_token, at=NOW + timedelta(hours=11))
    store.accounts["acc_d1"] = replace(store.accounts["acc_d1"], status="disabled")
    with pytest.raises(Unauthorized):
        refresh(store, renewed.refresh_token, at=NOW + timedelta(hours=11, minutes=1))
    assert [e.reason for e in store.events(SessionRevoked)] == ["account not active"]


def test_logout_revokes_the_session_at_once(store):
    tokens = login(store, PHONE, "patient phrase")
    sid = claims(tokens.access_token)["sid"]
    me = Caller(principal=Principal.user("acc_p1", Role.patient, sid=sid))
    usecases.logout(store, me, POLICY, NOW + timedelta(minutes=1))
    (revoked,) = store.events(SessionRevoked)
    assert (revoked.session_id, revoked.reason) == (sid, "logout")
    assert parse_iso(revoked.expires_at) == NOW + timedelta(minutes=1, seconds=630)  # its last token's end
    assert store.audited[-1]["subtype"] == "logout"
    with pytest.raises(Unauthorized):
        refresh(store, tokens.refresh_token, at=NOW + timedelta(minutes=2))
    assert [s.session_id for s in usecases.revoked_sessions(store, NOW)] == [sid]
    assert usecases.revoked_sessions(store, NOW + timedelta(minutes=2)) == []
    with pytest.raises(Unauthorized):
        usecases.logout(store, Caller(principal=Principal.user("acc_p1", Role.patient)), POLICY, NOW)
    other = Caller(principal=Principal.user("acc_other", Role.patient, sid=sid))  # someone else's session id
    usecases.logout(store, other, POLICY, NOW)
    assert len(store.events(SessionRevoked)) == 1


# visitors ----------------------------------------------------------------------------------------------------------
def test_a_visitor_gets_a_day_long_session_of_an_account_without_a_login(store):
    tokens = usecases.open_visitor_session(store, ANON, NOW, issuer=issuer())
    assert tokens.role == Role.visitor and claims(tokens.access_token)["amr"] == ["visitor"]
    assert session_of(store, tokens).expires_at == NOW + timedelta(days=1)
    assert store.accounts[tokens.account_id].login_index == f"visitor:{tokens.account_id}"
    with pytest.raises(Forbidden):
        usecases.open_visitor_session(store, Caller(principal=Principal.user("acc_p1", Role.patient)), NOW,
                                      issuer=issuer())
    for _ in range(59):
        usecases.open_visitor_session(store, ANON, NOW, issuer=issuer())
    with pytest.raises(TooManyRequests):
        usecases.open_visitor_session(store, ANON, NOW, issuer=issuer())
