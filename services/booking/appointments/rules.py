"""The appointments' decisions, pure (an explicit ``now``, no MongoDB): the records, who may book and see what, the
visit kind, half-days, idempotency fingerprints, holds, cancelling, check-in, reminders, and the views and event
fields."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from contracts.booking.schemas import (
    Appointment,
    AppointmentRequest,
    CheckInRequest,
    HalfDay,
    HalfDayChoice,
    PriorDiagnosis,
    ServiceSettings,
    Status,
    Visit,
    WaitlistRequest,
)
from services.booking.catalogue.rules import Bookable
from services.booking.schedules.rules import SlotRecord, local_midnight
from services.booking.settings import Policy
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError, field_error
from wenzhen.timez import as_utc, hospital_zone, to_local_iso, to_utc_iso

SYSTEM = Caller.service("booking")  # booking acting on its own rules (sweeps, offers)
SWEEP_BATCH = 200
OFFER_CANDIDATES = 20  # entries looked at for one freed place (those with a place in that slot already are skipped)
BOOK_FOR_OTHERS = (Role.consultant, Role.team_lead)  # book on a patient's behalf (phone, chat)
DESK = (Role.consultant, Role.team_lead)  # check patients in, confirm payments taken in person
OPEN = (Status.held, Status.confirmed)  # may still be cancelled or rescheduled
BOOKED = (Status.held, Status.confirmed, Status.checked_in, Status.completed)  # a follow-up "is booked"
HALF_DAY_DEFAULT = {HalfDay.morning: time(10), HalfDay.afternoon: time(14)}
HALF_DAY_CANDIDATES = 20
FIRST_ONLINE_NOTICE = ("A first online visit is a consultation only: the doctor can advise, but diagnosis and "
                       "prescriptions online are for follow-ups of an in-person diagnosis. Please come in person "
                       "for a diagnosis.")
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


# what the store signals (inside a transaction, which is then rolled back) --------------------------------------------
class SlotGone(Exception):
    """The slot could not give a place: ``reason`` is missing, closed, past or full."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class AlreadyBooked(Exception):
    """The patient holds a place in that slot already (the one-place-per-patient-and-slot index)."""


class KeyTaken(Exception):
    """The account used this Idempotency-Key already (the one-key-per-account index)."""


# records -------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AppointmentRecord:
    """An appointment as stored (times in UTC). It holds a place in its slot while ``holds_slot``."""

    id: str
    patient_id: str
    slot_id: str
    doctor_id: str
    department: str
    service: str
    start: datetime
    end: datetime
    room: str | None
    online: bool
    kind: Visit
    notice: str | None
    status: Status
    holds_slot: bool
    fee_fen: int
    prepayment: bool
    booked_at: datetime
    booked_by: str
    booked_by_role: str
    checkin_code: str
    hold_expires_at: datetime | None = None
    confirmed_at: datetime | None = None
    reschedules: int = 0
    follow_up_of: str | None = None
    consultation_id: str | None = None
    prior_diagnosis: PriorDiagnosis | None = None
    half_day: HalfDayChoice | None = None
    waitlist_id: str | None = None
    offer_expires_at: datetime | None = None
    version: int = 0  # the number of its last event (the events' sequence within this appointment)
    # set by what happens to it later
    confirmed_by: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    late_cancel: bool | None = None
    fee_kept: bool | None = None
    cancelled_by: str | None = None
    checked_in_at: datetime | None = None
    checkin_method: str | None = None
    checked_in_by: str | None = None
    completed_at: datetime | None = None
    rescheduled_at: datetime | None = None
    expired_at: datetime | None = None
    no_show_at: datetime | None = None
    reminded: dict = field(default_factory=dict)  # "h<hours>" -> {"at", "sent"}
    offer_outcome: str | None = None
    declined_at: datetime | None = None
    accepted_by: str | None = None


@dataclass(frozen=True)
class Offer:
    """A freed place held for a waiting patient (stored on their waitlist entry)."""

    appointment_id: str
    slot_id: str
    start: datetime
    expires_at: datetime


@dataclass(frozen=True)
class InLine:
    """What handing a freed place on needs of a waitlist entry (the waitlist's own record is richer)."""

    id: str
    patient_id: str
    kind: Visit
    notice: str | None
    joined_by: str
    joined_by_role: str
    follow_up_of: str | None = None
    prior_diagnosis: PriorDiagnosis | None = None


