"""The schedules' use cases over an in-memory store: who sets and sees a schedule, generation (idempotent, closing
only free slots, resizing only where the booked places fit), regeneration requests and the availability search."""
from dataclasses import replace
from datetime import date, timedelta

import pytest

from contracts.booking.schemas import ScheduleTemplate
from services.booking.schedules import store as schedule_store
from services.booking.schedules import usecases
from tests.unit.booking.clinic import (
    DOCTOR,
    DOCTOR_ID,
    MANAGER,
    MONDAY,
    NOW,
    OTHER_DOCTOR,
    PROFILE,
    ROOM,
    TUESDAY,
    WEEK,
    on_day,
    times,
)
from tests.unit.booking.schedules.fakes import FakeScheduleStore
from wenzhen.errors import Forbidden, InvalidInput, NotFound


def template(value: dict = WEEK) -> ScheduleTemplate:
    return ScheduleTemplate.model_validate(value)


def put(store, value: dict = WEEK, horizon_days: int = 14, now=NOW):
    return usecases.put_schedule(store, MANAGER, DOCTOR_ID, template(value), horizon_days, now)


@pytest.fixture
def store() -> FakeScheduleStore:
    return FakeScheduleStore(doctors={DOCTOR_ID: PROFILE}, rooms={ROOM})


def test_a_schedule_is_set_by_managers_for_a_profile_and_its_slots_are_generated_at_once(store):
    schedule = put(store)
    assert schedule.version == 1 and schedule.generation.created == 2 * (28 + 8) == len(store.slots)
    assert schedule.sessions[0].start.strftime("%H:%M") == "08:00"
    assert [(e["action"], e["subtype"], e["entity_type"]) for e in store.audited] == [("U", "schedule", "Schedule")]
    assert put(store).version == 2
    with pytest.raises(Forbidden):
        usecases.put_schedule(store, DOCTOR, DOCTOR_ID, template(), 14, NOW)
    with pytest.raises(NotFound):
        usecases.put_schedule(store, MANAGER, "acc_nobody", template(), 14, NOW)


def test_a_template_must_fit_the_doctor_and_the_catalogue(store):
    with pytest.raises(InvalidInput) as info:
        put(store, {"sessions": [{"weekday": 5, "start": "08:00", "end": "09:00", "service": "first_visit",
                                  "room": "nowhere"}]})
    assert info.value.errors[0]["field"] == "sessions.0.room"
    assert store.templates == {} and store.slots == {} and store.audited == []


def test_schedules_are_seen_by_managers_and_the_doctor_only(store):
    with pytest.raises(NotFound):
        usecases.get_schedule(store, MANAGER, DOCTOR_ID)
    put(store)
    assert usecases.get_schedule(store, DOCTOR, DOCTOR_ID).version == 1
    assert usecases.get_schedule(store, MANAGER, DOCTOR_ID).sessions[0].start.strftime("%H:%M") == "08:00"
    with pytest.raises(Forbidden):
        usecases.get_schedule(store, OTHER_DOCTOR, DOCTOR_ID)


def test_generating_again_changes_nothing(store):
    put(store)
    before = dict(store.slots)
    again = usecases.generate_slots(store, DOCTOR_ID, 14, NOW)
    assert again.created == again.closed == again.reopened == again.resized == 0
    assert store.slots == before


def test_one_slot_per_doctor_start_and_service_is_the_database_s_invariant():
    (index,) = [i for i in schedule_store.INDEXES if i.unique]
    assert index.collection == schedule_store.SLOTS
    assert [name for name, _ in index.keys] == ["doctor_id", "start", "service"]


def test_the_horizon_moves_on_with_time(store):
    put(store, horizon_days=1)
    assert not on_day(store.slots, TUESDAY)
    assert usecases.generate_slots(store, DOCTOR_ID, 2, NOW).created == 8 and len(on_day(store.slots, TUESDAY)) == 8


def test_a_changed_template_closes_free_slots_keeps_booked_ones_and_resizes_where_it_fits(store):
    put(store)
    booked = on_day(store.slots, MONDAY)[0]
    store.book_places(booked.id)
    afternoon_only = {"sessions": [
        {"weekday": 1, "start": "14:00", "end": "17:00", "service": "first_visit", "capacity": 3, "room": ROOM}]}
    result = put(store, afternoon_only)
    assert result.version == 2 and result.generation.created == 0
    assert result.generation.kept_booked == [booked.id]  # staff must move that patient
    assert result.generation.closed == 2 * 16 + 2 * 8 - 1 and result.generation.resized == 2 * 12
    still = on_day(store.slots, MONDAY)
    assert times(still)[0] == "08:00" and times(still)[1] == "14:00"
    assert (still[1].capacity, still[1].free) == (3, 3)
    back = put(store)
    assert back.generation.reopened == 2 * 16 + 2 * 8 - 1 and back.generation.created == 0


