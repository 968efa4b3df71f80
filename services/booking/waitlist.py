"""The waitlist: patients waiting for a full slot, or for any place of a doctor's service on a day.

**Joining.** A patient joins for the records they act for; consultants and team leads on a patient's behalf (as they
book). Only a full slot, or a day with no free place of that doctor's service, can be waited for (otherwise: book).
A unique index lets a patient wait once per slot or day; waiting for one slot and for its whole day are two entries.

**Offers.** When a place frees (a cancellation, a lapsed hold, a booking moved away, an offer declined or lapsed), it
is not given back to the slot while someone waits for it: in the same transaction the first entry in line (by the
time they joined) is marked ``offered`` and an appointment ``offered`` holds the place for them until
``BOOKING_OFFER_MINUTES`` later (or the slot's start, if sooner). See ``places.py`` for why this can neither lose the
place to a race nor give it twice. notify tells the patient by SMS (``waitlist_offered``).

**Answers.** Accepting turns the offered appointment into a booking like any other (``confirmed``, or ``held`` until
paid for services that need prepayment) with the usual ``appointment_booked`` events. Declining, or letting the offer
lapse (the sweeper, every ``BOOKING_SWEEP_SECONDS``), ends the entry and hands the place to the next in line in the
same transaction — or back to the slot when nobody else waits. An entry whose slot or day has passed expires.

Every entry shown is audited like an appointment; a refused look is a 404.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.booking.events import AppointmentBooked, AppointmentConfirmed, WaitlistOfferEnded
from contracts.booking.schemas import (
    Appointment,
    ServiceCode,
    Status,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistRequest,
    WaitlistStatus,
)
from services.booking.appointments import (
    BOOK_FOR_OTHERS,
    SWEEP_BATCH,
    Policy,
    may_book,
    require_own_record,
    to_appointment,
    visit_kind,
)
from services.booking.catalogue.store import CatalogueStore
from services.booking.places import (
    APPOINTMENTS,
    SYSTEM,
    WAITLIST,
    appointment_fields,
    release,
)
from services.booking.places import transact as transact_releasing
from services.booking.schedules import SLOTS, local_midnight, local_today
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, InvalidInput, NotFound, field_error
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, hospital_zone, to_local_iso, to_utc_iso, utcnow

ENTRY_INDEX = "one_entry_per_patient_target"
INDEXES = [
    Index(WAITLIST, [("patient_id", ASCENDING), ("target", ASCENDING)], unique=True, name=ENTRY_INDEX,
          options={"partialFilterExpression": {"active": True}}),
    Index(WAITLIST, [("doctor_id", ASCENDING), ("service", ASCENDING), ("status", ASCENDING),
                     ("joined_at", ASCENDING)], name="line"),
    Index(WAITLIST, [("patient_id", ASCENDING), ("joined_at", ASCENDING)], name="by_patient"),
    Index(WAITLIST, [("joined_by", ASCENDING), ("joined_at", ASCENDING)], name="by_joiner"),
    Index(WAITLIST, [("status", ASCENDING), ("until", ASCENDING)], name="waiting_due"),
]
ENTITY = "WaitlistEntry"


def _not_found(entry_id: str) -> NotFound:
    return NotFound(f"No waitlist entry {entry_id}.")


# who may see and act -------------------------------------------------------------------------------------------------
def _sees(caller: Caller, doc: dict, acting: bool) -> bool:
    principal = caller.principal
    if principal.has_role(Role.patient):
        return principal.acts_for(doc["patient_id"])
    if principal.has_role(*BOOK_FOR_OTHERS):  # they book (and so wait) on any registered patient's behalf
        return True
    return not acting and principal.has_role(Role.doctor) and doc["doctor_id"] == principal.sub


def _authorized(store: Store, caller: Caller, entry_id: str, action: str, subtype: str, acting: bool) -> dict:
    doc = store[WAITLIST].find_one({"_id": entry_id})
    if doc is None or not _sees(caller, doc, acting):
        audit.record(store, caller, action, subtype, ENTITY, entry_id, patient_id=doc["patient_id"] if doc else None,
                     outcome=Outcome.denied)
        raise _not_found(entry_id)
    return doc


# joining -------------------------------------------------------------------------------------------------------------
def join(store: Store, caller: Caller, request: WaitlistRequest, policy: Policy,
         now: datetime | None = None) -> WaitlistEntry:
    """Put a patient in line for a full slot, or for a doctor's service on a day without a free place."""
    now = now or utcnow()
    may_book(store, caller, request.patient_id)
    if request.slot_id is not None:
        target = _slot_target(store, request, now)
    else:
        target = _day_target(store, request, policy, now)
    kind, notice = visit_kind(store, caller, request, ServiceCode(target["service"]))
    principal = caller.principal
    doc = {"_id": ids.new_id("wl"), "patient_id": request.patient_id, **target, "active": True,
           "status": WaitlistStatus.waiting.value, "kind": kind.value, "notice": notice,
           "follow_up_of": request.follow_up_of,
           "prior_diagnosis": request.prior_diagnosis.model_dump() if request.prior_diagnosis else None,
           "joined_at": now, "joined_by": principal.sub, "joined_by_role": principal.role.value, "offers": 0,
           "offer": None, "ended_at": None}

    def body(tx: Tx) -> None:
        tx[WAITLIST].insert_one(doc)
        audit.record(tx, caller, CREATE, "waitlist-join", ENTITY, doc["_id"], patient_id=request.patient_id,
                     detail=doc["target"])

    field = "slot_id" if request.slot_id is not None else "date"
    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict("The patient is waiting for this already.",
                       [field_error(field, "is waited for by this patient already", "duplicate")]) from None
    return to_entry(doc, position(store, doc))


