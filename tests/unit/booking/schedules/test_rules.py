"""The schedules' pure rules: templates, the slots they yield in local time, what a generation changes, who sees a
schedule, and search ranges."""
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.booking.schemas import ScheduleTemplate
from services.booking.schedules import rules
from tests.unit.booking.clinic import (
    DOCTOR,
    DOCTOR_ID,
    MANAGER,
    MONDAY,
    NOW,
    OTHER_DOCTOR,
    PROFILE,
    ROOM,
    SUNDAY,
    TUESDAY,
    WEEK,
    local,
    on_day,
    services,
    times,
    week_slots,
)
from wenzhen.errors import Forbidden, InvalidInput


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
    bad = ScheduleTemplate.model_validate({"sessions": [
        {"weekday": 3, "start": "08:00", "end": "09:00", "service": "examination"},  # not offered by this doctor
        {"weekday": 4, "start": "08:00", "end": "09:00", "service": "online_video", "room": ROOM},  # online
        {"weekday": 5, "start": "08:00", "end": "09:00", "service": "first_visit", "room": "nowhere"}]})
    assert rules.rooms_named(bad) == {ROOM, "nowhere"}
    with pytest.raises(InvalidInput) as info:
        rules.check_sessions(PROFILE, services(), bad, known_rooms={ROOM})
    assert [e["field"] for e in info.value.errors] == ["sessions.0.service", "sessions.1.room", "sessions.2.room"]
    rules.check_sessions(PROFILE, services(), ScheduleTemplate.model_validate(WEEK), known_rooms={ROOM})


def test_schedules_are_seen_by_managers_and_the_doctor_only():
    rules.require_schedule_reader(MANAGER.principal, DOCTOR_ID)
    rules.require_schedule_reader(DOCTOR.principal, DOCTOR_ID)
    with pytest.raises(Forbidden):
        rules.require_schedule_reader(OTHER_DOCTOR.principal, DOCTOR_ID)


def test_slots_are_cut_from_the_weekly_sessions_in_local_time():
    slots = week_slots()
    monday = on_day(slots, MONDAY)
    assert times(monday)[:3] == ["08:00", "08:15", "08:30"] and times(monday)[15] == "11:45"
    assert len(monday) == 16 + 12  # 08:00–12:00 and 14:00–17:00 in 15-minute slots
    assert monday[0].start == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # stored in UTC
    assert (monday[0].capacity, monday[0].booked, monday[0].free) == (1, 0, 1)
    assert monday[0].room == ROOM and monday[0].department == "urology"
    tuesday = on_day(slots, TUESDAY)
    assert times(tuesday) == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"]
    assert tuesday[0].online is True and tuesday[0].room is None
    assert len(slots) == 2 * (28 + 8)  # two weeks


def test_slot_ids_are_stable():
    first = on_day(week_slots(), MONDAY)[0]
    assert first.id == rules.slot_id(DOCTOR_ID, first.start, "first_visit")
    assert first.id != rules.slot_id(DOCTOR_ID, first.start, "follow_up")
    assert first.id == rules.slot_id(DOCTOR_ID, first.start.astimezone(rules.hospital_zone()), "first_visit")


def test_slots_that_have_begun_are_not_generated():
    assert times(on_day(week_slots(now=local(MONDAY, "10:05")), MONDAY))[:2] == ["10:15", "10:30"]


def test_the_horizon_counts_today_as_its_first_day():
    assert not on_day(week_slots(horizon_days=1), TUESDAY) and on_day(week_slots(horizon_days=2), TUESDAY)
    assert rules.window_end(NOW, 1) == local(TUESDAY, "00:00")


def test_leave_holidays_and_extra_sessions():
    template = {**WEEK, "exceptions": [
        {"kind": "leave", "date": "2026-03-09", "start": "10:00", "end": "11:00"},  # next Monday, one hour
        {"kind": "holiday", "date": "2026-03-03"},  # this Tuesday
        {"kind": "leave", "date": "2026-03-10", "until": "2026-03-10"},  # next Tuesday, whole day
        {"kind": "extra", "date": "2026-03-08", "start": "09:00", "end": "10:00", "service": "follow_up",
         "capacity": 2, "room": ROOM},
    ]}
    slots = week_slots(template)
    next_monday = times(on_day(slots, date(2026, 3, 9)))
    assert "09:45" in next_monday and "10:00" not in next_monday and "10:45" not in next_monday
    assert "11:00" in next_monday and len(next_monday) == 28 - 4
    assert on_day(slots, TUESDAY) == [] and on_day(slots, date(2026, 3, 10)) == []
    sunday = on_day(slots, SUNDAY)
    assert times(sunday) == ["09:00", "09:10", "09:20", "09:30", "09:40", "09:50"]  # follow-ups: 10 minutes
    assert {s.service for s in sunday} == {"follow_up"} and sunday[0].capacity == 2


def test_only_an_active_doctor_s_offered_services_are_wanted():
    template = ScheduleTemplate.model_validate(WEEK)
    assert rules.wanted_slots(replace(PROFILE, active=False), template, services(), NOW, 14) == {}
    assert rules.wanted_slots(PROFILE, None, services(), NOW, 14) == {}
    no_video = rules.wanted_slots(replace(PROFILE, services=("first_visit",)), template, services(), NOW, 14)
    assert {s.service for s in no_video.values()} == {"first_visit"}


def test_a_reconciliation_creates_reopens_resizes_and_closes():
    wanted = week_slots()
    a, b, c, d = sorted(wanted)[:4]
    existing = {b: replace(wanted[b], status="closed"), c: replace(wanted[c], capacity=3, free=3),
                "gone": replace(wanted[d], id="gone"), "closed_gone": replace(wanted[d], id="x", status="closed")}
    plan = rules.reconcile(wanted, existing)
    assert a in {s.id for s in plan.create} and b not in {s.id for s in plan.create}
    assert plan.reopen == [b] and [(have.id, want.capacity) for have, want in plan.resize] == [(c, 1)]
    assert plan.close == ["gone"]  # a closed slot no longer wanted stays closed
    assert rules.reconcile(wanted, dict(wanted)).create == []


def test_regeneration_is_due_when_asked_for_after_the_last_one():
    assert rules.regeneration_due(None, None) is None
    assert rules.regeneration_due(NOW, None) == NOW
    assert rules.regeneration_due(NOW, NOW + timedelta(seconds=1)) is None
    assert rules.regeneration_due(NOW + timedelta(seconds=2), NOW) == NOW + timedelta(seconds=2)


def test_a_search_range_must_make_sense():
    after, before = rules.search_window(NOW, 14, None, None)
    assert (after, before) == (NOW, local(date(2026, 3, 16), "00:00"))
    assert rules.search_window(NOW, 14, date(2026, 3, 9), date(2026, 3, 9)) == (local(date(2026, 3, 9), "00:00"),
                                                                                local(date(2026, 3, 10), "00:00"))
    with pytest.raises(InvalidInput) as info:
        rules.search_window(NOW, 14, date(2026, 3, 9), date(2026, 3, 8))
    assert info.value.errors[0]["field"] == "to"
    with pytest.raises(InvalidInput):
        rules.search_window(NOW, 14, date(2026, 3, 1), date(2026, 9, 1))


def test_a_slot_is_shown_in_local_time():
    shown = rules.to_slot(on_day(week_slots(), MONDAY)[0])
    assert (shown.start, shown.end, shown.free) == ("2026-03-02T08:00:00.000+08:00", "2026-03-02T08:15:00.000+08:00",
                                                    1)
