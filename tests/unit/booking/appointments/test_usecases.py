"""The appointments' use cases over an in-memory store: capacity by conditional updates, idempotency, half-days,
holds and their expiry, cancelling (and the late-cancellation policy), atomic rescheduling, the online follow-up rule,
arrival, reminders, reading and listing, each with what it emits and audits. The conditional update racing another
transaction needs MongoDB: tests/integration/test_booking.py."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from contracts.booking.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentConfirmed,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    SlotHeld,
    SlotReleased,
)
from contracts.booking.schemas import AppointmentRequest, CancelRequest, CheckInRequest, RescheduleRequest, Status
from services.booking.appointments import usecases
from tests.unit.booking.appointments.fakes import FakeAppointmentStore
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    DOCTOR_ID,
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

OFFSETS = (2, 24)


@pytest.fixture
def store() -> FakeAppointmentStore:
    return FakeAppointmentStore(slots=week_slots(), doctors={DOCTOR_ID: PROFILE}, patients={"pat_1", "pat_2",
                                                                                            "pat_kid"})


def slot(store, day: date = MONDAY, hhmm: str = "08:00") -> str:
    return next(s.id for s in on_day(store.slots, day) if s.start == local(day, hhmm))


def request(slot_id: str | None = None, patient_id: str = "pat_1", **fields) -> AppointmentRequest:
    return AppointmentRequest.model_validate({"patient_id": patient_id, "slot_id": slot_id, **fields})


def book(store, caller=PATIENT, slot_id=None, now=NOW, key=None, policy=POLICY, **fields):
    return usecases.book(store, caller, request(slot_id, **fields), policy, now, idempotency_key=key)


def cancel(store, caller, appointment_id, now=NOW, policy=POLICY, **fields):
    return usecases.cancel(store, caller, appointment_id, CancelRequest(**fields), policy, now)


def check_in(store, caller, appointment_id, now, code=None):
    return usecases.check_in(store, caller, appointment_id, CheckInRequest(code=code), POLICY, now)


def reschedule(store, caller, appointment_id, now=NOW, **fields):
    return usecases.reschedule(store, caller, appointment_id, RescheduleRequest(**fields), POLICY, now)


def emitted(store, *types) -> list:
    return [e for _, e in store.emitted if not types or isinstance(e, types)]


# booking -------------------------------------------------------------------------------------------------------------
def test_a_first_visit_is_confirmed_at_once_and_takes_the_place(store):
    sid = slot(store)
    appointment = book(store, slot_id=sid)
    assert appointment.status == "confirmed" and appointment.kind == "visit" and appointment.notice is None
    assert appointment.start == "2026-03-02T08:00:00.000+08:00" and appointment.end == "2026-03-02T08:15:00.000+08:00"
    assert appointment.fee_fen == 5000 and not appointment.prepayment and appointment.room == "op3_12"
    assert appointment.checkin_code  # the patient's own view carries the QR code
    assert store.counters(sid) == (1, 0)
    held, booked, confirmed = emitted(store, SlotHeld, AppointmentBooked, AppointmentConfirmed)
    assert held.slot_id == sid and held.booked == 1 and held.start == "2026-03-02T00:00:00.000Z"
    assert booked.patient_id == "pat_1" and booked.status == "confirmed" and booked.booked_by is None
    assert confirmed.by == "no_prepayment"
    (entry,) = [e for e in store.audited if e["entity_type"] == "Appointment"]
    assert (entry["action"], entry["subtype"], entry["patient_id"]) == ("C", "book", "pat_1")


def test_a_full_slot_refuses_the_next_booking(store):
    sid = slot(store)
    book(store, slot_id=sid)
    with pytest.raises(Conflict) as info:
        book(store, OTHER_PATIENT, slot_id=sid, patient_id="pat_2")
    assert info.value.errors[0] == {"field": "slot_id", "message": "The slot is fully booked; choose another.",
                                    "type": "full"}
    assert store.counters(sid) == (1, 0) and len(store.records) == 1


def test_a_slot_with_capacity_three_takes_three(store):
    sid = slot(store)
    store.set_slot(sid, capacity=3, free=3)
    for patient_id in ("pat_1", "pat_2", "pat_kid"):
        book(store, CONSULTANT, slot_id=sid, patient_id=patient_id)
    store.transact(lambda tx: usecases.record_patient(store, tx, "pat_4", NOW))
    with pytest.raises(Conflict):
        book(store, CONSULTANT, slot_id=sid, patient_id="pat_4")
    assert store.counters(sid) == (3, 0)


def test_one_patient_holds_one_place_per_slot(store):
    sid = slot(store)
    store.set_slot(sid, capacity=2, free=2)
    book(store, slot_id=sid)
    with pytest.raises(Conflict) as info:
        book(store, slot_id=sid)
    assert info.value.errors[0]["type"] == "duplicate"
    assert store.counters(sid) == (1, 1)  # the second place was given back with the rollback


def test_closed_past_and_unknown_slots(store):
    sid = slot(store)
    store.set_slot(sid, status="closed")
    with pytest.raises(Conflict, match="no longer offered"):
        book(store, slot_id=sid)
    with pytest.raises(Conflict, match="started or passed"):
        book(store, slot_id=slot(store, hhmm="08:15"), now=local(MONDAY, "08:20"))
    with pytest.raises(NotFound):
        book(store, slot_id="slot_nope")
    with pytest.raises(InvalidInput) as info:
        book(store, slot_id=slot(store, hhmm="08:30"), service="follow_up")
    assert info.value.errors[0]["field"] == "service"


def test_who_may_book_for_whom(store):
    sid = slot(store)
    with pytest.raises(NotFound):
        book(store, PATIENT, slot_id=sid, patient_id="pat_2")  # not a record this account acts for
    with pytest.raises(Forbidden):
        book(store, DOCTOR, slot_id=sid)
    with pytest.raises(Forbidden):
        book(store, MANAGER, slot_id=sid)
    with pytest.raises(NotFound, match="reaches booking"):
        book(store, CONSULTANT, slot_id=sid, patient_id="pat_unregistered")
    assert book(store, PATIENT, slot_id=sid, patient_id="pat_kid").patient_id == "pat_kid"  # a linked relative
    by_staff = book(store, TEAM_LEAD, slot_id=slot(store, hhmm="08:15"), patient_id="pat_2")
    assert by_staff.booked_by_role == "team_lead" and by_staff.checkin_code is None  # the QR is the patient's
    assert emitted(store, AppointmentBooked)[-1].booked_by == "acc_t1"


def test_only_the_desk_books_from_a_consultation(store):
    made = usecases.book(store, CONSULTANT, request(slot(store)), POLICY, NOW, consultation_id="con_7")
    assert made.consultation_id == "con_7" and emitted(store, AppointmentBooked)[0].consultation_id == "con_7"
    with pytest.raises(Forbidden):
        usecases.book(store, PATIENT, request(slot(store, hhmm="08:15")), POLICY, NOW, consultation_id="con_7")


# idempotency ---------------------------------------------------------------------------------------------------------
def test_a_retried_request_returns_the_first_result(store):
    sid = slot(store)
    first = book(store, slot_id=sid, key="k-1")
    again = book(store, slot_id=sid, key="k-1")
    assert again.id == first.id and again.replayed and not first.replayed
    assert len(store.records) == 1 and store.counters(sid) == (1, 0)
    assert len(emitted(store, AppointmentBooked)) == 1
    assert store.audited[-1]["subtype"] == "replay"
    with pytest.raises(Conflict) as info:
        book(store, slot_id=slot(store, hhmm="08:15"), key="k-1")
    assert info.value.errors[0]["field"] == "Idempotency-Key"
    other_account = book(store, CONSULTANT, slot_id=slot(store, hhmm="08:15"), key="k-1")  # keys are per account
    assert other_account.id != first.id


def test_a_request_that_raced_itself_answers_the_winner(store, monkeypatch):
    """Two deliveries of one request both looked the key up before either committed: the second collides on the
    unique (account, key) index, its transaction (and the place it took) is rolled back, and it answers the first."""
    sid = slot(store)
    store.set_slot(sid, capacity=2, free=2)
    first = book(store, slot_id=sid, key="race")
    looks = []
    real = store.idempotency_key

    def look(*args):
        looks.append(args)
        return None if len(looks) == 1 else real(*args)  # the first look missed the winner

    monkeypatch.setattr(store, "idempotency_key", look)
    second = book(store, slot_id=sid, key="race")
    assert len(looks) == 2 and second.id == first.id and second.replayed
    assert store.counters(sid) == (1, 1) and len(store.records) == 1


def test_a_key_whose_winner_vanished_is_in_progress(store, monkeypatch):
    book(store, slot_id=slot(store), key="gone")
    monkeypatch.setattr(store, "idempotency_key", lambda *args: None)  # expired between the collision and the look
    with pytest.raises(Conflict) as info:
        book(store, slot_id=slot(store, hhmm="08:15"), key="gone")
    assert info.value.errors[0]["type"] == "in_progress"


# half-days -----------------------------------------------------------------------------------------------------------
def half(day: date, which: str, **fields) -> dict:
    return {"date": day.isoformat(), "half_day": which, "service": "first_visit", "doctor_id": DOCTOR_ID, **fields}


def test_a_morning_defaults_to_ten_and_an_afternoon_to_two(store):
    morning = book(store, **half(MONDAY, "morning"))
    assert morning.start == "2026-03-02T10:00:00.000+08:00"
    assert morning.half_day.exact and morning.half_day.default_time == "10:00"
    afternoon = book(store, OTHER_PATIENT, patient_id="pat_2", **half(MONDAY, "afternoon"))
    assert afternoon.start == "2026-03-02T14:00:00.000+08:00" and afternoon.half_day.chosen_time == "14:00"


def test_a_taken_default_time_gives_the_nearest_free_one_and_says_so(store):
    book(store, **half(MONDAY, "morning"))  # 10:00
    second = book(store, OTHER_PATIENT, patient_id="pat_2", **half(MONDAY, "morning"))
    assert second.half_day.chosen_time == "09:45" and not second.half_day.exact  # ties: the earlier
    assert "10:00 was not free" in second.half_day.note
    third = book(store, PATIENT, patient_id="pat_kid", **half(MONDAY, "morning"))
    assert third.half_day.chosen_time == "10:15"


def test_a_half_day_by_department_and_a_full_half_day(store):
    by_department = book(store, **half(MONDAY, "morning", doctor_id=None, department="urology"))
    assert by_department.doctor_id == DOCTOR_ID and by_department.start.endswith("10:00:00.000+08:00")
    for s in on_day(store.slots, MONDAY):
        store.set_slot(s.id, free=0)
    with pytest.raises(Conflict) as info:
        book(store, OTHER_PATIENT, patient_id="pat_2", **half(MONDAY, "afternoon"))
    assert info.value.errors[0]["field"] == "half_day"


def test_a_half_day_slot_taken_meanwhile_gives_the_next_nearest(store, monkeypatch):
    real = store.take_place
    taken = []

    def raced(tx, slot_id, now):
        if not taken:  # someone took 10:00 between the search and the transaction
            taken.append(slot_id)
            store.set_slot(slot_id, free=0)
        return real(tx, slot_id, now)

    monkeypatch.setattr(store, "take_place", raced)
    assert book(store, **half(MONDAY, "morning")).half_day.chosen_time == "09:45"


# online visits and holds ---------------------------------------------------------------------------------------------
def test_a_first_online_visit_is_a_consultation_only_and_held_until_paid(store):
    appointment = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    assert appointment.kind == "consultation_only" and "consultation only" in appointment.notice
    assert appointment.status == "held" and appointment.prepayment and appointment.online and appointment.room is None
    assert appointment.hold_expires_at == "2026-03-02T07:10:00.000+08:00"
    (booked,) = emitted(store, AppointmentBooked)
    assert booked.status == "held" and booked.hold_expires_at == "2026-03-01T23:10:00.000Z" and booked.fee_fen == 5000
    assert not emitted(store, AppointmentConfirmed)


def test_online_diagnosis_needs_a_prior_in_person_diagnosis(store):
    visit = book(store, slot_id=slot(store))
    with pytest.raises(InvalidInput) as info:  # the visit has not happened yet
        book(store, slot_id=slot(store, TUESDAY, "09:00"), follow_up_of=visit.id)
    assert info.value.errors[0]["field"] == "follow_up_of"
    store.set_appointment(visit.id, status=Status.completed)
    follow_up = book(store, slot_id=slot(store, TUESDAY, "09:00"), follow_up_of=visit.id)
    assert follow_up.kind == "online_diagnosis" and follow_up.notice is None
    with pytest.raises(InvalidInput):  # another patient's visit is no evidence
        book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, TUESDAY, "09:15"), follow_up_of=visit.id)


def test_evidence_from_a_consultation_or_a_record(store):
    store.transact(lambda tx: usecases.record_consultation(store, tx, "con_1", "pat_1", True, 3, NOW))
    store.transact(lambda tx: usecases.record_consultation(store, tx, "con_2", "pat_1", False, 3, NOW))
    store.transact(lambda tx: usecases.record_consultation(store, tx, "con_2", "pat_1", True, 2, NOW))  # older
    from_chat = book(store, slot_id=slot(store, TUESDAY, "09:00"),
                     prior_diagnosis={"source": "consultation", "reference": "con_1"})
    assert from_chat.kind == "online_diagnosis"
    not_eligible = book(store, slot_id=slot(store, TUESDAY, "09:15"),
                        prior_diagnosis={"source": "consultation", "reference": "con_2"})
    assert not_eligible.kind == "consultation_only"
    own_claim = book(store, slot_id=slot(store, TUESDAY, "09:30"), prior_diagnosis={"source": "record",
                                                                                     "reference": "MZ2025-118"})
    assert own_claim.kind == "consultation_only" and "confirmed by our staff" in own_claim.notice
    attested = book(store, CONSULTANT, slot_id=slot(store, TUESDAY, "09:45"),
                    prior_diagnosis={"source": "record", "reference": "MZ2025-118"})
    assert attested.kind == "online_diagnosis"


def test_an_unpaid_hold_lapses_and_its_place_returns(store):
    sid = slot(store, TUESDAY, "09:00")
    held = book(store, slot_id=sid)
    assert usecases.expire_holds(store, NOW + timedelta(minutes=9)) == 0
    assert usecases.expire_holds(store, NOW + timedelta(minutes=10)) == 1
    assert usecases.expire_holds(store, NOW + timedelta(minutes=11)) == 0  # idempotent
    record = store.records[held.id]
    assert record.status == "expired" and record.holds_slot is False
    assert store.counters(sid) == (0, 1)
    released, cancelled = emitted(store, SlotReleased, AppointmentCancelled)
    assert released.reason == "hold_expired" and cancelled.reason == "hold_expired" and cancelled.by_role == "system"
    assert store.audited[-1]["subtype"] == "expire-hold" and store.audited[-1]["agent_kind"] == "service"
    with pytest.raises(Conflict, match="expired"):
        usecases.confirm(store, PAYMENTS, held.id, NOW + timedelta(minutes=11))  # payments refunds
    assert book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=sid, now=NOW + timedelta(minutes=12))


def test_payment_confirms_a_hold_once(store):
    held = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    confirmed = usecases.confirm(store, PAYMENTS, held.id, NOW)
    assert confirmed.status == "confirmed" and confirmed.hold_expires_at is None
    assert usecases.confirm(store, PAYMENTS, held.id, NOW).status == "confirmed"  # a redelivered payment event
    (event,) = emitted(store, AppointmentConfirmed)
    assert event.by == "payment"
    assert store.audited[-1]["detail"] == "already confirmed" and store.audited[-1]["action"] == "R"
    assert usecases.expire_holds(store, NOW + HOUR) == 0
    with pytest.raises(Forbidden):
        usecases.confirm(store, PATIENT, held.id, NOW)
    with pytest.raises(NotFound):
        usecases.confirm(store, PAYMENTS, "apt_nope", NOW)


def test_desk_staff_confirm_only_what_they_may_see(store):
    held = book(store, CONSULTANT, slot_id=slot(store, TUESDAY, "09:00"))
    with pytest.raises(NotFound):
        usecases.confirm(store, OTHER_CONSULTANT, held.id, NOW)
    assert store.audited[-1]["outcome"] == "denied"
    assert usecases.confirm(store, CONSULTANT, held.id, NOW).status == "confirmed"
    assert emitted(store, AppointmentConfirmed)[-1].by == "staff"


# cancelling and rescheduling -----------------------------------------------------------------------------------------
def test_cancelling_gives_the_place_back_and_marks_late_cancellations(store):
    early = book(store, slot_id=slot(store, date(2026, 3, 9), "08:00"))
    late = book(store, slot_id=slot(store))
    done = cancel(store, PATIENT, early.id)
    assert done.status == "cancelled" and done.late_cancel is False
    late_done = cancel(store, PATIENT, late.id)
    assert late_done.late_cancel is True  # one hour before the start
    assert store.counters(slot(store)) == (0, 1)
    assert [e.late for e in emitted(store, AppointmentCancelled)] == [False, True]
    assert len(emitted(store, SlotReleased)) == 2
    with pytest.raises(Conflict):
        cancel(store, PATIENT, late.id)
    again = book(store, slot_id=slot(store))  # the patient may take the freed place again
    assert again.status == "confirmed"


def test_each_subject_numbers_its_events_by_its_version(store):
    """An appointment's and a slot's events carry the document's version as their sequence: 1, 2, 3 with no gaps and
    no counter of booking's own (a place passed on, a move and a cancellation each move it on)."""
    sid, other = slot(store), slot(store, hhmm="09:00")
    appointment = book(store, slot_id=sid)
    moved = reschedule(store, PATIENT, appointment.id, slot_id=other)
    cancel(store, PATIENT, moved.id)
    assert [v for s, v in store.sequences if s == appointment.id] == [1, 2, 3, 4]  # booked, confirmed, moved, cancelled
    assert [v for s, v in store.sequences if s == sid] == [1, 2]  # held, released by the move
    assert [v for s, v in store.sequences if s == other] == [1, 2]  # held by the move, released by the cancellation
    assert store.records[appointment.id].version == 4


