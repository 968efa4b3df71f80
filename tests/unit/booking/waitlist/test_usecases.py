"""The waitlist's use cases over an in-memory store (with appointments' fake, whose freed places it is offered): who
may wait for what, offers in the order patients joined, a freed place held for the first in line (never free in
between), accepting, declining and lapsing, leaving, expiry and access."""
from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.booking.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentConfirmed,
    SlotHeld,
    SlotReleased,
    WaitlistOffered,
    WaitlistOfferEnded,
)
from contracts.booking.schemas import AppointmentRequest, CancelRequest, RescheduleRequest, WaitlistRequest
from services.booking.appointments import usecases as appointments
from services.booking.waitlist import usecases as waitlist
from tests.unit.booking.appointments.fakes import FakeAppointmentStore
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    DOCTOR_ID,
    MANAGER,
    MINUTE,
    MONDAY,
    NOW,
    OTHER_CONSULTANT,
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
from tests.unit.booking.waitlist.fakes import FakeWaitlistStore
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound


@pytest.fixture
def store() -> FakeWaitlistStore:
    return FakeWaitlistStore(FakeAppointmentStore(slots=week_slots(), doctors={DOCTOR_ID: PROFILE},
                                                  patients={"pat_1", "pat_2", "pat_kid", "pat_4"}))


def slot(store, day=MONDAY, hhmm: str = "08:00") -> str:
    return next(s.id for s in on_day(store.places.slots, day) if s.start == local(day, hhmm))


def book(store, caller=PATIENT, slot_id=None, now=NOW, patient_id="pat_1"):
    request = AppointmentRequest.model_validate({"patient_id": patient_id, "slot_id": slot_id})
    return appointments.book(store.places, caller, request, POLICY, now)


def join(store, caller=OTHER_PATIENT, now=NOW, **fields):
    return waitlist.join(store, caller, WaitlistRequest.model_validate({"patient_id": "pat_2", **fields}), POLICY,
                         now)


def entry(store, entry_id: str):
    return store.places.entries[entry_id]


def offered_to(store, patient_id: str):
    return next((a for a in store.places.records.values() if a.patient_id == patient_id and a.status == "offered"),
                None)


def cancel(store, caller, appointment_id, now=NOW, reason="patient_request"):
    return appointments.cancel(store.places, caller, appointment_id, CancelRequest(reason=reason), POLICY, now)


def counters(store, sid: str) -> tuple[int, int]:
    return store.places.counters(sid)


def emitted(store, *types) -> list:
    return [e for _, e in store.emitted if not types or isinstance(e, types)]


def full(store, sid: str) -> None:
    store.places.set_slot(sid, booked=1, free=0)


# joining -------------------------------------------------------------------------------------------------------------
def test_only_a_full_slot_is_waited_for_and_once_per_patient(store):
    sid = slot(store)
    with pytest.raises(Conflict) as info:
        join(store, slot_id=sid)
    assert info.value.errors[0]["type"] == "available"
    book(store, slot_id=sid)
    first = join(store, slot_id=sid)
    assert first.status == "waiting" and first.position == 1 and first.date == "2026-03-02"
    assert first.kind == "visit" and first.slot_id == sid and first.offer is None
    with pytest.raises(Conflict) as info:
        join(store, slot_id=sid)
    assert info.value.errors[0]["type"] == "duplicate" and info.value.errors[0]["field"] == "slot_id"
    second = join(store, CONSULTANT, patient_id="pat_kid", slot_id=sid)  # a consultant on the patient's behalf
    assert second.position == 2
    with pytest.raises(Conflict, match="has a place"):
        join(store, PATIENT, patient_id="pat_1", slot_id=sid)  # the holder
    with pytest.raises(NotFound):
        join(store, PATIENT, patient_id="pat_2", slot_id=sid)  # not a record this account acts for
    with pytest.raises(Forbidden):
        join(store, DOCTOR, slot_id=sid)
    with pytest.raises(NotFound):
        join(store, slot_id="slot_nope")
    with pytest.raises(Conflict, match="passed"):
        join(store, slot_id=slot(store, hhmm="08:15"), now=local(MONDAY, "08:20"))
    closed = slot(store, hhmm="08:30")
    store.places.set_slot(closed, status="closed")
    with pytest.raises(Conflict) as info:
        join(store, slot_id=closed)
    assert info.value.errors[0]["type"] == "closed"
    created = [e for e in store.audited if e["subtype"] == "waitlist-join"]
    assert {e["patient_id"] for e in created} == {"pat_2", "pat_kid"}


