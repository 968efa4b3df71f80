"""Staff accounts' use cases over an in-memory store: creation by admins, activation (and its lockout), the
enrolment that follows, changes that end sessions, resets, the first admin, the directory, the start of independent
practice and what records reads of a prescriber."""
from datetime import date, datetime, timedelta

import pyotp
import pytest

from contracts.identity.events import AccountLocked, SessionRevoked, StaffAccountChanged, StaffAccountCreated
from contracts.identity.schemas import Activation, Login, MfaVerify, StaffCreate, StaffUpdate
from services.identity.sessions import usecases as sessions
from services.identity.staff import usecases
from tests.people import user
from tests.unit.identity.fakes import NOW, POLICY, FakeIdentityStore, FakePasswords, claims, issuer
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized, validated
from wenzhen.timez import hospital_zone

ADMIN = user(Role.admin, "acc_a1")
ANON = Caller(origin_ip="203.0.113.9")
DOCTOR = StaffCreate(username="Li.Ming", name="李明", role="doctor", department="urology", title="主任医师",
                     licence_number="110440000012345")
PASSWORD = "a long doctor phrase"


@pytest.fixture
def store() -> FakeIdentityStore:
    return FakeIdentityStore()


def create(store, request=DOCTOR, caller=ADMIN):
    return usecases.create_staff(store, caller, request, NOW)


def activate(store, code, at=NOW, username="li.ming"):
    return usecases.activate(store, store, ANON, Activation(username=username, activation_code=code,
                                                            password=PASSWORD), at,
                             policy=POLICY, passwords=FakePasswords())


def signed_in_staff(store, at=NOW):
    """Created, activated, enrolled: the doctor's account id, TOTP secret and tokens."""
    created = create(store)
    challenge = activate(store, created.activation_code, at=at)
    secret = challenge.enrolment.secret
    tokens = sessions.verify_mfa(store, ANON, MfaVerify(mfa_token=challenge.mfa_token,
                                                        code=pyotp.TOTP(secret).at(at)), at, issuer=issuer())
    return created.id, secret, tokens


def test_admins_create_staff_accounts_with_a_one_time_activation_code(store):
    with pytest.raises(Forbidden):
        create(store, caller=user(Role.manager, "acc_m1"))
    created = create(store)
    assert (created.username, created.name, created.status, created.mfa_enrolled) == (
        "li.ming", "李明", "pending_activation", False)
    assert created.activation_code and created.activation_expires_at.startswith("2026-11-26T14:00")  # 72 h
    assert store.events(StaffAccountCreated) == [StaffAccountCreated(account_id=created.id, role="doctor",
                                                                     department="urology")]
    (entry,) = store.audited
    assert (entry["action"], entry["entity_id"], entry["detail"], entry["agent_id"]) == (
        "C", created.id, "doctor", "acc_a1")
    with pytest.raises(Conflict) as info:
        create(store, DOCTOR.model_copy(update={"name": "另一个"}))
    assert info.value.errors[0]["field"] == "username"
    with pytest.raises(InvalidInput) as info:
        create(store, StaffCreate(username="wang.fang", name="王芳", role="consultant"))
    assert [e["field"] for e in info.value.errors] == ["department"]
    assert len(store.accounts) == 1


def test_activation_sets_the_password_and_starts_the_enrolment(store):
    created = create(store)
    challenge = activate(store, created.activation_code)
    assert challenge.enrolment is not None and store.accounts[created.id].status == "pending_mfa"
    assert store.accounts[created.id].password_hash == f"h:{PASSWORD}"
    with pytest.raises(Unauthorized):  # the code works once
        activate(store, created.activation_code)


def test_a_staff_member_activates_enrols_and_always_signs_in_with_both_factors(store):
    account_id, secret, tokens = signed_in_staff(store)
    assert claims(tokens.access_token)["amr"] == ["pwd", "otp"] and store.accounts[account_id].status == "active"
    later = NOW + timedelta(minutes=1)
    again = sessions.login(store, ANON, Login(login="li.ming", password=PASSWORD), later, issuer=issuer(),
                           passwords=FakePasswords())
    assert again.mfa_required and again.enrolment is None


def test_an_expired_or_wrong_activation_code_fails_and_five_failures_lock(store):
    created = create(store)
    with pytest.raises(Unauthorized):
        activate(store, created.activation_code, at=NOW + timedelta(hours=72))
    for n in range(POLICY.login_max_failures - 1):
        with pytest.raises(Unauthorized):
            activate(store, "wrong-code-123", at=NOW + timedelta(seconds=n))
    assert len(store.events(AccountLocked)) == 1  # the expired try counted too
    with pytest.raises(TooManyRequests):
        activate(store, created.activation_code, at=NOW + timedelta(seconds=10))