def test_nobody_else_cancels_and_the_refusal_is_audited(store):
    appointment = book(store, slot_id=slot(store))
    for caller in (OTHER_PATIENT, OTHER_DOCTOR, OTHER_CONSULTANT, MANAGER):
        with pytest.raises(NotFound):
            cancel(store, caller, appointment.id)
    denied = [e for e in store.audited if e["outcome"] == "denied"]
    assert len(denied) == 4 and all(e["patient_id"] == "pat_1" for e in denied)
    assert cancel(store, DOCTOR, appointment.id, reason="doctor_unavailable").cancel_reason == "doctor_unavailable"


def test_a_started_appointment_cannot_be_cancelled(store):
    appointment = book(store, slot_id=slot(store))
    with pytest.raises(Conflict, match="started"):
        cancel(store, PATIENT, appointment.id, now=local(MONDAY, "08:01"))


def test_the_late_cancellation_policy(store):
    refuse, keep_fee = replace(POLICY, late_cancel_policy="refuse"), replace(POLICY, late_cancel_policy="keep_fee")
    soon = book(store, slot_id=slot(store))  # one hour ahead: inside the 24-hour window
    with pytest.raises(Conflict) as info:
        cancel(store, PATIENT, soon.id, policy=refuse)
    assert info.value.errors[0]["type"] == "late"
    assert cancel(store, TEAM_LEAD, soon.id, policy=refuse).late_cancel is True
    kept = book(store, slot_id=slot(store, hhmm="08:15"))
    done = cancel(store, PATIENT, kept.id, policy=keep_fee)
    assert done.late_cancel and done.fee_kept
    doctor_off = book(store, slot_id=slot(store, hhmm="08:30"))
    assert cancel(store, DOCTOR, doctor_off.id, policy=keep_fee, reason="doctor_unavailable").fee_kept is False
    early = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    assert cancel(store, PATIENT, early.id, policy=refuse).late_cancel is False
    assert [e.fee_kept for e in emitted(store, AppointmentCancelled)] == [False, True, False, False]


