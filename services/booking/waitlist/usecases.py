"""The waitlist's operations (authorize → store → emit → audit) and its sweeps. Places are passed on only through
appointments' ``release`` (the hand-off of a freed place), in the transaction that ends the offer."""
from __future__ import annotations

from datetime import datetime, timedelta

from contracts.booking.events import AppointmentBooked, AppointmentConfirmed, WaitlistOfferEnded
from contracts.booking.schemas import Appointment, WaitlistEntry, WaitlistRequest, WaitlistStatus
from services.booking import scope
from services.booking.appointments import rules as appointment_rules
from services.booking.appointments import usecases as appointments
from services.booking.appointments.rules import SWEEP_BATCH, SYSTEM, AppointmentRecord
from services.booking.settings import Policy
from services.booking.waitlist import rules
from services.booking.waitlist.rules import ENTITY, Entry
from services.booking.waitlist.store import AlreadyWaiting, WaitlistStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller
from wenzhen.storage import Tx
from wenzhen.timez import to_utc_iso


def _authorized(store: WaitlistStore, caller: Caller, entry_id: str, action: str, subtype: str,
                acting: bool) -> Entry:
    """The entry when the caller may see (or act on) it; otherwise the refusal is audited and a 404 raised."""
    entry = store.entry(entry_id)
    if entry is None or not rules.sees(caller.principal, entry, acting):
        audit.record(store, caller, action, subtype, ENTITY, entry_id,
                     patient_id=entry.patient_id if entry else None, outcome=Outcome.denied)
        raise rules.not_found(entry_id)
    return entry


def _view(store: WaitlistStore, entry: Entry) -> WaitlistEntry:
    return rules.to_entry(entry, rules.position(entry, store.waiting_for_day(entry)))


# joining -------------------------------------------------------------------------------------------------------------
def join(store: WaitlistStore, caller: Caller, request: WaitlistRequest, policy: Policy,
         now: datetime) -> WaitlistEntry:
    """Put a patient in line for a full slot, or for a doctor's service on a day without a free place (who may:
    as for booking)."""
    places = store.places
    appointments.may_book(places, caller, request.patient_id)
    if request.slot_id is not None:
        target = rules.slot_target(places.slot(request.slot_id), request.slot_id,
                                   places.holds_place(request.patient_id, request.slot_id), now)
    else:
        target = rules.day_target(store.bookable(request.doctor_id), request, policy, now)
        rules.require_no_free_place(*places.day_places(target.doctor_id, target.service,
                                                       max(target.window_start, now), target.until))
    kind, notice = appointments.visit_kind(places, caller, request, target.service)
    entry = rules.new_entry(ids.new_id("wl"), request, target, kind, notice, caller.principal, now)

    def body(tx: Tx) -> None:
        store.insert_entry(tx, entry)
        audit.record(tx, caller, CREATE, "waitlist-join", ENTITY, entry.id, patient_id=request.patient_id,
                     detail=entry.target)

    try:
        store.transact(body)
    except AlreadyWaiting:
        raise rules.already_waiting(request) from None
    return _view(store, entry)


# answering an offer, leaving -----------------------------------------------------------------------------------------
def accept(store: WaitlistStore, caller: Caller, entry_id: str, policy: Policy, now: datetime) -> Appointment:
    """Take the place offered: the offered appointment becomes a booking (``confirmed``, or ``held`` until paid),
    with the usual ``appointment_booked`` events."""
    entry = _authorized(store, caller, entry_id, UPDATE, "waitlist-accept", acting=True)
    appointment_id = rules.require_offer(entry, "accept").appointment_id
    places = store.places

    def body(tx: Tx) -> AppointmentRecord:
        offered = places.appointment(appointment_id, tx)
        confirmed = not (offered.prepayment if offered else False)
        booked = places.accept_offer(tx, appointment_id, confirmed, None if confirmed else now + policy.hold,
                                     caller.principal.sub, now)
        if booked is None:
            raise rules.offer_lapsed()
        store.end_offered(tx, entry_id, WaitlistStatus.booked, now)
        tx.emit(AppointmentBooked(**appointment_rules.appointment_fields(booked), slot_id=booked.slot_id,
                                  end=to_utc_iso(booked.end), status=booked.status.value, kind=booked.kind.value,
                                  online=booked.online, prepayment=booked.prepayment, fee_fen=booked.fee_fen,
                                  booked_by=appointment_rules.staff_booker(booked), follow_up_of=booked.follow_up_of,
                                  hold_expires_at=None if confirmed else to_utc_iso(booked.hold_expires_at)),
                subject=appointment_id, version=booked.version - (1 if confirmed else 0))
        if confirmed:
            tx.emit(AppointmentConfirmed(**appointment_rules.appointment_fields(booked), by="no_prepayment"),
                    subject=appointment_id, version=booked.version)
        audit.record(tx, caller, CREATE, "book", "Appointment", appointment_id, patient_id=booked.patient_id,
                     detail=f"waitlist {entry_id}")
        return booked

    return appointments.view(caller, store.transact(body))