def test_a_day_is_waited_for_only_when_it_has_no_free_place(store):
    day = {"doctor_id": DOCTOR_ID, "service": "online_video", "date": TUESDAY.isoformat()}
    with pytest.raises(Conflict) as info:
        join(store, **day)
    assert info.value.errors[0]["type"] == "available"
    for s in on_day(store.places.slots, TUESDAY):
        book(store, slot_id=s.id)
    waiting = join(store, **day)
    assert waiting.slot_id is None and waiting.kind == "consultation_only" and "consultation only" in waiting.notice
    with pytest.raises(Conflict) as info:
        join(store, **day)
    assert info.value.errors[0]["field"] == "date"
    with pytest.raises(Conflict) as info:  # the doctor has no online session on Mondays
        join(store, **{**day, "date": MONDAY.isoformat()})
    assert info.value.errors[0]["type"] == "no_sessions"
    with pytest.raises(InvalidInput) as info:
        join(store, **{**day, "date": (MONDAY + timedelta(days=14)).isoformat()})
    assert info.value.errors[0]["type"] == "beyond_horizon"
    with pytest.raises(InvalidInput) as info:
        join(store, **{**day, "date": (MONDAY - timedelta(days=1)).isoformat()})
    assert info.value.errors[0]["type"] == "past"
    with pytest.raises(InvalidInput):
        join(store, **{**day, "service": "examination"})  # not offered by this doctor
    with pytest.raises(NotFound):
        join(store, **{**day, "doctor_id": "acc_nobody"})
    with pytest.raises(ValueError, match="slot_id, or doctor_id"):
        WaitlistRequest.model_validate({"patient_id": "pat_2", "doctor_id": DOCTOR_ID, "date": "2026-03-03"})


# offers --------------------------------------------------------------------------------------------------------------
def test_a_cancelled_place_is_held_for_the_first_in_line(store):
    sid = slot(store)
    booked = book(store, slot_id=sid)
    first = join(store, slot_id=sid)
    second = join(store, CONSULTANT, patient_id="pat_kid", slot_id=sid)
    cancel(store, PATIENT, booked.id)
    assert counters(store, sid) == (1, 0)  # never free in between: nobody else can take it
    assert sid not in {s.id for s in store.places.free_slots(local(TUESDAY, "00:00"), after=NOW)}
    offer = offered_to(store, "pat_2")
    assert offer.holds_slot and offer.slot_id == sid and offer.offer_expires_at == NOW + POLICY.offer
    assert offer.waitlist_id == first.id and offer.booked_by_role == "patient"
    assert entry(store, first.id).status == "offered" and entry(store, first.id).offer.appointment_id == offer.id
    assert waitlist.get_entry(store, CONSULTANT, second.id).position == 1
    released, held, offered, cancelled = emitted(store, AppointmentCancelled, SlotReleased, SlotHeld,
                                                 WaitlistOffered)[-4:]  # in the one transaction of the cancel
    assert isinstance(cancelled, AppointmentCancelled) and released.booked == 0 and released.reason == "cancelled"
    assert held.booked == 1 and held.appointment_id == offer.id
    assert offered.patient_id == "pat_2" and offered.offer_expires_at == "2026-03-01T23:30:00.000Z"
    assert offered.room == "op3_12" and not offered.online
    (by_booking,) = [e for e in store.audited if e["subtype"] == "waitlist-offer"]
    assert by_booking["agent_kind"] == "service" and by_booking["entity_id"] == offer.id
    view = appointments.get_appointment(store.places, OTHER_PATIENT, offer.id)
    assert view.status == "offered" and view.offer_expires_at == "2026-03-02T07:30:00.000+08:00"
    assert not emitted(store, AppointmentBooked)[1:]  # the offer is not a booking yet