def test_rescheduling_takes_the_new_place_then_gives_the_old_back(store):
    old, new = slot(store), slot(store, hhmm="09:00")
    appointment = book(store, slot_id=old)
    moved = reschedule(store, PATIENT, appointment.id, slot_id=new)
    assert moved.id == appointment.id and moved.slot_id == new and moved.reschedules == 1
    assert moved.start == "2026-03-02T09:00:00.000+08:00" and moved.status == "confirmed"
    assert store.counters(old) == (0, 1) and store.counters(new) == (1, 0)
    (event,) = emitted(store, AppointmentRescheduled)
    assert event.previous_slot_id == old and event.slot_id == new
    assert emitted(store, SlotReleased)[-1].reason == "rescheduled"


def test_a_full_new_slot_leaves_the_booking_untouched(store):
    old, full = slot(store), slot(store, hhmm="09:00")
    appointment = book(store, slot_id=old)
    book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=full)
    before = (store.records[appointment.id], store.slots[old])
    count = len(store.emitted)
    with pytest.raises(Conflict, match="fully booked"):
        reschedule(store, PATIENT, appointment.id, slot_id=full)
    assert (store.records[appointment.id], store.slots[old]) == before
    assert len(store.emitted) == count


def test_a_booking_moves_within_its_doctor_and_service(store):
    appointment = book(store, slot_id=slot(store))
    with pytest.raises(InvalidInput):
        reschedule(store, PATIENT, appointment.id, slot_id=slot(store, TUESDAY, "09:00"))
    assert store.counters(slot(store, TUESDAY, "09:00")) == (0, 1)  # rolled back
    with pytest.raises(InvalidInput):
        reschedule(store, PATIENT, appointment.id, slot_id=slot(store))  # its own slot
    moved = reschedule(store, PATIENT, appointment.id, date=date(2026, 3, 9), half_day="afternoon")
    assert moved.start == "2026-03-09T14:00:00.000+08:00" and moved.half_day.exact
    with pytest.raises(NotFound):  # a consultant reschedules only the bookings they made
        reschedule(store, CONSULTANT, appointment.id, slot_id=slot(store))
    with pytest.raises(Forbidden):  # the doctor sees it but does not move it
        reschedule(store, DOCTOR, appointment.id, slot_id=slot(store))


