"""The appointments' pure rules: who books and sees, the visit kind, half-days, fingerprints, cancelling and
check-in windows, which reminder is due, and the view."""
from dataclasses import replace
from datetime import timedelta

import pytest

from contracts.booking.schemas import AppointmentRequest, CheckInRequest, HalfDay, PriorDiagnosis, Status, Visit
from services.booking.appointments import rules
from services.booking.appointments.rules import AppointmentRecord, KnownConsultation
from services.booking.catalogue.rules import service_settings
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    HOUR,
    MANAGER,
    MONDAY,
    NEXT_MONDAY,
    NOW,
    OTHER_CONSULTANT,
    OTHER_DOCTOR,
    OTHER_PATIENT,
    PATIENT,
    PAYMENTS,
    POLICY,
    PROFILE,
    TEAM_LEAD,
    TUESDAY,
    local,
    on_day,
    week_slots,
)
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

SLOTS = week_slots()


def appointment(day=MONDAY, hhmm="08:00", status=Status.confirmed, **changes) -> AppointmentRecord:
    slot = next(s for s in on_day(SLOTS, day) if s.start == local(day, hhmm))
    made = rules.new_appointment(appointment_id="apt_1", patient_id="pat_1", slot=slot, doctor=PROFILE,
                                 settings=service_settings(slot.service, {}), kind=Visit.visit, notice=None,
                                 status=status, now=NOW, booked_by="acc_c1", booked_by_role="consultant")
    return replace(made, **changes)


def request(**fields) -> AppointmentRequest:
    return AppointmentRequest.model_validate({"patient_id": "pat_1", "slot_id": "slot_x", **fields})


# who -----------------------------------------------------------------------------------------------------------------
def test_who_may_book_for_whom():
    rules.require_booker(PATIENT.principal, "pat_kid", known_patient=False)  # a linked relative
    with pytest.raises(NotFound):
        rules.require_booker(PATIENT.principal, "pat_2", known_patient=True)
    rules.require_booker(CONSULTANT.principal, "pat_2", known_patient=True)
    with pytest.raises(NotFound, match="reaches booking"):
        rules.require_booker(TEAM_LEAD.principal, "pat_new", known_patient=False)
    for caller in (DOCTOR, MANAGER):
        with pytest.raises(Forbidden):
            rules.require_booker(caller.principal, "pat_1", known_patient=True)
    with pytest.raises(Forbidden):
        rules.require_consultation_booker(PATIENT.principal, "con_1")
    rules.require_consultation_booker(PATIENT.principal, None)


def test_who_sees_an_appointment():
    booked = appointment()
    assert [rules.sees(c.principal, booked) for c in (PATIENT, DOCTOR, CONSULTANT, TEAM_LEAD)] == [True] * 4
    assert not any(rules.sees(c.principal, booked) for c in (OTHER_PATIENT, OTHER_DOCTOR, OTHER_CONSULTANT, MANAGER,
                                                            PAYMENTS))


def test_who_confirms_reschedules_and_completes():
    assert rules.require_confirmer(PAYMENTS.principal) is True and rules.require_confirmer(TEAM_LEAD.principal) is False
    for caller in (PATIENT, DOCTOR):
        with pytest.raises(Forbidden):
            rules.require_confirmer(caller.principal)
    with pytest.raises(Forbidden):
        rules.require_rescheduler(DOCTOR.principal)
    with pytest.raises(Forbidden):
        rules.require_doctor(CONSULTANT.principal)


def test_keys_from_other_services_are_checked():
    assert rules.require_key("msg_42", "idempotency_key") == "msg_42" and rules.require_key(None, "x") is None
    for bad in ("not a key!", "", "x" * 65, 42):
        with pytest.raises(InvalidInput) as info:
            rules.require_key(bad, "consultation_id")
        assert info.value.errors[0]["field"] == "consultation_id"


# the visit kind ------------------------------------------------------------------------------------------------------
def test_in_person_is_a_visit_and_a_first_online_visit_a_consultation_only():
    assert rules.visit_kind(request(), online=False, prior_visit=None, consultation=None, by_staff=False) == (
        Visit.visit, None)
    kind, notice = rules.visit_kind(request(), online=True, prior_visit=None, consultation=None, by_staff=False)
    assert kind == Visit.consultation_only and notice == rules.FIRST_ONLINE_NOTICE


def test_online_diagnosis_follows_a_completed_in_person_visit():
    follow_up = request(follow_up_of="apt_1")
    with pytest.raises(InvalidInput) as info:
        rules.visit_kind(follow_up, online=True, prior_visit=None, consultation=None, by_staff=False)
    assert info.value.errors[0]["type"] == "unknown"
    for prior in (appointment(), appointment(status=Status.completed, online=True)):
        with pytest.raises(InvalidInput) as info:
            rules.visit_kind(follow_up, online=True, prior_visit=prior, consultation=None, by_staff=False)
        assert info.value.errors[0]["type"] == "state"
    done = appointment(status=Status.completed)
    assert rules.visit_kind(follow_up, online=True, prior_visit=done, consultation=None, by_staff=False)[0] == \
        Visit.online_diagnosis
    with pytest.raises(InvalidInput):  # in person too, the visit followed up must be one
        rules.visit_kind(follow_up, online=False, prior_visit=None, consultation=None, by_staff=False)


