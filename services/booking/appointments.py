"""Booking, cancelling, rescheduling, confirming and arrival of appointments.

**No double booking, no overbooking.** A booking takes a place with one conditional update of the slot
(``{"_id": slot, "status": "open", "free": {"$gt": 0}}`` → ``$inc booked +1, free -1``) inside the transaction
that also inserts the appointment and its events: when the slot is full the update matches nothing and the
booking fails, whatever the concurrency (two transactions taking the last place collide on the slot and one of
them is retried, then finds it full). A unique index lets a patient hold one place per slot. Nothing is checked
first and written later.

**Holds.** A service that needs prepayment (by default the online video visit) is booked ``held`` until
:func:`confirm` is called — by payments when the invoice is paid, or by desk staff who took the payment in person.
An unpaid hold lapses after ``BOOKING_HOLD_MINUTES``: the sweep (:func:`expire_holds`) ends it and gives its place
back, with conditional updates, so a sweep and a payment racing each other never both win. Other services are
confirmed at once.

**Idempotency.** A booking request may carry an ``Idempotency-Key``: the key is stored with the appointment, in the
same transaction, under a unique index on (account, key). A retry with the same key and body returns the first
result (``replayed``); the same key with a different body is a 409. Keys are kept 24 hours.

**Half-days.** A patient who names only a day and a half-day gets 10:00 (morning) or 14:00 (afternoon) — the
seed's rule (网络咨询流程, step 7) — or, when that is taken, the nearest free slot in the same half-day (morning:
before 12:00; afternoon: from 12:00); the answer says which.

**Online visits** (互联网诊疗管理办法): diagnosis online only for follow-ups of an in-person diagnosis. An
``online_video`` booking is ``online_diagnosis`` when it follows up a completed in-person appointment
(``follow_up_of``), a consultation whose structured history showed a prior in-person diagnosis (intake's
``consultation_intake_completed`` with ``follow_up_eligible``), or a hospital record reference attested by staff;
otherwise it is ``consultation_only`` and the answer says so.

**Rescheduling** takes the new place first and gives the old one back in the same transaction: when the new slot
is full nothing changes. **Cancelling** gives the place back; inside ``BOOKING_LATE_CANCEL_HOURS`` before the start
it is marked late, and ``BOOKING_LATE_CANCEL_POLICY`` says whether that is all (``mark``), whether a patient's own
late cancellation keeps the fee (``keep_fee``) or whether patients may not cancel then at all (``refuse``). A place
freed by cancelling, rescheduling away or a lapsed hold goes to the first patient on the waitlist when someone waits
for it, in the same transaction (``places.py``, ``waitlist.py``). **Arrival** (来诊): desk staff check the patient
in (scanning the QR code of the booking, or by hand), a patient joins an online visit themself;
``BOOKING_NO_SHOW_GRACE_MINUTES`` after the start a confirmed booking nobody checked in is marked no-show by the
sweep.

**Who.** A patient account books, sees and cancels for the records it acts for (its token lists them);
consultants and team leads book on a patient's behalf (for a patient intake has registered); a consultant sees the
bookings they made, a doctor the bookings of their own schedule, a team lead all (the desk's supervisor). Every
read of an appointment is audited; a refused one looks like a missing one (404).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.booking.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConfirmed,
    AppointmentNoShow,
    AppointmentRescheduled,
    SlotHeld,
)
from contracts.booking.schemas import (
    Appointment,
    AppointmentRequest,
    CancelRequest,
    CheckInRequest,
    HalfDay,
    HalfDayChoice,
    RescheduleRequest,
    ServiceCode,
    Status,
    Visit,
    WaitlistRequest,
)
from services.booking.catalogue.store import CatalogueStore
from services.booking.places import APPOINTMENTS, SYSTEM, SlotGone, new_appointment, release, take_place
from services.booking.places import appointment_fields as _fields
from services.booking.places import slot_fields as _slot_fields
from services.booking.places import transact as transact_releasing
from services.booking.schedules import SLOTS, local_midnight
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError, field_error
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, hospital_zone, to_local_iso, to_utc_iso, utcnow

IDEMPOTENCY = "idempotency_keys"
PATIENTS = "known_patients"  # ids of patients intake registered (patient_registered): staff book only for these
CONSULTATIONS = "known_consultations"  # consultation id -> patient, follow-up eligibility (from intake)

IDEMPOTENCY_INDEX = "one_key_per_account"
PATIENT_SLOT_INDEX = "one_place_per_patient_slot"
IDEMPOTENCY_TTL = timedelta(hours=24)
SWEEP_BATCH = 200

INDEXES = [
    Index(APPOINTMENTS, [("patient_id", ASCENDING), ("slot_id", ASCENDING)], unique=True, name=PATIENT_SLOT_INDEX,
          options={"partialFilterExpression": {"holds_slot": True}}),
    Index(APPOINTMENTS, [("patient_id", ASCENDING), ("start", ASCENDING)], name="by_patient"),
    Index(APPOINTMENTS, [("doctor_id", ASCENDING), ("start", ASCENDING)], name="by_doctor"),
    Index(APPOINTMENTS, [("booked_by", ASCENDING), ("start", ASCENDING)], name="by_booker"),
    Index(APPOINTMENTS, [("status", ASCENDING), ("hold_expires_at", ASCENDING)], name="holds_due"),
    Index(APPOINTMENTS, [("status", ASCENDING), ("start", ASCENDING)], name="by_status_start"),
    Index(APPOINTMENTS, [("status", ASCENDING), ("offer_expires_at", ASCENDING)], name="offers_due"),
    Index(APPOINTMENTS, [("follow_up_of", ASCENDING)], name="by_follow_up_of"),
    Index(IDEMPOTENCY, [("account_id", ASCENDING), ("key", ASCENDING)], unique=True, name=IDEMPOTENCY_INDEX),
    Index(IDEMPOTENCY, [("created_at", ASCENDING)], name="idempotency_expiry",
          options={"expireAfterSeconds": int(IDEMPOTENCY_TTL.total_seconds())}),
]

BOOK_FOR_OTHERS = (Role.consultant, Role.team_lead)  # book on a patient's behalf (phone, chat)
DESK = (Role.consultant, Role.team_lead)  # check patients in, confirm payments taken in person
OPEN = (Status.held.value, Status.confirmed.value)  # may still be cancelled or rescheduled
HALF_DAY_DEFAULT = {HalfDay.morning: time(10), HalfDay.afternoon: time(14)}
FIRST_ONLINE_NOTICE = ("A first online visit is a consultation only: the doctor can advise, but diagnosis and "
                       "prescriptions online are for follow-ups of an in-person diagnosis. Please come in person "
                       "for a diagnosis.")


LATE_CANCEL_POLICIES = ("mark", "keep_fee", "refuse")


@dataclass(frozen=True)
class Policy:
    """The configurable times and rules of booking (``services/booking/settings.py``).

    ``late_cancel_policy`` says what a cancellation inside ``late_cancel`` before the start means: ``mark`` (allowed,
    marked late, the fee refunded), ``keep_fee`` (allowed and marked, but a patient's own cancellation keeps the fee:
    ``fee_kept`` in the event tells payments not to refund) or ``refuse`` (patients cannot cancel then; the desk and
    the doctor still can, e.g. when the doctor is unavailable)."""

    hold: timedelta = timedelta(minutes=10)
    late_cancel: timedelta = timedelta(hours=24)
    late_cancel_policy: str = "mark"
    no_show_grace: timedelta = timedelta(minutes=30)
    checkin_opens: timedelta = timedelta(hours=2)  # how long before the start a patient may be checked in
    horizon_days: int = 14
    offer: timedelta = timedelta(minutes=30)  # how long a freed place is held for the first on the waitlist
    reminder_offsets: tuple[int, ...] = (2, 24)  # hours before the start, ascending
    follow_up_remind_days: int = 3

    @classmethod
    def from_settings(cls, cfg) -> Policy:
        """From ``services.booking.settings.BookingSettings``."""
        if cfg.late_cancel_policy not in LATE_CANCEL_POLICIES:
            raise InvalidInput("Unknown late-cancellation policy.",
                               [field_error("BOOKING_LATE_CANCEL_POLICY", f"one of {', '.join(LATE_CANCEL_POLICIES)}",
                                            "enum")])
        if cfg.offer_minutes < 1:
            raise InvalidInput("A waitlist offer lasts at least a minute.",
                               [field_error("BOOKING_OFFER_MINUTES", "at least 1", "range")])
        return cls(hold=timedelta(minutes=cfg.hold_minutes), late_cancel=timedelta(hours=cfg.late_cancel_hours),
                   late_cancel_policy=cfg.late_cancel_policy,
                   no_show_grace=timedelta(minutes=cfg.no_show_grace_minutes), horizon_days=cfg.horizon_days,
                   offer=timedelta(minutes=cfg.offer_minutes),
                   reminder_offsets=reminder_offsets(cfg.reminder_offsets_hours),
                   follow_up_remind_days=cfg.follow_up_remind_days)


def reminder_offsets(text: str) -> tuple[int, ...]:
    """``"24,2"`` → ``(2, 24)``: whole hours before the start, 1 to 168, distinct; empty means no reminders."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 168 for p in parts) or len(set(map(int, parts))) != len(parts):
        raise InvalidInput("Reminder offsets are distinct whole hours from 1 to 168, comma-separated.",
                           [field_error("REMINDER_OFFSETS_HOURS", "e.g. 24,2", "pattern")])
    return tuple(sorted(int(p) for p in parts))