def test_disabling_ends_the_sessions_and_admins_cannot_disable_themselves(store):
    account_id, _, tokens = signed_in_staff(store)
    with pytest.raises(Conflict):
        usecases.update_staff(store, store, ADMIN, "acc_a1", StaffUpdate(status="disabled"), NOW, policy=POLICY)
    with pytest.raises(InvalidInput):
        usecases.update_staff(store, store, ADMIN, account_id, StaffUpdate(), NOW, policy=POLICY)
    changed = usecases.update_staff(store, store, ADMIN, account_id, StaffUpdate(status="disabled"), NOW,
                                    policy=POLICY)
    assert changed.status == "disabled"
    (revoked,) = store.events(SessionRevoked)
    assert (revoked.session_id, revoked.reason) == (claims(tokens.access_token)["sid"], "account changed by an admin")
    assert store.events(StaffAccountChanged)[-1].status == "disabled"
    with pytest.raises(NotFound):
        usecases.update_staff(store, store, ADMIN, "acc_nobody", StaffUpdate(status="active"), NOW, policy=POLICY)


def test_a_new_role_must_find_what_it_needs_or_nothing_changes(store):
    manager = create(store, StaffCreate(username="zhao.min", name="赵敏", role="manager"))
    with pytest.raises(InvalidInput) as info:
        usecases.update_staff(store, store, ADMIN, manager.id, StaffUpdate(role="consultant"), NOW, policy=POLICY)
    assert [e["field"] for e in info.value.errors] == ["department"]
    assert store.accounts[manager.id].role == Role.manager and store.events(StaffAccountChanged) == []
    changed = usecases.update_staff(store, store, ADMIN, manager.id,
                                    StaffUpdate(role="consultant", department="urology"), NOW, policy=POLICY)
    assert (changed.role, changed.department) == (Role.consultant, "urology")


def test_a_reset_activation_removes_password_and_totp_and_ends_the_sessions(store):
    account_id, _, _ = signed_in_staff(store)
    with pytest.raises(Conflict):
        usecases.reset_activation(store, store, ADMIN, "acc_a1", NOW, policy=POLICY)
    reset = usecases.reset_activation(store, store, ADMIN, account_id, NOW + timedelta(hours=1), policy=POLICY)
    assert reset.status == "pending_activation" and not reset.mfa_enrolled and reset.activation_code
    assert store.events(SessionRevoked)[-1].reason == "activation reset by an admin"
    with pytest.raises(Unauthorized):  # the old password is gone
        sessions.login(store, ANON, Login(login="li.ming", password=PASSWORD), NOW + timedelta(hours=1),
                       issuer=issuer(), passwords=FakePasswords())
    assert activate(store, reset.activation_code, at=NOW + timedelta(hours=2)).enrolment is not None


def test_staff_read_their_own_account_admins_all_and_listing_is_audited(store):
    created = create(store)
    doctor = Caller(principal=Principal.user(created.id, Role.doctor, sid="s"))
    assert usecases.get_staff(store, doctor, created.id).username == "li.ming"
    assert usecases.get_staff(store, ADMIN, created.id).id == created.id
    for caller, account_id in ((user(Role.doctor, "acc_d2"), created.id), (ADMIN, "acc_nobody")):
        with pytest.raises(NotFound):
            usecases.get_staff(store, caller, account_id)
    with pytest.raises(Forbidden):
        usecases.list_staff(store, doctor)
    assert [s.id for s in usecases.list_staff(store, ADMIN, "doctor")] == [created.id]
    assert usecases.list_staff(store, ADMIN, "pharmacist") == []
    assert store.audited[-1]["detail"] == "staff role=pharmacist"


def test_the_first_admin_is_made_once(store):
    first = usecases.bootstrap_admin(store, Caller(), "root.admin", "管理员", NOW)
    assert first.role == Role.admin and store.accounts[first.id].status == "pending_activation"
    with pytest.raises(Conflict) as info:
        usecases.bootstrap_admin(store, Caller(), "second.admin", "管理员二", NOW)
    assert "exists already" in info.value.detail and len(store.accounts) == 1
    with pytest.raises(InvalidInput):
        usecases.bootstrap_admin(FakeIdentityStore(), Caller(), "1nvalid name", "x", NOW)


def test_the_directory_names_staff_for_signed_in_people_only(store):
    created = create(store)
    patient = user(Role.patient, "acc_p1")
    directory = usecases.staff_directory(store, patient, [created.id, "acc_nobody"])
    assert {k: v.name for k, v in directory.items()} == {created.id: "李明"}
    with pytest.raises(Forbidden):
        usecases.staff_directory(store, Caller(), [created.id])


# the start of independent practice, and what records reads of a prescriber --------------------------------------
RECORDS = Caller.service("records")


