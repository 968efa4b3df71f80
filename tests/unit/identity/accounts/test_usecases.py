"""Accounts' use cases over an in-memory store with an explicit clock: codes (what is sent, the resend cooldown,
the hourly caps), sign-up with a right, wrong, expired or used code, password reset, consents, and intake's links."""
from datetime import timedelta

import pytest

from contracts.identity.events import AccountRegistered, ConsentWithdrawn, OtpIssued, SessionRevoked
from contracts.identity.schemas import ConsentGrant, OtpRequest, PasswordReset, PatientSignup
from services.identity.accounts import consent, usecases
from services.identity.accounts.rules import OTP_MAX_ATTEMPTS, OTP_PER_ORIGIN_HOUR, OTP_PER_PHONE_HOUR
from services.identity.settings import Policy
from tests.unit.identity.fakes import NOW, POLICY, FakeIdentityStore, FakePasswords, claims, issuer
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized

PHONE = "13812345678"
PASSWORD = "correct horse battery"
ANON = Caller(origin_ip="203.0.113.9", request_id="req_1")
CONSENT = ConsentGrant(**consent.current_versions())
NOTIFY = Caller.service("notify")


@pytest.fixture
def store() -> FakeIdentityStore:
    return FakeIdentityStore()


def ask(store, phone=PHONE, purpose="register", at=NOW, caller=ANON, policy=POLICY):
    return usecases.request_otp(store, caller, OtpRequest(phone=phone, purpose=purpose), policy, at)


def sent(store, phone=PHONE) -> str:
    """The newest code sent to ``phone`` (what notify would text)."""
    codes = [o for o in store.otps.values() if o.phone == phone and o.kind == "code"]
    return max(codes, key=lambda o: (o.created_at, o.id)).code


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def sign_up(store, code, at=NOW, phone=PHONE, consent_grant=CONSENT, links=None):
    request = PatientSignup(phone=phone, code=code, password=PASSWORD, consent=consent_grant)
    return usecases.signup(store, store, ANON, request, at, issuer=issuer(links=links), passwords=FakePasswords())


# codes -------------------------------------------------------------------------------------------------------------
def test_a_code_is_issued_as_an_event_that_names_no_number(store):
    accepted = ask(store)
    assert accepted.expires_in == 300 and "If this number can receive a code" in accepted.detail
    ((subject, event),) = store.emitted
    assert event == OtpIssued(otp_id=subject, purpose="register") and PHONE not in str(event)
    (otp,) = store.otps.values()
    assert (otp.kind, otp.expires_at, len(otp.code)) == ("code", NOW + timedelta(minutes=5), 6)


def test_code_requests_do_not_reveal_whether_a_number_has_an_account(store):
    store.insert_patient(None, "acc_p1", PHONE, "h:x", NOW)
    answers = [ask(store, purpose="register"), ask(store, "13900000000", "reset_password", NOW + timedelta(minutes=1))]
    assert answers[0] == answers[1]
    (notice,) = store.otps.values()  # the account's number gets a notice; the unknown number's reset nothing
    assert notice.kind == "already_registered" and notice.phone == PHONE and len(store.emitted) == 1


def test_one_code_a_minute_per_number_counted_from_the_last_one_sent(store):
    ask(store)
    with pytest.raises(TooManyRequests) as info:
        ask(store, at=NOW + timedelta(seconds=20))
    assert info.value.retry_after == 40
    ask(store, "13900000001", at=NOW + timedelta(seconds=20))  # another number is not held up
    ask(store, at=NOW + timedelta(seconds=60))
    with pytest.raises(TooManyRequests) as info:  # the refused request did not move the clock; the sent one did
        ask(store, at=NOW + timedelta(seconds=90))
    assert info.value.retry_after == 30


def test_five_codes_an_hour_per_number_from_any_origin_whatever_the_factor(store):
    policy = Policy(otp_resend=timedelta(seconds=60), origin_factor=0)
    for n in range(OTP_PER_PHONE_HOUR.max):
        ask(store, at=NOW + timedelta(minutes=n * 2), caller=Caller(origin_ip=f"10.0.0.{n}"), policy=policy)
    with pytest.raises(TooManyRequests) as info:
        ask(store, at=NOW + timedelta(minutes=20), caller=Caller(origin_ip="10.0.1.1"), policy=policy)
    assert info.value.retry_after == 40 * 60  # until the hour's window ends
    ask(store, at=NOW + timedelta(hours=1), policy=policy)  # the next hour


