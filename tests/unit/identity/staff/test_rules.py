"""Staff accounts' pure rules."""
from datetime import UTC, date, datetime

import pytest

from services.identity.accounts.rules import Account
from services.identity.staff import rules
from tests.people import user
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
ADMIN = user(Role.admin, "acc_a1").principal


def test_only_admins_manage_staff_and_staff_read_their_own_account():
    rules.require_admin(ADMIN)
    for role in (Role.doctor, Role.manager, Role.patient):
        with pytest.raises(Forbidden):
            rules.require_admin(user(role, "acc_x").principal)
    assert rules.may_read(ADMIN, "acc_d1") and rules.may_read(user(Role.doctor, "acc_d1").principal, "acc_d1")
    assert not rules.may_read(user(Role.doctor, "acc_d2").principal, "acc_d1")
    assert not rules.may_read(user(Role.patient, "acc_d1").principal, "acc_d1")  # a patient is no staff member


def test_a_role_needs_its_fields():
    rules.require_what_the_role_needs("manager", {})  # hospital-wide
    with pytest.raises(InvalidInput) as info:
        rules.require_what_the_role_needs("doctor", {"department": "urology"})
    assert [e["field"] for e in info.value.errors] == ["licence_number", "title"]
    with pytest.raises(InvalidInput):
        rules.require_what_the_role_needs("consultant", {"department": None})


def test_only_doctors_and_pharmacists_carry_a_start_of_independent_practice():
    for role in ("doctor", "pharmacist"):
        rules.require_licensed_for_practice_start(role, {"practising_since": date(2018, 7, 1)})
    for role in ("consultant", "team_lead", "manager", "admin"):
        rules.require_licensed_for_practice_start(role, {"practising_since": None})
        with pytest.raises(InvalidInput) as info:
            rules.require_licensed_for_practice_start(role, {"practising_since": date(2018, 7, 1)})
        assert [(e["field"], e["type"]) for e in info.value.errors] == [("practising_since", "extra")]


def test_only_the_records_service_reads_a_prescriber():
    rules.require_records(Principal.service("records"))
    for principal in (ADMIN, user(Role.doctor, "acc_d1").principal, Principal.service("notify"),
                      Principal(kind="anonymous")):
        with pytest.raises(Forbidden):
            rules.require_records(principal)


def test_admins_neither_disable_nor_reset_themselves_and_changes_name_something():
    rules.require_not_disabling_self(ADMIN, "acc_a1", {"title": "x"})
    with pytest.raises(Conflict):
        rules.require_not_disabling_self(ADMIN, "acc_a1", {"status": "disabled"})
    with pytest.raises(Conflict):
        rules.require_not_resetting_self(ADMIN, "acc_a1")
    with pytest.raises(InvalidInput):
        rules.require_changes({})


def test_disabling_or_a_new_role_ends_the_sessions():
    assert rules.ends_sessions({"status": "disabled"}) and rules.ends_sessions({"role": "doctor"})
    assert not rules.ends_sessions({"status": "active"}) and not rules.ends_sessions({"title": "主任医师"})


def test_the_directory_is_for_signed_in_people_and_shows_name_role_title_department():
    with pytest.raises(Forbidden):
        rules.require_signed_in(Principal(kind="anonymous"))
    account = Account(id="acc_d1", kind="staff", role=Role.doctor, status="active", login_index="ix",
                      created_at=NOW, username="li.ming", name="李明", department="urology", title="主任医师")
    assert rules.staff_card(account).model_dump() == {"role": Role.doctor, "title": "主任医师",
                                                      "department": "urology", "name": "李明"}
    view = rules.staff_view(account)
    assert view.created_at == "2026-11-23T14:00:00.000+08:00" and not view.mfa_enrolled
    assert view.practising_since is None


def test_a_prescriber_is_the_role_the_status_the_licence_and_the_practice_start():
    account = Account(id="acc_d1", kind="staff", role=Role.doctor, status="active", login_index="ix",
                      created_at=NOW, username="li.ming", name="李明", licence_number="110440000012345",
                      practising_since=date(2018, 7, 1))
    assert rules.prescriber(account).model_dump() == {"account_id": "acc_d1", "role": Role.doctor, "active": True,
                                                      "licence_number": "110440000012345",
                                                      "practising_since": date(2018, 7, 1)}
    assert rules.staff_view(account).practising_since == date(2018, 7, 1)
    for status in ("pending_activation", "pending_mfa", "disabled"):
        assert not rules.prescriber(Account(**{**vars(account), "status": status})).active