def test_evidence_from_a_consultation_or_a_record():
    chat = request(prior_diagnosis={"source": "consultation", "reference": "con_1"})
    eligible = KnownConsultation("pat_1", True)
    assert rules.visit_kind(chat, online=True, prior_visit=None, consultation=eligible, by_staff=False)[0] == \
        Visit.online_diagnosis
    for known in (None, KnownConsultation("pat_1", False), KnownConsultation("pat_2", True)):
        kind, notice = rules.visit_kind(chat, online=True, prior_visit=None, consultation=known, by_staff=False)
        assert kind == Visit.consultation_only and "no prior in-person diagnosis" in notice
    record = request(prior_diagnosis=PriorDiagnosis(source="record", reference="MZ2025-118").model_dump())
    assert rules.visit_kind(record, online=True, prior_visit=None, consultation=None, by_staff=True)[0] == \
        Visit.online_diagnosis
    kind, notice = rules.visit_kind(record, online=True, prior_visit=None, consultation=None, by_staff=False)
    assert kind == Visit.consultation_only and "confirmed by our staff" in notice


def test_an_older_consultation_event_is_not_newer():
    known = KnownConsultation("pat_1", True, sequence=3)
    assert not rules.is_newer_consultation(known, 3) and rules.is_newer_consultation(known, 4)
    assert rules.is_newer_consultation(None, 1) and rules.is_newer_consultation(known, None)


# idempotency, half-days, slots ---------------------------------------------------------------------------------------
def test_a_fingerprint_is_the_request_and_the_consultation():
    assert rules.fingerprint(request(), None) == rules.fingerprint(request(), None)
    assert rules.fingerprint(request(), None) != rules.fingerprint(request(), "con_1")
    assert rules.fingerprint(request(), None) != rules.fingerprint(request(patient_id="pat_2"), None)
    prior = rules.IdempotencyKey(rules.fingerprint(request(), None), "apt_1")
    rules.require_same_request(prior, rules.fingerprint(request(), None))
    with pytest.raises(Conflict) as info:
        rules.require_same_request(prior, rules.fingerprint(request(), "con_1"))
    assert info.value.errors[0]["type"] == "idempotency_mismatch"


def test_a_half_day_request_names_the_service_and_where():
    with pytest.raises(ValueError, match="doctor_id or department"):
        AppointmentRequest.model_validate({"patient_id": "pat_1", "date": "2026-03-02", "half_day": "morning",
                                           "service": "first_visit"})
    with pytest.raises(ValueError, match="either slot_id"):
        AppointmentRequest.model_validate({"patient_id": "pat_1", "slot_id": "slot_x", "date": "2026-03-02",
                                           "half_day": "morning"})


def test_half_days_default_to_ten_and_two_then_the_nearest_earlier_first():
    assert rules.half_day_window(MONDAY, HalfDay.morning) == (local(MONDAY, "00:00"), local(MONDAY, "12:00"))
    assert rules.half_day_window(MONDAY, HalfDay.afternoon) == (local(MONDAY, "12:00"), local(TUESDAY, "00:00"))
    monday = on_day(SLOTS, MONDAY)
    morning = [s for s in monday if s.start < local(MONDAY, "12:00")]
    choices = rules.half_day_choices(morning, MONDAY, HalfDay.morning, NOW)
    assert [c.chosen_time for _, c in choices[:3]] == ["10:00", "09:45", "10:15"]
    assert choices[0][1].exact and "defaults to 10:00" in choices[0][1].note and not choices[1][1].exact
    assert "10:00 was not free" in choices[1][1].note
    assert len(choices) == 16 and len(rules.half_day_choices(morning, MONDAY, HalfDay.morning, NOW, limit=2)) == 2
    late = rules.half_day_choices(morning, MONDAY, HalfDay.morning, local(MONDAY, "11:20"))
    assert [c.chosen_time for _, c in late] == ["11:30", "11:45"]  # what has begun is not offered


def test_why_a_slot_gave_no_place():
    slot = on_day(SLOTS, MONDAY)[0]
    assert rules.gone_reason(None, NOW) == "missing" and rules.gone_reason(slot, NOW) == "full"
    assert rules.gone_reason(replace(slot, status="closed"), NOW) == "closed"
    assert rules.gone_reason(slot, local(MONDAY, "08:00")) == "past"
    assert isinstance(rules.slot_conflict("missing", "slot_id"), NotFound)
    assert rules.slot_conflict("full", "slot_id").errors[0]["type"] == "full"


def test_a_new_appointment_holds_its_place_with_a_fresh_code():
    held = appointment(TUESDAY, "09:00", status=Status.held, hold_expires_at=NOW + POLICY.hold)
    assert held.holds_slot and held.online and held.room is None and held.prepayment and held.confirmed_at is None
    assert appointment().confirmed_at == NOW and appointment().fee_fen == 5000
    assert appointment().checkin_code != appointment().checkin_code


