"""The appointments' operations, each authorize → store → emit → audit, and the sweeps (holds, no-shows, reminders).

Handing a freed place on (:func:`release`) is here because the place is appointments': whatever frees one — a
cancellation, a lapsed hold, a booking moved away, and the waitlist's declined or lapsed offers — calls it in its own
transaction, and it offers the place to the first in line or gives it back to the slot. The waitlist capability uses
it (and :func:`may_book`, :func:`visit_kind`, :func:`view`) and nothing else of this module's insides.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from contracts.booking.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConfirmed,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    SlotHeld,
    SlotReleased,
    WaitlistOffered,
)
from contracts.booking.schemas import (
    Appointment,
    AppointmentRequest,
    CancelRequest,
    CheckInRequest,
    HalfDayChoice,
    RescheduleRequest,
    ServiceCode,
    Status,
    Visit,
    VisitFacts,
    WaitlistRequest,
)
from services.booking import scope
from services.booking.appointments import rules
from services.booking.appointments.rules import (
    SWEEP_BATCH,
    SYSTEM,
    AlreadyBooked,
    AppointmentRecord,
    KeyTaken,
    KnownConsultation,
    Offer,
    SlotGone,
)
from services.booking.appointments.store import AppointmentStore
from services.booking.schedules.rules import SlotRecord, local_midnight
from services.booking.settings import Policy
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, Forbidden, InvalidInput, field_error
from wenzhen.storage import Tx
from wenzhen.timez import as_utc, to_utc_iso

T = TypeVar("T")
ENTITY = "Appointment"
DUPLICATE_RETRIES = 3


def view(caller: Caller, appointment: AppointmentRecord, replayed: bool = False) -> Appointment:
    return rules.to_appointment(appointment, caller.principal.acts_for(appointment.patient_id), replayed)


# who may -------------------------------------------------------------------------------------------------------------
def may_book(store: AppointmentStore, caller: Caller, patient_id: str) -> None:
    principal = caller.principal
    known = principal.has_role(*rules.BOOK_FOR_OTHERS) and store.patient_known(patient_id)
    rules.require_booker(principal, patient_id, known)


def authorize(store, caller: Caller, appointment: AppointmentRecord | None, appointment_id: str, action: str,
              subtype: str, also: Callable[[AppointmentRecord], bool] | None = None) -> AppointmentRecord:
    """``appointment`` (as read by ``store``) when the caller may act on it; otherwise the refusal is audited in
    ``store``'s log and a 404 raised, as for a missing one."""
    if appointment is None or not (rules.sees(caller.principal, appointment) or (also is not None and also(
            appointment))):
        audit.record(store, caller, action, subtype, ENTITY, appointment_id,
                     patient_id=appointment.patient_id if appointment else None, outcome=Outcome.denied)
        raise rules.not_found(appointment_id)
    return appointment


def authorized(store: AppointmentStore, caller: Caller, appointment_id: str, action: str, subtype: str,
               also: Callable[[AppointmentRecord], bool] | None = None) -> AppointmentRecord:
    return authorize(store, caller, store.appointment(appointment_id), appointment_id, action, subtype, also)


def visit_kind(store: AppointmentStore, caller: Caller, request: AppointmentRequest | WaitlistRequest,
               service: ServiceCode | str) -> tuple[Visit, str | None]:
    prior = store.appointment(request.follow_up_of) if request.follow_up_of is not None else None
    evidence = request.prior_diagnosis
    consultation = (store.consultation(evidence.reference)
                    if evidence is not None and evidence.source == "consultation" else None)
    return rules.visit_kind(request, online=store.service(service).online,
                            prior_visit=prior if prior is not None and prior.patient_id == request.patient_id else None,
                            consultation=consultation, by_staff=caller.principal.is_staff)


# facts booking keeps from intake's events ----------------------------------------------------------------------------
def record_patient(store: AppointmentStore, tx: Tx, patient_id: str, now: datetime) -> None:
    store.record_patient(tx, patient_id, now)


