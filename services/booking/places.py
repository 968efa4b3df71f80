"""A place in a slot: taking it, giving it back, and handing a freed one to the first patient on the waitlist.

Every change of a slot's places is one conditional update, inside the transaction that changes the appointment
(``appointments.py``, ``waitlist.py``): ``free > 0`` to take one, ``booked > 0`` to give one back. A freed place
(a cancellation, a lapsed hold, a booking moved away, a declined or lapsed offer) goes first to the waitlist: when a
patient is waiting for that slot, or for that doctor's service on that day, the place is not given back at all —
the same transaction marks the first entry in line ``offered`` (conditional on it still ``waiting``) and inserts an
appointment ``offered`` to that patient that holds the place. So the place never shows as free in between (nobody
else can take it), and two places freed at once go to two different patients (both transactions update the same
entry: one of them is retried and finds the next in line). Only when nobody is waiting does the slot get it back.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.booking.events import SlotHeld, SlotReleased, WaitlistOffered
from contracts.booking.schemas import ServiceSettings, Status, WaitlistStatus
from services.booking.catalogue.rules import Bookable
from services.booking.catalogue.store import CatalogueStore
from services.booking.schedules import SLOTS
from wenzhen import audit, ids
from wenzhen.audit import CREATE
from wenzhen.auth import Caller
from wenzhen.storage import Store, Tx
from wenzhen.timez import as_utc, to_utc_iso

APPOINTMENTS = "appointments"
WAITLIST = "waitlist"
SYSTEM = Caller.service("booking")  # booking acting on its own rules (sweeps, offers)
OFFER_CANDIDATES = 20  # entries looked at for one freed place (those with a place in that slot already are skipped)
DUPLICATE_RETRIES = 3

T = TypeVar("T")


class SlotGone(Exception):
    """The slot could not give a place (inside a transaction, which is then rolled back)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def take_place(tx: Tx, sid: str, now: datetime) -> dict:
    """One place of an open, future slot, by a conditional update (the database refuses a full slot)."""
    slot = tx[SLOTS].find_one_and_update({"_id": sid, "status": "open", "free": {"$gt": 0}, "start": {"$gt": now}},
                                         {"$inc": {"booked": 1, "free": -1}}, return_document=ReturnDocument.AFTER)
    if slot is None:
        seen = tx[SLOTS].find_one({"_id": sid})
        reason = ("missing" if seen is None else "closed" if seen["status"] != "open"
                  else "past" if as_utc(seen["start"]) <= now else "full")
        raise SlotGone(reason)
    return slot


def give_back(tx: Tx, appointment: dict, reason: str) -> None:
    """Return the appointment's place to its slot (conditional: never below zero)."""
    slot = tx[SLOTS].find_one_and_update({"_id": appointment["slot_id"], "booked": {"$gt": 0}},
                                         {"$inc": {"booked": -1, "free": 1}}, return_document=ReturnDocument.AFTER)
    if slot is not None:
        tx.emit(SlotReleased(**slot_fields(slot), appointment_id=appointment["_id"], reason=reason),
                subject=slot["_id"])


def release(tx: Tx, appointment: dict, reason: str, now: datetime, offer_for: timedelta) -> dict | None:
    """Free the place ``appointment`` held (its own update, in this transaction, already ended it): offer it to the
    first patient waiting for it, or give it back to the slot. Returns the offered appointment, if any."""
    slot = tx[SLOTS].find_one({"_id": appointment["slot_id"]})
    if slot is not None and slot["status"] == "open" and as_utc(slot["start"]) > now:
        offered = _offer(tx, slot, appointment, reason, now, offer_for)
        if offered is not None:
            return offered
    give_back(tx, appointment, reason)
    return None


def waiting_for(slot: dict) -> dict:
    """The query of the waitlist entries a place in ``slot`` may be offered to."""
    start = as_utc(slot["start"])
    return {"status": WaitlistStatus.waiting.value, "doctor_id": slot["doctor_id"], "service": slot["service"],
            "$or": [{"slot_id": slot["_id"]},
                    {"slot_id": None, "window_start": {"$lte": start}, "until": {"$gt": start}}]}