# cancelling and arrival ----------------------------------------------------------------------------------------------
def test_still_open_means_held_or_confirmed_and_not_begun():
    rules.still_open(appointment(), NOW, "cancelled")
    with pytest.raises(Conflict, match="started"):
        rules.still_open(appointment(), local(MONDAY, "08:00"), "cancelled")
    with pytest.raises(Conflict, match="checked_in booking cannot be moved"):
        rules.still_open(appointment(status=Status.checked_in), NOW, "moved")


def test_late_cancellation_by_policy():
    soon, later = appointment(), appointment(NEXT_MONDAY)
    assert rules.cancellation(soon, PATIENT.principal, "patient_request", POLICY, NOW) == (True, False)
    assert rules.cancellation(later, PATIENT.principal, "patient_request", POLICY, NOW) == (False, False)
    assert rules.cancellation(appointment(status=Status.held), PATIENT.principal, "other", POLICY, NOW) == (
        False, False)  # an unpaid hold is never late
    keep = replace(POLICY, late_cancel_policy="keep_fee")
    assert rules.cancellation(soon, PATIENT.principal, "other", keep, NOW) == (True, True)
    assert rules.cancellation(soon, DOCTOR.principal, "doctor_unavailable", keep, NOW) == (True, False)
    refuse = replace(POLICY, late_cancel_policy="refuse")
    with pytest.raises(Conflict, match="Within 24 hours"):
        rules.cancellation(soon, PATIENT.principal, "patient_request", refuse, NOW)
    assert rules.cancellation(soon, TEAM_LEAD.principal, "patient_request", refuse, NOW) == (True, False)


def test_check_in_windows_and_methods():
    booked = appointment()
    at = local(MONDAY, "07:50")
    assert rules.check_in_method(TEAM_LEAD.principal, booked, CheckInRequest(), POLICY, at) == "desk"
    assert rules.check_in_method(TEAM_LEAD.principal, booked, CheckInRequest(code=booked.checkin_code), POLICY,
                                 at) == "qr"
    assert rules.check_in_method(DOCTOR.principal, booked, CheckInRequest(), POLICY, at) == "doctor"
    with pytest.raises(InvalidInput):
        rules.check_in_method(TEAM_LEAD.principal, booked, CheckInRequest(code="x" * 24), POLICY, at)
    with pytest.raises(Forbidden):
        rules.check_in_method(PATIENT.principal, booked, CheckInRequest(), POLICY, at)
    online = appointment(TUESDAY, "09:00")
    assert rules.check_in_method(PATIENT.principal, online, CheckInRequest(), POLICY, local(TUESDAY, "08:58")) == \
        "online"
    with pytest.raises(Conflict, match="opens at 2026-03-02T06:00"):
        rules.check_in_method(TEAM_LEAD.principal, booked, CheckInRequest(), POLICY, local(MONDAY, "05:59"))
    with pytest.raises(Conflict, match="Too late"):
        rules.check_in_method(TEAM_LEAD.principal, booked, CheckInRequest(), POLICY, local(MONDAY, "08:31"))
    with pytest.raises(Conflict, match="waiting for payment"):
        rules.check_in_method(TEAM_LEAD.principal, appointment(status=Status.held), CheckInRequest(), POLICY, at)
    assert rules.shows_code(CheckInRequest(code=booked.checkin_code), booked)
    assert not rules.shows_code(CheckInRequest(), booked)


# reminders -----------------------------------------------------------------------------------------------------------
START = local(NEXT_MONDAY, "08:00")
OFFSETS = (2, 24)


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
    assert rules.reminder_due(START, fixed, reminded, OFFSETS, now) == expected


def test_a_time_is_fixed_when_moved_else_confirmed_else_booked():
    booked = appointment(status=Status.held)
    assert rules.fixed_at(booked) == NOW
    assert rules.fixed_at(replace(booked, confirmed_at=NOW + HOUR)) == NOW + HOUR
    assert rules.fixed_at(replace(booked, confirmed_at=NOW + HOUR, rescheduled_at=NOW + 2 * HOUR)) == NOW + 2 * HOUR


# the view ------------------------------------------------------------------------------------------------------------
def test_the_view_shows_local_times_and_the_qr_code_to_the_patient_only():
    held = appointment(TUESDAY, "09:00", status=Status.held, hold_expires_at=NOW + POLICY.hold)
    mine = rules.to_appointment(held, own=True)
    assert mine.checkin_code == held.checkin_code and mine.hold_expires_at == "2026-03-02T07:10:00.000+08:00"
    assert rules.to_appointment(held, own=False).checkin_code is None
    confirmed = rules.to_appointment(replace(held, status=Status.confirmed), own=True)
    assert confirmed.hold_expires_at is None  # shown only while held
    offered = rules.to_appointment(replace(held, status=Status.offered, offer_expires_at=NOW + timedelta(minutes=30)),
                                   own=True, replayed=True)
    assert offered.offer_expires_at == "2026-03-02T07:30:00.000+08:00" and offered.replayed
    assert rules.staff_booker(held) == "acc_c1" and rules.staff_booker(replace(held, booked_by_role="patient")) is None
