"""Every MongoDB query of the appointments: the appointments themselves, the places of the slots (taking one, giving
one back), the head of the waitlist's line a freed place is handed to, the idempotency keys, and what booking keeps
of intake's patients and consultations.

The preconditions are in the filters of conditional updates, never checked first and written later:

* a place is taken by ``{"_id", "status": "open", "free": {"$gt": 0}, "start": {"$gt": now}}`` →
  ``$inc booked +1, free -1`` and given back by ``{"booked": {"$gt": 0}}`` → ``$inc booked -1, free +1``, inside the
  transaction that changes the appointment (:meth:`AppointmentStore.take_place`, :meth:`~AppointmentStore.give_back`);
* every change of an appointment names the state it changes from (``status``, and ``slot_id`` where it matters);
* the unique indexes (one place per patient and slot, one key per account) are translated here into
  :class:`~services.booking.appointments.rules.AlreadyBooked` and :class:`~.rules.KeyTaken`.

The waitlist capability's entries are its own; of them this store reads only the head of the line for a freed place
and marks the one offered (:meth:`~AppointmentStore.line`, :meth:`~AppointmentStore.offer_entry`), with the same
conditional update on ``status: waiting`` as always.

An appointment's and a slot's events are numbered by the document's ``version``, moved on by the same conditional
update that makes the change, so booking needs no counter of its own per subject (:func:`number_by_version` gives
documents stored before that their subject's count so far, once).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contracts.booking.schemas import HalfDayChoice, PriorDiagnosis, ServiceCode, ServiceSettings, Status, Visit
from services.booking.appointments.rules import (
    AlreadyBooked,
    AppointmentRecord,
    IdempotencyKey,
    InLine,
    KeyTaken,
    KnownConsultation,
    Offer,
    SlotGone,
    gone_reason,
    reminder_key,
)
from services.booking.catalogue.rules import Bookable
from services.booking.catalogue.store import CatalogueStore
from services.booking.schedules.rules import SlotRecord
from services.booking.schedules.store import SLOTS, ScheduleStore, slot_record
from services.booking.scope import Scope
from wenzhen import ids
from wenzhen.crypto import Keyring
from wenzhen.storage import OUTBOX_HEADS, CapabilityStore, Index, Store, Tx, update_and_read

APPOINTMENTS = "appointments"
WAITLIST = "waitlist"  # the waitlist capability's; here only the line's head (see the module's docstring)
IDEMPOTENCY = "idempotency_keys"
PATIENTS = "known_patients"  # ids of patients intake registered (patient_registered): staff book only for these
CONSULTATIONS = "known_consultations"  # consultation id -> patient, follow-up eligibility (from intake)

IDEMPOTENCY_INDEX = "one_key_per_account"
PATIENT_SLOT_INDEX = "one_place_per_patient_slot"
IDEMPOTENCY_TTL = timedelta(hours=24)

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



def number_by_version(db) -> None:
    """Upgrade: an appointment or slot stored before versions counted its events in ``outbox_heads``; its version
    becomes that count, so its next event follows its last. Idempotent (only documents without a version)."""
    for name in (APPOINTMENTS, SLOTS):
        for doc in db[name].find({"version": {"$exists": False}}, {"_id": 1}):
            head = db[OUTBOX_HEADS].find_one({"_id": doc["_id"]}, {"sequence": 1})
            db[name].update_one({"_id": doc["_id"], "version": {"$exists": False}},
                                {"$set": {"version": head["sequence"] if head else 0}})


UPGRADES = {"booking-events-numbered-by-version": number_by_version}

_LATER = ("confirmed_by", "cancelled_at", "cancel_reason", "late_cancel", "fee_kept", "cancelled_by", "checked_in_at",
          "checkin_method", "checked_in_by", "completed_at", "rescheduled_at", "expired_at", "no_show_at",
          "offer_outcome", "declined_at", "accepted_by")


def appointment_record(doc: dict) -> AppointmentRecord:
    half_day, prior = doc.get("half_day"), doc.get("prior_diagnosis")
    return AppointmentRecord(
        id=doc["_id"], patient_id=doc["patient_id"], slot_id=doc["slot_id"], doctor_id=doc["doctor_id"],
        department=doc["department"], service=doc["service"], start=doc["start"], end=doc["end"],
        room=doc.get("room"), online=doc["online"], kind=Visit(doc["kind"]), notice=doc.get("notice"),
        status=Status(doc["status"]), holds_slot=doc.get("holds_slot", False), fee_fen=doc["fee_fen"],
        prepayment=doc["prepayment"], booked_at=doc["booked_at"], booked_by=doc["booked_by"],
        booked_by_role=doc["booked_by_role"], checkin_code=doc["checkin_code"],
        hold_expires_at=doc.get("hold_expires_at"), confirmed_at=doc.get("confirmed_at"),
        reschedules=doc.get("reschedules", 0), follow_up_of=doc.get("follow_up_of"),
        consultation_id=doc.get("consultation_id"), version=doc.get("version", 0),
        prior_diagnosis=PriorDiagnosis.model_validate(prior) if prior else None,
        half_day=HalfDayChoice.model_validate(half_day) if half_day else None, waitlist_id=doc.get("waitlist_id"),
        offer_expires_at=doc.get("offer_expires_at"), reminded=doc.get("reminded") or {},
        **{name: doc.get(name) for name in _LATER})


def appointment_document(a: AppointmentRecord) -> dict:
    """The stored shape of a new appointment (what happens later is added by the updates)."""
    return {
        "_id": a.id, "patient_id": a.patient_id, "slot_id": a.slot_id, "doctor_id": a.doctor_id,
        "department": a.department, "service": a.service, "start": a.start, "end": a.end, "room": a.room,
        "online": a.online, "kind": a.kind.value, "notice": a.notice, "status": a.status.value,
        "holds_slot": a.holds_slot, "fee_fen": a.fee_fen, "prepayment": a.prepayment,
        "hold_expires_at": a.hold_expires_at, "booked_at": a.booked_at, "booked_by": a.booked_by,
        "booked_by_role": a.booked_by_role, "confirmed_at": a.confirmed_at, "reschedules": a.reschedules,
        "follow_up_of": a.follow_up_of, "consultation_id": a.consultation_id,
        "prior_diagnosis": a.prior_diagnosis.model_dump() if a.prior_diagnosis else None,
        "half_day": a.half_day.model_dump(mode="json") if a.half_day else None, "waitlist_id": a.waitlist_id,
        "offer_expires_at": a.offer_expires_at, "checkin_code": a.checkin_code, "version": a.version,
    }


def _after(doc: dict | None) -> AppointmentRecord | None:
    return appointment_record(doc) if doc else None


def _in_line(doc: dict) -> InLine:
    prior = doc.get("prior_diagnosis")
    return InLine(id=doc["_id"], patient_id=doc["patient_id"], kind=Visit(doc["kind"]), notice=doc.get("notice"),
                  joined_by=doc["joined_by"], joined_by_role=doc["joined_by_role"],
                  follow_up_of=doc.get("follow_up_of"),
                  prior_diagnosis=PriorDiagnosis.model_validate(prior) if prior else None)


class AppointmentStore(CapabilityStore):
    def __init__(self, db: Store, keys: Keyring | None = None) -> None:
        super().__init__(db, keys)
        self._catalogue = CatalogueStore(db, keys)
        self._schedules = ScheduleStore(db, keys)

    # what appointments need of the catalogue (narrow records) ------------------------------------------------------
    def bookable(self, doctor_id: str, tx: Tx | None = None) -> Bookable | None:
        return self._catalogue.bookable(doctor_id, tx)

    def service(self, code: ServiceCode | str, tx: Tx | None = None) -> ServiceSettings:
        return self._catalogue.service(code, tx)

    # places ----------------------------------------------------------------------------------------------------
    def slot(self, slot_id: str, tx: Tx | None = None) -> SlotRecord | None:
        doc = self._on(tx)[SLOTS].find_one({"_id": slot_id})
        return slot_record(doc) if doc else None

    def take_place(self, tx: Tx, slot_id: str, now: datetime) -> SlotRecord:
        """One place of an open, future slot, by a conditional update (the database refuses a full slot)."""
        doc = update_and_read(tx[SLOTS], {"_id": slot_id, "status": "open", "free": {"$gt": 0}, "start": {"$gt": now}},
                              {"$inc": {"booked": 1, "free": -1, "version": 1}})
        if doc is None:
            raise SlotGone(gone_reason(self.slot(slot_id, tx), now))
        return slot_record(doc)

    def give_back(self, tx: Tx, slot_id: str) -> SlotRecord | None:
        """Return a place to the slot (conditional: never below zero); the slot after, or None when nothing was
        given back."""
        doc = update_and_read(tx[SLOTS], {"_id": slot_id, "booked": {"$gt": 0}},
                              {"$inc": {"booked": -1, "free": 1, "version": 1}})
        return slot_record(doc) if doc else None

    def count_slot_events(self, tx: Tx, slot_id: str, events: int) -> int:
        """A place passed from one patient to the next leaves the slot's counters as they were but publishes
        ``events`` about it: its version moves on by as many; the new version."""
        return update_and_read(tx[SLOTS], {"_id": slot_id}, {"$inc": {"version": events}},
                               projection={"version": 1})["version"]

    def free_slots(self, before: datetime, **filters) -> list[SlotRecord]:
        """The availability search (the schedules' query)."""
        return self._schedules.free_slots(before, **filters)

    def day_places(self, doctor_id: str, service: str, after: datetime, before: datetime) -> tuple[bool, bool]:
        """Whether the doctor has open slots of the service starting in (after, before), and whether one is free."""
        sessions = {"doctor_id": doctor_id, "service": service, "status": "open",
                    "start": {"$gt": after, "$lt": before}}
        if self.db[SLOTS].find_one(sessions, {"_id": 1}) is None:
            return False, False
        return True, self.db[SLOTS].find_one({**sessions, "free": {"$gt": 0}}, {"_id": 1}) is not None

    def holds_place(self, patient_id: str, slot_id: str, tx: Tx | None = None) -> bool:
        return self._on(tx)[APPOINTMENTS].find_one({"patient_id": patient_id, "slot_id": slot_id, "holds_slot": True},
                                                   {"_id": 1}) is not None

    # the line a freed place is handed to ---------------------------------------------------------------------------
    def line(self, tx: Tx, slot: SlotRecord, limit: int) -> list[InLine]:
        """The entries waiting for this slot, or for its doctor's service at its time of day, first come first."""
        start = slot.start
        query = {"status": "waiting", "doctor_id": slot.doctor_id, "service": slot.service,
                 "$or": [{"slot_id": slot.id}, {"slot_id": None, "window_start": {"$lte": start},
                                                "until": {"$gt": start}}]}
        found = tx[WAITLIST].find(query).sort([("joined_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_in_line(doc) for doc in found]

    def offer_entry(self, tx: Tx, entry_id: str, offer: Offer, now: datetime) -> bool:
        """Mark a waiting entry offered this place (conditional on it still waiting)."""
        return tx[WAITLIST].update_one(
            {"_id": entry_id, "status": "waiting"},
            {"$set": {"status": "offered", "offered_at": now,
                      "offer": {"appointment_id": offer.appointment_id, "slot_id": offer.slot_id,
                                "start": offer.start, "expires_at": offer.expires_at}},
             "$inc": {"offers": 1}}).matched_count == 1

    # appointments ----------------------------------------------------------------------------------------------
    def insert_appointment(self, tx: Tx, appointment: AppointmentRecord) -> None:
        try:
            tx[APPOINTMENTS].insert_one(appointment_document(appointment))
        except DuplicateKeyError:  # one place per patient and slot
            raise AlreadyBooked() from None

    def appointment(self, appointment_id: str, tx: Tx | None = None) -> AppointmentRecord | None:
        return _after(self._on(tx)[APPOINTMENTS].find_one({"_id": appointment_id}))

    def _change(self, tx: Tx, match: dict, update: dict, events: int = 1) -> AppointmentRecord | None:
        """A conditional change, its version moved on by the ``events`` it publishes (their sequence numbers)."""
        bumped = {**update, "$inc": {**update.get("$inc", {}), "version": events}}
        return _after(update_and_read(tx[APPOINTMENTS], match, bumped))

    def confirm_held(self, tx: Tx, appointment_id: str, by: str, now: datetime) -> AppointmentRecord | None:
        return self._change(tx, {"_id": appointment_id, "status": Status.held.value},
                            {"$set": {"status": Status.confirmed.value, "confirmed_at": now, "hold_expires_at": None,
                                      "confirmed_by": by}})

    def cancel(self, tx: Tx, appointment: AppointmentRecord, reason: str, late: bool, fee_kept: bool, by: str,
               now: datetime) -> AppointmentRecord | None:
        """Cancel it (and end its hold on the place) if it is still as read."""
        return self._change(tx, {"_id": appointment.id, "status": appointment.status.value,
                                 "slot_id": appointment.slot_id},
                            {"$set": {"status": Status.cancelled.value, "holds_slot": False, "cancelled_at": now,
                                      "cancel_reason": reason, "late_cancel": late, "fee_kept": fee_kept,
                                      "cancelled_by": by, "hold_expires_at": None}})

    def move(self, tx: Tx, appointment: AppointmentRecord, slot: SlotRecord, half_day: HalfDayChoice | None,
             now: datetime) -> AppointmentRecord | None:
        """Move it to ``slot`` if it is still as read; its reminders are due again for the new time."""
        try:
            return self._change(
                tx, {"_id": appointment.id, "status": appointment.status.value, "slot_id": appointment.slot_id},
                {"$set": {"slot_id": slot.id, "start": slot.start, "end": slot.end, "room": slot.room,
                          "rescheduled_at": now, "half_day": half_day.model_dump(mode="json") if half_day else None,
                          "reminded": {}},
                 "$inc": {"reschedules": 1}})
        except DuplicateKeyError:  # the patient holds a place in the new slot already
            raise AlreadyBooked() from None

    def check_in(self, tx: Tx, appointment_id: str, method: str, by: str, now: datetime) -> AppointmentRecord | None:
        return self._change(tx, {"_id": appointment_id, "status": Status.confirmed.value},
                            {"$set": {"status": Status.checked_in.value, "checked_in_at": now,
                                      "checkin_method": method, "checked_in_by": by}})

    def complete(self, tx: Tx, appointment_id: str, now: datetime) -> AppointmentRecord | None:
        return self._change(tx, {"_id": appointment_id, "status": Status.checked_in.value},
                            {"$set": {"status": Status.completed.value, "completed_at": now}})

    def expire_hold(self, tx: Tx, appointment_id: str, now: datetime) -> AppointmentRecord | None:
        """End a hold whose time has come (not one paid meanwhile)."""
        return self._change(tx, {"_id": appointment_id, "status": Status.held.value,
                                 "hold_expires_at": {"$lte": now}},
                            {"$set": {"status": Status.expired.value, "holds_slot": False, "expired_at": now}})

    def mark_no_show(self, tx: Tx, appointment_id: str, cutoff: datetime, now: datetime) -> AppointmentRecord | None:
        return self._change(tx, {"_id": appointment_id, "status": Status.confirmed.value, "start": {"$lte": cutoff}},
                            {"$set": {"status": Status.no_show.value, "no_show_at": now}})

    def confirmed(self, tx: Tx, appointment_id: str) -> AppointmentRecord | None:
        return _after(tx[APPOINTMENTS].find_one({"_id": appointment_id, "status": Status.confirmed.value}))

    def mark_reminded(self, tx: Tx, appointment: AppointmentRecord, marks: dict[int, bool],
                      now: datetime) -> AppointmentRecord | None:
        """Mark these offsets reminded (``True``: sent), once: conditional on none of them marked yet, the booking
        still confirmed and at the same time."""
        return self._change(
            tx, {"_id": appointment.id, "status": Status.confirmed.value, "start": appointment.start,
                 **{f"reminded.{reminder_key(h)}": None for h in marks}},
            {"$set": {f"reminded.{reminder_key(h)}": {"at": now, "sent": sent} for h, sent in marks.items()}},
            events=1 if any(marks.values()) else 0)

    def accept_offer(self, tx: Tx, appointment_id: str, confirmed: bool, hold_until: datetime | None, by: str,
                     now: datetime) -> AppointmentRecord | None:
        """An open offer becomes a booking (confirmed, or held until paid): booked, and confirmed when it is."""
        return self._change(
            tx, {"_id": appointment_id, "status": Status.offered.value, "offer_expires_at": {"$gt": now}},
            {"$set": {"status": (Status.confirmed if confirmed else Status.held).value, "booked_at": now,
                      "confirmed_at": now if confirmed else None, "hold_expires_at": hold_until,
                      "offer_expires_at": None, "accepted_by": by}}, events=2 if confirmed else 1)

    def end_offer(self, tx: Tx, appointment_id: str, outcome: str, now: datetime,
                  lapsed_by: datetime | None = None) -> AppointmentRecord | None:
        """End an open offer (declined, or lapsed when ``lapsed_by`` is given and it expired by then)."""
        match: dict = {"_id": appointment_id, "status": Status.offered.value}
        if lapsed_by is not None:
            match["offer_expires_at"] = {"$lte": lapsed_by}
        return self._change(tx, match, {"$set": {"status": Status.declined.value, "holds_slot": False,
                                                 "offer_outcome": outcome, "declined_at": now}}, events=0)

    def appointments(self, scope: Scope, *, status: str | None = None, since: datetime | None = None,
                     before: datetime | None = None, limit: int = 50) -> list[AppointmentRecord]:
        query: dict = {}
        for name, value in (("patient_id", scope.patient_id), ("doctor_id", scope.doctor_id),
                            ("booked_by", scope.made_by), ("status", status)):
            if value is not None:
                query[name] = value
        window = {**({"$gte": since} if since is not None else {}), **({"$lt": before} if before is not None else {})}
        if window:
            query["start"] = window
        return [appointment_record(d) for d in self.db[APPOINTMENTS].find(query).sort("start", ASCENDING).limit(limit)]

    def booked_follow_up(self, visit_id: str, patient_id: str, statuses: tuple[Status, ...],
                         tx: Tx | None = None) -> str | None:
        """The earliest appointment following up ``visit_id`` in one of ``statuses``."""
        found = self._on(tx)[APPOINTMENTS].find({"follow_up_of": visit_id, "patient_id": patient_id,
                                                 "status": {"$in": [s.value for s in statuses]}},
                                                {"_id": 1}).sort("start", ASCENDING).limit(1)
        first = next(iter(found), None)
        return first["_id"] if first else None

    # what the sweeper finds due (ids; each is changed in a transaction of its own) ---------------------------------
    def _due(self, query: dict, limit: int, sort: str | None = None) -> list[str]:
        found = self.db[APPOINTMENTS].find(query, {"_id": 1})
        if sort:
            found = found.sort(sort, ASCENDING)
        return [d["_id"] for d in found.limit(limit)]

    def holds_due(self, now: datetime, limit: int) -> list[str]:
        return self._due({"status": Status.held.value, "hold_expires_at": {"$lte": now}}, limit)

    def no_shows_due(self, cutoff: datetime, limit: int) -> list[str]:
        return self._due({"status": Status.confirmed.value, "start": {"$lte": cutoff}}, limit)

    def offers_due(self, now: datetime, limit: int) -> list[str]:
        return self._due({"status": Status.offered.value, "offer_expires_at": {"$lte": now}}, limit)

    def reminders_due(self, hours: int, now: datetime, limit: int) -> list[str]:
        """Confirmed appointments starting within ``hours`` that have not had that reminder, soonest first."""
        return self._due({"status": Status.confirmed.value, "start": {"$gt": now, "$lte": now + timedelta(hours=hours)},
                          f"reminded.{reminder_key(hours)}": None}, limit, sort="start")

    # idempotency keys ------------------------------------------------------------------------------------------
    def insert_key(self, tx: Tx, account_id: str, key: str, fingerprint: str, appointment_id: str,
                   now: datetime) -> None:
        try:
            tx[IDEMPOTENCY].insert_one({"_id": ids.new_id("idk"), "account_id": account_id, "key": key,
                                        "fingerprint": fingerprint, "appointment_id": appointment_id,
                                        "created_at": now})
        except DuplicateKeyError:  # one key per account
            raise KeyTaken() from None

    def idempotency_key(self, account_id: str, key: str) -> IdempotencyKey | None:
        doc = self.db[IDEMPOTENCY].find_one({"account_id": account_id, "key": key})
        return IdempotencyKey(fingerprint=doc["fingerprint"], appointment_id=doc["appointment_id"]) if doc else None

    # what booking keeps from intake's events ---------------------------------------------------------------------
    def record_patient(self, tx: Tx, patient_id: str, now: datetime) -> None:
        tx[PATIENTS].update_one({"_id": patient_id}, {"$setOnInsert": {"seen_at": now}}, upsert=True)

    def patient_known(self, patient_id: str) -> bool:
        return self.db[PATIENTS].find_one({"_id": patient_id}) is not None

    def consultation(self, consultation_id: str, tx: Tx | None = None) -> KnownConsultation | None:
        doc = self._on(tx)[CONSULTATIONS].find_one({"_id": consultation_id})
        if doc is None:
            return None
        return KnownConsultation(patient_id=doc.get("patient_id"),
                                 follow_up_eligible=bool(doc.get("follow_up_eligible")), sequence=doc.get("sequence"))

    def save_consultation(self, tx: Tx, consultation_id: str, known: KnownConsultation, now: datetime) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id},
                                     {"$set": {"patient_id": known.patient_id,
                                               "follow_up_eligible": known.follow_up_eligible,
                                               "sequence": known.sequence, "seen_at": now}}, upsert=True)