@dataclass(frozen=True)
class KnownConsultation:
    """What booking keeps of intake's ``consultation_intake_completed``."""

    patient_id: str | None
    follow_up_eligible: bool
    sequence: int | None = None


@dataclass(frozen=True)
class IdempotencyKey:
    fingerprint: str
    appointment_id: str


# who may do what -----------------------------------------------------------------------------------------------------
def require_key(value: str | None, field_name: str) -> str | None:
    """An idempotency key or an id from another service: 1–64 of ``A-Za-z0-9._:-``."""
    if value is not None and not (isinstance(value, str) and _KEY.match(value)):
        raise InvalidInput(f"{field_name} is not valid.",
                           [field_error(field_name, "1–64 letters, digits or ._:-", "pattern")])
    return value


def require_booker(principal: Principal, patient_id: str, known_patient: bool) -> None:
    """Patients book for the records they act for; consultants and team leads for a patient intake registered
    (``known_patient``); nobody else books."""
    if principal.has_role(Role.patient):
        if not principal.acts_for(patient_id):
            raise NotFound(f"No patient {patient_id} among the records this account acts for.")
    elif principal.has_role(*BOOK_FOR_OTHERS):
        if not known_patient:
            raise NotFound(f"No patient {patient_id} (a just-registered record reaches booking within seconds).")
    else:
        raise Forbidden("Patients book for themselves and their relatives; consultants and team leads book on a "
                        "patient's behalf.")


def require_consultation_booker(principal: Principal, consultation_id: str | None) -> None:
    if consultation_id is not None and not principal.has_role(*BOOK_FOR_OTHERS):
        raise Forbidden("Only consultants and team leads book from a consultation.")


def sees(principal: Principal, appointment: AppointmentRecord) -> bool:
    """The patient (or who acts for them), the doctor of the schedule, the consultant who booked it, team leads."""
    if principal.has_role(Role.patient):
        return principal.acts_for(appointment.patient_id)
    if principal.has_role(Role.doctor):
        return appointment.doctor_id == principal.sub
    if principal.has_role(Role.consultant):
        return appointment.booked_by == principal.sub
    return principal.has_role(Role.team_lead)


def not_found(appointment_id: str) -> NotFound:
    return NotFound(f"No appointment {appointment_id}.")


def require_confirmer(principal: Principal) -> bool:
    """Payments (when paid) or desk staff (who took the payment) confirm; returns whether it is payments."""
    by_payment = principal.is_service("payments")
    if not (by_payment or principal.has_role(*DESK)):
        raise Forbidden("Bookings are confirmed by payments, or by desk staff who took the payment.")
    return by_payment


def require_rescheduler(principal: Principal) -> None:
    if not principal.has_role(Role.patient, *BOOK_FOR_OTHERS):
        raise Forbidden("Patients, consultants and team leads reschedule bookings.")


def require_doctor(principal: Principal) -> None:
    if not principal.has_role(Role.doctor):
        raise Forbidden("The visit's doctor completes it.")


# the visit kind (互联网诊疗管理办法) -------------------------------------------------------------------------------
def check_prior_visit(prior: AppointmentRecord | None) -> None:
    """``follow_up_of`` names a completed in-person visit of the same patient (``prior`` is None otherwise)."""
    if prior is None:
        raise InvalidInput("The visit followed up is not one of this patient's appointments.",
                           [field_error("follow_up_of", "is not an appointment of this patient", "unknown")])
    if prior.status != Status.completed or prior.online:
        raise InvalidInput("Only a completed in-person visit can be followed up.",
                           [field_error("follow_up_of", "is not a completed in-person visit", "state")])


def visit_kind(request: AppointmentRequest | WaitlistRequest, *, online: bool,
               prior_visit: AppointmentRecord | None, consultation: KnownConsultation | None,
               by_staff: bool) -> tuple[Visit, str | None]:
    """In person: a visit. Online: with diagnosis for follow-ups of an in-person diagnosis (``follow_up_of``; a
    consultation intake found follow-up eligible; a record reference staff attest), else consultation only.
    ``prior_visit``: the appointment ``follow_up_of`` names, if it is the patient's; ``consultation``: what booking
    knows of the consultation ``prior_diagnosis`` names."""
    if request.follow_up_of is not None:
        check_prior_visit(prior_visit)
    if not online:
        return Visit.visit, None
    if request.follow_up_of is not None:
        return Visit.online_diagnosis, None
    evidence = request.prior_diagnosis
    if evidence is not None and evidence.source == "consultation":
        if consultation and consultation.patient_id == request.patient_id and consultation.follow_up_eligible:
            return Visit.online_diagnosis, None
        return Visit.consultation_only, ("That consultation shows no prior in-person diagnosis (yet). "
                                         + FIRST_ONLINE_NOTICE)
    if evidence is not None and evidence.source == "record":
        if by_staff:  # staff looked the record up; a patient's own statement is not evidence
            return Visit.online_diagnosis, None
        return Visit.consultation_only, ("A hospital record reference is confirmed by our staff before an online "
                                         "diagnosis. " + FIRST_ONLINE_NOTICE)
    return Visit.consultation_only, FIRST_ONLINE_NOTICE


