"""booking's catalogue, schedule templates and slot generation, with an in-memory store (uniqueness from the
declared indexes). The helpers at the top are shared with test_booking_appointments.py."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.booking.schemas import DepartmentInput, DoctorChange, DoctorInput, RoomInput, ScheduleTemplate
from services.booking import appointments, schedules
from services.booking.catalogue import store as catalogue_store
from services.booking.catalogue import usecases as catalogue
from services.booking.catalogue.store import CatalogueStore
from tests.fakes import FakeStore
from tests.people import user
from wenzhen.auth import Role
from wenzhen.crypto import Keyring, new_key_settings
from wenzhen.errors import Forbidden, InvalidInput, NotFound
from wenzhen.timez import hospital_zone

KEYS = Keyring.from_env(new_key_settings())
SH = hospital_zone()
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=SH).astimezone(UTC)  # Monday 07:00 in Shanghai
DOCTOR_ID = "acc_doc1"
OTHER_DOCTOR_ID = "acc_doc2"
WEEK = {"sessions": [
    {"weekday": 1, "start": "08:00", "end": "12:00", "service": "first_visit", "capacity": 1, "room": "op3_12"},
    {"weekday": 1, "start": "14:00", "end": "17:00", "service": "first_visit", "capacity": 1, "room": "op3_12"},
    {"weekday": 2, "start": "09:00", "end": "11:00", "service": "online_video", "capacity": 1},
]}



MANAGER = user(Role.manager, "acc_m1")
CONSULTANT = user(Role.consultant, "acc_c1")
TEAM_LEAD = user(Role.team_lead, "acc_t1")
DOCTOR = user(Role.doctor, DOCTOR_ID)
OTHER_DOCTOR = user(Role.doctor, OTHER_DOCTOR_ID)


def local(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=SH).astimezone(UTC)


def new_store() -> FakeStore:
    return FakeStore(indexes=[*catalogue_store.INDEXES, *schedules.INDEXES, *appointments.INDEXES])


def staff_account(store: FakeStore, account_id: str, role: str = "doctor", status: str | None = None,
                  sequence: int = 1) -> None:
    store.transact(lambda tx: catalogue.record_staff(CatalogueStore(tx, KEYS), tx, account_id, role, "urology", status,
                                                     sequence, NOW))


def doctor_input(doctor_id: str = DOCTOR_ID, **changes) -> DoctorInput:
    return DoctorInput.model_validate({
        "doctor_id": doctor_id, "display_name": "李明", "department": "urology", "title": "主任医师",
        "expertise": ["前列腺炎"], "fee_level": "主任医师号", "fee_fen": 5000, "licence_number": "110440000012345",
        "profile": "从事泌尿外科临床工作二十年。", "services": ["first_visit", "follow_up", "online_video"], **changes})


def world(template: dict | None = WEEK, horizon_days: int = 14, now: datetime = NOW) -> FakeStore:
    """A department, a room, a doctor with a profile and (unless None) a schedule, its slots generated."""
    store = new_store()
    shop = CatalogueStore(store, KEYS)
    catalogue.create_department(shop, MANAGER, DepartmentInput(code="urology", name_zh="泌尿外科", name_en="Urology"),
                                NOW)
    catalogue.create_room(shop, MANAGER, RoomInput(code="op3_12", name="门诊楼3层12诊室", department="urology"), NOW)
    staff_account(store, DOCTOR_ID)
    catalogue.create_doctor(shop, MANAGER, doctor_input(), NOW)
    if template is not None:
        schedules.put_schedule(store, MANAGER, DOCTOR_ID, ScheduleTemplate.model_validate(template), horizon_days,
                               now=now)
    return store


def slots_on(store: FakeStore, day: date, doctor_id: str = DOCTOR_ID) -> list[dict]:
    lo, hi = local(day, "00:00"), local(day + timedelta(days=1), "00:00")
    found = [s for s in store[schedules.SLOTS].docs.values()
             if s["doctor_id"] == doctor_id and lo <= s["start"] < hi and s["status"] == "open"]
    return sorted(found, key=lambda s: s["start"])


def times(slots: list[dict]) -> list[str]:
    return [s["start"].astimezone(SH).strftime("%H:%M") for s in slots]


MONDAY, TUESDAY, SUNDAY = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 8)


# catalogue (its own rules and use cases: tests/unit/booking/catalogue/) ---------------------------------------------
def test_a_doctor_s_shown_name_is_encrypted_at_rest():
    store = world(template=None)
    (doctor,) = catalogue.doctors(CatalogueStore(store, KEYS), "urology")
    assert doctor.display_name == "李明" and "李明" not in str(store[catalogue_store.DOCTORS].docs)


# templates -----------------------------------------------------------------------------------------------------------
def test_a_template_rejects_overlapping_sessions_and_incomplete_extras():
    with pytest.raises(ValidationError, match="overlap"):
        ScheduleTemplate.model_validate({"sessions": [
            {"weekday": 1, "start": "08:00", "end": "12:00", "service": "first_visit"},
            {"weekday": 1, "start": "11:00", "end": "13:00", "service": "follow_up"}]})
    with pytest.raises(ValidationError, match="extra session needs"):
        ScheduleTemplate.model_validate({"sessions": [], "exceptions": [{"kind": "extra", "date": "2026-03-08"}]})
    with pytest.raises(ValidationError, match="end must be after start"):
        ScheduleTemplate.model_validate({"sessions": [
            {"weekday": 1, "start": "12:00", "end": "08:00", "service": "first_visit"}]})


def test_a_template_must_fit_the_doctor_and_the_catalogue():
    store = world(template=None)
    bad = {"sessions": [
        {"weekday": 3, "start": "08:00", "end": "09:00", "service": "examination"},  # not offered by this doctor
        {"weekday": 4, "start": "08:00", "end": "09:00", "service": "online_video", "room": "op3_12"},  # online
        {"weekday": 5, "start": "08:00", "end": "09:00", "service": "first_visit", "room": "nowhere"}]}
    with pytest.raises(InvalidInput) as info:
        schedules.put_schedule(store, MANAGER, DOCTOR_ID, ScheduleTemplate.model_validate(bad), 14, now=NOW)
    assert [e["field"] for e in info.value.errors] == ["sessions.0.service", "sessions.1.room", "sessions.2.room"]
    with pytest.raises(Forbidden):
        schedules.put_schedule(store, DOCTOR, DOCTOR_ID, ScheduleTemplate.model_validate(WEEK), 14, now=NOW)
    with pytest.raises(NotFound):
        schedules.put_schedule(store, MANAGER, "acc_nobody", ScheduleTemplate.model_validate(WEEK), 14, now=NOW)


def test_schedules_are_seen_by_managers_and_the_doctor_only():
    store = world()
    assert schedules.get_schedule(store, DOCTOR, DOCTOR_ID).version == 1
    assert schedules.get_schedule(store, MANAGER, DOCTOR_ID).sessions[0].start.strftime("%H:%M") == "08:00"
    with pytest.raises(Forbidden):
        schedules.get_schedule(store, OTHER_DOCTOR, DOCTOR_ID)


# slot generation -----------------------------------------------------------------------------------------------------
def test_slots_are_cut_from_the_weekly_sessions_in_local_time():
    store = world()
    monday = slots_on(store, MONDAY)
    assert times(monday)[:3] == ["08:00", "08:15", "08:30"] and times(monday)[15] == "11:45"
    assert len(monday) == 16 + 12  # 08:00–12:00 and 14:00–17:00 in 15-minute slots
    assert monday[0]["start"] == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # stored in UTC
    assert (monday[0]["capacity"], monday[0]["booked"], monday[0]["free"]) == (1, 0, 1)
    assert monday[0]["room"] == "op3_12" and monday[0]["department"] == "urology"
    tuesday = slots_on(store, TUESDAY)
    assert times(tuesday) == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"]
    assert tuesday[0]["online"] is True and tuesday[0]["room"] is None
    assert len(store[schedules.SLOTS].docs) == 2 * (28 + 8)  # two weeks


def test_generating_again_changes_nothing():
    store = world()
    before = {k: dict(v) for k, v in store[schedules.SLOTS].docs.items()}
    again = schedules.generate_slots(store, DOCTOR_ID, 14, NOW)
    assert again.created == again.closed == again.reopened == again.resized == 0
    assert store[schedules.SLOTS].docs == before


def test_slot_ids_are_stable_and_the_unique_index_refuses_a_second_slot_of_one_time():
    store = world()
    first = slots_on(store, MONDAY)[0]
    assert first["_id"] == schedules.slot_id(DOCTOR_ID, first["start"], "first_visit")
    duplicate = {**first, "_id": "slot_other"}
    with pytest.raises(Exception, match="duplicate key"):
        store[schedules.SLOTS].insert_one(duplicate)


def test_slots_that_have_begun_are_not_generated():
    store = world(now=local(MONDAY, "10:05"))
    assert times(slots_on(store, MONDAY))[:2] == ["10:15", "10:30"]


def test_the_horizon_moves_on_with_time():
    store = world(horizon_days=1)
    assert not slots_on(store, TUESDAY)
    created = schedules.generate_slots(store, DOCTOR_ID, 2, NOW).created
    assert created == 8 and len(slots_on(store, TUESDAY)) == 8


def test_leave_holidays_and_extra_sessions():
    template = {**WEEK, "exceptions": [
        {"kind": "leave", "date": "2026-03-09", "start": "10:00", "end": "11:00"},  # next Monday, one hour
        {"kind": "holiday", "date": "2026-03-03"},  # this Tuesday
        {"kind": "leave", "date": "2026-03-10", "until": "2026-03-10"},  # next Tuesday, whole day
        {"kind": "extra", "date": "2026-03-08", "start": "09:00", "end": "10:00", "service": "follow_up",
         "capacity": 2, "room": "op3_12"},
    ]}
    store = world(template)
    next_monday = times(slots_on(store, date(2026, 3, 9)))
    assert "09:45" in next_monday and "10:00" not in next_monday and "10:45" not in next_monday
    assert "11:00" in next_monday and len(next_monday) == 28 - 4
    assert slots_on(store, TUESDAY) == [] and slots_on(store, date(2026, 3, 10)) == []
    sunday = slots_on(store, SUNDAY)
    assert times(sunday) == ["09:00", "09:10", "09:20", "09:30", "09:40", "09:50"]  # follow-ups: 10 minutes
    assert {s["service"] for s in sunday} == {"follow_up"} and sunday[0]["capacity"] == 2


def test_a_changed_template_closes_free_slots_keeps_booked_ones_and_resizes_where_it_fits():
    store = world()
    monday = slots_on(store, MONDAY)
    booked = monday[0]
    store[schedules.SLOTS].update_one({"_id": booked["_id"]}, {"$inc": {"booked": 1, "free": -1}})
    afternoon_only = {"sessions": [
        {"weekday": 1, "start": "14:00", "end": "17:00", "service": "first_visit", "capacity": 3, "room": "op3_12"}]}
    result = schedules.put_schedule(store, MANAGER, DOCTOR_ID, ScheduleTemplate.model_validate(afternoon_only), 14,
                                    now=NOW)
    assert result.version == 2 and result.generation.created == 0
    assert result.generation.kept_booked == [booked["_id"]]  # staff must move that patient
    assert result.generation.closed == 2 * 16 + 2 * 8 - 1 and result.generation.resized == 2 * 12
    still = slots_on(store, MONDAY)
    assert times(still)[0] == "08:00" and times(still)[1] == "14:00"
    assert (still[1]["capacity"], still[1]["free"]) == (3, 3)
    back = schedules.put_schedule(store, MANAGER, DOCTOR_ID, ScheduleTemplate.model_validate(WEEK), 14, now=NOW)
    assert back.generation.reopened == 2 * 16 + 2 * 8 - 1 and back.generation.created == 0


def test_a_capacity_is_not_lowered_below_the_places_booked():
    store = world({"sessions": [{"weekday": 1, "start": "08:00", "end": "08:15", "service": "first_visit",
                                 "capacity": 3}]})
    (slot,) = slots_on(store, MONDAY)
    store[schedules.SLOTS].update_one({"_id": slot["_id"]}, {"$inc": {"booked": 2, "free": -2}})
    schedules.put_schedule(store, MANAGER, DOCTOR_ID, ScheduleTemplate.model_validate(
        {"sessions": [{"weekday": 1, "start": "08:00", "end": "08:15", "service": "first_visit", "capacity": 1}]}),
        14, now=NOW)
    assert store[schedules.SLOTS].docs[slot["_id"]]["capacity"] == 3
    schedules.put_schedule(store, MANAGER, DOCTOR_ID, ScheduleTemplate.model_validate(
        {"sessions": [{"weekday": 1, "start": "08:00", "end": "08:15", "service": "first_visit", "capacity": 2}]}),
        14, now=NOW)
    assert (store[schedules.SLOTS].docs[slot["_id"]]["capacity"], store[schedules.SLOTS].docs[slot["_id"]]["free"]) \
        == (2, 0)


def test_an_inactive_doctor_has_no_free_slots_left():
    store = world()
    catalogue.change_doctor(CatalogueStore(store, KEYS), MANAGER, DOCTOR_ID, DoctorChange(active=False))
    result = schedules.generate_slots(store, DOCTOR_ID, 14, NOW)
    assert result.closed == 2 * (28 + 8) and not slots_on(store, MONDAY)
    with pytest.raises(NotFound):
        catalogue.doctor(CatalogueStore(store, KEYS), DOCTOR_ID)


def test_regeneration_is_requested_through_the_database():
    store = world()
    assert schedules.regeneration_requested(store) is None
    schedules.request_regeneration(store)
    assert schedules.regeneration_requested(store) is not None
    schedules.generate_all(store, 14, datetime.now(UTC) + timedelta(seconds=1))
    assert schedules.regeneration_requested(store) is None


# availability --------------------------------------------------------------------------------------------------------
def test_search_finds_free_slots_next_available_first():
    store = world()
    found = schedules.search_slots(store, now=NOW, horizon_days=14, department="urology", limit=3)
    assert [s.start for s in found] == ["2026-03-02T08:00:00.000+08:00", "2026-03-02T08:15:00.000+08:00",
                                        "2026-03-02T08:30:00.000+08:00"]
    first = store[schedules.SLOTS].docs[found[0].id]
    store[schedules.SLOTS].update_one({"_id": first["_id"]}, {"$inc": {"booked": 1, "free": -1}})
    assert schedules.search_slots(store, now=NOW, horizon_days=14, doctor_id=DOCTOR_ID, limit=1)[0].start.startswith(
        "2026-03-02T08:15")
    online = schedules.search_slots(store, now=NOW, horizon_days=14, service="online_video", limit=1)
    assert online[0].start == "2026-03-03T09:00:00.000+08:00" and online[0].online
    later = schedules.search_slots(store, now=NOW, horizon_days=14, day_from=date(2026, 3, 9), day_to=date(2026, 3, 9))
    assert len(later) == 28 and later[-1].start == "2026-03-09T16:45:00.000+08:00"
    assert schedules.search_slots(store, now=NOW, horizon_days=14, department="ent") == []


def test_a_search_range_must_make_sense():
    store = world()
    with pytest.raises(InvalidInput) as info:
        schedules.search_slots(store, now=NOW, horizon_days=14, day_from=date(2026, 3, 9), day_to=date(2026, 3, 8))
    assert info.value.errors[0]["field"] == "to"
    with pytest.raises(InvalidInput):
        schedules.search_slots(store, now=NOW, horizon_days=14, day_from=date(2026, 3, 1), day_to=date(2026, 9, 1))
