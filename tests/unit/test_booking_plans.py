"""booking's timers and policies with an in-memory store and explicit clocks: follow-up plans (proposals around the
due day, one reminder unless booked), appointment reminders (which one is due when, each once, none for cancelled
or moved-away times) and the configurable late-cancellation policy."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from contracts.booking.events import AppointmentCancelled, AppointmentReminderDue, FollowUpDue, FollowUpPlanned
from contracts.booking.schemas import CancelRequest, CheckInRequest, FollowUpRequest, RescheduleRequest
from services.booking import appointments, followups, reminders
from services.booking.appointments import reminder_offsets
from services.booking.settings import BookingSettings
from tests.fakes import FakeStore
from tests.unit.test_booking_appointments import (
    OTHER_PATIENT,
    PATIENT,
    POLICY,
    book,
    emitted,
    slot,
)
from tests.unit.test_booking_schedules import (
    CONSULTANT,
    DOCTOR,
    KEYS,
    MONDAY,
    NOW,
    OTHER_DOCTOR,
    TEAM_LEAD,
    TUESDAY,
    local,
    world,
)
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound
from wenzhen.storage import AUDIT_LOG

NEXT_MONDAY = MONDAY + timedelta(days=7)
OFFSETS = (2, 24)


@pytest.fixture
def store() -> FakeStore:
    store = world()
    store.unique.setdefault(followups.PLANS, []).extend(i for i in followups.INDEXES if i.unique)
    for patient_id in ("pat_1", "pat_2", "pat_kid"):
        store.transact(lambda tx, p=patient_id: appointments.record_patient(tx, p))
    return store


# follow-up plans -----------------------------------------------------------------------------------------------------
def visit(store, hhmm: str = "08:00", patient=PATIENT, patient_id: str = "pat_1") -> str:
    """A visit on Monday that the patient came to and the doctor completed."""
    appointment = book(store, patient, slot_id=slot(store, hhmm=hhmm), patient_id=patient_id)
    at = local(MONDAY, hhmm)
    appointments.check_in(store, DOCTOR, appointment.id, CheckInRequest(), POLICY, now=at)
    appointments.complete(store, DOCTOR, appointment.id, now=at + timedelta(minutes=20))
    return appointment.id


def plan(store, appointment_id: str, caller=DOCTOR, now=None, **fields):
    body = {"after_days": 7, "service": "online_video", **fields}
    return followups.plan_follow_up(store, KEYS, caller, appointment_id, FollowUpRequest.model_validate(body),
                                    POLICY, now=now or local(MONDAY, "09:00"))


def test_the_doctor_plans_a_follow_up_and_the_nearest_free_slots_are_proposed(store):
    visit_id = visit(store)
    planned = plan(store, visit_id, note="复查尿常规")
    assert (planned.due_date, planned.remind_on, planned.status) == ("2026-03-09", "2026-03-06", "planned")
    assert planned.note == "复查尿常规" and "复查" not in str(store[followups.PLANS].docs[planned.id]["note"])
    # online follow-ups are on Tuesdays: the day after the due Monday, earliest first
    assert [s.start[:16] for s in planned.proposed] == ["2026-03-10T09:00", "2026-03-10T09:15", "2026-03-10T09:30"]
    (event,) = emitted(store, FollowUpPlanned)
    assert (event.plan_id, event.appointment_id, event.due_date, event.remind_on) == (
        planned.id, visit_id, "2026-03-09", "2026-03-06")
    assert not hasattr(event, "note")  # events carry no free text
    with pytest.raises(Conflict, match="already"):
        plan(store, visit_id, after_weeks=2, after_days=None)
    entry = next(e for e in store[AUDIT_LOG].docs.values() if e["subtype"] == "follow-up" and e["action"] == "C")
    assert (entry["entity_type"], entry["patient_id"]) == ("CarePlan", "pat_1")


def test_a_far_due_day_is_proposed_nothing_until_its_slots_open(store):
    planned = plan(store, visit(store), after_weeks=4, after_days=None)
    assert planned.due_date == "2026-03-30" and planned.proposed == []  # beyond the 14-day horizon


def test_only_the_doctor_of_a_completed_in_person_visit_plans(store):
    not_yet = book(store, slot_id=slot(store, hhmm="09:00"))
    with pytest.raises(Conflict, match="completed in-person"):
        plan(store, not_yet.id)
    visit_id = visit(store)
    with pytest.raises(NotFound):
        plan(store, visit_id, caller=OTHER_DOCTOR)
    with pytest.raises(Forbidden):
        plan(store, visit_id, caller=CONSULTANT)
    with pytest.raises(InvalidInput) as info:
        plan(store, visit_id, service="first_visit")
    assert info.value.errors[0]["field"] == "service"
    with pytest.raises(ValueError, match="after_days or after_weeks"):
        FollowUpRequest.model_validate({"after_days": 3, "after_weeks": 1})


def test_the_follow_up_reminder_comes_once_unless_the_follow_up_is_booked(store):
    reminded = plan(store, visit(store))
    booked_plan = plan(store, visit(store, "08:15", OTHER_PATIENT, "pat_2"))
    follow_up = book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, TUESDAY, "09:00"),
                     follow_up_of=booked_plan.appointment_id)
    assert follow_up.kind == "online_diagnosis"
    remind_at = local(date(2026, 3, 6), "09:00")
    assert followups.remind_due(store, remind_at - timedelta(minutes=1)) == 0
    assert followups.remind_due(store, remind_at) == 1
    assert followups.remind_due(store, remind_at + timedelta(hours=1)) == 0  # once
    (due,) = emitted(store, FollowUpDue)
    assert (due.plan_id, due.patient_id, due.due_date, due.department) == (reminded.id, "pat_1", "2026-03-09",
                                                                            "urology")
    (listed,) = followups.list_plans(store, KEYS, OTHER_PATIENT, patient_id="pat_2", now=NOW)
    assert listed.status == "booked" and listed.booked_appointment_id == follow_up.id and listed.proposed == []
    appointments.cancel(store, OTHER_PATIENT, follow_up.id, CancelRequest(), POLICY, now=NOW)
    (reopened,) = followups.list_plans(store, KEYS, OTHER_PATIENT, patient_id="pat_2", now=NOW)
    assert reopened.status == "planned" and reopened.proposed  # a cancelled follow-up opens the plan again


def test_a_near_due_day_is_reminded_at_once(store):
    planned = plan(store, visit(store), after_days=2, now=local(MONDAY, "09:00"))
    assert (planned.due_date, planned.remind_on) == ("2026-03-04", "2026-03-02")  # 3 days before: passed already
    assert followups.remind_due(store, local(MONDAY, "09:00")) == 1


def test_who_sees_follow_up_plans(store):
    planned = plan(store, visit(store))
    assert [p.id for p in followups.list_plans(store, KEYS, PATIENT, patient_id="pat_1", now=NOW)] == [planned.id]
    with pytest.raises(NotFound):
        followups.list_plans(store, KEYS, OTHER_PATIENT, patient_id="pat_1", now=NOW)
    assert [p.id for p in followups.list_plans(store, KEYS, DOCTOR, now=NOW)] == [planned.id]
    assert followups.list_plans(store, KEYS, OTHER_DOCTOR, now=NOW) == []
    with pytest.raises(InvalidInput):
        followups.list_plans(store, KEYS, CONSULTANT, now=NOW)
    assert len(followups.list_plans(store, KEYS, TEAM_LEAD, patient_id="pat_1", now=NOW)) == 1
    reads = [e for e in store[AUDIT_LOG].docs.values() if e["entity_type"] == "CarePlan" and e["action"] == "R"]
    assert len(reads) == 3 and all(e["patient_id"] == "pat_1" for e in reads)


# appointment reminders -----------------------------------------------------------------------------------------------
START = local(NEXT_MONDAY, "08:00")
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("fixed", "now", "reminded", "expected"), [
    (START - 48 * HOUR, START - 25 * HOUR, {}, (None, [])),  # not yet
    (START - 48 * HOUR, START - 24 * HOUR, {}, (24, [24])),
    (START - 48 * HOUR, START - 3 * HOUR, {"h24": {}}, (None, [])),  # the 24-hour one was sent
    (START - 48 * HOUR, START - 2 * HOUR, {"h24": {}}, (2, [2])),
    (START - 48 * HOUR, START - HOUR, {}, (2, [2, 24])),  # found late: only the nearest
    (START - 3 * HOUR, START - 3 * HOUR, {}, (None, [24])),  # booked 3 hours ahead: no 24-hour reminder …
    (START - 3 * HOUR, START - 2 * HOUR, {"h24": {}}, (2, [2])),  # … but the 2-hour one
    (START - 48 * HOUR, START, {}, (None, [])),  # started
])
def test_which_reminder_is_due(fixed, now, reminded, expected):
    assert reminders.reminder_due(START, fixed, reminded, OFFSETS, now) == expected


def test_reminder_offsets_come_from_the_settings():
    assert reminder_offsets("24,2") == (2, 24) and reminder_offsets(" 48 ") == (48,) and reminder_offsets("") == ()
    for bad in ("0", "x", "2,2", "200", "1.5"):
        with pytest.raises(InvalidInput) as info:
            reminder_offsets(bad)
        assert info.value.errors[0]["field"] == "REMINDER_OFFSETS_HOURS"
    policy = BookingSettings(reminder_offsets_hours="12,1", offer_minutes=15).policy
    assert policy.reminder_offsets == (1, 12) and policy.offer == timedelta(minutes=15)
    with pytest.raises(InvalidInput):
        BookingSettings(offer_minutes=0).check()


def test_each_reminder_is_emitted_once_for_confirmed_appointments_only(store):
    kept = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    dropped = book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, NEXT_MONDAY, "08:15"))
    unpaid = book(store, slot_id=slot(store, date(2026, 3, 10), "09:00"))  # held until paid: no reminder
    appointments.cancel(store, OTHER_PATIENT, dropped.id, CancelRequest(), POLICY, now=NOW)
    assert reminders.send_due_reminders(store, OFFSETS, START - 24 * HOUR - timedelta(minutes=1)) == 0
    assert reminders.send_due_reminders(store, OFFSETS, START - 24 * HOUR) == 1
    assert reminders.send_due_reminders(store, OFFSETS, START - 23 * HOUR) == 0  # once
    assert reminders.send_due_reminders(store, OFFSETS, START - 2 * HOUR) == 1
    assert reminders.send_due_reminders(store, OFFSETS, START - HOUR) == 0
    first, second = emitted(store, AppointmentReminderDue)
    assert (first.appointment_id, first.hours_before, second.hours_before) == (kept.id, 24, 2)
    assert first.start == "2026-03-09T00:00:00.000Z" and first.room == "op3_12" and not first.online
    assert unpaid.status == "held"
    assert store[appointments.APPOINTMENTS].docs[kept.id]["reminded"]["h2"]["sent"] is True


def test_a_moved_appointment_is_reminded_for_its_new_time(store):
    booked = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    assert reminders.send_due_reminders(store, OFFSETS, START - 24 * HOUR) == 1
    moved_at = START - 23 * HOUR
    appointments.reschedule(store, PATIENT, booked.id, RescheduleRequest(slot_id=slot(store, NEXT_MONDAY, "11:00")),
                            now=moved_at, policy=POLICY)
    new_start = local(NEXT_MONDAY, "11:00")
    assert reminders.send_due_reminders(store, OFFSETS, new_start - 24 * HOUR) == 1  # the new time's 24-hour one
    assert [e.start for e in emitted(store, AppointmentReminderDue)] == ["2026-03-09T00:00:00.000Z",
                                                                          "2026-03-09T03:00:00.000Z"]


# the late-cancellation policy ----------------------------------------------------------------------------------------
def test_the_late_cancellation_policy(store):
    refuse, keep_fee = replace(POLICY, late_cancel_policy="refuse"), replace(POLICY, late_cancel_policy="keep_fee")
    soon = book(store, slot_id=slot(store))  # one hour ahead: inside the 24-hour window
    with pytest.raises(Conflict) as info:
        appointments.cancel(store, PATIENT, soon.id, CancelRequest(), refuse, now=NOW)
    assert info.value.errors[0]["type"] == "late"
    assert appointments.cancel(store, TEAM_LEAD, soon.id, CancelRequest(), refuse, now=NOW).late_cancel is True
    kept = book(store, slot_id=slot(store, hhmm="08:15"))
    done = appointments.cancel(store, PATIENT, kept.id, CancelRequest(), keep_fee, now=NOW)
    assert done.late_cancel and done.fee_kept
    doctor_off = book(store, slot_id=slot(store, hhmm="08:30"))
    assert appointments.cancel(store, DOCTOR, doctor_off.id, CancelRequest(reason="doctor_unavailable"), keep_fee,
                               now=NOW).fee_kept is False
    early = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    assert appointments.cancel(store, PATIENT, early.id, CancelRequest(), refuse, now=NOW).late_cancel is False
    assert [e.fee_kept for e in emitted(store, AppointmentCancelled)] == [False, True, False, False]
    with pytest.raises(InvalidInput) as info:
        BookingSettings(late_cancel_policy="sometimes").check()
    assert info.value.errors[0]["field"] == "BOOKING_LATE_CANCEL_POLICY"