def _not_found(appointment_id: str) -> NotFound:
    return NotFound(f"No appointment {appointment_id}.")


# who may do what -----------------------------------------------------------------------------------------------------
def may_book(store: Store, caller: Caller, patient_id: str) -> None:
    principal = caller.principal
    if principal.has_role(Role.patient):
        if not principal.acts_for(patient_id):
            raise NotFound(f"No patient {patient_id} among the records this account acts for.")
    elif principal.has_role(*BOOK_FOR_OTHERS):
        if store[PATIENTS].find_one({"_id": patient_id}) is None:
            raise NotFound(f"No patient {patient_id} (a just-registered record reaches booking within seconds).")
    else:
        raise Forbidden("Patients book for themselves and their relatives; consultants and team leads book on a "
                        "patient's behalf.")


def _sees(caller: Caller, doc: dict) -> bool:
    principal = caller.principal
    if principal.has_role(Role.patient):
        return principal.acts_for(doc["patient_id"])
    if principal.has_role(Role.doctor):
        return doc["doctor_id"] == principal.sub
    if principal.has_role(Role.consultant):
        return doc.get("booked_by") == principal.sub
    return principal.has_role(Role.team_lead)


def authorized(store: Store, caller: Caller, appointment_id: str, action: str, subtype: str,
               also: Callable[[dict], bool] | None = None) -> dict:
    """The appointment when the caller may act on it; otherwise the refusal is audited and a 404 raised."""
    doc = store[APPOINTMENTS].find_one({"_id": appointment_id})
    if doc is None or not (_sees(caller, doc) or (also is not None and also(doc))):
        audit.record(store, caller, action, subtype, "Appointment", appointment_id,
                     patient_id=doc["patient_id"] if doc else None, outcome=Outcome.denied)
        raise _not_found(appointment_id)
    return doc