def _slot_target(store: Store, request: WaitlistRequest, now: datetime) -> dict:
    slot = store[SLOTS].find_one({"_id": request.slot_id})
    if slot is None:
        raise NotFound(f"No slot {request.slot_id}.")
    start = as_utc(slot["start"])
    if slot["status"] != "open" or start <= now:
        raise Conflict("The slot is no longer offered or has passed.",
                       [field_error("slot_id", "is closed or past", "closed" if slot["status"] != "open" else "past")])
    if slot["free"] > 0:
        raise Conflict("The slot has a free place: book it instead.",
                       [field_error("slot_id", "has a free place", "available")])
    if store[APPOINTMENTS].find_one({"patient_id": request.patient_id, "slot_id": slot["_id"], "holds_slot": True},
                                    {"_id": 1}) is not None:
        raise Conflict("The patient has a place in this slot.", [field_error("slot_id", "is booked already",
                                                                             "duplicate")])
    return {"doctor_id": slot["doctor_id"], "department": slot["department"], "service": slot["service"],
            "slot_id": slot["_id"], "day": _local_day(start).isoformat(), "window_start": start, "until": start,
            "target": slot["_id"]}


def _day_target(store: Store, request: WaitlistRequest, policy: Policy, now: datetime) -> dict:
    doctor = CatalogueStore(store).bookable(request.doctor_id)
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
    sessions = {"doctor_id": doctor.id, "service": service, "status": "open",
                "start": {"$gt": max(lo, now), "$lt": hi}}
    if store[SLOTS].find_one(sessions, {"_id": 1}) is None:
        raise Conflict("The doctor has no more sessions of this service that day.",
                       [field_error("date", "has no session of this service", "no_sessions")])
    if store[SLOTS].find_one({**sessions, "free": {"$gt": 0}}, {"_id": 1}) is not None:
        raise Conflict("There are free places that day: book one instead.",
                       [field_error("date", "has free places", "available")])
    return {"doctor_id": doctor.id, "department": doctor.department, "service": service, "slot_id": None,
            "day": request.date.isoformat(), "window_start": lo, "until": hi,
            "target": f"{doctor.id}|{service}|{request.date.isoformat()}"}