def is_newer_consultation(known: KnownConsultation | None, sequence: int | None) -> bool:
    return known is None or sequence is None or (known.sequence or 0) < sequence


# idempotency ---------------------------------------------------------------------------------------------------------
def fingerprint(request: AppointmentRequest, consultation_id: str | None) -> str:
    canonical = json.dumps({"request": request.model_dump(mode="json"), "consultation_id": consultation_id},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def require_same_request(prior: IdempotencyKey, fingerprint_: str) -> None:
    if not hmac.compare_digest(prior.fingerprint, fingerprint_):
        raise Conflict("This Idempotency-Key was used for a different request.",
                       [field_error("Idempotency-Key", "was used with another body", "idempotency_mismatch")])


# half-days and slots -------------------------------------------------------------------------------------------------
def half_day_window(day, half: HalfDay) -> tuple[datetime, datetime]:
    """The half-day's start times, [from, until): morning before 12:00, afternoon from 12:00 (UTC)."""
    noon = datetime.combine(day, time(12), tzinfo=hospital_zone())
    lo, hi = (local_midnight(day), noon) if half == HalfDay.morning else (noon, local_midnight(day + timedelta(1)))
    return as_utc(lo), as_utc(hi)


def half_day_choices(slots: list[SlotRecord], day, half: HalfDay, now: datetime,
                     limit: int = HALF_DAY_CANDIDATES) -> list[tuple[str, HalfDayChoice]]:
    """The free slots of that half-day still ahead, the default time (10:00 / 14:00) first, then the nearest (the
    earlier on a tie), each with the choice the answer shows."""
    zone = hospital_zone()
    default = HALF_DAY_DEFAULT[half]
    target = as_utc(datetime.combine(day, default, tzinfo=zone))
    found = sorted((s for s in slots if as_utc(s.start) > now),
                   key=lambda s: (abs(as_utc(s.start) - target), as_utc(s.start)))
    result = []
    for slot in found[:limit]:
        chosen = as_utc(slot.start).astimezone(zone).strftime("%H:%M")
        exact = as_utc(slot.start) == target
        note = (f"The {half.value} defaults to {default:%H:%M}." if exact else
                f"{default:%H:%M} was not free; this is the nearest free time in the {half.value}: {chosen}.")
        result.append((slot.id, HalfDayChoice(half_day=half, default_time=f"{default:%H:%M}", chosen_time=chosen,
                                              exact=exact, note=note)))
    return result


def slot_conflict(reason: str, field_name: str) -> ServiceError:
    if reason == "missing":
        return NotFound("No such slot.")
    texts = {"full": "The slot is fully booked; choose another.", "closed": "The slot is no longer offered.",
             "past": "The slot has started or passed."}
    return Conflict(texts[reason], [field_error(field_name, texts[reason], reason)])


def gone_reason(slot: SlotRecord | None, now: datetime) -> str:
    """Why a slot gave no place."""
    if slot is None:
        return "missing"
    return "closed" if slot.status != "open" else "past" if as_utc(slot.start) <= now else "full"


def require_slot_service(slot: SlotRecord, request: AppointmentRequest) -> None:
    if request.service is not None and request.service.value != slot.service:
        raise InvalidInput("The slot is for another service.",
                           [field_error("service", f"the slot is for {slot.service}", "mismatch")])


def require_same_doctor_and_service(slot: SlotRecord, appointment: AppointmentRecord) -> None:
    if slot.doctor_id != appointment.doctor_id or slot.service != appointment.service:
        raise InvalidInput("A booking moves within the same doctor and service; book anew for another.",
                           [field_error("slot_id", "is another doctor's or service's slot", "mismatch")])


def new_appointment(*, appointment_id: str, patient_id: str, slot: SlotRecord, doctor: Bookable | None,
                    settings: ServiceSettings, kind: Visit, notice: str | None, status: Status, now: datetime,
                    booked_by: str, booked_by_role: str, hold_expires_at: datetime | None = None,
                    follow_up_of: str | None = None, consultation_id: str | None = None,
                    prior_diagnosis: PriorDiagnosis | None = None, half_day: HalfDayChoice | None = None,
                    waitlist_id: str | None = None, offer_expires_at: datetime | None = None,
                    version: int = 0) -> AppointmentRecord:
    """An appointment holding a place in ``slot``, with a fresh check-in code; ``version``: the events its creation
    publishes."""
    return AppointmentRecord(
        id=appointment_id, patient_id=patient_id, slot_id=slot.id, doctor_id=slot.doctor_id,
        department=slot.department, service=slot.service, start=slot.start, end=slot.end, room=slot.room,
        online=slot.online, kind=kind, notice=notice, status=status, holds_slot=True,
        fee_fen=doctor.fee_fen if doctor else 0, prepayment=settings.prepayment, hold_expires_at=hold_expires_at,
        booked_at=now, booked_by=booked_by, booked_by_role=booked_by_role,
        confirmed_at=now if status == Status.confirmed else None, reschedules=0, follow_up_of=follow_up_of,
        consultation_id=consultation_id, prior_diagnosis=prior_diagnosis, half_day=half_day, waitlist_id=waitlist_id,
        offer_expires_at=offer_expires_at, checkin_code=secrets.token_urlsafe(18), version=version)


# confirming, cancelling, moving --------------------------------------------------------------------------------------
def confirm_refusal(current: AppointmentRecord) -> Conflict:
    return Conflict(f"The booking is {current.status.value}; it cannot be confirmed.",
                    [field_error("status", f"is {current.status.value}", "state")])


def still_open(appointment: AppointmentRecord, now: datetime, verb: str) -> None:
    if appointment.status not in OPEN:
        raise Conflict(f"A {appointment.status.value} booking cannot be {verb}.",
                       [field_error("status", f"is {appointment.status.value}", "state")])
    if as_utc(appointment.start) <= now:
        raise Conflict(f"The appointment has started; it cannot be {verb}.",
                       [field_error("start", "has passed", "past")])


def cancellation(appointment: AppointmentRecord, principal: Principal, reason: str, policy: Policy,
                 now: datetime) -> tuple[bool, bool]:
    """(late, fee_kept) of cancelling now: late inside ``policy.late_cancel`` before the start of a confirmed
    booking; under ``refuse`` a patient may not cancel then; under ``keep_fee`` their own late cancellation keeps
    the fee."""
    late = appointment.status == Status.confirmed and as_utc(appointment.start) - now < policy.late_cancel
    if late and principal.has_role(Role.patient) and policy.late_cancel_policy == "refuse":
        hours = int(policy.late_cancel.total_seconds() // 3600)
        raise Conflict(f"Within {hours} hours of the start a booking can no longer be cancelled online; please call "
                       "or come to the desk.", [field_error("start", f"is less than {hours} hours away", "late")])
    fee_kept = late and policy.late_cancel_policy == "keep_fee" and reason in ("patient_request", "other")
    return late, fee_kept


def changed_meanwhile() -> Conflict:
    return Conflict("The booking changed meanwhile; look at it again.",
                    [field_error("status", "changed meanwhile", "state")])


def already_booked(text: str = "The patient has a place in this slot already.") -> Conflict:
    return Conflict(text, [field_error("slot_id", "is booked for this patient already", "duplicate")])


def no_free_half_day(what: str, request) -> Conflict:
    return Conflict(f"No free {what} on {request.date} ({request.half_day.value}).",
                    [field_error("half_day", "has no free slot", "full")])


# arrival -------------------------------------------------------------------------------------------------------------
def shows_code(request: CheckInRequest, appointment: AppointmentRecord) -> bool:
    return request.code is not None and hmac.compare_digest(request.code, appointment.checkin_code)


def check_in_method(principal: Principal, appointment: AppointmentRecord, request: CheckInRequest, policy: Policy,
                    now: datetime) -> str:
    """How a confirmed booking is checked in now (online, qr, desk, doctor), or why not: from ``checkin_opens``
    before the start until the no-show grace has passed; a patient only by joining an online visit."""
    if appointment.status != Status.confirmed:
        hint = " (waiting for payment)" if appointment.status == Status.held else ""
        raise Conflict(f"A {appointment.status.value} booking cannot be checked in{hint}.",
                       [field_error("status", f"is {appointment.status.value}", "state")])
    start = as_utc(appointment.start)
    if now < start - policy.checkin_opens:
        raise Conflict(f"Check-in opens at {to_local_iso(start - policy.checkin_opens)}.",
                       [field_error("start", "is too far ahead", "too_early")])
    if now > start + policy.no_show_grace:
        raise Conflict("Too late to check in: the grace period after the start has passed.",
                       [field_error("start", "grace period passed", "too_late")])
    if principal.has_role(Role.patient):
        if not appointment.online:
            raise Forbidden("In-person visits are checked in at the desk: show the booking's QR code there.")
        return "online"
    if principal.has_role(*DESK):
        if request.code is not None and not shows_code(request, appointment):
            raise InvalidInput("The QR code is not this booking's.", [field_error("code", "does not match")])
        return "qr" if request.code is not None else "desk"
    return "doctor"


def not_completable(appointment: AppointmentRecord) -> Conflict:
    return Conflict(f"A {appointment.status.value} booking cannot be completed; check the patient in first.",
                    [field_error("status", f"is {appointment.status.value}", "state")])


# reminders -----------------------------------------------------------------------------------------------------------
def reminder_key(hours: int) -> str:
    return f"h{hours}"


def fixed_at(appointment: AppointmentRecord) -> datetime:
    """When the appointment's current time became certain: moved, else confirmed, else booked."""
    return as_utc(appointment.rescheduled_at or appointment.confirmed_at or appointment.booked_at)


def reminder_due(start: datetime, fixed: datetime, reminded: dict, offsets: tuple[int, ...],
                 now: datetime) -> tuple[int | None, list[int]]:
    """At ``now``, for an appointment starting at ``start`` whose time was fixed at ``fixed``: the offset to remind
    for (or None) and the offsets to mark as done (sent or passed over). Only the nearest of several due offsets is
    sent, and only one whose moment came after the time was fixed."""
    remaining = as_utc(start) - as_utc(now)
    if remaining <= timedelta(0):
        return None, []
    within = sorted(h for h in offsets if remaining <= timedelta(hours=h) and reminder_key(h) not in reminded)
    if not within:
        return None, []
    nearest = within[0]
    send = nearest if as_utc(fixed) <= as_utc(start) - timedelta(hours=nearest) else None
    return send, within


# views and event fields ----------------------------------------------------------------------------------------------
def _local(value: datetime | None) -> str | None:
    return to_local_iso(value) if value is not None else None


def to_appointment(a: AppointmentRecord, own: bool, replayed: bool = False) -> Appointment:
    """The answer; ``own``: the caller acts for the patient (the QR code is theirs only)."""
    return Appointment(
        id=a.id, patient_id=a.patient_id, doctor_id=a.doctor_id, department=a.department, service=a.service,
        kind=a.kind, notice=a.notice, status=a.status, slot_id=a.slot_id, start=to_local_iso(a.start),
        end=to_local_iso(a.end), room=a.room, online=a.online, fee_fen=a.fee_fen, prepayment=a.prepayment,
        hold_expires_at=_local(a.hold_expires_at) if a.status == Status.held else None,
        booked_at=to_local_iso(a.booked_at), booked_by_role=a.booked_by_role, confirmed_at=_local(a.confirmed_at),
        cancelled_at=_local(a.cancelled_at), cancel_reason=a.cancel_reason, late_cancel=a.late_cancel,
        fee_kept=a.fee_kept, checked_in_at=_local(a.checked_in_at), checkin_method=a.checkin_method,
        completed_at=_local(a.completed_at), reschedules=a.reschedules, follow_up_of=a.follow_up_of,
        consultation_id=a.consultation_id, waitlist_id=a.waitlist_id,
        offer_expires_at=_local(a.offer_expires_at) if a.status == Status.offered else None,
        half_day=a.half_day, checkin_code=a.checkin_code if own else None, replayed=replayed)


def appointment_fields(a: AppointmentRecord) -> dict:
    return {"appointment_id": a.id, "patient_id": a.patient_id, "doctor_id": a.doctor_id,
            "department": a.department, "service": a.service, "start": to_utc_iso(a.start)}


def slot_fields(slot: SlotRecord) -> dict:
    return {"slot_id": slot.id, "doctor_id": slot.doctor_id, "department": slot.department,
            "service": slot.service, "start": to_utc_iso(slot.start), "booked": slot.booked,
            "capacity": slot.capacity}


def staff_booker(a: AppointmentRecord) -> str | None:
    """The staff account that booked it (None when a patient did)."""
    return a.booked_by if a.booked_by_role != Role.patient.value else None
