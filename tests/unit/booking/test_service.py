"""booking composed: the capabilities' mixins, their indexes, the event subscriptions (queue names derive from the
method names: unchanged), and the Nameko adapters — @rpc validating arguments from their type hints and dumping
results — over the capabilities' fake stores."""
from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory

from contracts.booking.events import AppointmentBooked, AppointmentCompleted
from contracts.booking.schemas import DepartmentInput, DoctorInput
from contracts.identity.events import StaffAccountChanged, StaffAccountCreated
from contracts.intake.events import ConsultationIntakeCompleted, PatientRegistered
from contracts.records.events import ReportSigned
from services.booking.appointments import store as appointment_store
from services.booking.appointments.entrypoints import AppointmentEntrypoints
from services.booking.catalogue import store as catalogue_store
from services.booking.catalogue import usecases as catalogue
from services.booking.catalogue.entrypoints import CatalogueEntrypoints
from services.booking.followups import store as followup_store
from services.booking.followups.entrypoints import FollowUpEntrypoints
from services.booking.schedules import store as schedule_store
from services.booking.schedules.entrypoints import ScheduleEntrypoints
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.waitlist import store as waitlist_store
from services.booking.waitlist.entrypoints import WaitlistEntrypoints
from tests.unit.booking.appointments.fakes import FakeAppointmentStore
from tests.unit.booking.catalogue.fakes import FakeCatalogueStore
from tests.unit.booking.clinic import CONSULTANT, DOCTOR_ID, MANAGER, NOW, PATIENT, PROFILE, ROOM, WEEK, week_slots
from tests.unit.booking.followups.fakes import FakeFollowUpStore
from tests.unit.booking.schedules.fakes import FakeScheduleStore
from tests.unit.booking.waitlist.fakes import FakeWaitlistStore
from wenzhen.auth import Caller, Principal
from wenzhen.errors import Forbidden, InvalidInput, NotFound
from wenzhen.timez import utcnow


def worker(monkeypatch, caller, **stores):
    for mixin, name in ((CatalogueEntrypoints, "catalogue"), (ScheduleEntrypoints, "schedules"),
                        (AppointmentEntrypoints, "appointments"), (WaitlistEntrypoints, "waitlist"),
                        (FollowUpEntrypoints, "followups")):
        if name in stores:
            monkeypatch.setattr(mixin, name, property(lambda self, fake=stores[name]: fake))
    return worker_factory(BookingService, store=object(), settings=BookingSettings(), caller=caller)


def test_booking_is_its_capabilities_composed():
    assert BookingService.__mro__[1:6] == (CatalogueEntrypoints, ScheduleEntrypoints, AppointmentEntrypoints,
                                           WaitlistEntrypoints, FollowUpEntrypoints)
    assert BookingService.indexes == [*catalogue_store.INDEXES, *schedule_store.INDEXES, *appointment_store.INDEXES,
                                      *waitlist_store.INDEXES, *followup_store.INDEXES]
    names = [(index.collection, index.name) for index in BookingService.indexes]
    assert len(names) == len(set(names))
    assert {("appointments", "one_place_per_patient_slot"), ("idempotency_keys", "one_key_per_account"),
            ("slots", "one_slot_per_doctor_start_service"), ("waitlist", "one_entry_per_patient_target"),
            ("follow_up_plans", "one_plan_per_visit")} <= set(names)


def test_the_subscriptions_keep_their_names():
    handlers = {attr: (ep.source_service, ep.event_type) for attr in dir(BookingService)
                for ep in getattr(getattr(BookingService, attr), "nameko_entrypoints", ())
                if hasattr(ep, "event_type")}
    assert handlers == {name: (event.source, event.type) for name, event in (
        ("on_patient_registered", PatientRegistered), ("on_consultation_intake_completed", ConsultationIntakeCompleted),
        ("on_staff_account_created", StaffAccountCreated), ("on_staff_account_changed", StaffAccountChanged),
        ("on_report_signed", ReportSigned), ("on_visit_completed", AppointmentCompleted))}