def test_a_move_into_a_slot_the_patient_holds_is_a_conflict(store):
    first, second = slot(store), slot(store, hhmm="09:00")
    store.set_slot(second, capacity=2, free=2)
    appointment = book(store, slot_id=first)
    book(store, slot_id=second)
    with pytest.raises(Conflict) as info:
        reschedule(store, PATIENT, appointment.id, slot_id=second)
    assert info.value.errors[0]["type"] == "duplicate" and store.counters(second) == (1, 1)


# arrival -------------------------------------------------------------------------------------------------------------
def test_desk_check_in_by_qr_code_or_by_hand(store):
    appointment = book(store, slot_id=slot(store))
    at = local(MONDAY, "07:50")
    with pytest.raises(NotFound):  # a consultant who may not see it, without its QR code: no such booking for them
        check_in(store, OTHER_CONSULTANT, appointment.id, at, code="x" * 24)
    with pytest.raises(NotFound):
        check_in(store, OTHER_CONSULTANT, appointment.id, at)
    with pytest.raises(InvalidInput):  # one who sees it is told the code is wrong
        check_in(store, TEAM_LEAD, appointment.id, at, code="x" * 24)
    done = check_in(store, OTHER_CONSULTANT, appointment.id, at, code=appointment.checkin_code)
    assert done.status == "checked_in" and done.checkin_method == "qr"
    assert check_in(store, TEAM_LEAD, appointment.id, at).checkin_method == "qr"  # twice: the first stands
    assert store.audited[-1]["detail"] == "already checked in"
    (event,) = emitted(store, AppointmentCheckedIn)
    assert event.method == "qr" and event.booked_by is None