# facts booking keeps from intake's events ----------------------------------------------------------------------------
def record_patient(tx: Tx, patient_id: str) -> None:
    tx[PATIENTS].update_one({"_id": patient_id}, {"$setOnInsert": {"seen_at": utcnow()}}, upsert=True)


def record_consultation(tx: Tx, consultation_id: str, patient_id: str | None, follow_up_eligible: bool,
                        sequence: int | None) -> None:
    known = tx[CONSULTATIONS].find_one({"_id": consultation_id})
    if known is not None and sequence is not None and (known.get("sequence") or 0) >= sequence:
        return
    tx[CONSULTATIONS].update_one({"_id": consultation_id},
                                 {"$set": {"patient_id": patient_id, "follow_up_eligible": follow_up_eligible,
                                           "sequence": sequence, "seen_at": utcnow()}}, upsert=True)


# booking -------------------------------------------------------------------------------------------------------------
def book(store: Store, caller: Caller, request: AppointmentRequest, policy: Policy, *,
         idempotency_key: str | None = None, consultation_id: str | None = None,
         now: datetime | None = None) -> Appointment:
    """Book a slot for ``request.patient_id``; see the module's docstring for the rules."""
    now = now or utcnow()
    principal = caller.principal
    may_book(store, caller, request.patient_id)
    if consultation_id is not None and not principal.has_role(*BOOK_FOR_OTHERS):
        raise Forbidden("Only consultants and team leads book from a consultation.")
    fingerprint = _fingerprint(request, consultation_id)
    if idempotency_key is not None:
        prior = store[IDEMPOTENCY].find_one({"account_id": principal.sub, "key": idempotency_key})
        if prior is not None:
            return _replay(store, caller, prior, fingerprint)

    if request.slot_id is not None:
        slot = store[SLOTS].find_one({"_id": request.slot_id})
        if slot is None:
            raise NotFound(f"No slot {request.slot_id}.")
        if request.service is not None and request.service.value != slot["service"]:
            raise InvalidInput("The slot is for another service.",
                               [field_error("service", f"the slot is for {slot['service']}", "mismatch")])
        service = ServiceCode(slot["service"])
        candidates: list[tuple[str, HalfDayChoice | None]] = [(request.slot_id, None)]
    else:
        service = request.service
        candidates = half_day_candidates(store, request.date, request.half_day, service=service.value, now=now,
                                         doctor_id=request.doctor_id, department=request.department)
    kind, notice = visit_kind(store, caller, request, service)

    for sid, choice in candidates:
        appointment_id = ids.new_id("apt")
        body = _booking(caller, request, policy, appointment_id, sid, choice, kind, notice, now,
                        idempotency_key, fingerprint, consultation_id)
        try:
            doc = store.transact(body)
        except SlotGone as gone:
            if choice is None:
                raise _slot_conflict(gone.reason, "slot_id") from None
            continue  # a half-day request: the next nearest slot
        except DuplicateKeyError as exc:
            prior = store[IDEMPOTENCY].find_one({"account_id": principal.sub, "key": idempotency_key}) if (
                idempotency_key is not None) else None
            if prior is not None:  # the same request raced itself: the first one won
                return _replay(store, caller, prior, fingerprint)
            if _index_of(exc) == IDEMPOTENCY_INDEX:  # rare: the winner's key vanished (expired) since the collision
                raise Conflict("A request with this Idempotency-Key is in progress; retry.",
                               [field_error("Idempotency-Key", "is in use", "in_progress")]) from None
            raise Conflict("The patient has a place in this slot already.",
                           [field_error("slot_id", "is booked for this patient already", "duplicate")]) from None
        return to_appointment(doc, caller)
    raise Conflict(f"No free {service.value} slot on {request.date} ({request.half_day.value}).",
                   [field_error("half_day", "has no free slot", "full")])