def record_consultation(store: AppointmentStore, tx: Tx, consultation_id: str, patient_id: str | None,
                        follow_up_eligible: bool, sequence: int | None, now: datetime) -> None:
    """Keep the newest of what intake said about a consultation (events may arrive out of order)."""
    if rules.is_newer_consultation(store.consultation(consultation_id, tx), sequence):
        store.save_consultation(tx, consultation_id, KnownConsultation(patient_id, follow_up_eligible, sequence), now)


# places --------------------------------------------------------------------------------------------------------------
def release(store: AppointmentStore, tx: Tx, freed: AppointmentRecord, reason: str, now: datetime,
            offer_for: timedelta) -> AppointmentRecord | None:
    """Free the place ``freed`` held (its own update, in this transaction, already ended it): offer it to the first
    patient waiting for it — the place never shows as free in between — or give it back to the slot. Returns the
    offered appointment, if any."""
    slot = store.slot(freed.slot_id, tx)
    if slot is not None and slot.open_at(now):
        offered = _offer(store, tx, slot, freed, reason, now, offer_for)
        if offered is not None:
            return offered
    back = store.give_back(tx, freed.slot_id)
    if back is not None:
        tx.emit(SlotReleased(**rules.slot_fields(back), appointment_id=freed.id, reason=reason), subject=back.id,
                version=back.version)
    return None


def _offer(store: AppointmentStore, tx: Tx, slot: SlotRecord, freed: AppointmentRecord, reason: str, now: datetime,
           offer_for: timedelta) -> AppointmentRecord | None:
    """The first in line without a place in that slot gets an appointment ``offered`` that keeps the place; two
    places freed at once go to two patients (both transactions mark the same entry: one is retried)."""
    start = as_utc(slot.start)
    for entry in store.line(tx, slot, rules.OFFER_CANDIDATES):
        if store.holds_place(entry.patient_id, slot.id, tx):
            continue  # they have a place in this slot already
        appointment_id = ids.new_id("apt")
        expires = min(now + offer_for, start)
        if not store.offer_entry(tx, entry.id, Offer(appointment_id, slot.id, start, expires), now):
            continue
        offered = rules.new_appointment(
            appointment_id=appointment_id, patient_id=entry.patient_id, slot=slot,
            doctor=store.bookable(slot.doctor_id, tx), settings=store.service(slot.service, tx), kind=entry.kind,
            notice=entry.notice, status=Status.offered, now=now, booked_by=entry.joined_by,
            booked_by_role=entry.joined_by_role, follow_up_of=entry.follow_up_of,
            prior_diagnosis=entry.prior_diagnosis, waitlist_id=entry.id, offer_expires_at=expires)
        store.insert_appointment(tx, offered)
        released = SlotRecord(**{**vars(slot), "booked": slot.booked - 1})
        version = store.count_slot_events(tx, slot.id, 2)  # the place changes hands: released, then held
        tx.emit(SlotReleased(**rules.slot_fields(released), appointment_id=freed.id, reason=reason), subject=slot.id,
                version=version - 1)
        tx.emit(SlotHeld(**rules.slot_fields(slot), appointment_id=appointment_id), subject=slot.id, version=version)
        tx.emit(WaitlistOffered(waitlist_id=entry.id, appointment_id=appointment_id, patient_id=entry.patient_id,
                                doctor_id=slot.doctor_id, department=slot.department, service=slot.service,
                                slot_id=slot.id, start=to_utc_iso(start), room=slot.room, online=slot.online,
                                offer_expires_at=to_utc_iso(expires)), subject=entry.id)
        audit.record(tx, SYSTEM, CREATE, "waitlist-offer", ENTITY, appointment_id, patient_id=entry.patient_id,
                     detail=entry.id)
        return offered
    return None