def _local_day(moment: datetime) -> date:
    return as_utc(moment).astimezone(hospital_zone()).date()


# answering an offer, leaving -----------------------------------------------------------------------------------------
def accept(store: Store, caller: Caller, entry_id: str, policy: Policy, now: datetime | None = None) -> Appointment:
    """Take the place offered: the offered appointment becomes a booking (``confirmed``, or ``held`` until paid)."""
    now = now or utcnow()
    entry = _authorized(store, caller, entry_id, UPDATE, "waitlist-accept", acting=True)
    if entry["status"] != WaitlistStatus.offered.value:
        raise Conflict(f"The entry is {entry['status']}: there is no offer to accept.",
                       [field_error("status", f"is {entry['status']}", "state")])
    appointment_id = entry["offer"]["appointment_id"]

    def body(tx: Tx) -> dict:
        offered = tx[APPOINTMENTS].find_one({"_id": appointment_id}) or {}
        confirmed = not offered.get("prepayment", False)
        doc = tx[APPOINTMENTS].find_one_and_update(
            {"_id": appointment_id, "status": Status.offered.value, "offer_expires_at": {"$gt": now}},
            {"$set": {"status": (Status.confirmed if confirmed else Status.held).value, "booked_at": now,
                      "confirmed_at": now if confirmed else None,
                      "hold_expires_at": None if confirmed else now + policy.hold, "offer_expires_at": None,
                      "accepted_by": caller.principal.sub}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            raise Conflict("The offer has ended; the place went to the next in line.",
                           [field_error("status", "offer ended", "lapsed")])
        tx[WAITLIST].update_one({"_id": entry_id, "status": WaitlistStatus.offered.value},
                                {"$set": {"status": WaitlistStatus.booked.value, "active": False, "ended_at": now}})
        staff = doc["booked_by"] if doc["booked_by_role"] != Role.patient.value else None
        tx.emit(AppointmentBooked(**appointment_fields(doc), slot_id=doc["slot_id"], end=to_utc_iso(doc["end"]),
                                  status=doc["status"], kind=doc["kind"], online=doc["online"],
                                  prepayment=doc["prepayment"], fee_fen=doc["fee_fen"], booked_by=staff,
                                  follow_up_of=doc.get("follow_up_of"),
                                  hold_expires_at=None if confirmed else to_utc_iso(doc["hold_expires_at"])),
                subject=appointment_id)
        if confirmed:
            tx.emit(AppointmentConfirmed(**appointment_fields(doc), by="no_prepayment"), subject=appointment_id)
        audit.record(tx, caller, CREATE, "book", "Appointment", appointment_id, patient_id=doc["patient_id"],
                     detail=f"waitlist {entry_id}")
        return doc

    return to_appointment(store.transact(body), caller)


def decline(store: Store, caller: Caller, entry_id: str, policy: Policy,
            now: datetime | None = None) -> WaitlistEntry:
    """Refuse the place offered: it goes to the next in line (or back to the slot); the entry ends."""
    now = now or utcnow()
    entry = _authorized(store, caller, entry_id, UPDATE, "waitlist-decline", acting=True)
    if entry["status"] != WaitlistStatus.offered.value:
        raise Conflict(f"The entry is {entry['status']}: there is no offer to decline.",
                       [field_error("status", f"is {entry['status']}", "state")])
    return _declined(store, caller, entry, policy, now)


def leave(store: Store, caller: Caller, entry_id: str, policy: Policy, now: datetime | None = None) -> WaitlistEntry:
    """Stop waiting; an open offer is declined (and passed on)."""
    now = now or utcnow()
    entry = _authorized(store, caller, entry_id, UPDATE, "waitlist-leave", acting=True)
    if entry["status"] == WaitlistStatus.offered.value:
        return _declined(store, caller, entry, policy, now)

    def body(tx: Tx) -> dict:
        done = tx[WAITLIST].find_one_and_update(
            {"_id": entry_id, "status": WaitlistStatus.waiting.value},
            {"$set": {"status": WaitlistStatus.left.value, "active": False, "ended_at": now}},
            return_document=ReturnDocument.AFTER)
        if done is None:
            raise Conflict(f"The entry is {entry['status']}; it is not waiting.",
                           [field_error("status", f"is {entry['status']}", "state")])
        audit.record(tx, caller, UPDATE, "waitlist-leave", ENTITY, entry_id, patient_id=done["patient_id"])
        return done

    return to_entry(store.transact(body))


def _declined(store: Store, caller: Caller, entry: dict, policy: Policy, now: datetime) -> WaitlistEntry:
    appointment_id = entry["offer"]["appointment_id"]

    def body(tx: Tx) -> dict:
        ended = end_offer(tx, caller, appointment_id, WaitlistStatus.declined, now, policy.offer)
        if ended is None:
            raise Conflict("The offer has ended already.", [field_error("status", "offer ended", "state")])
        return ended

    return to_entry(transact_releasing(store, body))


def end_offer(tx: Tx, caller: Caller, appointment_id: str, outcome: WaitlistStatus, now: datetime,
              offer_for: timedelta, condition: dict | None = None) -> dict | None:
    """End an open offer (declined or lapsed) and pass its place on; returns the ended entry, or None when the offer
    was no longer open (accepted or ended meanwhile)."""
    doc = tx[APPOINTMENTS].find_one_and_update(
        {"_id": appointment_id, "status": Status.offered.value, **(condition or {})},
        {"$set": {"status": Status.declined.value, "holds_slot": False, "offer_outcome": outcome.value,
                  "declined_at": now}}, return_document=ReturnDocument.AFTER)
    if doc is None:
        return None
    ended = tx[WAITLIST].find_one_and_update(
        {"_id": doc["waitlist_id"], "status": WaitlistStatus.offered.value},
        {"$set": {"status": outcome.value, "active": False, "ended_at": now}}, return_document=ReturnDocument.AFTER)
    passed = release(tx, doc, f"offer_{outcome.value}", now, offer_for)
    tx.emit(WaitlistOfferEnded(waitlist_id=doc["waitlist_id"], appointment_id=appointment_id,
                               patient_id=doc["patient_id"], doctor_id=doc["doctor_id"], slot_id=doc["slot_id"],
                               outcome=outcome.value, passed_on=passed is not None), subject=doc["waitlist_id"])
    audit.record(tx, caller, UPDATE, f"waitlist-{outcome.value}", "Appointment", appointment_id,
                 patient_id=doc["patient_id"])
    return ended


# the sweeps ----------------------------------------------------------------------------------------------------------
def lapse_offers(store: Store, policy: Policy, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Offers nobody answered in time: each passes to the next in line (or back to the slot); returns how many."""
    due = [d["_id"] for d in store[APPOINTMENTS].find({"status": Status.offered.value,
                                                       "offer_expires_at": {"$lte": now}}, {"_id": 1}).limit(limit)]
    lapsed = 0
    for appointment_id in due:
        def body(tx: Tx, aid: str = appointment_id) -> int:
            ended = end_offer(tx, SYSTEM, aid, WaitlistStatus.lapsed, now, policy.offer,
                              condition={"offer_expires_at": {"$lte": now}})
            return 0 if ended is None else 1

        lapsed += transact_releasing(store, body)
    return lapsed


def expire_entries(store: Store, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Entries still waiting when their slot started or their day ended."""
    due = [d["_id"] for d in store[WAITLIST].find({"status": WaitlistStatus.waiting.value, "until": {"$lte": now}},
                                                  {"_id": 1}).limit(limit)]
    expired = 0
    for entry_id in due:
        def body(tx: Tx, eid: str = entry_id) -> int:
            done = tx[WAITLIST].find_one_and_update(
                {"_id": eid, "status": WaitlistStatus.waiting.value, "until": {"$lte": now}},
                {"$set": {"status": WaitlistStatus.expired.value, "active": False, "ended_at": now}},
                return_document=ReturnDocument.AFTER)
            if done is None:
                return 0
            audit.record(tx, SYSTEM, UPDATE, "waitlist-expire", ENTITY, eid, patient_id=done["patient_id"])
            return 1

        expired += store.transact(body)
    return expired


# reading -------------------------------------------------------------------------------------------------------------
def get_entry(store: Store, caller: Caller, entry_id: str) -> WaitlistEntry:
    doc = _authorized(store, caller, entry_id, READ, "read", acting=False)
    audit.record(store, caller, READ, "read", ENTITY, entry_id, patient_id=doc["patient_id"])
    return to_entry(doc, position(store, doc))


def list_entries(store: Store, caller: Caller, *, patient_id: str | None = None, doctor_id: str | None = None,
                 status: str | None = None, limit: int = 50) -> list[WaitlistEntry]:
    """A patient's entries (patients for records they act for; consultants and team leads by patient), a doctor's
    own line, a consultant's own entries, a team lead's by doctor. Each entry shown is audited."""
    principal = caller.principal
    query: dict = {}
    if principal.has_role(Role.patient):
        require_own_record(principal, patient_id)
    elif principal.has_role(Role.doctor):
        if doctor_id not in (None, principal.sub):
            raise NotFound("A doctor sees the waitlist of their own schedule.")
        doctor_id = principal.sub
    elif principal.has_role(Role.consultant):
        if patient_id is None:
            query["joined_by"] = principal.sub
    elif not (principal.has_role(Role.team_lead) and (patient_id or doctor_id)):
        raise InvalidInput("Name a patient or a doctor.", [field_error("patient_id", "or doctor_id is needed",
                                                                       "missing")])
    for name, value in (("patient_id", patient_id), ("doctor_id", doctor_id), ("status", status)):
        if value is not None:
            query[name] = value
    docs = list(store[WAITLIST].find(query).sort([("joined_at", ASCENDING), ("_id", ASCENDING)]).limit(limit))
    for doc in docs:
        audit.record(store, caller, READ, "read", ENTITY, doc["_id"], patient_id=doc["patient_id"], detail="list")
    return [to_entry(doc, position(store, doc)) for doc in docs]


def position(store: Store, doc: dict) -> int | None:
    """1 + the entries for the same doctor, service and day waiting since before ``doc`` (while it waits)."""
    if doc["status"] != WaitlistStatus.waiting.value:
        return None
    ahead = store[WAITLIST].find({"status": WaitlistStatus.waiting.value, "doctor_id": doc["doctor_id"],
                                  "service": doc["service"], "day": doc["day"]}, {"joined_at": 1})
    return 1 + sum((as_utc(e["joined_at"]), e["_id"]) < (as_utc(doc["joined_at"]), doc["_id"]) for e in ahead)


def to_entry(doc: dict, place: int | None = None) -> WaitlistEntry:
    offer = doc.get("offer")
    return WaitlistEntry(
        id=doc["_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"], department=doc["department"],
        service=doc["service"], slot_id=doc.get("slot_id"), date=doc["day"], status=doc["status"], position=place,
        kind=doc["kind"], notice=doc.get("notice"), joined_at=to_local_iso(doc["joined_at"]),
        offer=WaitlistOffer(appointment_id=offer["appointment_id"], slot_id=offer["slot_id"],
                            start=to_local_iso(offer["start"]), expires_at=to_local_iso(offer["expires_at"]))
        if offer else None,
        offers=doc.get("offers", 0), ended_at=to_local_iso(doc["ended_at"]) if doc.get("ended_at") else None)