def _booking(caller: Caller, request: AppointmentRequest, policy: Policy, appointment_id: str, sid: str,
             choice: HalfDayChoice | None, kind: Visit, notice: str | None, now: datetime,
             idempotency_key: str | None, fingerprint: str, consultation_id: str | None) -> Callable[[Tx], dict]:
    principal = caller.principal

    def body(tx: Tx) -> dict:
        if idempotency_key is not None:  # first: a duplicate of this request collides here, before anything else
            tx[IDEMPOTENCY].insert_one({"_id": ids.new_id("idk"), "account_id": principal.sub, "key": idempotency_key,
                                        "fingerprint": fingerprint, "appointment_id": appointment_id,
                                        "created_at": now})
        slot = take_place(tx, sid, now)
        settings = CatalogueStore(tx).service(slot["service"])
        confirmed = not settings.prepayment
        doc = new_appointment(
            appointment_id=appointment_id, patient_id=request.patient_id, slot=slot,
            doctor=CatalogueStore(tx).bookable(slot["doctor_id"]), settings=settings, kind=kind.value, notice=notice,
            status=Status.confirmed if confirmed else Status.held, now=now, booked_by=principal.sub,
            booked_by_role=principal.role.value, hold_expires_at=None if confirmed else now + policy.hold,
            follow_up_of=request.follow_up_of, consultation_id=consultation_id,
            prior_diagnosis=request.prior_diagnosis.model_dump() if request.prior_diagnosis else None,
            half_day=choice.model_dump(mode="json") if choice else None)
        tx[APPOINTMENTS].insert_one(doc)
        tx.emit(SlotHeld(**_slot_fields(slot), appointment_id=appointment_id), subject=sid)
        staff = principal.sub if principal.is_staff else None
        tx.emit(AppointmentBooked(**_fields(doc), slot_id=sid, end=to_utc_iso(doc["end"]), status=doc["status"],
                                  kind=doc["kind"], online=doc["online"], prepayment=doc["prepayment"],
                                  fee_fen=doc["fee_fen"], booked_by=staff, consultation_id=consultation_id,
                                  follow_up_of=request.follow_up_of,
                                  hold_expires_at=to_utc_iso(doc["hold_expires_at"]) if not confirmed else None),
                subject=appointment_id)
        if confirmed:
            tx.emit(AppointmentConfirmed(**_fields(doc), by="no_prepayment"), subject=appointment_id)
        audit.record(tx, caller, CREATE, "book", "Appointment", appointment_id, patient_id=request.patient_id,
                     detail=doc["status"])
        return doc

    return body


def _slot_conflict(reason: str, field: str) -> ServiceError:
    if reason == "missing":
        return NotFound("No such slot.")
    texts = {"full": "The slot is fully booked; choose another.", "closed": "The slot is no longer offered.",
             "past": "The slot has started or passed."}
    return Conflict(texts[reason], [field_error(field, texts[reason], reason)])


def half_day_candidates(store: Store, day: date, half: HalfDay, *, service: str, now: datetime,
                        doctor_id: str | None = None, department: str | None = None,
                        limit: int = 20) -> list[tuple[str, HalfDayChoice]]:
    """Free slots of that half-day, the default time (10:00 / 14:00) first, then the nearest."""
    zone = hospital_zone()
    noon = datetime.combine(day, time(12), tzinfo=zone)
    lo, hi = (local_midnight(day), noon) if half == HalfDay.morning else (noon, local_midnight(day + timedelta(1)))
    default = HALF_DAY_DEFAULT[half]
    target = as_utc(datetime.combine(day, default, tzinfo=zone))
    query: dict = {"status": "open", "free": {"$gt": 0}, "service": service,
                   "start": {"$gte": as_utc(lo), "$lt": as_utc(hi)}}
    if doctor_id is not None:
        query["doctor_id"] = doctor_id
    if department is not None:
        query["department"] = department
    found = [s for s in store[SLOTS].find(query) if as_utc(s["start"]) > now]
    found.sort(key=lambda s: (abs(as_utc(s["start"]) - target), as_utc(s["start"])))
    result = []
    for slot in found[:limit]:
        chosen = as_utc(slot["start"]).astimezone(zone).strftime("%H:%M")
        exact = as_utc(slot["start"]) == target
        note = (f"The {half.value} defaults to {default:%H:%M}." if exact else
                f"{default:%H:%M} was not free; this is the nearest free time in the {half.value}: {chosen}.")
        result.append((slot["_id"], HalfDayChoice(half_day=half, default_time=f"{default:%H:%M}",
                                                  chosen_time=chosen, exact=exact, note=note)))
    return result


def visit_kind(store: Store, caller: Caller, request: AppointmentRequest | WaitlistRequest,
               service: ServiceCode) -> tuple[Visit, str | None]:
    """In person: a visit. Online: with diagnosis for follow-ups of an in-person diagnosis, else consultation only."""
    if not CatalogueStore(store).service(service).online:
        if request.follow_up_of is not None:
            _prior_visit(store, request)
        return Visit.visit, None
    if request.follow_up_of is not None:
        _prior_visit(store, request)
        return Visit.online_diagnosis, None
    evidence = request.prior_diagnosis
    if evidence is not None and evidence.source == "consultation":
        known = store[CONSULTATIONS].find_one({"_id": evidence.reference})
        if known and known.get("patient_id") == request.patient_id and known.get("follow_up_eligible"):
            return Visit.online_diagnosis, None
        return Visit.consultation_only, ("That consultation shows no prior in-person diagnosis (yet). "
                                         + FIRST_ONLINE_NOTICE)
    if evidence is not None and evidence.source == "record":
        if caller.principal.is_staff:  # staff looked the record up; a patient's own statement is not evidence
            return Visit.online_diagnosis, None
        return Visit.consultation_only, ("A hospital record reference is confirmed by our staff before an online "
                                         "diagnosis. " + FIRST_ONLINE_NOTICE)
    return Visit.consultation_only, FIRST_ONLINE_NOTICE