def transact_releasing(store, body: Callable[[Tx], T]) -> T:
    """``store.transact`` for a change that may hand a place to the waitlist: an offer to a patient who took a place
    in that slot a moment ago collides on the one-place-per-patient index; the change is then tried again, and the
    offer goes to the next in line. A collision that persists is the change's own and is raised."""
    attempt = 1
    while True:
        try:
            return store.transact(body)
        except AlreadyBooked:
            if attempt >= DUPLICATE_RETRIES:
                raise
            attempt += 1


# booking -------------------------------------------------------------------------------------------------------------
def book(store: AppointmentStore, caller: Caller, request: AppointmentRequest, policy: Policy, now: datetime, *,
         idempotency_key: str | None = None, consultation_id: str | None = None) -> Appointment:
    """Book a slot for ``request.patient_id`` (``__init__``'s rules). A retry with the same ``idempotency_key`` and
    request answers the first result."""
    principal = caller.principal
    may_book(store, caller, request.patient_id)
    rules.require_consultation_booker(principal, consultation_id)
    fingerprint = rules.fingerprint(request, consultation_id)
    if idempotency_key is not None:
        prior = store.idempotency_key(principal.sub, idempotency_key)
        if prior is not None:
            return _replay(store, caller, prior, fingerprint)

    if request.slot_id is not None:
        slot = store.slot(request.slot_id)
        if slot is None:
            raise rules.slot_conflict("missing", "slot_id")
        rules.require_slot_service(slot, request)
        service = ServiceCode(slot.service)
        candidates: list[tuple[str, HalfDayChoice | None]] = [(request.slot_id, None)]
    else:
        service = request.service
        candidates = half_day_candidates(store, request.date, request.half_day, service=service.value, now=now,
                                         doctor_id=request.doctor_id, department=request.department)
    kind, notice = visit_kind(store, caller, request, service)

    for sid, choice in candidates:
        body = _booking(store, caller, request, policy, ids.new_id("apt"), sid, choice, kind, notice, now,
                        idempotency_key, fingerprint, consultation_id)
        try:
            booked = store.transact(body)
        except SlotGone as gone:
            if choice is None:
                raise rules.slot_conflict(gone.reason, "slot_id") from None
            continue  # a half-day request: the next nearest slot
        except (KeyTaken, AlreadyBooked) as exc:
            prior = store.idempotency_key(principal.sub, idempotency_key) if idempotency_key is not None else None
            if prior is not None:  # the same request raced itself: the first one won
                return _replay(store, caller, prior, fingerprint)
            if isinstance(exc, KeyTaken):  # rare: the winner's key vanished (expired) since the collision
                raise Conflict("A request with this Idempotency-Key is in progress; retry.",
                                     [field_error("Idempotency-Key", "is in use", "in_progress")]) from None
            raise rules.already_booked() from None
        return view(caller, booked)
    raise rules.no_free_half_day(f"{service.value} slot", request)