@pytest.mark.parametrize(("factor", "sent_codes"), [(1, 30), (2, 60), (0, 100)])
def test_the_per_origin_code_limit_is_scaled_by_the_factor(store, factor, sent_codes):
    assert OTP_PER_ORIGIN_HOUR.max == 30
    policy = Policy(otp_resend=timedelta(0), origin_factor=factor)
    got = 0
    for n in range(100):
        try:
            ask(store, f"139{n:08d}", caller=Caller(origin_ip="127.0.0.1"), policy=policy)
            got += 1
        except TooManyRequests:
            pass
    assert got == sent_codes


def test_only_notify_fetches_a_code_to_send_until_it_expires_and_that_is_audited(store):
    ask(store)
    ((otp_id, _),) = store.emitted
    with pytest.raises(Forbidden):
        usecases.deliver_otp(store, Caller.service("intake"), otp_id, NOW)
    delivery = usecases.deliver_otp(store, NOTIFY, otp_id, NOW + timedelta(minutes=1))
    assert (delivery.phone, delivery.code, delivery.kind, delivery.purpose, delivery.valid_minutes) == (
        PHONE, sent(store), "code", "register", 5)
    ((entry),) = store.audited
    assert (entry["action"], entry["subtype"], entry["entity_type"], entry["agent_id"]) == (
        "R", "deliver", "OneTimeCode", "notify")
    with pytest.raises(NotFound):
        usecases.deliver_otp(store, NOTIFY, otp_id, NOW + timedelta(minutes=5))


def test_a_notice_is_delivered_without_a_code(store):
    store.insert_patient(None, "acc_p1", PHONE, "h:x", NOW)
    ask(store)
    ((otp_id, _),) = store.emitted
    delivery = usecases.deliver_otp(store, NOTIFY, otp_id, NOW)
    assert delivery.kind == "already_registered" and delivery.code is None


# sign-up -----------------------------------------------------------------------------------------------------------
def test_sign_up_with_the_right_code_makes_the_account_records_both_consents_and_signs_in(store):
    ask(store)
    tokens = sign_up(store, sent(store), at=NOW + timedelta(minutes=1))
    account = store.accounts[tokens.account_id]
    assert (account.kind, account.role, account.status, account.password_hash) == (
        "patient", Role.patient, "active", f"h:{PASSWORD}")
    assert claims(tokens.access_token)["amr"] == ["pwd", "sms"] and tokens.role == Role.patient
    assert [(c["document"], c["ip"], c["request_id"]) for c in store.consent_docs] == [
        ("privacy_notice", "203.0.113.9", "req_1"), ("sensitive_health_data", "203.0.113.9", "req_1")]
    assert store.events(AccountRegistered) == [AccountRegistered(account_id=account.id)]
    (created,) = store.audited
    assert (created["action"], created["entity_id"], created["agent_id"]) == ("C", account.id, account.id)


def test_a_wrong_code_is_refused_on_the_code_field_and_each_guess_counts(store):
    ask(store)
    right = sent(store)
    for _ in range(OTP_MAX_ATTEMPTS):
        with pytest.raises(InvalidInput) as info:
            sign_up(store, other_than(right))
        assert info.value.errors[0]["field"] == "code"
    with pytest.raises(InvalidInput):  # the guesses used the code up: now the right one is refused too
        sign_up(store, right)
    assert store.accounts == {} and store.emitted[1:] == []


def test_an_expired_code_is_refused(store):
    ask(store)
    with pytest.raises(InvalidInput) as info:
        sign_up(store, sent(store), at=NOW + timedelta(minutes=5))
    assert info.value.errors[0]["field"] == "code" and store.accounts == {}


def test_a_code_works_once(store):
    ask(store)
    code = sent(store)
    sign_up(store, code)
    with pytest.raises(InvalidInput):
        sign_up(store, code, at=NOW + timedelta(seconds=1))
    assert len(store.accounts) == 1


def test_a_second_account_for_a_number_is_a_conflict_and_leaves_nothing_behind(store):
    ask(store)
    first = sent(store)
    ask(store, at=NOW + timedelta(minutes=1))  # a second code before the account existed
    sign_up(store, sent(store), at=NOW + timedelta(minutes=2))
    audited, emitted = len(store.audited), len(store.emitted)
    with pytest.raises(Conflict) as info:
        sign_up(store, first, at=NOW + timedelta(minutes=3))
    assert info.value.errors[0]["field"] == "phone"
    assert len(store.accounts) == 1 and len(store.consent_docs) == 2 and len(store.sessions) == 1
    assert (len(store.audited), len(store.emitted)) == (audited, emitted)
    assert min(store.otps.values(), key=lambda o: o.created_at).used_at is None  # the code: still unused