def test_check_in_has_a_window_and_needs_a_confirmed_booking(store):
    appointment = book(store, CONSULTANT, slot_id=slot(store, date(2026, 3, 9), "08:00"))
    with pytest.raises(Conflict, match="opens at"):
        check_in(store, TEAM_LEAD, appointment.id, NOW)
    with pytest.raises(Conflict, match="Too late"):
        check_in(store, TEAM_LEAD, appointment.id, local(date(2026, 3, 9), "08:31"))
    held = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    with pytest.raises(Conflict, match="waiting for payment"):
        check_in(store, PATIENT, held.id, local(TUESDAY, "08:59"))
    done = check_in(store, TEAM_LEAD, appointment.id, local(date(2026, 3, 9), "08:10"))
    assert done.checkin_method == "desk"
    assert emitted(store, AppointmentCheckedIn)[-1].booked_by == "acc_c1"  # the booking consultant's arrival


def test_a_patient_checks_in_themself_only_by_joining_an_online_visit(store):
    in_person = book(store, slot_id=slot(store))
    with pytest.raises(Forbidden):
        check_in(store, PATIENT, in_person.id, local(MONDAY, "07:55"))
    online = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    usecases.confirm(store, PAYMENTS, online.id, NOW)
    assert check_in(store, PATIENT, online.id, local(TUESDAY, "08:58")).checkin_method == "online"