def _offer(tx: Tx, slot: dict, freed: dict, reason: str, now: datetime, offer_for: timedelta) -> dict | None:
    start = as_utc(slot["start"])
    line = tx[WAITLIST].find(waiting_for(slot)).sort([("joined_at", ASCENDING), ("_id", ASCENDING)])
    for entry in line.limit(OFFER_CANDIDATES):
        if tx[APPOINTMENTS].find_one({"patient_id": entry["patient_id"], "slot_id": slot["_id"], "holds_slot": True},
                                     {"_id": 1}) is not None:
            continue  # they have a place in this slot already
        appointment_id = ids.new_id("apt")
        expires = min(now + offer_for, start)
        taken = tx[WAITLIST].find_one_and_update(
            {"_id": entry["_id"], "status": WaitlistStatus.waiting.value},
            {"$set": {"status": WaitlistStatus.offered.value, "offered_at": now,
                      "offer": {"appointment_id": appointment_id, "slot_id": slot["_id"], "start": start,
                                "expires_at": expires}},
             "$inc": {"offers": 1}}, return_document=ReturnDocument.AFTER)
        if taken is None:
            continue
        doc = new_appointment(
            appointment_id=appointment_id, patient_id=entry["patient_id"], slot=slot,
            doctor=CatalogueStore(tx).bookable(slot["doctor_id"]),
            settings=CatalogueStore(tx).service(slot["service"]), kind=entry["kind"], notice=entry.get("notice"),
            status=Status.offered, now=now, booked_by=entry["joined_by"], booked_by_role=entry["joined_by_role"],
            follow_up_of=entry.get("follow_up_of"), prior_diagnosis=entry.get("prior_diagnosis"),
            waitlist_id=entry["_id"], offer_expires_at=expires)
        tx[APPOINTMENTS].insert_one(doc)
        released = {**slot, "booked": slot["booked"] - 1}
        tx.emit(SlotReleased(**slot_fields(released), appointment_id=freed["_id"], reason=reason), subject=slot["_id"])
        tx.emit(SlotHeld(**slot_fields(slot), appointment_id=appointment_id), subject=slot["_id"])
        tx.emit(WaitlistOffered(waitlist_id=entry["_id"], appointment_id=appointment_id,
                                patient_id=entry["patient_id"], doctor_id=slot["doctor_id"],
                                department=slot["department"], service=slot["service"], slot_id=slot["_id"],
                                start=to_utc_iso(start), room=slot.get("room"), online=slot["online"],
                                offer_expires_at=to_utc_iso(expires)), subject=entry["_id"])
        audit.record(tx, SYSTEM, CREATE, "waitlist-offer", "Appointment", appointment_id,
                     patient_id=entry["patient_id"], detail=entry["_id"])
        return doc
    return None


def new_appointment(*, appointment_id: str, patient_id: str, slot: dict, doctor: Bookable | None,
                    settings: ServiceSettings, kind: str, notice: str | None, status: Status, now: datetime,
                    booked_by: str, booked_by_role: str, hold_expires_at: datetime | None = None,
                    follow_up_of: str | None = None, consultation_id: str | None = None,
                    prior_diagnosis: dict | None = None, half_day: dict | None = None,
                    waitlist_id: str | None = None, offer_expires_at: datetime | None = None) -> dict:
    """The stored appointment holding a place in ``slot``."""
    return {
        "_id": appointment_id, "patient_id": patient_id, "slot_id": slot["_id"],
        "doctor_id": slot["doctor_id"], "department": slot["department"], "service": slot["service"],
        "start": slot["start"], "end": slot["end"], "room": slot.get("room"), "online": slot["online"],
        "kind": kind, "notice": notice, "status": status.value, "holds_slot": True,
        "fee_fen": doctor.fee_fen if doctor else 0, "prepayment": settings.prepayment,
        "hold_expires_at": hold_expires_at, "booked_at": now, "booked_by": booked_by, "booked_by_role": booked_by_role,
        "confirmed_at": now if status == Status.confirmed else None, "reschedules": 0,
        "follow_up_of": follow_up_of, "consultation_id": consultation_id, "prior_diagnosis": prior_diagnosis,
        "half_day": half_day, "waitlist_id": waitlist_id, "offer_expires_at": offer_expires_at,
        "checkin_code": secrets.token_urlsafe(18),
    }


def transact(store: Store, body: Callable[[Tx], T]) -> T:
    """``store.transact`` for a change that may hand a place to the waitlist: an offer to a patient who took a place
    in that slot a moment ago collides on the one-place-per-patient index; the change is then tried again, and the
    offer goes to the next in line. A duplicate that persists is the change's own and is raised."""
    attempt = 1
    while True:
        try:
            return store.transact(body)
        except DuplicateKeyError:
            if attempt >= DUPLICATE_RETRIES:
                raise
            attempt += 1


def appointment_fields(doc: dict) -> dict:
    return {"appointment_id": doc["_id"], "patient_id": doc["patient_id"], "doctor_id": doc["doctor_id"],
            "department": doc["department"], "service": doc["service"], "start": to_utc_iso(doc["start"])}


def slot_fields(slot: dict) -> dict:
    return {"slot_id": slot["_id"], "doctor_id": slot["doctor_id"], "department": slot["department"],
            "service": slot["service"], "start": to_utc_iso(slot["start"]), "booked": slot["booked"],
            "capacity": slot["capacity"]}