def test_stale_consent_versions_are_named_before_the_code_is_tried(store):
    ask(store)
    with pytest.raises(InvalidInput) as info:
        sign_up(store, sent(store), consent_grant=ConsentGrant(privacy_notice="2020-01-01",
                                                               sensitive_health_data="2020-01-01"))
    assert {e["field"] for e in info.value.errors} == {"consent.privacy_notice", "consent.sensitive_health_data"}
    assert [o.attempts for o in store.otps.values()] == [0]


def test_twenty_sign_ups_an_hour_from_one_origin(store):
    for n in range(20):
        with pytest.raises(InvalidInput):  # no code: refused, but counted
            sign_up(store, "000000", phone=f"139{n:08d}")
    with pytest.raises(TooManyRequests):
        sign_up(store, "000000", phone="13900000099")


# password reset ----------------------------------------------------------------------------------------------------
def test_a_reset_by_code_sets_the_password_ends_every_session_and_forgives_failures(store):
    ask(store)
    tokens = sign_up(store, sent(store))
    store.failures[store.login_index(PHONE)] = 3
    ask(store, purpose="reset_password", at=NOW + timedelta(minutes=2))
    reset = PasswordReset(phone=PHONE, code=sent(store), new_password="another good phrase")
    with pytest.raises(InvalidInput):
        usecases.reset_password(store, store, ANON, reset.model_copy(update={"code": other_than(reset.code)}),
                                NOW + timedelta(minutes=3), policy=POLICY, passwords=FakePasswords())
    usecases.reset_password(store, store, ANON, reset, NOW + timedelta(minutes=3), policy=POLICY,
                            passwords=FakePasswords())
    assert store.accounts[tokens.account_id].password_hash == "h:another good phrase"
    assert store.login_index(PHONE) not in store.failures
    (revoked,) = store.events(SessionRevoked)
    assert revoked.reason == "password reset" and revoked.account_id == tokens.account_id
    assert store.audited[-1]["subtype"] == "password-reset"


# the signed-in account, consents, links ----------------------------------------------------------------------------
def test_an_account_sees_itself_with_its_consents_and_withdraws_one(store):
    ask(store)
    tokens = sign_up(store, sent(store))
    me = Caller(principal=Principal.user(tokens.account_id, Role.patient, sid="s"))
    account = usecases.me(store, me)
    assert account.id == tokens.account_id and account.staff is None and account.patients == []
    assert [(c.document, c.withdrawn_at) for c in account.consents] == [("privacy_notice", None),
                                                                          ("sensitive_health_data", None)]
    usecases.withdraw_consent(store, me, "sensitive_health_data", NOW + timedelta(days=1))
    assert store.events(ConsentWithdrawn) == [ConsentWithdrawn(account_id=tokens.account_id,
                                                               document="sensitive_health_data",
                                                               document_version=consent.VERSION)]
    assert usecases.me(store, me).consents[1].withdrawn_at.startswith("2026-11-24")
    with pytest.raises(NotFound):
        usecases.withdraw_consent(store, me, "sensitive_health_data", NOW + timedelta(days=2))
    with pytest.raises(NotFound):
        usecases.withdraw_consent(store, me, "marketing", NOW)
    with pytest.raises(Unauthorized):
        usecases.me(store, ANON)


def test_intake_s_link_events_keep_the_account_s_patients(store):
    store.insert_patient(None, "acc_p1", PHONE, "h:x", NOW)
    usecases.link_patient(store, None, "acc_p1", "pat_self")
    usecases.link_patient(store, None, "acc_p1", "pat_child")
    usecases.link_patient(store, None, "acc_p1", "pat_child")  # a redelivered link changes nothing
    usecases.unlink_patient(store, None, "acc_p1", "pat_self")
    assert store.accounts["acc_p1"].patients == ("pat_child",)


def test_the_privacy_notice_lists_both_documents_with_their_versions():
    notice = usecases.privacy_notice()
    assert [(d.document, d.version) for d in notice.documents] == [("privacy_notice", consent.VERSION),
                                                                   ("sensitive_health_data", consent.VERSION)]