def test_no_shows_are_marked_after_the_grace_period(store):
    missed = book(store, slot_id=slot(store))
    came = book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, hhmm="08:15"))
    check_in(store, TEAM_LEAD, came.id, local(MONDAY, "08:10"))
    assert usecases.mark_no_shows(store, POLICY, local(MONDAY, "08:29")) == 0
    assert usecases.mark_no_shows(store, POLICY, local(MONDAY, "08:30")) == 1
    assert usecases.mark_no_shows(store, POLICY, local(MONDAY, "09:30")) == 0
    assert store.records[missed.id].status == "no_show" and store.records[came.id].status == "checked_in"
    (event,) = emitted(store, AppointmentNoShow)
    assert event.appointment_id == missed.id
    assert store.counters(slot(store)) == (1, 0)  # the time has passed: no place to give back


def test_the_doctor_completes_a_visit_the_patient_came_to(store):
    appointment = book(store, slot_id=slot(store))
    with pytest.raises(Conflict, match="check the patient in"):
        usecases.complete(store, DOCTOR, appointment.id, NOW)
    check_in(store, DOCTOR, appointment.id, local(MONDAY, "08:00"))
    assert store.records[appointment.id].checkin_method == "doctor"
    with pytest.raises(NotFound):
        usecases.complete(store, OTHER_DOCTOR, appointment.id, NOW)
    with pytest.raises(Forbidden):
        usecases.complete(store, TEAM_LEAD, appointment.id, NOW)
    assert usecases.complete(store, DOCTOR, appointment.id, NOW).status == "completed"


