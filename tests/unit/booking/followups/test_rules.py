"""The follow-up plans' pure rules: due and reminder days, which visit and service, which slots are proposed."""
from dataclasses import replace
from datetime import date, datetime

import pytest

from contracts.booking.schemas import FollowUpRequest, Slot, Status, Visit
from services.booking.appointments.rules import new_appointment
from services.booking.catalogue.rules import service_settings
from services.booking.followups import rules
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    MONDAY,
    NOW,
    PROFILE,
    local,
    on_day,
    week_slots,
)
from wenzhen.errors import Conflict, Forbidden, InvalidInput

SLOT = on_day(week_slots(), MONDAY)[0]
VISIT = replace(new_appointment(appointment_id="apt_1", patient_id="pat_1", slot=SLOT, doctor=PROFILE,
                                settings=service_settings(SLOT.service, {}), kind=Visit.visit, notice=None,
                                status=Status.completed, now=NOW, booked_by="acc_p1", booked_by_role="patient"),
                completed_at=local(MONDAY, "08:20"))


def slot_view(start: str) -> Slot:
    return Slot(id=start, doctor_id="d", department="u", service="follow_up", start=start, end=start, capacity=1,
                free=1, online=False)


def test_the_due_day_counts_from_the_visit_and_the_reminder_comes_days_before_at_nine():
    assert rules.due_dates(MONDAY, 7, 3, NOW) == (date(2026, 3, 9), date(2026, 3, 6), local(date(2026, 3, 6), "09:00"))
    assert rules.due_dates(MONDAY, 2, 3, NOW) == (date(2026, 3, 4), date(2026, 3, 2), NOW)  # passed already: now
    planned = rules.new_plan("fup_1", VISIT, FollowUpRequest(after_weeks=1), 3, "acc_doc1", NOW)
    assert (planned.due_date, planned.remind_on, planned.service, planned.doctor_id) == (
        "2026-03-09", "2026-03-06", "follow_up", "acc_doc1")


def test_only_the_doctor_plans_a_follow_up_of_a_completed_in_person_visit():
    rules.require_planner(DOCTOR.principal)
    with pytest.raises(Forbidden):
        rules.require_planner(CONSULTANT.principal)
    rules.require_followable(VISIT)
    for visit in (replace(VISIT, status=Status.checked_in), replace(VISIT, online=True)):
        with pytest.raises(Conflict):
            rules.require_followable(visit)


def test_a_follow_up_service_the_doctor_offers():
    rules.require_follow_up_service(FollowUpRequest(after_days=7, service="online_video"), PROFILE)
    for service, doctor in (("first_visit", PROFILE), ("examination", PROFILE), ("follow_up", None)):
        with pytest.raises(InvalidInput):
            rules.require_follow_up_service(FollowUpRequest(after_days=7, service=service), doctor)


def test_proposals_are_the_free_slots_nearest_the_due_day_earlier_first():
    due = date(2026, 3, 9)
    assert rules.proposal_days(due, NOW) == (date(2026, 3, 6), date(2026, 3, 16))
    assert rules.proposal_days(date(2026, 2, 20), NOW) == (MONDAY, date(2026, 3, 9))  # overdue: the coming week
    slots = [slot_view(s) for s in ("2026-03-07T09:00", "2026-03-10T09:00", "2026-03-11T08:00", "2026-03-08T10:00",
                                    "2026-03-08T09:00")]
    assert [s.start for s in rules.nearest(slots, due)] == ["2026-03-08T09:00", "2026-03-08T10:00",
                                                            "2026-03-10T09:00"]


def test_the_view_is_booked_while_a_follow_up_is():
    planned = rules.new_plan("fup_1", VISIT, FollowUpRequest(after_days=7, note="带化验单"), 3, "acc_doc1", NOW)
    assert rules.to_plan(planned, "apt_9", []).status == "booked"
    shown = rules.to_plan(replace(planned, reminded_at=datetime(2026, 3, 6, 1, 0, tzinfo=NOW.tzinfo)), None,
                          [slot_view("2026-03-10T09:00")])
    assert shown.status == "planned" and shown.note == "带化验单" and shown.reminded_at.startswith("2026-03-06T09:00")
    assert rules.plan_fields(planned)["plan_id"] == "fup_1" and "note" not in rules.plan_fields(planned)
