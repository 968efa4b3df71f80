"""The waitlist's decisions, pure: the entry record, what may be waited for, who sees and acts on an entry, the
place in line, and the view."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.booking.schemas import (
    PriorDiagnosis,
    Visit,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistRequest,
    WaitlistStatus,
)
from services.booking.appointments.rules import BOOK_FOR_OTHERS, Offer
from services.booking.catalogue.rules import Bookable
from services.booking.schedules.rules import SlotRecord, local_day, local_midnight, local_today
from services.booking.settings import Policy
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, InvalidInput, NotFound, field_error
from wenzhen.timez import as_utc, to_local_iso

ENTITY = "WaitlistEntry"


@dataclass(frozen=True)
class Target:
    """What an entry waits for: one slot (``slot_id``), or any place of a doctor's service on a day (times in
    [``window_start``, ``until``)). ``target`` is what the one-entry-per-patient index keys on."""

    doctor_id: str
    department: str
    service: str
    slot_id: str | None
    day: str
    window_start: datetime
    until: datetime
    target: str


@dataclass(frozen=True)
class Entry:
    """A waitlist entry as stored (times in UTC); ``active`` while waiting or offered."""

    id: str
    patient_id: str
    doctor_id: str
    department: str
    service: str
    slot_id: str | None
    day: str
    window_start: datetime
    until: datetime
    target: str
    status: WaitlistStatus
    kind: Visit
    notice: str | None
    joined_at: datetime
    joined_by: str
    joined_by_role: str
    active: bool = True
    follow_up_of: str | None = None
    prior_diagnosis: PriorDiagnosis | None = None
    offers: int = 0
    offer: Offer | None = None
    ended_at: datetime | None = None


def new_entry(entry_id: str, request: WaitlistRequest, target: Target, kind: Visit, notice: str | None,
              principal: Principal, now: datetime) -> Entry:
    return Entry(id=entry_id, patient_id=request.patient_id, doctor_id=target.doctor_id,
                 department=target.department, service=target.service, slot_id=target.slot_id, day=target.day,
                 window_start=target.window_start, until=target.until, target=target.target,
                 status=WaitlistStatus.waiting, kind=kind, notice=notice, joined_at=now, joined_by=principal.sub,
                 joined_by_role=principal.role.value, follow_up_of=request.follow_up_of,
                 prior_diagnosis=request.prior_diagnosis)


def not_found(entry_id: str) -> NotFound:
    return NotFound(f"No waitlist entry {entry_id}.")


# who may see and act -------------------------------------------------------------------------------------------------
def sees(principal: Principal, entry: Entry, acting: bool) -> bool:
    """The patient (or who acts for them); the desk, who join patients on their behalf; the doctor of the line sees
    it but does not act on it."""
    if principal.has_role(Role.patient):
        return principal.acts_for(entry.patient_id)
    if principal.has_role(*BOOK_FOR_OTHERS):
        return True
    return not acting and principal.has_role(Role.doctor) and entry.doctor_id == principal.sub


# what may be waited for ----------------------------------------------------------------------------------------------
def slot_target(slot: SlotRecord | None, slot_id: str, holds_place: bool, now: datetime) -> Target:
    """A full, open, future slot the patient has no place in."""
    if slot is None:
        raise NotFound(f"No slot {slot_id}.")
    start = as_utc(slot.start)
    if slot.status != "open" or start <= now:
        raise Conflict("The slot is no longer offered or has passed.",
                       [field_error("slot_id", "is closed or past", "closed" if slot.status != "open" else "past")])
    if slot.free > 0:
        raise Conflict("The slot has a free place: book it instead.",
                       [field_error("slot_id", "has a free place", "available")])
    if holds_place:
        raise Conflict("The patient has a place in this slot.", [field_error("slot_id", "is booked already",
                                                                             "duplicate")])
    return Target(doctor_id=slot.doctor_id, department=slot.department, service=slot.service, slot_id=slot.id,
                  day=local_day(start).isoformat(), window_start=start, until=start, target=slot.id)


def day_target(doctor: Bookable | None, request: WaitlistRequest, policy: Policy, now: datetime) -> Target:
    """A day of an active doctor's service, today or later within the booking horizon (its places are checked
    with :func:`require_no_free_place`)."""
    if doctor is None or not doctor.active:
        raise NotFound(f"No doctor {request.doctor_id}.")
    service = request.service.value
    if service not in doctor.services:
        raise InvalidInput("The doctor does not offer this service.",
                           [field_error("service", "is not offered by this doctor", "not_offered")])
    today = local_today(now)
    if request.date < today:
        raise InvalidInput("That day has passed.", [field_error("date", "is in the past", "past")])
    if request.date >= today + timedelta(days=policy.horizon_days):
        raise InvalidInput("Places for that day are not open yet.",
                           [field_error("date", f"is beyond the booking horizon ({policy.horizon_days} days)",
                                        "beyond_horizon")])
    lo, hi = as_utc(local_midnight(request.date)), as_utc(local_midnight(request.date + timedelta(days=1)))
    return Target(doctor_id=doctor.id, department=doctor.department, service=service, slot_id=None,
                  day=request.date.isoformat(), window_start=lo, until=hi,
                  target=f"{doctor.id}|{service}|{request.date.isoformat()}")


def require_no_free_place(sessions: bool, free: bool) -> None:
    """A day is waited for only when the doctor has sessions of the service left that day and none has a place."""
    if not sessions:
        raise Conflict("The doctor has no more sessions of this service that day.",
                       [field_error("date", "has no session of this service", "no_sessions")])
    if free:
        raise Conflict("There are free places that day: book one instead.",
                       [field_error("date", "has free places", "available")])


def already_waiting(request: WaitlistRequest) -> Conflict:
    field_name = "slot_id" if request.slot_id is not None else "date"
    return Conflict("The patient is waiting for this already.",
                    [field_error(field_name, "is waited for by this patient already", "duplicate")])


# answers -------------------------------------------------------------------------------------------------------------
def require_offer(entry: Entry, verb: str) -> Offer:
    if entry.status != WaitlistStatus.offered or entry.offer is None:
        raise Conflict(f"The entry is {entry.status.value}: there is no offer to {verb}.",
                       [field_error("status", f"is {entry.status.value}", "state")])
    return entry.offer


def not_waiting(entry: Entry) -> Conflict:
    return Conflict(f"The entry is {entry.status.value}; it is not waiting.",
                    [field_error("status", f"is {entry.status.value}", "state")])


def offer_lapsed() -> Conflict:
    return Conflict("The offer has ended; the place went to the next in line.",
                    [field_error("status", "offer ended", "lapsed")])


def offer_ended() -> Conflict:
    return Conflict("The offer has ended already.", [field_error("status", "offer ended", "state")])


# the place in line ---------------------------------------------------------------------------------------------------
def position(entry: Entry, waiting: list[tuple[datetime, str]]) -> int | None:
    """While it waits: 1 + the entries for the same doctor, service and day (``waiting``: their (joined_at, id))
    that joined before it."""
    if entry.status != WaitlistStatus.waiting:
        return None
    mine = (as_utc(entry.joined_at), entry.id)
    return 1 + sum((as_utc(joined), other) < mine for joined, other in waiting)


def to_entry(entry: Entry, place: int | None = None) -> WaitlistEntry:
    offer = entry.offer
    return WaitlistEntry(
        id=entry.id, patient_id=entry.patient_id, doctor_id=entry.doctor_id, department=entry.department,
        service=entry.service, slot_id=entry.slot_id, date=entry.day, status=entry.status, position=place,
        kind=entry.kind, notice=entry.notice, joined_at=to_local_iso(entry.joined_at),
        offer=WaitlistOffer(appointment_id=offer.appointment_id, slot_id=offer.slot_id,
                            start=to_local_iso(offer.start), expires_at=to_local_iso(offer.expires_at))
        if offer else None,
        offers=entry.offers, ended_at=to_local_iso(entry.ended_at) if entry.ended_at else None)
