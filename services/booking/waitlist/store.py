"""Every MongoDB query of the waitlist's entries. A unique index (partial on ``active``) lets a patient wait once per
slot or day; every change of an entry is conditional on the status it changes from. The places and the offered
appointments are appointments' (``places``: its store over the same database); the head of the line is read, and
marked offered, by appointments' hand-off of a freed place."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contracts.booking.schemas import PriorDiagnosis, Visit, WaitlistStatus
from services.booking.appointments.rules import Offer
from services.booking.appointments.store import WAITLIST, AppointmentStore
from services.booking.catalogue.rules import Bookable
from services.booking.scope import Scope
from services.booking.waitlist.rules import Entry
from wenzhen.crypto import Keyring
from wenzhen.storage import CapabilityStore, Index, Store, Tx, update_and_read

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


class AlreadyWaiting(Exception):
    """The patient waits for this slot or day already (the one-entry index)."""


def entry_record(doc: dict) -> Entry:
    offer, prior = doc.get("offer"), doc.get("prior_diagnosis")
    return Entry(
        id=doc["_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"], department=doc["department"],
        service=doc["service"], slot_id=doc.get("slot_id"), day=doc["day"], window_start=doc["window_start"],
        until=doc["until"], target=doc["target"], status=WaitlistStatus(doc["status"]), kind=Visit(doc["kind"]),
        notice=doc.get("notice"), joined_at=doc["joined_at"], joined_by=doc["joined_by"],
        joined_by_role=doc["joined_by_role"], active=doc.get("active", False), follow_up_of=doc.get("follow_up_of"),
        prior_diagnosis=PriorDiagnosis.model_validate(prior) if prior else None, offers=doc.get("offers", 0),
        offer=Offer(offer["appointment_id"], offer["slot_id"], offer["start"], offer["expires_at"]) if offer else None,
        ended_at=doc.get("ended_at"))


def entry_document(e: Entry) -> dict:
    return {"_id": e.id, "patient_id": e.patient_id, "doctor_id": e.doctor_id, "department": e.department,
            "service": e.service, "slot_id": e.slot_id, "day": e.day, "window_start": e.window_start,
            "until": e.until, "target": e.target, "active": e.active, "status": e.status.value, "kind": e.kind.value,
            "notice": e.notice, "follow_up_of": e.follow_up_of,
            "prior_diagnosis": e.prior_diagnosis.model_dump() if e.prior_diagnosis else None,
            "joined_at": e.joined_at, "joined_by": e.joined_by, "joined_by_role": e.joined_by_role,
            "offers": e.offers, "offer": None, "ended_at": e.ended_at}


def _after(doc: dict | None) -> Entry | None:
    return entry_record(doc) if doc else None


class WaitlistStore(CapabilityStore):
    def __init__(self, db: Store, keys: Keyring | None = None) -> None:
        super().__init__(db, keys)
        self.places = AppointmentStore(db, keys)  # the places and offered appointments (appointments' store)

    def bookable(self, doctor_id: str) -> Bookable | None:
        return self.places.bookable(doctor_id)

    def insert_entry(self, tx: Tx, entry: Entry) -> None:
        try:
            tx[WAITLIST].insert_one(entry_document(entry))
        except DuplicateKeyError:
            raise AlreadyWaiting() from None

    def entry(self, entry_id: str, tx: Tx | None = None) -> Entry | None:
        return _after((tx if tx is not None else self.db)[WAITLIST].find_one({"_id": entry_id}))

    def _end(self, tx: Tx, match: dict, status: WaitlistStatus, now: datetime) -> Entry | None:
        return _after(update_and_read(tx[WAITLIST], match,
                                      {"$set": {"status": status.value, "active": False, "ended_at": now}}))

    def leave(self, tx: Tx, entry_id: str, now: datetime) -> Entry | None:
        return self._end(tx, {"_id": entry_id, "status": WaitlistStatus.waiting.value}, WaitlistStatus.left, now)

    def end_offered(self, tx: Tx, entry_id: str, outcome: WaitlistStatus, now: datetime) -> Entry | None:
        """An offered entry ends: booked (accepted), declined or lapsed."""
        return self._end(tx, {"_id": entry_id, "status": WaitlistStatus.offered.value}, outcome, now)

    def expire(self, tx: Tx, entry_id: str, now: datetime) -> Entry | None:
        return self._end(tx, {"_id": entry_id, "status": WaitlistStatus.waiting.value, "until": {"$lte": now}},
                         WaitlistStatus.expired, now)

    def waiting_due(self, now: datetime, limit: int) -> list[str]:
        """Entries still waiting when their slot started or their day ended."""
        found = self.db[WAITLIST].find({"status": WaitlistStatus.waiting.value, "until": {"$lte": now}}, {"_id": 1})
        return [d["_id"] for d in found.limit(limit)]

    def entries(self, scope: Scope, *, status: str | None = None, limit: int = 50) -> list[Entry]:
        query: dict = {}
        for name, value in (("patient_id", scope.patient_id), ("doctor_id", scope.doctor_id),
                            ("joined_by", scope.made_by), ("status", status)):
            if value is not None:
                query[name] = value
        found = self.db[WAITLIST].find(query).sort([("joined_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [entry_record(d) for d in found]

    def waiting_for_day(self, entry: Entry) -> list[tuple[datetime, str]]:
        """(joined_at, id) of the entries waiting for the same doctor, service and day."""
        found = self.db[WAITLIST].find({"status": WaitlistStatus.waiting.value, "doctor_id": entry.doctor_id,
                                        "service": entry.service, "day": entry.day}, {"joined_at": 1})
        return [(d["joined_at"], d["_id"]) for d in found]