def _booking(store: AppointmentStore, caller: Caller, request: AppointmentRequest, policy: Policy,
             appointment_id: str, sid: str, choice: HalfDayChoice | None, kind: Visit, notice: str | None,
             now: datetime, idempotency_key: str | None, fingerprint: str,
             consultation_id: str | None) -> Callable[[Tx], AppointmentRecord]:
    principal = caller.principal

    def body(tx: Tx) -> AppointmentRecord:
        if idempotency_key is not None:  # first: a duplicate of this request collides here, before anything else
            store.insert_key(tx, principal.sub, idempotency_key, fingerprint, appointment_id, now)
        slot = store.take_place(tx, sid, now)  # the one conditional update that keeps the slot from overbooking
        settings = store.service(slot.service, tx)
        confirmed = not settings.prepayment
        appointment = rules.new_appointment(
            appointment_id=appointment_id, patient_id=request.patient_id, slot=slot,
            doctor=store.bookable(slot.doctor_id, tx), settings=settings, kind=kind, notice=notice,
            status=Status.confirmed if confirmed else Status.held, now=now, booked_by=principal.sub,
            booked_by_role=principal.role.value, hold_expires_at=None if confirmed else now + policy.hold,
            follow_up_of=request.follow_up_of, consultation_id=consultation_id,
            prior_diagnosis=request.prior_diagnosis, half_day=choice, version=2 if confirmed else 1)
        store.insert_appointment(tx, appointment)  # its events: booked (1), confirmed (2) when no payment is due
        tx.emit(SlotHeld(**rules.slot_fields(slot), appointment_id=appointment_id), subject=sid, version=slot.version)
        tx.emit(AppointmentBooked(**rules.appointment_fields(appointment), slot_id=sid,
                                  end=to_utc_iso(appointment.end), status=appointment.status.value,
                                  kind=appointment.kind.value, online=appointment.online,
                                  prepayment=appointment.prepayment, fee_fen=appointment.fee_fen,
                                  booked_by=principal.sub if principal.is_staff else None,
                                  consultation_id=consultation_id, follow_up_of=request.follow_up_of,
                                  hold_expires_at=None if confirmed else to_utc_iso(appointment.hold_expires_at)),
                subject=appointment_id, version=1)
        if confirmed:
            tx.emit(AppointmentConfirmed(**rules.appointment_fields(appointment), by="no_prepayment"),
                    subject=appointment_id, version=2)
        audit.record(tx, caller, CREATE, "book", ENTITY, appointment_id, patient_id=request.patient_id,
                     detail=appointment.status.value)
        return appointment

    return body


def half_day_candidates(store: AppointmentStore, day: date, half, *, service: str, now: datetime,
                        doctor_id: str | None = None, department: str | None = None) -> list[tuple[str,
                                                                                                   HalfDayChoice]]:
    """Free slots of that half-day, the default time (10:00 / 14:00) first, then the nearest."""
    since, before = rules.half_day_window(day, half)
    slots = store.free_slots(before, since=since, doctor_id=doctor_id, department=department, service=service,
                             limit=0)
    return rules.half_day_choices(slots, day, half, now)


def _replay(store: AppointmentStore, caller: Caller, prior, fingerprint: str) -> Appointment:
    rules.require_same_request(prior, fingerprint)
    first = store.appointment(prior.appointment_id)
    audit.record(store, caller, READ, "replay", ENTITY, first.id, patient_id=first.patient_id)
    return view(caller, first, replayed=True)


# confirming, cancelling, rescheduling --------------------------------------------------------------------------------
def confirm(store: AppointmentStore, caller: Caller, appointment_id: str, now: datetime) -> Appointment:
    """Confirm a held booking: payments when the patient paid (idempotent: a repeated call returns the confirmed
    booking), or desk staff who took the payment. A hold that has lapsed (its place given back) is a 409: payments
    then refunds."""
    principal = caller.principal
    by_payment = rules.require_confirmer(principal)
    if not by_payment:  # desk staff confirm what they may see, exactly as they would read it
        authorized(store, caller, appointment_id, UPDATE, "confirm")

    def body(tx: Tx) -> AppointmentRecord:
        done = store.confirm_held(tx, appointment_id, principal.sub, now)
        if done is None:
            current = store.appointment(appointment_id, tx)
            if current is None:
                raise rules.not_found(appointment_id)
            if current.status == Status.confirmed:  # a repeat answers the booking: that is a read
                audit.record(tx, caller, READ, "confirm", ENTITY, appointment_id, patient_id=current.patient_id,
                             detail="already confirmed")
                return current
            raise rules.confirm_refusal(current)
        tx.emit(AppointmentConfirmed(**rules.appointment_fields(done), by="payment" if by_payment else "staff"),
                subject=appointment_id, version=done.version)
        audit.record(tx, caller, UPDATE, "confirm", ENTITY, appointment_id, patient_id=done.patient_id)
        return done

    return view(caller, store.transact(body))