def test_accepting_an_offer_books_it(store):
    sid = slot(store)
    booked = book(store, slot_id=sid)
    waiting = join(store, slot_id=sid)
    cancel(store, PATIENT, booked.id)
    appointment = waitlist.accept(store, OTHER_PATIENT, waiting.id, POLICY, NOW + 5 * MINUTE)
    assert appointment.status == "confirmed" and appointment.patient_id == "pat_2" and appointment.waitlist_id
    assert appointment.checkin_code and appointment.offer_expires_at is None
    assert entry(store, waiting.id).status == "booked" and not entry(store, waiting.id).active
    booked_event, confirmed = emitted(store, AppointmentBooked)[-1], emitted(store, AppointmentConfirmed)[-1]
    assert booked_event.appointment_id == appointment.id and booked_event.status == "confirmed"
    assert booked_event.booked_by is None and confirmed.appointment_id == appointment.id
    assert store.audited[-1]["detail"] == f"waitlist {waiting.id}"
    assert counters(store, sid) == (1, 0)
    with pytest.raises(Conflict, match="no offer"):
        waitlist.accept(store, OTHER_PATIENT, waiting.id, POLICY, NOW + 6 * MINUTE)
    assert cancel(store, OTHER_PATIENT, appointment.id, now=NOW + 7 * MINUTE).status == "cancelled"  # ordinary now
    assert counters(store, sid) == (0, 1)  # nobody else waits: the place is free again


def test_an_offer_cannot_be_accepted_once_it_ended(store):
    sid = slot(store)
    booked = book(store, slot_id=sid)
    waiting = join(store, slot_id=sid)
    cancel(store, PATIENT, booked.id)
    with pytest.raises(Conflict) as info:
        waitlist.accept(store, OTHER_PATIENT, waiting.id, POLICY, NOW + POLICY.offer)
    assert info.value.errors[0]["type"] == "lapsed"
    assert offered_to(store, "pat_2") is not None and entry(store, waiting.id).status == "offered"  # the sweeper
    with pytest.raises(NotFound):  # a doctor sees the line but does not act on it
        waitlist.accept(store, DOCTOR, waiting.id, POLICY, NOW)


def test_a_lapsed_offer_passes_to_the_next_in_line_and_then_back_to_the_slot(store):
    sid = slot(store)
    booked = book(store, slot_id=sid)
    first = join(store, slot_id=sid)
    second = join(store, PATIENT, patient_id="pat_kid", slot_id=sid, now=NOW + MINUTE)
    cancel(store, PATIENT, booked.id, now=NOW + 2 * MINUTE)
    expires = NOW + 2 * MINUTE + POLICY.offer
    assert waitlist.lapse_offers(store, POLICY, expires - MINUTE) == 0
    assert waitlist.lapse_offers(store, POLICY, expires) == 1
    assert waitlist.lapse_offers(store, POLICY, expires) == 0  # once
    assert entry(store, first.id).status == "lapsed" and not entry(store, first.id).active
    lapsed = store.places.records[entry(store, first.id).offer.appointment_id]
    assert lapsed.status == "declined" and not lapsed.holds_slot and lapsed.offer_outcome == "lapsed"
    assert entry(store, second.id).status == "offered" and offered_to(store, "pat_kid").slot_id == sid
    ended = emitted(store, WaitlistOfferEnded)[-1]
    assert ended.outcome == "lapsed" and ended.passed_on and ended.waitlist_id == first.id
    assert counters(store, sid) == (1, 0)

    answer = waitlist.decline(store, PATIENT, second.id, POLICY, expires + MINUTE)
    assert answer.status == "declined" and answer.offers == 1
    assert counters(store, sid) == (0, 1)  # nobody left in line: the slot has its place back
    released = emitted(store, SlotReleased)[-1]
    assert released.reason == "offer_declined" and released.booked == 0
    assert not emitted(store, WaitlistOfferEnded)[-1].passed_on
    with pytest.raises(Conflict, match="no offer"):
        waitlist.decline(store, PATIENT, second.id, POLICY, expires + MINUTE)
    assert book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=sid, now=expires + 2 * MINUTE)


def test_places_go_in_the_order_patients_joined_and_never_twice(store):
    sid = slot(store)
    store.places.set_slot(sid, capacity=2, free=2)
    a = book(store, slot_id=sid)
    b = book(store, PATIENT, patient_id="pat_kid", slot_id=sid)
    late = join(store, CONSULTANT, patient_id="pat_4", slot_id=sid, now=NOW + MINUTE)
    early = join(store, slot_id=sid)
    cancel(store, PATIENT, a.id, now=NOW + 2 * MINUTE)
    assert entry(store, early.id).status == "offered" and entry(store, late.id).status == "waiting"
    cancel(store, PATIENT, b.id, now=NOW + 3 * MINUTE)
    assert entry(store, late.id).status == "offered"
    assert {offered_to(store, p).slot_id for p in ("pat_2", "pat_4")} == {sid}
    assert counters(store, sid) == (2, 0)
    holders = [d for d in store.places.records.values() if d.slot_id == sid and d.holds_slot]
    assert sorted(d.patient_id for d in holders) == ["pat_2", "pat_4"]


