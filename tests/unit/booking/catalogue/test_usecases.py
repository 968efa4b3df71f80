"""The catalogue's use cases over an in-memory store: who may, what is audited, what a duplicate is."""
from datetime import UTC, datetime

import pytest

from contracts.booking.schemas import (
    DepartmentChange,
    DepartmentInput,
    DoctorChange,
    DoctorInput,
    RoomInput,
    ServiceChange,
)
from services.booking.catalogue import usecases
from tests.people import user
from tests.unit.booking.catalogue.fakes import FakeCatalogueStore
from wenzhen.auth import Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 3, 2, tzinfo=UTC)
MANAGER = user(Role.manager, "acc_m1")
DOCTOR = user(Role.doctor, "acc_doc1")


def doctor_input(doctor_id: str = "acc_doc1", **changes) -> DoctorInput:
    return DoctorInput.model_validate({
        "doctor_id": doctor_id, "display_name": "李明", "department": "urology", "title": "主任医师",
        "expertise": ["前列腺炎"], "fee_level": "主任医师号", "fee_fen": 5000, "licence_number": "110440000012345",
        "services": ["first_visit", "follow_up"], **changes})


@pytest.fixture
def store() -> FakeCatalogueStore:
    fake = FakeCatalogueStore()
    usecases.create_department(fake, MANAGER, DepartmentInput(code="urology", name_zh="泌尿外科", name_en="Urology"),
                               NOW)
    return fake


def test_managers_create_departments_and_rooms_once_and_each_is_audited(store):
    with pytest.raises(Forbidden):
        usecases.create_department(store, DOCTOR, DepartmentInput(code="ent", name_zh="耳鼻喉科", name_en="ENT"), NOW)
    with pytest.raises(Conflict) as info:
        usecases.create_department(store, MANAGER, DepartmentInput(code="urology", name_zh="泌尿", name_en="U"), NOW)
    assert info.value.errors[0]["field"] == "code"
    with pytest.raises(InvalidInput):  # a room of a department that does not exist
        usecases.create_room(store, MANAGER, RoomInput(code="op1", name="一诊室", department="ent"), NOW)
    usecases.create_room(store, MANAGER, RoomInput(code="op1", name="一诊室", department="urology"), NOW)
    assert [(e["action"], e["entity_type"]) for e in store.audited] == [("C", "Department"), ("C", "Location")]
    assert [d.code for d in usecases.departments(store)] == ["urology"]


def test_a_department_change_names_something_and_a_missing_one_is_404(store):
    with pytest.raises(InvalidInput):
        usecases.change_department(store, MANAGER, "urology", DepartmentChange())
    with pytest.raises(NotFound):
        usecases.change_department(store, MANAGER, "ent", DepartmentChange(active=False))
    usecases.change_department(store, MANAGER, "urology", DepartmentChange(active=False))
    assert usecases.departments(store) == [] and store.audited[-1]["detail"] == "active"


def test_a_profile_is_made_only_for_a_doctor_account_booking_heard_of(store):
    with pytest.raises(InvalidInput):
        usecases.create_doctor(store, MANAGER, doctor_input(), NOW)
    usecases.record_staff(store, None, "acc_doc1", "doctor", "urology", None, 1, NOW)
    doctor = usecases.create_doctor(store, MANAGER, doctor_input(), NOW)
    assert doctor.display_name == "李明" and usecases.doctor(store, "acc_doc1") == doctor
    with pytest.raises(Conflict):
        usecases.create_doctor(store, MANAGER, doctor_input(), NOW)
    usecases.change_doctor(store, MANAGER, "acc_doc1", DoctorChange(active=False))
    with pytest.raises(NotFound):  # an inactive doctor is not shown
        usecases.doctor(store, "acc_doc1")
    assert usecases.doctors(store, "urology") == []


def test_an_older_staff_event_never_overwrites_a_newer_one(store):
    usecases.record_staff(store, None, "acc_x", "doctor", "urology", "disabled", 2, NOW)  # the change came first
    usecases.record_staff(store, None, "acc_x", "doctor", "urology", None, 1, NOW)  # then the creation
    assert store.staff_account("acc_x").status == "disabled"


def test_services_have_defaults_that_managers_change(store):
    changed = usecases.change_service(store, MANAGER, "first_visit", ServiceChange(slot_minutes=20, prepayment=True),
                                      NOW)
    assert (changed.slot_minutes, changed.prepayment) == (20, True)
    with pytest.raises(NotFound):
        usecases.change_service(store, MANAGER, "massage", ServiceChange(slot_minutes=20), NOW)
    with pytest.raises(Forbidden):
        usecases.change_service(store, user(Role.consultant, "acc_c"), "first_visit", ServiceChange(slot_minutes=5),
                                NOW)
    assert {s.code: s.prepayment for s in usecases.services(store)}["online_video"] is True