def decline(store: WaitlistStore, caller: Caller, entry_id: str, policy: Policy, now: datetime) -> WaitlistEntry:
    """Refuse the place offered: it goes to the next in line (or back to the slot); the entry ends."""
    entry = _authorized(store, caller, entry_id, UPDATE, "waitlist-decline", acting=True)
    rules.require_offer(entry, "decline")
    return _declined(store, caller, entry, policy, now)


def leave(store: WaitlistStore, caller: Caller, entry_id: str, policy: Policy, now: datetime) -> WaitlistEntry:
    """Stop waiting; an open offer is declined (and passed on)."""
    entry = _authorized(store, caller, entry_id, UPDATE, "waitlist-leave", acting=True)
    if entry.status == WaitlistStatus.offered:
        return _declined(store, caller, entry, policy, now)

    def body(tx: Tx) -> Entry:
        done = store.leave(tx, entry_id, now)
        if done is None:
            raise rules.not_waiting(entry)
        audit.record(tx, caller, UPDATE, "waitlist-leave", ENTITY, entry_id, patient_id=done.patient_id)
        return done

    return rules.to_entry(store.transact(body))


def _declined(store: WaitlistStore, caller: Caller, entry: Entry, policy: Policy, now: datetime) -> WaitlistEntry:
    def body(tx: Tx) -> Entry:
        ended = end_offer(store, tx, caller, entry.offer.appointment_id, WaitlistStatus.declined, now, policy.offer)
        if ended is None:
            raise rules.offer_ended()
        return ended

    return rules.to_entry(appointments.transact_releasing(store, body))


def end_offer(store: WaitlistStore, tx: Tx, caller: Caller, appointment_id: str, outcome: WaitlistStatus,
              now: datetime, offer_for: timedelta, lapsed_by: datetime | None = None) -> Entry | None:
    """End an open offer (declined or lapsed) and pass its place on; returns the ended entry, or None when the offer
    was no longer open (accepted or ended meanwhile)."""
    ended_offer = store.places.end_offer(tx, appointment_id, outcome.value, now, lapsed_by)
    if ended_offer is None:
        return None
    ended = store.end_offered(tx, ended_offer.waitlist_id, outcome, now)
    passed = appointments.release(store.places, tx, ended_offer, f"offer_{outcome.value}", now, offer_for)
    tx.emit(WaitlistOfferEnded(waitlist_id=ended_offer.waitlist_id, appointment_id=appointment_id,
                               patient_id=ended_offer.patient_id, doctor_id=ended_offer.doctor_id,
                               slot_id=ended_offer.slot_id, outcome=outcome.value, passed_on=passed is not None),
            subject=ended_offer.waitlist_id)
    audit.record(tx, caller, UPDATE, f"waitlist-{outcome.value}", "Appointment", appointment_id,
                 patient_id=ended_offer.patient_id)
    return ended


# the sweeps ----------------------------------------------------------------------------------------------------------
def lapse_offers(store: WaitlistStore, policy: Policy, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Offers nobody answered in time: each passes to the next in line (or back to the slot); returns how many."""
    lapsed = 0
    for appointment_id in store.places.offers_due(now, limit):
        def body(tx: Tx, aid: str = appointment_id) -> int:
            ended = end_offer(store, tx, SYSTEM, aid, WaitlistStatus.lapsed, now, policy.offer, lapsed_by=now)
            return 0 if ended is None else 1

        lapsed += appointments.transact_releasing(store, body)
    return lapsed


def expire_entries(store: WaitlistStore, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Entries still waiting when their slot started or their day ended."""
    expired = 0
    for entry_id in store.waiting_due(now, limit):
        def body(tx: Tx, eid: str = entry_id) -> int:
            done = store.expire(tx, eid, now)
            if done is None:
                return 0
            audit.record(tx, SYSTEM, UPDATE, "waitlist-expire", ENTITY, eid, patient_id=done.patient_id)
            return 1

        expired += store.transact(body)
    return expired


# reading -------------------------------------------------------------------------------------------------------------
def get_entry(store: WaitlistStore, caller: Caller, entry_id: str) -> WaitlistEntry:
    entry = _authorized(store, caller, entry_id, READ, "read", acting=False)
    audit.record(store, caller, READ, "read", ENTITY, entry_id, patient_id=entry.patient_id)
    return _view(store, entry)


def list_entries(store: WaitlistStore, caller: Caller, *, patient_id: str | None = None, doctor_id: str | None = None,
                 status: str | None = None, limit: int = 50) -> list[WaitlistEntry]:
    """As ``services.booking.scope`` says (a patient's records; a doctor's own line; a consultant's by patient or
    their own; a team lead's by patient or doctor). Each entry shown is audited."""
    seen = scope.listing_scope(scope.WAITLIST, caller.principal, patient_id=patient_id, doctor_id=doctor_id)
    found = store.entries(seen, status=status, limit=limit)
    for entry in found:
        audit.record(store, caller, READ, "read", ENTITY, entry.id, patient_id=entry.patient_id, detail="list")
    return [_view(store, entry) for entry in found]

