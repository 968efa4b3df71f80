"""The catalogue's pure rules."""
import pytest

from contracts.booking.schemas import ServiceCode
from services.booking.catalogue import rules
from services.booking.catalogue.rules import StaffAccount
from tests.people import user
from wenzhen.auth import Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound


def test_only_managers_maintain_the_catalogue():
    rules.require_manager(user(Role.manager, "acc_m").principal)
    for role in (Role.doctor, Role.consultant, Role.team_lead, Role.admin, Role.patient):
        with pytest.raises(Forbidden):
            rules.require_manager(user(role, "acc_x").principal)


def test_a_service_is_its_defaults_with_what_managers_changed():
    video = rules.service_settings(ServiceCode.online_video, {})
    assert video.prepayment and video.online and video.slot_minutes == 15
    changed = rules.service_settings("first_visit", {"slot_minutes": 20, "online": True, "name_zh": "x"})
    assert changed.slot_minutes == 20 and not changed.online and changed.name_zh == "初诊"  # only what may change
    with pytest.raises(NotFound):
        rules.service("massage")


def test_an_older_staff_event_is_not_newer():
    known = StaffAccount("acc_1", "doctor", "urology", "disabled", sequence=2)
    assert not rules.is_newer(known, 1) and not rules.is_newer(known, 2) and rules.is_newer(known, 3)
    assert rules.is_newer(None, 1) and rules.is_newer(known, None)


def test_a_profile_needs_an_enabled_doctor_account():
    rules.require_doctor_account(StaffAccount("acc_1", "doctor", "urology", "active"))
    for account in (None, StaffAccount("acc_1", "consultant", "urology", "active"),
                    StaffAccount("acc_1", "doctor", "urology", "disabled")):
        with pytest.raises(InvalidInput) as info:
            rules.require_doctor_account(account)
        assert info.value.errors[0]["field"] == "doctor_id"


def test_a_change_names_something():
    with pytest.raises(InvalidInput):
        rules.require_changes({})
    assert rules.require_changes({"active": False}) == {"active": False}