def cancel(store: AppointmentStore, caller: Caller, appointment_id: str, request: CancelRequest, policy: Policy,
           now: datetime) -> Appointment:
    """Give the place back (or to the waitlist); inside the late window marked late, as the policy says."""
    appointment = authorized(store, caller, appointment_id, UPDATE, "cancel")
    rules.still_open(appointment, now, "cancelled")
    late, fee_kept = rules.cancellation(appointment, caller.principal, request.reason, policy, now)
    role = caller.principal.role.value

    def body(tx: Tx) -> AppointmentRecord:
        done = store.cancel(tx, appointment, request.reason, late, fee_kept, caller.principal.sub, now)
        if done is None:
            raise rules.changed_meanwhile()
        release(store, tx, done, "cancelled", now, policy.offer)
        tx.emit(AppointmentCancelled(**rules.appointment_fields(done), reason=request.reason, late=late, by_role=role,
                                     fee_kept=fee_kept), subject=appointment_id, version=done.version)
        audit.record(tx, caller, UPDATE, "cancel", ENTITY, appointment_id, patient_id=done.patient_id,
                     detail=f"{request.reason}{', late' if late else ''}{', fee kept' if fee_kept else ''}")
        return done

    return view(caller, transact_releasing(store, body))


def reschedule(store: AppointmentStore, caller: Caller, appointment_id: str, request: RescheduleRequest,
               policy: Policy, now: datetime) -> Appointment:
    """Move a booking to another slot of the same doctor and service: the new place is taken before the old one is
    given back, in one transaction, so a full new slot leaves the booking as it was."""
    appointment = authorized(store, caller, appointment_id, UPDATE, "reschedule")
    rules.require_rescheduler(caller.principal)
    rules.still_open(appointment, now, "rescheduled")
    if request.slot_id is not None:
        if request.slot_id == appointment.slot_id:
            raise InvalidInput("That is the booking's own slot.",
                                     [field_error("slot_id", "is the current slot")])
        candidates: list[tuple[str, HalfDayChoice | None]] = [(request.slot_id, None)]
    else:
        candidates = [c for c in half_day_candidates(store, request.date, request.half_day,
                                                     service=appointment.service, now=now,
                                                     doctor_id=appointment.doctor_id) if c[0] != appointment.slot_id]

    for sid, choice in candidates:
        try:
            moved = transact_releasing(store, _move(store, caller, appointment, sid, choice, now, policy.offer))
        except SlotGone as gone:
            if choice is None:
                raise rules.slot_conflict(gone.reason, "slot_id") from None
            continue
        except AlreadyBooked:
            raise rules.already_booked(text="The patient has a place in that slot already.") from None
        return view(caller, moved)
    raise rules.no_free_half_day("slot of this doctor", request)


def _move(store: AppointmentStore, caller: Caller, appointment: AppointmentRecord, sid: str,
          choice: HalfDayChoice | None, now: datetime, offer_for: timedelta) -> Callable[[Tx], AppointmentRecord]:
    def body(tx: Tx) -> AppointmentRecord:
        slot = store.take_place(tx, sid, now)  # first the new place …
        rules.require_same_doctor_and_service(slot, appointment)
        moved = store.move(tx, appointment, slot, choice, now)
        if moved is None:
            raise rules.changed_meanwhile()
        release(store, tx, appointment, "rescheduled", now, offer_for)  # … then the old one back (or to the waitlist)
        tx.emit(SlotHeld(**rules.slot_fields(slot), appointment_id=appointment.id), subject=sid, version=slot.version)
        tx.emit(AppointmentRescheduled(**rules.appointment_fields(moved), slot_id=sid,
                                       previous_slot_id=appointment.slot_id,
                                       previous_start=to_utc_iso(appointment.start)), subject=appointment.id,
                version=moved.version)
        audit.record(tx, caller, UPDATE, "reschedule", ENTITY, appointment.id, patient_id=appointment.patient_id)
        return moved

    return body