def _prior_visit(store: Store, request: AppointmentRequest | WaitlistRequest) -> dict:
    prior = store[APPOINTMENTS].find_one({"_id": request.follow_up_of, "patient_id": request.patient_id})
    if prior is None:
        raise InvalidInput("The visit followed up is not one of this patient's appointments.",
                           [field_error("follow_up_of", "is not an appointment of this patient", "unknown")])
    if prior["status"] != Status.completed.value or prior["online"]:
        raise InvalidInput("Only a completed in-person visit can be followed up.",
                           [field_error("follow_up_of", "is not a completed in-person visit", "state")])
    return prior


def _fingerprint(request: AppointmentRequest, consultation_id: str | None) -> str:
    canonical = json.dumps({"request": request.model_dump(mode="json"), "consultation_id": consultation_id},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(store: Store, caller: Caller, prior: dict, fingerprint: str) -> Appointment:
    if not hmac.compare_digest(prior["fingerprint"], fingerprint):
        raise Conflict("This Idempotency-Key was used for a different request.",
                       [field_error("Idempotency-Key", "was used with another body", "idempotency_mismatch")])
    doc = store[APPOINTMENTS].find_one({"_id": prior["appointment_id"]})
    audit.record(store, caller, READ, "replay", "Appointment", doc["_id"], patient_id=doc["patient_id"])
    return to_appointment(doc, caller, replayed=True)


def _index_of(exc: DuplicateKeyError) -> str:
    details = exc.details or {}
    if IDEMPOTENCY_INDEX in str(exc) or set(details.get("keyPattern") or {}) == {"account_id", "key"}:
        return IDEMPOTENCY_INDEX
    return PATIENT_SLOT_INDEX


# confirming, cancelling, rescheduling --------------------------------------------------------------------------------
def confirm(store: Store, caller: Caller, appointment_id: str, now: datetime | None = None) -> Appointment:
    """Confirm a held booking: payments when the patient paid (idempotent: a repeated call returns the confirmed
    booking), or desk staff who took the payment. A hold that has lapsed (its place given back) is a 409: payments
    then refunds."""
    now = now or utcnow()
    principal = caller.principal
    by_payment = principal.is_service("payments")
    if not (by_payment or principal.has_role(*DESK)):
        raise Forbidden("Bookings are confirmed by payments, or by desk staff who took the payment.")
    if not by_payment:  # desk staff confirm what they may see, exactly as they would read it
        authorized(store, caller, appointment_id, UPDATE, "confirm")

    def body(tx: Tx) -> dict:
        doc = tx[APPOINTMENTS].find_one_and_update(
            {"_id": appointment_id, "status": Status.held.value},
            {"$set": {"status": Status.confirmed.value, "confirmed_at": now, "hold_expires_at": None,
                      "confirmed_by": principal.sub}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            current = tx[APPOINTMENTS].find_one({"_id": appointment_id})
            if current is None:
                raise _not_found(appointment_id)
            if current["status"] == Status.confirmed.value:  # a repeat answers the booking: that is a read
                audit.record(tx, caller, READ, "confirm", "Appointment", appointment_id,
                             patient_id=current["patient_id"], detail="already confirmed")
                return current
            raise Conflict(f"The booking is {current['status']}; it cannot be confirmed.",
                           [field_error("status", f"is {current['status']}", "state")])
        tx.emit(AppointmentConfirmed(**_fields(doc), by="payment" if by_payment else "staff"), subject=appointment_id)
        audit.record(tx, caller, UPDATE, "confirm", "Appointment", appointment_id, patient_id=doc["patient_id"])
        return doc

    return to_appointment(store.transact(body), caller)


def cancel(store: Store, caller: Caller, appointment_id: str, request: CancelRequest, policy: Policy,
           now: datetime | None = None) -> Appointment:
    now = now or utcnow()
    doc = authorized(store, caller, appointment_id, UPDATE, "cancel")
    _still_open(doc, now, "cancelled")
    late = doc["status"] == Status.confirmed.value and as_utc(doc["start"]) - now < policy.late_cancel
    patient_side = caller.principal.has_role(Role.patient)
    if late and patient_side and policy.late_cancel_policy == "refuse":
        hours = int(policy.late_cancel.total_seconds() // 3600)
        raise Conflict(f"Within {hours} hours of the start a booking can no longer be cancelled online; please call "
                       "or come to the desk.", [field_error("start", f"is less than {hours} hours away", "late")])
    fee_kept = late and policy.late_cancel_policy == "keep_fee" and request.reason in ("patient_request", "other")
    role = caller.principal.role.value

    def body(tx: Tx) -> dict:
        done = tx[APPOINTMENTS].find_one_and_update(
            {"_id": appointment_id, "status": doc["status"], "slot_id": doc["slot_id"]},
            {"$set": {"status": Status.cancelled.value, "holds_slot": False, "cancelled_at": now,
                      "cancel_reason": request.reason, "late_cancel": late, "fee_kept": fee_kept,
                      "cancelled_by": caller.principal.sub, "hold_expires_at": None}},
            return_document=ReturnDocument.AFTER)
        if done is None:
            raise Conflict("The booking changed meanwhile; look at it again.",
                           [field_error("status", "changed meanwhile", "state")])
        release(tx, done, "cancelled", now, policy.offer)
        tx.emit(AppointmentCancelled(**_fields(done), reason=request.reason, late=late, by_role=role,
                                     fee_kept=fee_kept), subject=appointment_id)
        audit.record(tx, caller, UPDATE, "cancel", "Appointment", appointment_id, patient_id=done["patient_id"],
                     detail=f"{request.reason}{', late' if late else ''}{', fee kept' if fee_kept else ''}")
        return done

    return to_appointment(transact_releasing(store, body), caller)


def reschedule(store: Store, caller: Caller, appointment_id: str, request: RescheduleRequest,
               now: datetime | None = None, policy: Policy | None = None) -> Appointment:
    """Move a booking to another slot of the same doctor and service: the new place is taken before the old one is
    given back, in one transaction, so a full new slot leaves the booking as it was."""
    now = now or utcnow()
    policy = policy or Policy()
    doc = authorized(store, caller, appointment_id, UPDATE, "reschedule")
    if not caller.principal.has_role(Role.patient, *BOOK_FOR_OTHERS):
        raise Forbidden("Patients, consultants and team leads reschedule bookings.")
    _still_open(doc, now, "rescheduled")
    if request.slot_id is not None:
        if request.slot_id == doc["slot_id"]:
            raise InvalidInput("That is the booking's own slot.", [field_error("slot_id", "is the current slot")])
        candidates: list[tuple[str, HalfDayChoice | None]] = [(request.slot_id, None)]
    else:
        candidates = [c for c in half_day_candidates(store, request.date, request.half_day, service=doc["service"],
                                                     now=now, doctor_id=doc["doctor_id"]) if c[0] != doc["slot_id"]]

    for sid, choice in candidates:
        try:
            moved = transact_releasing(store, _move(caller, doc, sid, choice, now, policy.offer))
        except SlotGone as gone:
            if choice is None:
                raise _slot_conflict(gone.reason, "slot_id") from None
            continue
        except DuplicateKeyError:
            raise Conflict("The patient has a place in that slot already.",
                           [field_error("slot_id", "is booked for this patient already", "duplicate")]) from None
        return to_appointment(moved, caller)
    raise Conflict(f"No free slot of this doctor on {request.date} ({request.half_day.value}).",
                   [field_error("half_day", "has no free slot", "full")])


def _move(caller: Caller, doc: dict, sid: str, choice: HalfDayChoice | None, now: datetime,
          offer_for: timedelta) -> Callable[[Tx], dict]:
    def body(tx: Tx) -> dict:
        slot = take_place(tx, sid, now)  # first the new place …
        if slot["doctor_id"] != doc["doctor_id"] or slot["service"] != doc["service"]:
            raise InvalidInput("A booking moves within the same doctor and service; book anew for another.",
                               [field_error("slot_id", "is another doctor's or service's slot", "mismatch")])
        moved = tx[APPOINTMENTS].find_one_and_update(
            {"_id": doc["_id"], "status": doc["status"], "slot_id": doc["slot_id"]},
            {"$set": {"slot_id": sid, "start": slot["start"], "end": slot["end"], "room": slot.get("room"),
                      "rescheduled_at": now, "half_day": choice.model_dump(mode="json") if choice else None,
                      "reminded": {}},  # a new time: its reminders are due again
             "$inc": {"reschedules": 1}}, return_document=ReturnDocument.AFTER)
        if moved is None:
            raise Conflict("The booking changed meanwhile; look at it again.",
                           [field_error("status", "changed meanwhile", "state")])
        release(tx, doc, "rescheduled", now, offer_for)  # … then the old one back (or to the waitlist)
        tx.emit(SlotHeld(**_slot_fields(slot), appointment_id=doc["_id"]), subject=sid)
        tx.emit(AppointmentRescheduled(**_fields(moved), slot_id=sid, previous_slot_id=doc["slot_id"],
                                       previous_start=to_utc_iso(doc["start"])), subject=doc["_id"])
        audit.record(tx, caller, UPDATE, "reschedule", "Appointment", doc["_id"], patient_id=doc["patient_id"])
        return moved

    return body


def _still_open(doc: dict, now: datetime, verb: str) -> None:
    if doc["status"] not in OPEN:
        raise Conflict(f"A {doc['status']} booking cannot be {verb}.",
                       [field_error("status", f"is {doc['status']}", "state")])
    if as_utc(doc["start"]) <= now:
        raise Conflict(f"The appointment has started; it cannot be {verb}.",
                       [field_error("start", "has passed", "past")])


# arrival -------------------------------------------------------------------------------------------------------------
def check_in(store: Store, caller: Caller, appointment_id: str, request: CheckInRequest, policy: Policy,
             now: datetime | None = None) -> Appointment:
    """来诊: desk staff check a patient in (scanning the booking's QR code, or by hand); the doctor may; a patient
    checks in themself only by joining an online visit. From ``checkin_opens`` before the start until the no-show
    grace has passed. Checking in twice answers the first check-in."""
    now = now or utcnow()
    principal = caller.principal
    desk = principal.has_role(*DESK)
    # desk staff check in what they may see, or any booking whose QR code the patient shows them (the code is the
    # patient's say-so); a wrong code looks like a missing booking
    doc = authorized(store, caller, appointment_id, UPDATE, "check-in", also=lambda found: desk and _shows_code(
        request, found))
    if doc["status"] == Status.checked_in.value:
        audit.record(store, caller, READ, "check-in", "Appointment", appointment_id, patient_id=doc["patient_id"],
                     detail="already checked in")
        return to_appointment(doc, caller)
    if doc["status"] != Status.confirmed.value:
        hint = " (waiting for payment)" if doc["status"] == Status.held.value else ""
        raise Conflict(f"A {doc['status']} booking cannot be checked in{hint}.",
                       [field_error("status", f"is {doc['status']}", "state")])
    start = as_utc(doc["start"])
    if now < start - policy.checkin_opens:
        raise Conflict(f"Check-in opens at {to_local_iso(start - policy.checkin_opens)}.",
                       [field_error("start", "is too far ahead", "too_early")])
    if now > start + policy.no_show_grace:
        raise Conflict("Too late to check in: the grace period after the start has passed.",
                       [field_error("start", "grace period passed", "too_late")])
    if principal.has_role(Role.patient):
        if not doc["online"]:
            raise Forbidden("In-person visits are checked in at the desk: show the booking's QR code there.")
        method = "online"
    elif desk:
        if request.code is not None and not _shows_code(request, doc):
            raise InvalidInput("The QR code is not this booking's.", [field_error("code", "does not match")])
        method = "qr" if request.code is not None else "desk"
    else:
        method = "doctor"

    def body(tx: Tx) -> dict:
        done = tx[APPOINTMENTS].find_one_and_update(
            {"_id": appointment_id, "status": Status.confirmed.value},
            {"$set": {"status": Status.checked_in.value, "checked_in_at": now, "checkin_method": method,
                      "checked_in_by": principal.sub}}, return_document=ReturnDocument.AFTER)
        if done is None:
            raise Conflict("The booking changed meanwhile; look at it again.",
                           [field_error("status", "changed meanwhile", "state")])
        booked_by = done["booked_by"] if done["booked_by_role"] != Role.patient.value else None
        tx.emit(AppointmentCheckedIn(**_fields(done), method=method, booked_by=booked_by), subject=appointment_id)
        audit.record(tx, caller, UPDATE, "check-in", "Appointment", appointment_id, patient_id=done["patient_id"],
                     detail=method)
        return done

    return to_appointment(store.transact(body), caller)


def _shows_code(request: CheckInRequest, doc: dict) -> bool:
    return request.code is not None and hmac.compare_digest(request.code, doc["checkin_code"])


def complete(store: Store, caller: Caller, appointment_id: str, now: datetime | None = None) -> Appointment:
    """The doctor finished a visit the patient was checked in for."""
    now = now or utcnow()
    if not caller.principal.has_role(Role.doctor):
        raise Forbidden("The visit's doctor completes it.")
    doc = authorized(store, caller, appointment_id, UPDATE, "complete")

    def body(tx: Tx) -> dict:
        done = tx[APPOINTMENTS].find_one_and_update(
            {"_id": appointment_id, "status": Status.checked_in.value},
            {"$set": {"status": Status.completed.value, "completed_at": now}}, return_document=ReturnDocument.AFTER)
        if done is None:
            raise Conflict(f"A {doc['status']} booking cannot be completed; check the patient in first.",
                           [field_error("status", f"is {doc['status']}", "state")])
        tx.emit(AppointmentCompleted(**_fields(done)), subject=appointment_id)
        audit.record(tx, caller, UPDATE, "complete", "Appointment", appointment_id, patient_id=done["patient_id"])
        return done

    return to_appointment(store.transact(body), caller)


# the sweeps (timers) -------------------------------------------------------------------------------------------------
def expire_holds(store: Store, now: datetime, limit: int = SWEEP_BATCH, offer_for: timedelta = Policy.offer) -> int:
    """End unpaid holds that have lapsed and give their places back (or offer them to the waitlist); returns how
    many. Each one is a conditional update in its own transaction, so a payment confirming it at the same moment wins
    or loses cleanly."""
    expired = 0
    due_ids = [d["_id"] for d in store[APPOINTMENTS].find({"status": Status.held.value,
                                                           "hold_expires_at": {"$lte": now}}, {"_id": 1}).limit(limit)]
    for due in due_ids:
        def body(tx: Tx, appointment_id: str = due) -> int:
            doc = tx[APPOINTMENTS].find_one_and_update(
                {"_id": appointment_id, "status": Status.held.value, "hold_expires_at": {"$lte": now}},
                {"$set": {"status": Status.expired.value, "holds_slot": False, "expired_at": now}},
                return_document=ReturnDocument.AFTER)
            if doc is None:
                return 0
            release(tx, doc, "hold_expired", now, offer_for)
            tx.emit(AppointmentCancelled(**_fields(doc), reason="hold_expired", late=False, by_role="system"),
                    subject=appointment_id)
            audit.record(tx, SYSTEM, UPDATE, "expire-hold", "Appointment", appointment_id,
                         patient_id=doc["patient_id"])
            return 1

        expired += transact_releasing(store, body)
    return expired


def mark_no_shows(store: Store, policy: Policy, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Confirmed bookings nobody checked in for by the end of the grace period; returns how many."""
    marked = 0
    cutoff = now - policy.no_show_grace
    due_ids = [d["_id"] for d in store[APPOINTMENTS].find({"status": Status.confirmed.value,
                                                           "start": {"$lte": cutoff}}, {"_id": 1}).limit(limit)]
    for due in due_ids:
        def body(tx: Tx, appointment_id: str = due) -> int:
            doc = tx[APPOINTMENTS].find_one_and_update(
                {"_id": appointment_id, "status": Status.confirmed.value, "start": {"$lte": cutoff}},
                {"$set": {"status": Status.no_show.value, "no_show_at": now}}, return_document=ReturnDocument.AFTER)
            if doc is None:
                return 0
            tx.emit(AppointmentNoShow(**_fields(doc)), subject=appointment_id)
            audit.record(tx, SYSTEM, UPDATE, "no-show", "Appointment", appointment_id, patient_id=doc["patient_id"])
            return 1

        marked += store.transact(body)
    return marked


# reading -------------------------------------------------------------------------------------------------------------
def get_appointment(store: Store, caller: Caller, appointment_id: str) -> Appointment:
    doc = authorized(store, caller, appointment_id, READ, "read")
    audit.record(store, caller, READ, "read", "Appointment", appointment_id, patient_id=doc["patient_id"])
    return to_appointment(doc, caller)


def require_own_record(principal: Principal, patient_id: str | None) -> None:
    """A patient account lists only records it acts for, and must name one (a 404 otherwise, as for a stranger's)."""
    if patient_id is None or not principal.acts_for(patient_id):
        raise NotFound("Name a patient record this account acts for (patient_id).")


def list_appointments(store: Store, caller: Caller, *, patient_id: str | None = None, doctor_id: str | None = None,
                      status: str | None = None, day_from: date | None = None, day_to: date | None = None,
                      limit: int = 50) -> list[Appointment]:
    """A patient's bookings (patients for records they act for), a doctor's own schedule, a consultant's own
    bookings, anything for team leads (by patient or doctor). Each appointment shown is audited."""
    principal = caller.principal
    query: dict = {}
    if principal.has_role(Role.patient):
        require_own_record(principal, patient_id)
    elif principal.has_role(Role.doctor):
        if doctor_id not in (None, principal.sub):
            raise Forbidden("A doctor sees the appointments of their own schedule.")
        doctor_id = principal.sub
    elif principal.has_role(Role.consultant):
        query["booked_by"] = principal.sub
    elif principal.has_role(Role.team_lead):
        if patient_id is None and doctor_id is None:
            raise InvalidInput("Name a patient or a doctor.", [field_error("patient_id", "or doctor_id is needed",
                                                                           "missing")])
    else:
        raise Forbidden("Patients, consultants, doctors and team leads list appointments.")
    for name, value in (("patient_id", patient_id), ("doctor_id", doctor_id), ("status", status)):
        if value is not None:
            query[name] = value
    window = {}
    if day_from is not None:
        window["$gte"] = as_utc(local_midnight(day_from))
    if day_to is not None:
        window["$lt"] = as_utc(local_midnight(day_to + timedelta(days=1)))
    if window:
        query["start"] = window
    docs = list(store[APPOINTMENTS].find(query).sort("start", ASCENDING).limit(limit))
    for doc in docs:
        audit.record(store, caller, READ, "read", "Appointment", doc["_id"], patient_id=doc["patient_id"],
                     detail="list")
    return [to_appointment(doc, caller) for doc in docs]


# views ---------------------------------------------------------------------------------------------------------------
def _local(value: datetime | None) -> str | None:
    return to_local_iso(value) if value is not None else None


def to_appointment(doc: dict, caller: Caller, replayed: bool = False) -> Appointment:
    own = caller.principal.acts_for(doc["patient_id"])  # the QR code is the patient's only
    return Appointment(
        id=doc["_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"], department=doc["department"],
        service=doc["service"], kind=doc["kind"], notice=doc.get("notice"), status=doc["status"],
        slot_id=doc["slot_id"], start=to_local_iso(doc["start"]), end=to_local_iso(doc["end"]), room=doc.get("room"),
        online=doc["online"], fee_fen=doc["fee_fen"], prepayment=doc["prepayment"],
        hold_expires_at=_local(doc.get("hold_expires_at")) if doc["status"] == Status.held.value else None,
        booked_at=to_local_iso(doc["booked_at"]), booked_by_role=doc["booked_by_role"],
        confirmed_at=_local(doc.get("confirmed_at")), cancelled_at=_local(doc.get("cancelled_at")),
        cancel_reason=doc.get("cancel_reason"), late_cancel=doc.get("late_cancel"), fee_kept=doc.get("fee_kept"),
        checked_in_at=_local(doc.get("checked_in_at")), checkin_method=doc.get("checkin_method"),
        completed_at=_local(doc.get("completed_at")), reschedules=doc.get("reschedules", 0),
        follow_up_of=doc.get("follow_up_of"), consultation_id=doc.get("consultation_id"),
        waitlist_id=doc.get("waitlist_id"),
        offer_expires_at=_local(doc.get("offer_expires_at")) if doc["status"] == Status.offered.value else None,
        half_day=doc.get("half_day"), checkin_code=doc["checkin_code"] if own else None, replayed=replayed)