# reminders -----------------------------------------------------------------------------------------------------------
START = local(NEXT_MONDAY, "08:00")


def test_each_reminder_is_emitted_once_for_confirmed_appointments_only(store):
    kept = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    dropped = book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, NEXT_MONDAY, "08:15"))
    unpaid = book(store, slot_id=slot(store, date(2026, 3, 10), "09:00"))  # held until paid: no reminder
    cancel(store, OTHER_PATIENT, dropped.id)
    assert usecases.send_due_reminders(store, OFFSETS, START - 24 * HOUR - timedelta(minutes=1)) == 0
    assert usecases.send_due_reminders(store, OFFSETS, START - 24 * HOUR) == 1
    assert usecases.send_due_reminders(store, OFFSETS, START - 23 * HOUR) == 0  # once
    assert usecases.send_due_reminders(store, OFFSETS, START - 2 * HOUR) == 1
    assert usecases.send_due_reminders(store, OFFSETS, START - HOUR) == 0
    first, second = emitted(store, AppointmentReminderDue)
    assert (first.appointment_id, first.hours_before, second.hours_before) == (kept.id, 24, 2)
    assert first.start == "2026-03-09T00:00:00.000Z" and first.room == "op3_12" and not first.online
    assert unpaid.status == "held"
    assert store.records[kept.id].reminded["h2"]["sent"] is True