# arrival -------------------------------------------------------------------------------------------------------------
def check_in(store: AppointmentStore, caller: Caller, appointment_id: str, request: CheckInRequest, policy: Policy,
             now: datetime) -> Appointment:
    """来诊: desk staff check a patient in (scanning the booking's QR code, or by hand); the doctor may; a patient
    checks in themself only by joining an online visit. Checking in twice answers the first check-in."""
    principal = caller.principal
    desk = principal.has_role(*rules.DESK)
    # desk staff check in what they may see, or any booking whose QR code the patient shows them (the code is the
    # patient's say-so); a wrong code looks like a missing booking
    appointment = authorized(store, caller, appointment_id, UPDATE, "check-in",
                             also=lambda found: desk and rules.shows_code(request, found))
    if appointment.status == Status.checked_in:
        audit.record(store, caller, READ, "check-in", ENTITY, appointment_id, patient_id=appointment.patient_id,
                     detail="already checked in")
        return view(caller, appointment)
    method = rules.check_in_method(principal, appointment, request, policy, now)

    def body(tx: Tx) -> AppointmentRecord:
        done = store.check_in(tx, appointment_id, method, principal.sub, now)
        if done is None:
            raise rules.changed_meanwhile()
        tx.emit(AppointmentCheckedIn(**rules.appointment_fields(done), method=method,
                                     booked_by=rules.staff_booker(done)), subject=appointment_id,
                version=done.version)
        audit.record(tx, caller, UPDATE, "check-in", ENTITY, appointment_id, patient_id=done.patient_id,
                     detail=method)
        return done

    return view(caller, store.transact(body))


def complete(store: AppointmentStore, caller: Caller, appointment_id: str, now: datetime) -> Appointment:
    """The doctor finished a visit the patient was checked in for."""
    rules.require_doctor(caller.principal)
    appointment = authorized(store, caller, appointment_id, UPDATE, "complete")

    def body(tx: Tx) -> AppointmentRecord:
        done = store.complete(tx, appointment_id, now)
        if done is None:
            raise rules.not_completable(appointment)
        tx.emit(AppointmentCompleted(**rules.appointment_fields(done)), subject=appointment_id, version=done.version)
        audit.record(tx, caller, UPDATE, "complete", ENTITY, appointment_id, patient_id=done.patient_id)
        return done

    return view(caller, store.transact(body))


# reading -------------------------------------------------------------------------------------------------------------
def get_appointment(store: AppointmentStore, caller: Caller, appointment_id: str) -> Appointment:
    appointment = authorized(store, caller, appointment_id, READ, "read")
    audit.record(store, caller, READ, "read", ENTITY, appointment_id, patient_id=appointment.patient_id)
    return view(caller, appointment)


def visit_facts(store: AppointmentStore, caller: Caller, appointment_id: str) -> VisitFacts:
    """For records only (it opens the visit's encounter and checks the doctor itself): who, with whom, what kind of
    visit, and its status now."""
    if not caller.principal.is_service("records"):
        raise Forbidden("Only the records service asks for an appointment's visit facts.")
    appointment = store.appointment(appointment_id)
    if appointment is None:
        raise rules.not_found(appointment_id)
    audit.record(store, caller, READ, "read", ENTITY, appointment_id, patient_id=appointment.patient_id,
                 detail="visit facts")
    return VisitFacts(appointment_id=appointment.id, patient_id=appointment.patient_id,
                      doctor_id=appointment.doctor_id, department=appointment.department, service=appointment.service,
                      kind=appointment.kind, online=appointment.online, status=appointment.status,
                      start=to_utc_iso(appointment.start), consultation_id=appointment.consultation_id)