def test_a_capacity_is_not_lowered_below_the_places_booked(store):
    one = {"weekday": 1, "start": "08:00", "end": "08:15", "service": "first_visit"}
    put(store, {"sessions": [{**one, "capacity": 3}]})
    (slot,) = on_day(store.slots, MONDAY)
    store.book_places(slot.id, 2)
    put(store, {"sessions": [{**one, "capacity": 1}]})
    assert store.slots[slot.id].capacity == 3
    put(store, {"sessions": [{**one, "capacity": 2}]})
    assert (store.slots[slot.id].capacity, store.slots[slot.id].free) == (2, 0)


def test_a_resize_reads_again_when_a_booking_came_in_between(store):
    one = {"weekday": 1, "start": "08:00", "end": "08:15", "service": "first_visit"}
    put(store, {"sessions": [{**one, "capacity": 3}]})
    (slot,) = on_day(store.slots, MONDAY)
    real = store.resize_slot
    calls = []

    def racing(slot_id, booked, capacity, room):
        if not calls:
            store.book_places(slot_id)  # a booking between the read and the write
        calls.append(booked)
        return real(slot_id, booked, capacity, room)

    store.resize_slot = racing
    put(store, {"sessions": [{**one, "capacity": 2}]})  # this Monday's slot (raced), then next Monday's
    assert calls == [0, 1, 0] and (store.slots[slot.id].capacity, store.slots[slot.id].free) == (2, 1)


def test_an_inactive_doctor_has_no_free_slots_left(store):
    put(store)
    store.doctors[DOCTOR_ID] = replace(PROFILE, active=False)
    result = usecases.generate_slots(store, DOCTOR_ID, 14, NOW)
    assert result.closed == 2 * (28 + 8) and not on_day(store.slots, MONDAY)
    with pytest.raises(NotFound):
        usecases.doctor_slots(store, DOCTOR_ID, now=NOW, horizon_days=14)


def test_regeneration_is_requested_through_the_store(store):
    put(store)
    assert usecases.regeneration_requested(store) is None
    usecases.request_regeneration(store, NOW)
    assert usecases.regeneration_requested(store) == NOW
    usecases.generate_all(store, 14, NOW + timedelta(seconds=1))
    assert usecases.regeneration_requested(store) is None


def test_search_finds_free_slots_next_available_first(store):
    put(store)
    found = usecases.search_slots(store, now=NOW, horizon_days=14, department="urology", limit=3)
    assert [s.start for s in found] == ["2026-03-02T08:00:00.000+08:00", "2026-03-02T08:15:00.000+08:00",
                                        "2026-03-02T08:30:00.000+08:00"]
    store.book_places(found[0].id)
    assert usecases.search_slots(store, now=NOW, horizon_days=14, doctor_id=DOCTOR_ID,
                                 limit=1)[0].start.startswith("2026-03-02T08:15")
    online = usecases.search_slots(store, now=NOW, horizon_days=14, service="online_video", limit=1)
    assert online[0].start == "2026-03-03T09:00:00.000+08:00" and online[0].online
    later = usecases.search_slots(store, now=NOW, horizon_days=14, day_from=date(2026, 3, 9), day_to=date(2026, 3, 9))
    assert len(later) == 28 and later[-1].start == "2026-03-09T16:45:00.000+08:00"
    assert usecases.search_slots(store, now=NOW, horizon_days=14, department="ent") == []
    assert usecases.doctor_slots(store, DOCTOR_ID, now=NOW, horizon_days=14, service="first_visit",
                                 limit=2)[0].service == "first_visit"
    with pytest.raises(NotFound):
        usecases.doctor_slots(store, "acc_nobody", now=NOW, horizon_days=14)


def test_a_search_range_must_make_sense(store):
    with pytest.raises(InvalidInput) as info:
        usecases.search_slots(store, now=NOW, horizon_days=14, day_from=date(2026, 3, 9), day_to=date(2026, 3, 8))
    assert info.value.errors[0]["field"] == "to"