def test_a_reminder_found_late_is_sent_for_the_nearest_offset_only(store):
    booked = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    assert usecases.send_due_reminders(store, OFFSETS, START - HOUR) == 1
    (event,) = emitted(store, AppointmentReminderDue)
    assert event.hours_before == 2
    reminded = store.records[booked.id].reminded
    assert reminded["h2"]["sent"] is True and reminded["h24"]["sent"] is False


def test_a_moved_appointment_is_reminded_for_its_new_time(store):
    booked = book(store, slot_id=slot(store, NEXT_MONDAY, "08:00"))
    assert usecases.send_due_reminders(store, OFFSETS, START - 24 * HOUR) == 1
    reschedule(store, PATIENT, booked.id, now=START - 23 * HOUR, slot_id=slot(store, NEXT_MONDAY, "11:00"))
    new_start = local(NEXT_MONDAY, "11:00")
    assert usecases.send_due_reminders(store, OFFSETS, new_start - 24 * HOUR) == 1  # the new time's 24-hour one
    assert [e.start for e in emitted(store, AppointmentReminderDue)] == ["2026-03-09T00:00:00.000Z",
                                                                          "2026-03-09T03:00:00.000Z"]


# reading -------------------------------------------------------------------------------------------------------------
def test_every_read_is_audited_and_a_refused_one_is_a_404(store):
    appointment = book(store, CONSULTANT, slot_id=slot(store))
    for caller in (PATIENT, DOCTOR, CONSULTANT, TEAM_LEAD):
        assert usecases.get_appointment(store, caller, appointment.id).id == appointment.id
    assert usecases.get_appointment(store, PATIENT, appointment.id).checkin_code
    assert usecases.get_appointment(store, DOCTOR, appointment.id).checkin_code is None
    for caller in (OTHER_PATIENT, OTHER_DOCTOR, OTHER_CONSULTANT, MANAGER):
        with pytest.raises(NotFound):
            usecases.get_appointment(store, caller, appointment.id)
    reads = [e for e in store.audited if e["action"] == "R"]
    assert [e["outcome"] for e in reads] == ["success"] * 6 + ["denied"] * 4
    assert all(e["entity_id"] == appointment.id and e["patient_id"] == "pat_1" for e in reads)


def test_lists_follow_the_one_listing_rule(store):
    mine = book(store, slot_id=slot(store))
    theirs = book(store, CONSULTANT, patient_id="pat_2", slot_id=slot(store, hhmm="08:15"))
    assert [a.id for a in usecases.list_appointments(store, PATIENT, patient_id="pat_1")] == [mine.id]
    for named in ("pat_2", None):  # a record the account does not act for, or none: 404
        with pytest.raises(NotFound):
            usecases.list_appointments(store, PATIENT, patient_id=named)
    assert [a.id for a in usecases.list_appointments(store, DOCTOR)] == [mine.id, theirs.id]
    assert usecases.list_appointments(store, OTHER_DOCTOR) == []
    with pytest.raises(Forbidden, match="A doctor lists their own schedule"):
        usecases.list_appointments(store, OTHER_DOCTOR, doctor_id=DOCTOR_ID)
    assert [a.id for a in usecases.list_appointments(store, CONSULTANT)] == [theirs.id]
    assert usecases.list_appointments(store, CONSULTANT, patient_id="pat_1") == []  # only the bookings they made
    with pytest.raises(InvalidInput):
        usecases.list_appointments(store, TEAM_LEAD)
    assert len(usecases.list_appointments(store, TEAM_LEAD, doctor_id=DOCTOR_ID, day_from=MONDAY,
                                          day_to=MONDAY)) == 2
    assert usecases.list_appointments(store, TEAM_LEAD, doctor_id=DOCTOR_ID, day_from=TUESDAY) == []
    assert usecases.list_appointments(store, TEAM_LEAD, patient_id="pat_1", status="cancelled") == []
    with pytest.raises(Forbidden):
        usecases.list_appointments(store, MANAGER, doctor_id=DOCTOR_ID)
    listed = [e for e in store.audited if e["detail"] == "list"]
    assert len(listed) == 1 + 2 + 1 + 2 and {e["entity_type"] for e in listed} == {"Appointment"}