def test_a_patient_with_a_place_in_the_slot_is_passed_over(store):
    sid = slot(store)
    store.places.set_slot(sid, capacity=2, free=2)
    mine = book(store, slot_id=sid)
    book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=sid)
    for s in on_day(store.places.slots, MONDAY):  # the rest of Monday is taken
        if s.id != sid:
            full(store, s.id)
    day = {"doctor_id": DOCTOR_ID, "service": "first_visit", "date": MONDAY.isoformat()}
    holder = join(store, **day)  # waits for an earlier time that day, with a place at 08:00
    kid = join(store, PATIENT, patient_id="pat_kid", now=NOW + MINUTE, **day)
    cancel(store, PATIENT, mine.id, now=NOW + 2 * MINUTE)
    assert entry(store, holder.id).status == "waiting" and entry(store, kid.id).status == "offered"


def test_an_offer_that_collides_with_a_place_taken_meanwhile_goes_to_the_next(store, monkeypatch):
    """The first in line took a place in that slot a moment ago, unseen by the hand-off's read: inserting the offer
    collides on the one-place-per-patient index, the whole change is tried again (nothing of the first attempt
    stays) and the next in line gets the place."""
    sid = slot(store)
    mine = book(store, slot_id=sid)
    first = join(store, slot_id=sid)
    next_in_line = join(store, CONSULTANT, patient_id="pat_4", slot_id=sid, now=NOW + MINUTE)
    store.places.set_slot(sid, capacity=2, free=1)
    book(store, OTHER_PATIENT, patient_id="pat_2", slot_id=sid)  # the race: pat_2 waits and holds a place
    real, reads = store.places.holds_place, []

    def missed_once(*args):
        reads.append(args)
        return False if len(reads) == 1 else real(*args)

    monkeypatch.setattr(store.places, "holds_place", missed_once)
    cancel(store, PATIENT, mine.id, now=NOW + 2 * MINUTE)
    assert entry(store, first.id).status == "waiting" and entry(store, next_in_line.id).status == "offered"
    assert len(reads) == 3 and counters(store, sid) == (2, 0)
    assert len(emitted(store, AppointmentCancelled)) == 1 and len(emitted(store, WaitlistOffered)) == 1


def test_a_lapsed_hold_and_a_booking_moved_away_free_places_for_the_waitlist(store):
    online = [s.id for s in on_day(store.places.slots, TUESDAY)]
    holds = [book(store, slot_id=sid) for sid in online]  # unpaid holds fill Tuesday's online session
    waiting = join(store, doctor_id=DOCTOR_ID, service="online_video", date=TUESDAY.isoformat())
    assert appointments.expire_holds(store.places, NOW + POLICY.hold, offer_for=POLICY.offer) == len(holds)
    offer = offered_to(store, "pat_2")
    assert offer.slot_id == online[0]  # the first place freed went to the line, the others back to their slots
    assert [counters(store, sid) for sid in online[1:]] == [(0, 1)] * (len(online) - 1)
    accepted = waitlist.accept(store, OTHER_PATIENT, waiting.id, POLICY, NOW + POLICY.hold + MINUTE)
    assert accepted.status == "held" and accepted.prepayment  # online: held until paid, like any booking
    assert accepted.hold_expires_at == "2026-03-02T07:21:00.000+08:00"
    assert not emitted(store, AppointmentConfirmed)

    old, new = slot(store), slot(store, hhmm="09:00")
    moving = book(store, slot_id=old)
    waiter = join(store, CONSULTANT, patient_id="pat_4", slot_id=old)
    appointments.reschedule(store.places, PATIENT, moving.id, RescheduleRequest(slot_id=new), POLICY, NOW)
    assert entry(store, waiter.id).status == "offered" and counters(store, old) == (1, 0)
    assert emitted(store, SlotReleased)[-1].reason == "rescheduled"


