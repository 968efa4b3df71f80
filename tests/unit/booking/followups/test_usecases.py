"""The follow-up plans' use cases over an in-memory store: the doctor of a completed in-person visit plans, the
nearest free slots are proposed, one reminder unless a follow-up is booked, and who sees the plans."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from contracts.booking.events import FollowUpDue, FollowUpPlanned
from contracts.booking.schemas import FollowUpRequest, Status, Visit
from services.booking.appointments import rules as appointment_rules
from services.booking.catalogue.rules import service_settings
from services.booking.followups import usecases
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    DOCTOR_ID,
    MANAGER,
    MONDAY,
    NOW,
    OTHER_DOCTOR,
    OTHER_PATIENT,
    PATIENT,
    POLICY,
    PROFILE,
    TEAM_LEAD,
    TUESDAY,
    local,
    on_day,
    week_slots,
)
from tests.unit.booking.followups.fakes import FakeFollowUpStore
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound


@pytest.fixture
def store() -> FakeFollowUpStore:
    return FakeFollowUpStore(slots=week_slots(), doctors={DOCTOR_ID: PROFILE})


def appointment(store, day=MONDAY, hhmm="08:00", patient_id="pat_1", status=Status.completed, **changes):
    slot = next(s for s in on_day(store.slots, day) if s.start == local(day, hhmm))
    made = appointment_rules.new_appointment(
        appointment_id=f"apt_{patient_id}_{day.day}_{hhmm.replace(':', '')}", patient_id=patient_id, slot=slot,
        doctor=PROFILE, settings=service_settings(slot.service, {}), kind=Visit.visit, notice=None, status=status,
        now=NOW, booked_by="acc_p1", booked_by_role="patient")
    store.appointments[made.id] = replace(made, completed_at=local(day, hhmm) + timedelta(minutes=20)
                                          if status == Status.completed else None, **changes)
    return store.appointments[made.id]


def plan(store, appointment_id: str, caller=DOCTOR, now=None, **fields):
    body = {"after_days": 7, "service": "online_video", **fields}
    return usecases.plan_follow_up(store, caller, appointment_id, FollowUpRequest.model_validate(body), POLICY,
                                   now or local(MONDAY, "09:00"))


def listed(store, caller, **filters):
    return usecases.list_plans(store, caller, now=NOW, horizon_days=14, **filters)


def emitted(store, *types) -> list:
    return [e for _, e in store.emitted if isinstance(e, types)]


def test_the_doctor_plans_a_follow_up_and_the_nearest_free_slots_are_proposed(store):
    visit = appointment(store)
    planned = plan(store, visit.id, note="复查尿常规")
    assert (planned.due_date, planned.remind_on, planned.status) == ("2026-03-09", "2026-03-06", "planned")
    assert planned.note == "复查尿常规" and store.plans_[planned.id].remind_at == local(date(2026, 3, 6), "09:00")
    # online follow-ups are on Tuesdays: the day after the due Monday, earliest first
    assert [s.start[:16] for s in planned.proposed] == ["2026-03-10T09:00", "2026-03-10T09:15", "2026-03-10T09:30"]
    (event,) = emitted(store, FollowUpPlanned)
    assert (event.plan_id, event.appointment_id, event.due_date, event.remind_on) == (
        planned.id, visit.id, "2026-03-09", "2026-03-06")
    assert not hasattr(event, "note")  # events carry no free text
    with pytest.raises(Conflict, match="already"):
        plan(store, visit.id, after_weeks=2, after_days=None)
    (entry,) = [e for e in store.audited if e["subtype"] == "follow-up" and e["action"] == "C"]
    assert (entry["entity_type"], entry["patient_id"], entry["detail"]) == ("CarePlan", "pat_1", "7 days")


def test_a_far_due_day_is_proposed_nothing_until_its_slots_open(store):
    planned = plan(store, appointment(store).id, after_weeks=4, after_days=None)
    assert planned.due_date == "2026-03-30" and planned.proposed == []  # beyond the 14-day horizon


def test_only_the_doctor_of_a_completed_in_person_visit_plans(store):
    not_yet = appointment(store, hhmm="09:00", status=Status.confirmed)
    with pytest.raises(Conflict, match="completed in-person"):
        plan(store, not_yet.id)
    online = appointment(store, TUESDAY, "09:00")
    with pytest.raises(Conflict, match="completed in-person") as info:
        plan(store, online.id)
    assert "(online)" in info.value.errors[0]["message"]
    visit = appointment(store)
    with pytest.raises(NotFound):
        plan(store, visit.id, caller=OTHER_DOCTOR)
    with pytest.raises(NotFound):
        plan(store, "apt_nope")
    assert [e["outcome"] for e in store.audited] == ["denied", "denied"]
    with pytest.raises(Forbidden):
        plan(store, visit.id, caller=CONSULTANT)
    with pytest.raises(InvalidInput) as info:
        plan(store, visit.id, service="first_visit")
    assert info.value.errors[0]["field"] == "service"
    with pytest.raises(InvalidInput):
        plan(store, visit.id, service="examination")  # not offered by this doctor
    with pytest.raises(ValueError, match="after_days or after_weeks"):
        FollowUpRequest.model_validate({"after_days": 3, "after_weeks": 1})


def test_the_follow_up_reminder_comes_once_unless_the_follow_up_is_booked(store):
    reminded = plan(store, appointment(store).id)
    booked_plan = plan(store, appointment(store, hhmm="08:15", patient_id="pat_2").id)
    follow_up = appointment(store, TUESDAY, "09:00", patient_id="pat_2", status=Status.confirmed,
                            follow_up_of=booked_plan.appointment_id)
    remind_at = local(date(2026, 3, 6), "09:00")
    assert usecases.remind_due(store, remind_at - timedelta(minutes=1)) == 0
    assert usecases.remind_due(store, remind_at) == 1
    assert usecases.remind_due(store, remind_at + timedelta(hours=1)) == 0  # once
    (due,) = emitted(store, FollowUpDue)
    assert (due.plan_id, due.patient_id, due.due_date, due.department) == (reminded.id, "pat_1", "2026-03-09",
                                                                            "urology")
    assert (store.plans_[reminded.id].reminder, store.plans_[booked_plan.id].reminder) == ("sent", "booked_already")
    (shown,) = listed(store, OTHER_PATIENT, patient_id="pat_2")
    assert shown.status == "booked" and shown.booked_appointment_id == follow_up.id and shown.proposed == []
    assert shown.reminded_at is not None
    store.appointments[follow_up.id] = replace(follow_up, status=Status.cancelled)
    (reopened,) = listed(store, OTHER_PATIENT, patient_id="pat_2")
    assert reopened.status == "planned" and reopened.proposed  # a cancelled follow-up opens the plan again


def test_a_near_due_day_is_reminded_at_once(store):
    planned = plan(store, appointment(store).id, after_days=2, now=local(MONDAY, "09:00"))
    assert (planned.due_date, planned.remind_on) == ("2026-03-04", "2026-03-02")  # 3 days before: passed already
    assert usecases.remind_due(store, local(MONDAY, "09:00")) == 1


def test_who_sees_follow_up_plans(store):
    planned = plan(store, appointment(store).id)
    assert [p.id for p in listed(store, PATIENT, patient_id="pat_1")] == [planned.id]
    for named in ("pat_1", None):  # a record the account does not act for, or none: 404
        with pytest.raises(NotFound):
            listed(store, OTHER_PATIENT, patient_id=named)
    assert [p.id for p in listed(store, DOCTOR)] == [planned.id]
    assert listed(store, OTHER_DOCTOR) == []
    with pytest.raises(Forbidden, match="A doctor lists their own schedule"):  # before: a 404
        listed(store, OTHER_DOCTOR, doctor_id=DOCTOR_ID)
    for desk in (CONSULTANT, TEAM_LEAD):
        with pytest.raises(InvalidInput):
            listed(store, desk, doctor_id=DOCTOR_ID)  # the desk names a patient
    assert len(listed(store, TEAM_LEAD, patient_id="pat_1")) == 1
    assert len(listed(store, CONSULTANT, patient_id="pat_1")) == 1
    with pytest.raises(Forbidden):
        listed(store, MANAGER, patient_id="pat_1")
    reads = [e for e in store.audited if e["entity_type"] == "CarePlan" and e["action"] == "R"]
    assert len(reads) == 4 and all(e["patient_id"] == "pat_1" for e in reads)


# a follow-up advised in a signed report (records' report_signed) --------------------------------------------------
BOOKING = appointment_rules.SYSTEM


def test_a_reports_advice_plans_a_completed_visits_follow_up_once(store):
    visit = appointment(store)
    store.transact(lambda tx: usecases.advised(store, tx, BOOKING, visit.id, 28, DOCTOR_ID, 2, POLICY, NOW))
    [planned] = emitted(store, FollowUpPlanned)
    assert planned.appointment_id == visit.id and planned.service == "follow_up"
    assert planned.due_date == (local(MONDAY, "08:20").date() + timedelta(days=28)).isoformat()
    store.transact(lambda tx: usecases.advised(store, tx, BOOKING, visit.id, 14, DOCTOR_ID, 3, POLICY, NOW))
    assert len(emitted(store, FollowUpPlanned)) == 1  # the visit's plan exists: an amendment's advice adds none


def test_advice_before_the_visit_completes_waits_for_it(store):
    visit = appointment(store, status=Status.checked_in)
    store.transact(lambda tx: usecases.advised(store, tx, BOOKING, visit.id, 28, DOCTOR_ID, 2, POLICY, NOW))
    assert emitted(store, FollowUpPlanned) == []
    store.transact(lambda tx: usecases.visit_completed(store, tx, BOOKING, "apt_other", POLICY, NOW))
    assert emitted(store, FollowUpPlanned) == []
    store.appointments[visit.id] = replace(visit, status=Status.completed, completed_at=NOW)
    store.transact(lambda tx: usecases.visit_completed(store, tx, BOOKING, visit.id, POLICY, NOW))
    assert [p.appointment_id for p in emitted(store, FollowUpPlanned)] == [visit.id]
    assert store.audited[-1]["detail"] == "28 days, from the signed report"


def test_an_online_visit_or_a_doctor_without_follow_up_services_gets_no_plan_from_advice(store):
    online = appointment(store, online=True)
    store.transact(lambda tx: usecases.advised(store, tx, BOOKING, online.id, 28, DOCTOR_ID, 2, POLICY, NOW))
    store.doctors[DOCTOR_ID] = replace(PROFILE, services=("first_visit",))
    visit = appointment(store, hhmm="08:15")
    store.transact(lambda tx: usecases.advised(store, tx, BOOKING, visit.id, 28, DOCTOR_ID, 2, POLICY, NOW))
    assert emitted(store, FollowUpPlanned) == []
