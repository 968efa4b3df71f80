"""booking's appointment rules with an in-memory store: capacity by conditional updates, idempotency, half-days,
holds and their expiry, cancelling, atomic rescheduling, the online follow-up rule, arrival and access."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from nameko.testing.services import worker_factory

from contracts.booking.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentConfirmed,
    AppointmentNoShow,
    AppointmentRescheduled,
    SlotHeld,
    SlotReleased,
)
from contracts.booking.schemas import (
    AppointmentRequest,
    CancelRequest,
    CheckInRequest,
    RescheduleRequest,
)
from services.booking import appointments, schedules
from services.booking import service as booking_service
from services.booking.appointments import Policy
from services.booking.catalogue import entrypoints as catalogue_entrypoints
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from tests.fakes import FakeStore
from tests.unit.test_booking_schedules import (
    CONSULTANT,
    DOCTOR,
    DOCTOR_ID,
    KEYS,
    MANAGER,
    MONDAY,
    NOW,
    OTHER_DOCTOR,
    TEAM_LEAD,
    TUESDAY,
    local,
    slots_on,
    user,
    world,
)
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound
from wenzhen.storage import AUDIT_LOG
from wenzhen.timez import utcnow

POLICY = Policy()
PATIENT = user(Role.patient, "acc_p1", patients=("pat_1", "pat_kid"))
OTHER_PATIENT = user(Role.patient, "acc_p2", patients=("pat_2",))
PAYMENTS = Caller.service("payments")
OTHER_CONSULTANT = user(Role.consultant, "acc_c2")


@pytest.fixture
def store() -> FakeStore:
    store = world()
    for patient_id in ("pat_1", "pat_2", "pat_kid"):
        store.transact(lambda tx, p=patient_id: appointments.record_patient(tx, p))
    return store


def slot(store, day: date = MONDAY, hhmm: str = "08:00") -> str:
    return next(s["_id"] for s in slots_on(store, day) if s["start"] == local(day, hhmm))


def request(slot_id: str | None = None, patient_id: str = "pat_1", **fields) -> AppointmentRequest:
    return AppointmentRequest.model_validate({"patient_id": patient_id, "slot_id": slot_id, **fields})


def book(store, caller=PATIENT, slot_id=None, now=NOW, key=None, **fields):
    return appointments.book(store, caller, request(slot_id, **fields), POLICY, idempotency_key=key, now=now)


def emitted(store, *types) -> list:
    return [e for _, e in store.emitted if not types or isinstance(e, types)]


def set_capacity(store, slot_id: str, capacity: int) -> None:
    store[schedules.SLOTS].update_one({"_id": slot_id}, {"$set": {"capacity": capacity, "free": capacity}})


# booking -------------------------------------------------------------------------------------------------------------
def test_a_first_visit_is_confirmed_at_once_and_takes_the_place(store):
    sid = slot(store)
    appointment = book(store, slot_id=sid)
    assert appointment.status == "confirmed" and appointment.kind == "visit" and appointment.notice is None
    assert appointment.start == "2026-03-02T08:00:00.000+08:00" and appointment.end == "2026-03-02T08:15:00.000+08:00"
    assert appointment.fee_fen == 5000 and not appointment.prepayment and appointment.room == "op3_12"
    assert appointment.checkin_code  # the patient's own view carries the QR code
    doc = store[schedules.SLOTS].docs[sid]
    assert (doc["booked"], doc["free"]) == (1, 0)
    held, booked, confirmed = emitted(store, SlotHeld, AppointmentBooked, AppointmentConfirmed)
    assert held.slot_id == sid and held.booked == 1 and held.start == "2026-03-02T00:00:00.000Z"
    assert booked.patient_id == "pat_1" and booked.status == "confirmed" and booked.booked_by is None
    assert confirmed.by == "no_prepayment"
    (entry,) = [e for e in store[AUDIT_LOG].docs.values() if e["entity_type"] == "Appointment"]
    assert (entry["action"], entry["subtype"], entry["patient_id"]) == ("C", "book", "pat_1")


def test_a_full_slot_refuses_the_next_booking(store):
    sid = slot(store)
    book(store, slot_id=sid)
    with pytest.raises(Conflict) as info:
        book(store, OTHER_PATIENT, slot_id=sid, patient_id="pat_2")
    assert info.value.errors[0] == {"field": "slot_id", "message": "The slot is fully booked; choose another.",
                                    "type": "full"}
    assert store[schedules.SLOTS].docs[sid]["booked"] == 1 and len(store[appointments.APPOINTMENTS].docs) == 1


def test_a_slot_with_capacity_three_takes_three(store):
    sid = slot(store)
    set_capacity(store, sid, 3)
    for patient_id in ("pat_1", "pat_2", "pat_kid"):
        book(store, CONSULTANT, slot_id=sid, patient_id=patient_id)
    store.transact(lambda tx: appointments.record_patient(tx, "pat_4"))
    with pytest.raises(Conflict):
        book(store, CONSULTANT, slot_id=sid, patient_id="pat_4")
    assert (store[schedules.SLOTS].docs[sid]["booked"], store[schedules.SLOTS].docs[sid]["free"]) == (3, 0)


def test_one_patient_holds_one_place_per_slot(store):
    sid = slot(store)
    set_capacity(store, sid, 2)
    book(store, slot_id=sid)
    with pytest.raises(Conflict) as info:
        book(store, slot_id=sid)
    assert info.value.errors[0]["type"] == "duplicate"
    assert store[schedules.SLOTS].docs[sid]["booked"] == 1  # the second place was given back with the rollback


def test_closed_past_and_unknown_slots(store):
    sid = slot(store)
    store[schedules.SLOTS].update_one({"_id": sid}, {"$set": {"status": "closed"}})
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


# idempotency ---------------------------------------------------------------------------------------------------------
def test_a_retried_request_returns_the_first_result(store):
    sid = slot(store)
    first = book(store, slot_id=sid, key="k-1")
    again = book(store, slot_id=sid, key="k-1")
    assert again.id == first.id and again.replayed and not first.replayed
    assert len(store[appointments.APPOINTMENTS].docs) == 1 and store[schedules.SLOTS].docs[sid]["booked"] == 1
    assert len(emitted(store, AppointmentBooked)) == 1
    with pytest.raises(Conflict) as info:
        book(store, slot_id=slot(store, hhmm="08:15"), key="k-1")
    assert info.value.errors[0]["field"] == "Idempotency-Key"
    other_account = book(store, CONSULTANT, slot_id=slot(store, hhmm="08:15"), key="k-1")  # keys are per account
    assert other_account.id != first.id


def test_a_request_that_raced_itself_answers_the_winner(store, monkeypatch):
    """Two deliveries of one request both looked the key up before either committed: the second collides on the
    unique (account, key) index, its transaction (and the place it took) is rolled back, and it answers the first."""
    sid = slot(store)
    set_capacity(store, sid, 2)
    first = book(store, slot_id=sid, key="race")
    keys = store[appointments.IDEMPOTENCY]
    looks = []
    real = keys.find_one

    def look(*args, **kwargs):
        looks.append(args)
        return None if len(looks) == 1 else real(*args, **kwargs)  # the first look missed the winner

    monkeypatch.setattr(keys, "find_one", look)
    second = book(store, slot_id=sid, key="race")
    assert len(looks) == 2 and second.id == first.id and second.replayed
    assert store[schedules.SLOTS].docs[sid]["booked"] == 1 and len(store[appointments.APPOINTMENTS].docs) == 1


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
    for s in slots_on(store, MONDAY):
        store[schedules.SLOTS].update_one({"_id": s["_id"]}, {"$set": {"free": 0}})
    with pytest.raises(Conflict) as info:
        book(store, OTHER_PATIENT, patient_id="pat_2", **half(MONDAY, "afternoon"))
    assert info.value.errors[0]["field"] == "half_day"


def test_a_half_day_request_names_the_service_and_where():
    with pytest.raises(ValueError, match="doctor_id or department"):
        AppointmentRequest.model_validate({"patient_id": "pat_1", "date": "2026-03-02", "half_day": "morning",
                                           "service": "first_visit"})
    with pytest.raises(ValueError, match="either slot_id"):
        AppointmentRequest.model_validate({"patient_id": "pat_1", "slot_id": "slot_x", "date": "2026-03-02",
                                           "half_day": "morning"})


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
    store[appointments.APPOINTMENTS].update_one({"_id": visit.id}, {"$set": {"status": "completed"}})
    follow_up = book(store, slot_id=slot(store, TUESDAY, "09:00"), follow_up_of=visit.id)
    assert follow_up.kind == "online_diagnosis" and follow_up.notice is None
    with pytest.raises(InvalidInput):  # another patient's visit is no evidence
        book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, TUESDAY, "09:15"), follow_up_of=visit.id)


def test_evidence_from_a_consultation_or_a_record(store):
    store.transact(lambda tx: appointments.record_consultation(tx, "con_1", "pat_1", True, 3))
    store.transact(lambda tx: appointments.record_consultation(tx, "con_2", "pat_1", False, 3))
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
    assert appointments.expire_holds(store, NOW + timedelta(minutes=9)) == 0
    assert appointments.expire_holds(store, NOW + timedelta(minutes=10)) == 1
    assert appointments.expire_holds(store, NOW + timedelta(minutes=11)) == 0  # idempotent
    doc = store[appointments.APPOINTMENTS].docs[held.id]
    assert doc["status"] == "expired" and doc["holds_slot"] is False
    assert (store[schedules.SLOTS].docs[sid]["booked"], store[schedules.SLOTS].docs[sid]["free"]) == (0, 1)
    released, cancelled = emitted(store, SlotReleased, AppointmentCancelled)
    assert released.reason == "hold_expired" and cancelled.reason == "hold_expired" and cancelled.by_role == "system"
    with pytest.raises(Conflict, match="expired"):
        appointments.confirm(store, PAYMENTS, held.id)  # payments refunds
    assert book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=sid, now=NOW + timedelta(minutes=12))


def test_payment_confirms_a_hold_once(store):
    held = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    confirmed = appointments.confirm(store, PAYMENTS, held.id)
    assert confirmed.status == "confirmed" and confirmed.hold_expires_at is None
    assert appointments.confirm(store, PAYMENTS, held.id).status == "confirmed"  # a redelivered payment event
    (event,) = emitted(store, AppointmentConfirmed)
    assert event.by == "payment"
    assert appointments.expire_holds(store, NOW + timedelta(hours=1)) == 0
    with pytest.raises(Forbidden):
        appointments.confirm(store, PATIENT, held.id)
    with pytest.raises(NotFound):
        appointments.confirm(store, PAYMENTS, "apt_nope")


# cancelling and rescheduling -----------------------------------------------------------------------------------------
def test_cancelling_gives_the_place_back_and_marks_late_cancellations(store):
    early = book(store, slot_id=slot(store, date(2026, 3, 9), "08:00"))
    late = book(store, slot_id=slot(store))
    done = appointments.cancel(store, PATIENT, early.id, CancelRequest(), POLICY, now=NOW)
    assert done.status == "cancelled" and done.late_cancel is False
    late_done = appointments.cancel(store, PATIENT, late.id, CancelRequest(), POLICY, now=NOW)
    assert late_done.late_cancel is True  # one hour before the start
    assert store[schedules.SLOTS].docs[slot(store)]["free"] == 1
    assert [e.late for e in emitted(store, AppointmentCancelled)] == [False, True]
    assert len(emitted(store, SlotReleased)) == 2
    with pytest.raises(Conflict):
        appointments.cancel(store, PATIENT, late.id, CancelRequest(), POLICY, now=NOW)
    again = book(store, slot_id=slot(store))  # the patient may take the freed place again
    assert again.status == "confirmed"


def test_nobody_else_cancels_and_the_refusal_is_audited(store):
    appointment = book(store, slot_id=slot(store))
    for caller in (OTHER_PATIENT, OTHER_DOCTOR, OTHER_CONSULTANT, MANAGER):
        with pytest.raises(NotFound):
            appointments.cancel(store, caller, appointment.id, CancelRequest(), POLICY, now=NOW)
    denied = [e for e in store[AUDIT_LOG].docs.values() if e["outcome"] == "denied"]
    assert len(denied) == 4 and all(e["patient_id"] == "pat_1" for e in denied)
    assert appointments.cancel(store, DOCTOR, appointment.id, CancelRequest(reason="doctor_unavailable"), POLICY,
                               now=NOW).cancel_reason == "doctor_unavailable"


def test_a_started_appointment_cannot_be_cancelled(store):
    appointment = book(store, slot_id=slot(store))
    with pytest.raises(Conflict, match="started"):
        appointments.cancel(store, PATIENT, appointment.id, CancelRequest(), POLICY, now=local(MONDAY, "08:01"))


def test_rescheduling_takes_the_new_place_then_gives_the_old_back(store):
    old, new = slot(store), slot(store, hhmm="09:00")
    appointment = book(store, slot_id=old)
    moved = appointments.reschedule(store, PATIENT, appointment.id, RescheduleRequest(slot_id=new), now=NOW)
    assert moved.id == appointment.id and moved.slot_id == new and moved.reschedules == 1
    assert moved.start == "2026-03-02T09:00:00.000+08:00" and moved.status == "confirmed"
    assert store[schedules.SLOTS].docs[old]["free"] == 1 and store[schedules.SLOTS].docs[new]["free"] == 0
    (event,) = emitted(store, AppointmentRescheduled)
    assert event.previous_slot_id == old and event.slot_id == new
    assert emitted(store, SlotReleased)[-1].reason == "rescheduled"


def test_a_full_new_slot_leaves_the_booking_untouched(store):
    old, full = slot(store), slot(store, hhmm="09:00")
    appointment = book(store, slot_id=old)
    book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=full)
    before = (dict(store[appointments.APPOINTMENTS].docs[appointment.id]), dict(store[schedules.SLOTS].docs[old]))
    count = len(store.emitted)
    with pytest.raises(Conflict, match="fully booked"):
        appointments.reschedule(store, PATIENT, appointment.id, RescheduleRequest(slot_id=full), now=NOW)
    assert (store[appointments.APPOINTMENTS].docs[appointment.id], store[schedules.SLOTS].docs[old]) == before
    assert len(store.emitted) == count


def test_a_booking_moves_within_its_doctor_and_service(store):
    appointment = book(store, slot_id=slot(store))
    with pytest.raises(InvalidInput):
        appointments.reschedule(store, PATIENT, appointment.id,
                                RescheduleRequest(slot_id=slot(store, TUESDAY, "09:00")), now=NOW)
    assert store[schedules.SLOTS].docs[slot(store, TUESDAY, "09:00")]["free"] == 1  # rolled back
    moved = appointments.reschedule(store, PATIENT, appointment.id,
                                    RescheduleRequest(date=date(2026, 3, 9), half_day="afternoon"), now=NOW)
    assert moved.start == "2026-03-09T14:00:00.000+08:00" and moved.half_day.exact
    with pytest.raises(NotFound):  # a consultant reschedules only the bookings they made
        appointments.reschedule(store, CONSULTANT, appointment.id, RescheduleRequest(slot_id=slot(store)), now=NOW)


# arrival -------------------------------------------------------------------------------------------------------------
def test_desk_check_in_by_qr_code_or_by_hand(store):
    appointment = book(store, slot_id=slot(store))
    at = local(MONDAY, "07:50")
    with pytest.raises(NotFound):  # a consultant who may not see it, without its QR code: no such booking for them
        appointments.check_in(store, OTHER_CONSULTANT, appointment.id, CheckInRequest(code="x" * 24), POLICY, now=at)
    with pytest.raises(NotFound):
        appointments.check_in(store, OTHER_CONSULTANT, appointment.id, CheckInRequest(), POLICY, now=at)
    with pytest.raises(InvalidInput):  # one who sees it is told the code is wrong
        appointments.check_in(store, TEAM_LEAD, appointment.id, CheckInRequest(code="x" * 24), POLICY, now=at)
    done = appointments.check_in(store, OTHER_CONSULTANT, appointment.id,
                                 CheckInRequest(code=appointment.checkin_code), POLICY, now=at)
    assert done.status == "checked_in" and done.checkin_method == "qr"
    assert appointments.check_in(store, TEAM_LEAD, appointment.id, CheckInRequest(), POLICY, now=at).checkin_method \
        == "qr"  # twice: the first check-in stands
    (event,) = emitted(store, AppointmentCheckedIn)
    assert event.method == "qr" and event.booked_by is None


def test_check_in_has_a_window_and_needs_a_confirmed_booking(store):
    appointment = book(store, CONSULTANT, slot_id=slot(store, date(2026, 3, 9), "08:00"))
    with pytest.raises(Conflict, match="opens at"):
        appointments.check_in(store, TEAM_LEAD, appointment.id, CheckInRequest(), POLICY, now=NOW)
    with pytest.raises(Conflict, match="Too late"):
        appointments.check_in(store, TEAM_LEAD, appointment.id, CheckInRequest(), POLICY,
                              now=local(date(2026, 3, 9), "08:31"))
    held = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    with pytest.raises(Conflict, match="waiting for payment"):
        appointments.check_in(store, PATIENT, held.id, CheckInRequest(), POLICY, now=local(TUESDAY, "08:59"))
    done = appointments.check_in(store, TEAM_LEAD, appointment.id, CheckInRequest(), POLICY,
                                 now=local(date(2026, 3, 9), "08:10"))
    assert done.checkin_method == "desk"
    assert emitted(store, AppointmentCheckedIn)[-1].booked_by == "acc_c1"  # the booking consultant's arrival


def test_a_patient_checks_in_themself_only_by_joining_an_online_visit(store):
    in_person = book(store, slot_id=slot(store))
    with pytest.raises(Forbidden):
        appointments.check_in(store, PATIENT, in_person.id, CheckInRequest(), POLICY, now=local(MONDAY, "07:55"))
    online = book(store, slot_id=slot(store, TUESDAY, "09:00"))
    appointments.confirm(store, PAYMENTS, online.id)
    joined = appointments.check_in(store, PATIENT, online.id, CheckInRequest(), POLICY, now=local(TUESDAY, "08:58"))
    assert joined.checkin_method == "online"


def test_no_shows_are_marked_after_the_grace_period(store):
    missed = book(store, slot_id=slot(store))
    came = book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=slot(store, hhmm="08:15"))
    appointments.check_in(store, TEAM_LEAD, came.id, CheckInRequest(), POLICY, now=local(MONDAY, "08:10"))
    assert appointments.mark_no_shows(store, POLICY, local(MONDAY, "08:29")) == 0
    assert appointments.mark_no_shows(store, POLICY, local(MONDAY, "08:30")) == 1
    assert appointments.mark_no_shows(store, POLICY, local(MONDAY, "09:30")) == 0
    assert store[appointments.APPOINTMENTS].docs[missed.id]["status"] == "no_show"
    assert store[appointments.APPOINTMENTS].docs[came.id]["status"] == "checked_in"
    (event,) = emitted(store, AppointmentNoShow)
    assert event.appointment_id == missed.id
    assert store[schedules.SLOTS].docs[slot(store)]["free"] == 0  # the time has passed: no place to give back


def test_the_doctor_completes_a_visit_the_patient_came_to(store):
    appointment = book(store, slot_id=slot(store))
    with pytest.raises(Conflict, match="check the patient in"):
        appointments.complete(store, DOCTOR, appointment.id, now=NOW)
    appointments.check_in(store, DOCTOR, appointment.id, CheckInRequest(), POLICY, now=local(MONDAY, "08:00"))
    with pytest.raises(NotFound):
        appointments.complete(store, OTHER_DOCTOR, appointment.id)
    assert appointments.complete(store, DOCTOR, appointment.id).status == "completed"


# reading -------------------------------------------------------------------------------------------------------------
def test_every_read_is_audited_and_a_refused_one_is_a_404(store):
    appointment = book(store, CONSULTANT, slot_id=slot(store))
    for caller in (PATIENT, DOCTOR, CONSULTANT, TEAM_LEAD):
        assert appointments.get_appointment(store, caller, appointment.id).id == appointment.id
    assert appointments.get_appointment(store, PATIENT, appointment.id).checkin_code
    assert appointments.get_appointment(store, DOCTOR, appointment.id).checkin_code is None
    for caller in (OTHER_PATIENT, OTHER_DOCTOR, OTHER_CONSULTANT, MANAGER):
        with pytest.raises(NotFound):
            appointments.get_appointment(store, caller, appointment.id)
    reads = [e for e in store[AUDIT_LOG].docs.values() if e["action"] == "R"]
    assert [e["outcome"] for e in reads] == ["success"] * 6 + ["denied"] * 4
    assert all(e["entity_id"] == appointment.id and e["patient_id"] == "pat_1" for e in reads)


def test_lists_follow_the_same_rules(store):
    mine = book(store, slot_id=slot(store))
    theirs = book(store, CONSULTANT, patient_id="pat_2", slot_id=slot(store, hhmm="08:15"))
    assert [a.id for a in appointments.list_appointments(store, PATIENT, patient_id="pat_1")] == [mine.id]
    with pytest.raises(NotFound):
        appointments.list_appointments(store, PATIENT, patient_id="pat_2")
    assert [a.id for a in appointments.list_appointments(store, DOCTOR)] == [mine.id, theirs.id]
    assert appointments.list_appointments(store, OTHER_DOCTOR) == []
    with pytest.raises(Forbidden):
        appointments.list_appointments(store, OTHER_DOCTOR, doctor_id=DOCTOR_ID)
    assert [a.id for a in appointments.list_appointments(store, CONSULTANT)] == [theirs.id]
    with pytest.raises(InvalidInput):
        appointments.list_appointments(store, TEAM_LEAD)
    assert len(appointments.list_appointments(store, TEAM_LEAD, doctor_id=DOCTOR_ID, day_from=MONDAY,
                                              day_to=MONDAY)) == 2
    assert appointments.list_appointments(store, TEAM_LEAD, doctor_id=DOCTOR_ID, day_from=TUESDAY) == []


# the Nameko adapter --------------------------------------------------------------------------------------------------
def test_intake_books_for_a_consultation_as_the_consultant():
    store = world(now=utcnow())  # the RPC books at the real time
    store.transact(lambda tx: appointments.record_patient(tx, "pat_1"))
    service = worker_factory(BookingService, store=store, settings=BookingSettings(), caller=CONSULTANT)
    sid, other = (s.id for s in schedules.search_slots(store, now=utcnow(), horizon_days=14, service="first_visit",
                                                        limit=2))
    body = {"patient_id": "pat_1", "slot_id": sid}
    first = service.book_for_consultation("con_7", body, "msg_42")
    assert first["consultation_id"] == "con_7" and first["status"] == "confirmed" and first["slot_id"] == sid
    assert service.book_for_consultation("con_7", body, "msg_42")["replayed"] is True
    assert emitted(store, AppointmentBooked)[0].consultation_id == "con_7"
    with pytest.raises(InvalidInput):
        service.book_for_consultation("con_7", body, "not a key!")
    patient_side = worker_factory(BookingService, store=store, settings=BookingSettings(), caller=PATIENT)
    with pytest.raises(Forbidden):
        patient_side.book_for_consultation("con_7", {"patient_id": "pat_1", "slot_id": other})


def test_the_schedule_rpc_generates_slots_at_once(monkeypatch):
    monkeypatch.setattr(booking_service, "keyring", lambda: KEYS)
    monkeypatch.setattr(catalogue_entrypoints, "keyring", lambda: KEYS)
    store = world(template=None)
    service = worker_factory(BookingService, store=store, settings=BookingSettings(), caller=MANAGER)
    answer = service.put_schedule(DOCTOR_ID, {"sessions": [
        {"weekday": 1, "start": "08:00", "end": "09:00", "service": "first_visit"}]})
    assert answer["version"] == 1 and answer["generation"]["created"] >= 4
    assert answer["sessions"][0]["start"] == "08:00"
    anyone = worker_factory(BookingService, store=store, settings=BookingSettings(),
                            caller=Caller(principal=Principal(kind="anonymous")))
    assert anyone.list_doctors("urology")[0]["display_name"] == "李明"
    assert anyone.doctor_slots(DOCTOR_ID, {"service": "first_visit", "limit": 2})[0]["service"] == "first_visit"
    with pytest.raises(Forbidden):
        anyone.put_schedule(DOCTOR_ID, {"sessions": []})