# leaving, expiry, access ---------------------------------------------------------------------------------------------
def test_leaving_the_line_and_expiry(store):
    sid = slot(store, hhmm="09:00")
    booked = book(store, slot_id=sid)
    leaving = join(store, slot_id=sid)
    left = waitlist.leave(store, OTHER_PATIENT, leaving.id, POLICY, NOW)
    assert left.status == "left" and left.ended_at
    with pytest.raises(Conflict):
        waitlist.leave(store, OTHER_PATIENT, leaving.id, POLICY, NOW)
    again = join(store, slot_id=sid)  # a patient who left may join again
    cancel(store, PATIENT, booked.id)
    assert waitlist.leave(store, OTHER_PATIENT, again.id, POLICY, NOW).status == "declined"  # an open offer
    assert counters(store, sid) == (0, 1)

    other = slot(store, hhmm="10:00")
    book(store, slot_id=other)
    stale = join(store, slot_id=other)
    assert waitlist.expire_entries(store, local(MONDAY, "09:59")) == 0
    assert waitlist.expire_entries(store, local(MONDAY, "10:00")) == 1
    assert waitlist.expire_entries(store, local(MONDAY, "10:01")) == 0
    assert entry(store, stale.id).status == "expired" and store.audited[-1]["subtype"] == "waitlist-expire"


def test_who_sees_and_acts_on_entries(store):
    sid = slot(store)
    book(store, slot_id=sid)
    mine = join(store, slot_id=sid)
    theirs = join(store, CONSULTANT, patient_id="pat_kid", slot_id=sid)
    assert waitlist.get_entry(store, PATIENT, theirs.id).position == 2  # pat_kid's: PATIENT acts for it
    for caller in (PATIENT, OTHER_DOCTOR):
        with pytest.raises(NotFound):
            waitlist.get_entry(store, caller, mine.id)
    with pytest.raises(NotFound):
        waitlist.leave(store, DOCTOR, mine.id, POLICY, NOW)  # a doctor sees their line but does not act on it
    denied = [e for e in store.audited if e["outcome"] == "denied"]
    assert len(denied) == 3 and {e["patient_id"] for e in denied} == {"pat_2"}
    assert waitlist.get_entry(store, DOCTOR, mine.id).position == 1
    with pytest.raises(NotFound):
        waitlist.get_entry(store, TEAM_LEAD, "wl_nope")


def test_lists_follow_the_one_listing_rule(store):
    sid = slot(store)
    book(store, slot_id=sid)
    mine = join(store, slot_id=sid)
    by_consultant = join(store, CONSULTANT, patient_id="pat_kid", slot_id=sid)
    assert [e.id for e in waitlist.list_entries(store, OTHER_PATIENT, patient_id="pat_2")] == [mine.id]
    for named in ("pat_1", None):  # a record the account does not act for, or none: 404
        with pytest.raises(NotFound):
            waitlist.list_entries(store, OTHER_PATIENT, patient_id=named)
    assert [e.id for e in waitlist.list_entries(store, DOCTOR)] == [mine.id, by_consultant.id]
    assert waitlist.list_entries(store, OTHER_DOCTOR) == []
    with pytest.raises(Forbidden, match="A doctor lists their own schedule"):  # before: a 404
        waitlist.list_entries(store, OTHER_DOCTOR, doctor_id=DOCTOR_ID)
    assert [e.id for e in waitlist.list_entries(store, CONSULTANT)] == [by_consultant.id]
    assert waitlist.list_entries(store, OTHER_CONSULTANT) == []
    assert [e.id for e in waitlist.list_entries(store, OTHER_CONSULTANT, patient_id="pat_2")] == [mine.id]
    with pytest.raises(InvalidInput):
        waitlist.list_entries(store, TEAM_LEAD)
    assert len(waitlist.list_entries(store, TEAM_LEAD, doctor_id=DOCTOR_ID)) == 2
    assert waitlist.list_entries(store, TEAM_LEAD, doctor_id=DOCTOR_ID, status="offered") == []
    with pytest.raises(Forbidden):
        waitlist.list_entries(store, MANAGER, doctor_id=DOCTOR_ID)
    reads = [e for e in store.audited if e["action"] == "R" and e["outcome"] == "success"]
    assert {e["entity_type"] for e in reads} == {"WaitlistEntry"} and len(reads) == 1 + 2 + 1 + 1 + 2