def test_intake_books_for_a_consultation_as_the_consultant(monkeypatch):
    store = FakeAppointmentStore(slots=week_slots(now=utcnow()), doctors={DOCTOR_ID: PROFILE}, patients={"pat_1"})
    service = worker(monkeypatch, CONSULTANT, appointments=store)
    sid, other = sorted(store.slots.values(), key=lambda s: s.start)[0].id, sorted(
        store.slots.values(), key=lambda s: s.start)[1].id
    body = {"patient_id": "pat_1", "slot_id": sid}
    first = service.book_for_consultation("con_7", body, "msg_42")
    assert first["consultation_id"] == "con_7" and first["status"] in ("confirmed", "held") and first["slot_id"] == sid
    assert isinstance(first["start"], str)  # dumped by the return annotation
    assert service.book_for_consultation("con_7", body, "msg_42")["replayed"] is True
    assert [e for _, e in store.emitted if isinstance(e, AppointmentBooked)][0].consultation_id == "con_7"
    with pytest.raises(InvalidInput) as info:
        service.book_for_consultation("con_7", body, "not a key!")
    assert info.value.errors[0]["field"] == "idempotency_key"
    with pytest.raises(InvalidInput) as info:
        service.book_for_consultation("con 7", body, "msg_43")
    assert info.value.errors[0]["field"] == "consultation_id"
    with pytest.raises(InvalidInput) as info:  # validated from the type hint, naming the field
        service.book({"patient_id": "pat_1"})
    assert info.value.errors
    patient_side = worker(monkeypatch, PATIENT, appointments=store)
    with pytest.raises(Forbidden):
        patient_side.book_for_consultation("con_7", {"patient_id": "pat_1", "slot_id": other})


def test_the_schedule_rpc_generates_slots_at_once(monkeypatch):
    schedules = FakeScheduleStore(doctors={DOCTOR_ID: PROFILE}, rooms={ROOM})
    shop = FakeCatalogueStore()
    catalogue.create_department(shop, MANAGER, DepartmentInput(code="urology", name_zh="泌尿外科", name_en="Urology"),
                                NOW)
    catalogue.record_staff(shop, None, DOCTOR_ID, "doctor", "urology", None, 1, NOW)
    catalogue.create_doctor(shop, MANAGER, DoctorInput.model_validate({
        "doctor_id": DOCTOR_ID, "display_name": "李明", "department": "urology", "title": "主任医师",
        "fee_level": "主任医师号", "fee_fen": 5000, "licence_number": "110440000012345",
        "services": ["first_visit", "follow_up", "online_video"]}), NOW)
    service = worker(monkeypatch, MANAGER, schedules=schedules, catalogue=shop)
    answer = service.put_schedule(DOCTOR_ID, {"sessions": [
        {"weekday": 1, "start": "08:00", "end": "09:00", "service": "first_visit"}]})
    assert answer["version"] == 1 and answer["generation"]["created"] >= 4
    assert answer["sessions"][0]["start"] == "08:00"
    anyone = worker(monkeypatch, Caller(principal=Principal(kind="anonymous")), schedules=schedules, catalogue=shop)
    assert anyone.list_doctors("urology")[0]["display_name"] == "李明"
    assert anyone.doctor_slots(DOCTOR_ID, {"service": "first_visit", "limit": 2})[0]["service"] == "first_visit"
    assert len(anyone.search_slots({"doctor_id": DOCTOR_ID, "limit": 3})) == 3
    with pytest.raises(InvalidInput) as info:
        anyone.search_slots({"limit": 0})
    assert info.value.errors[0]["field"] == "limit"
    with pytest.raises(Forbidden):
        anyone.put_schedule(DOCTOR_ID, {"sessions": []})
    with pytest.raises(InvalidInput):
        service.put_schedule(DOCTOR_ID, {"sessions": [{"weekday": 9}]})


def test_the_waitlist_and_follow_up_rpcs_validate_and_answer(monkeypatch):
    places = FakeAppointmentStore(slots=week_slots(WEEK, now=utcnow()), doctors={DOCTOR_ID: PROFILE},
                                  patients={"pat_2"})
    service = worker(monkeypatch, CONSULTANT, waitlist=FakeWaitlistStore(places), followups=FakeFollowUpStore())
    with pytest.raises(InvalidInput):
        service.join_waitlist({"patient_id": "pat_2", "slot_id": "slot_x", "date": "2026-03-02"})
    with pytest.raises(NotFound):
        service.join_waitlist({"patient_id": "pat_2", "slot_id": "slot_x"})
    assert service.list_waitlist({}) == []
    with pytest.raises(InvalidInput):  # the desk names a patient
        service.list_follow_ups({})
    assert service.list_follow_ups({"patient_id": "pat_2"}) == []
    with pytest.raises(InvalidInput) as info:
        service.list_waitlist({"status": "nonsense"})
    assert info.value.errors[0]["field"] == "status"