def list_appointments(store: AppointmentStore, caller: Caller, *, patient_id: str | None = None,
                      doctor_id: str | None = None, status: str | None = None, day_from: date | None = None,
                      day_to: date | None = None, limit: int = 50) -> list[Appointment]:
    """As ``services.booking.scope`` says (a patient's records, a doctor's own schedule, a consultant's own bookings,
    a team lead's by patient or doctor). Each appointment shown is audited."""
    seen = scope.listing_scope(scope.APPOINTMENTS, caller.principal, patient_id=patient_id, doctor_id=doctor_id)
    found = store.appointments(
        seen, status=status, limit=limit,
        since=as_utc(local_midnight(day_from)) if day_from is not None else None,
        before=as_utc(local_midnight(day_to + timedelta(days=1))) if day_to is not None else None)
    for appointment in found:
        audit.record(store, caller, READ, "read", ENTITY, appointment.id, patient_id=appointment.patient_id,
                     detail="list")
    return [view(caller, appointment) for appointment in found]


# the sweeps (the service's sweeper) ----------------------------------------------------------------------------------
def expire_holds(store: AppointmentStore, now: datetime, offer_for: timedelta = Policy.offer,
                 limit: int = SWEEP_BATCH) -> int:
    """End unpaid holds that have lapsed and give their places back (or offer them to the waitlist); returns how
    many. Each is a conditional update in its own transaction, so a payment confirming it at the same moment wins or
    loses cleanly."""
    expired = 0
    for due in store.holds_due(now, limit):
        def body(tx: Tx, appointment_id: str = due) -> int:
            done = store.expire_hold(tx, appointment_id, now)
            if done is None:
                return 0
            release(store, tx, done, "hold_expired", now, offer_for)
            tx.emit(AppointmentCancelled(**rules.appointment_fields(done), reason="hold_expired", late=False,
                                         by_role="system"), subject=appointment_id, version=done.version)
            audit.record(tx, SYSTEM, UPDATE, "expire-hold", ENTITY, appointment_id, patient_id=done.patient_id)
            return 1

        expired += transact_releasing(store, body)
    return expired


def mark_no_shows(store: AppointmentStore, policy: Policy, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Confirmed bookings nobody checked in for by the end of the grace period; returns how many."""
    marked = 0
    cutoff = now - policy.no_show_grace
    for due in store.no_shows_due(cutoff, limit):
        def body(tx: Tx, appointment_id: str = due) -> int:
            done = store.mark_no_show(tx, appointment_id, cutoff, now)
            if done is None:
                return 0
            tx.emit(AppointmentNoShow(**rules.appointment_fields(done)), subject=appointment_id, version=done.version)
            audit.record(tx, SYSTEM, UPDATE, "no-show", ENTITY, appointment_id, patient_id=done.patient_id)
            return 1

        marked += store.transact(body)
    return marked


def send_due_reminders(store: AppointmentStore, offsets: tuple[int, ...], now: datetime,
                       limit: int = SWEEP_BATCH) -> int:
    """Emit the reminders due at ``now`` (``__init__``: booking decides, notify words and sends); returns how many."""
    due: list[str] = []
    for hours in offsets:
        due += [aid for aid in store.reminders_due(hours, now, limit) if aid not in due]
    return sum(store.transact(lambda tx, aid=appointment_id: _remind(store, tx, aid, offsets, now))
               for appointment_id in due)


def _remind(store: AppointmentStore, tx: Tx, appointment_id: str, offsets: tuple[int, ...], now: datetime) -> int:
    appointment = store.confirmed(tx, appointment_id)
    if appointment is None:
        return 0
    send, mark = rules.reminder_due(appointment.start, rules.fixed_at(appointment), appointment.reminded, offsets, now)
    if not mark:
        return 0
    done = store.mark_reminded(tx, appointment, {h: h == send for h in mark}, now)
    if done is None or send is None:
        return 0
    tx.emit(AppointmentReminderDue(**rules.appointment_fields(done), hours_before=send, end=to_utc_iso(done.end),
                                   room=done.room, online=done.online), subject=appointment_id, version=done.version)
    return 1