def test_a_doctors_start_of_independent_practice_is_set_shown_and_changed(store):
    created = create(store, DOCTOR.model_copy(update={"practising_since": date(2018, 7, 1)}))
    assert created.practising_since == date(2018, 7, 1)
    assert store.accounts[created.id].practising_since == date(2018, 7, 1)
    assert usecases.get_staff(store, ADMIN, created.id).practising_since == date(2018, 7, 1)
    assert [s.practising_since for s in usecases.list_staff(store, ADMIN, "doctor")] == [date(2018, 7, 1)]
    assert created.model_dump(mode="json")["practising_since"] == "2018-07-01"
    changed = usecases.update_staff(store, store, ADMIN, created.id, StaffUpdate(practising_since="2017-09-01"), NOW,
                                    policy=POLICY)
    assert changed.practising_since == date(2017, 9, 1) and store.audited[-1]["detail"] == "practising_since"
    assert store.events(StaffAccountChanged)[-1].account_id == created.id
    assert create(store, DOCTOR.model_copy(update={"username": "zhou.yi"})).practising_since is None  # optional


def test_a_start_of_independent_practice_in_the_future_is_refused_by_name():
    today = datetime.now(hospital_zone()).date()
    body = {**DOCTOR.model_dump(), "practising_since": (today + timedelta(days=1)).isoformat()}
    for model, data in ((StaffCreate, body), (StaffUpdate, {"practising_since": body["practising_since"]})):
        with pytest.raises(InvalidInput) as info:
            validated(model, data)
        assert [(e["field"], e["message"]) for e in info.value.errors] == [
            ("practising_since", "must not be in the future")]
    assert validated(StaffCreate, {**body, "practising_since": today.isoformat()}).practising_since == today


def test_only_doctors_and_pharmacists_carry_a_start_of_independent_practice(store):
    for request in (StaffCreate(username="zhao.min", name="赵敏", role="manager", practising_since="2018-07-01"),
                    StaffCreate(username="wang.fang", name="王芳", role="consultant", department="urology",
                                practising_since="2018-07-01")):
        with pytest.raises(InvalidInput) as info:
            create(store, request)
        assert [e["field"] for e in info.value.errors] == ["practising_since"]
    assert store.accounts == {}
    pharmacist = create(store, StaffCreate(username="lin.yao", name="林药", role="pharmacist", department="pharmacy",
                                           title="主管药师", licence_number="PH20261124",
                                           practising_since="2020-03-01"))
    assert pharmacist.practising_since == date(2020, 3, 1)
    manager = create(store, StaffCreate(username="zhao.min", name="赵敏", role="manager"))
    for change in (StaffUpdate(practising_since="2018-07-01"),
                   StaffUpdate(role="consultant", department="urology", practising_since="2018-07-01")):
        with pytest.raises(InvalidInput) as info:
            usecases.update_staff(store, store, ADMIN, manager.id, change, NOW, policy=POLICY)
        assert [e["field"] for e in info.value.errors] == ["practising_since"]
    assert store.accounts[manager.id].role == Role.manager and store.accounts[manager.id].practising_since is None
    assert store.events(StaffAccountChanged) == []  # rolled back
    doctor = usecases.update_staff(store, store, ADMIN, manager.id,
                                   StaffUpdate(role="doctor", department="urology", title="主治医师",
                                               licence_number="110440000099999", practising_since="2018-07-01"),
                                   NOW, policy=POLICY)
    assert (doctor.role, doctor.practising_since) == (Role.doctor, date(2018, 7, 1))


def test_records_reads_a_prescribers_licence_and_practice_start_and_that_is_audited(store):
    account_id, _, _ = signed_in_staff(store)
    usecases.update_staff(store, store, ADMIN, account_id, StaffUpdate(practising_since="2019-02-01"), NOW,
                          policy=POLICY)
    found = usecases.prescriber(store, RECORDS, account_id)
    assert found.model_dump() == {"account_id": account_id, "role": Role.doctor, "active": True,
                                  "licence_number": "110440000012345", "practising_since": date(2019, 2, 1)}
    entry = store.audited[-1]
    assert (entry["action"], entry["entity_type"], entry["entity_id"], entry["detail"], entry["agent_kind"],
            entry["agent_id"]) == ("R", "Account", account_id, "prescriber", "service", "records")
    usecases.update_staff(store, store, ADMIN, account_id, StaffUpdate(status="disabled"), NOW, policy=POLICY)
    assert not usecases.prescriber(store, RECORDS, account_id).active
    pending = create(store, DOCTOR.model_copy(update={"username": "zhou.yi"}))
    assert usecases.prescriber(store, RECORDS, pending.id).model_dump(include={"active", "practising_since"}) == {
        "active": False, "practising_since": None}
    audited = len(store.audited)
    doctor = Caller(principal=Principal.user(account_id, Role.doctor, sid="s"))
    for caller in (ADMIN, doctor, Caller.service("notify"), Caller.service("pharmacy"), Caller()):
        with pytest.raises(Forbidden):
            usecases.prescriber(store, caller, account_id)
    with pytest.raises(NotFound):
        usecases.prescriber(store, RECORDS, "acc_nobody")
    assert len(store.audited) == audited
