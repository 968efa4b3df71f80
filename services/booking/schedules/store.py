"""Every MongoDB query of the schedules: templates, the slots' shape (generation) and the availability search. The
place counters of a slot (``booked``, ``free``) are appointments' to change; here they are only read, and a capacity
is changed only by a conditional update on the ``booked`` count that was read."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from contracts.booking.schemas import ScheduleTemplate, ServiceCode, ServiceSettings
from services.booking.catalogue.rules import Bookable
from services.booking.catalogue.store import CatalogueStore
from services.booking.schedules.rules import SlotRecord, StoredSchedule
from wenzhen.crypto import Keyring
from wenzhen.storage import CapabilityStore, Index, Store, Tx, update_and_read

TEMPLATES = "schedule_templates"
SLOTS = "slots"
GENERATOR = "slot_generator"  # one document: when a regeneration of every doctor's slots was last asked for / done

INDEXES = [
    Index(SLOTS, [("doctor_id", ASCENDING), ("start", ASCENDING), ("service", ASCENDING)], unique=True,
          name="one_slot_per_doctor_start_service"),
    Index(SLOTS, [("department", ASCENDING), ("start", ASCENDING)], name="by_department_start"),
    Index(SLOTS, [("service", ASCENDING), ("start", ASCENDING)], name="by_service_start"),
]


def slot_record(doc: dict) -> SlotRecord:
    return SlotRecord(id=doc["_id"], doctor_id=doc["doctor_id"], department=doc["department"],
                      service=doc["service"], online=doc["online"], room=doc.get("room"), start=doc["start"],
                      end=doc["end"], capacity=doc["capacity"], booked=doc["booked"], free=doc["free"],
                      status=doc["status"], version=doc.get("version", 0))


def slot_document(slot: SlotRecord) -> dict:
    return {"_id": slot.id, "doctor_id": slot.doctor_id, "department": slot.department, "service": slot.service,
            "online": slot.online, "room": slot.room, "start": slot.start, "end": slot.end,
            "capacity": slot.capacity, "booked": slot.booked, "free": slot.free, "status": slot.status,
            "version": slot.version}


class ScheduleStore(CapabilityStore):
    def __init__(self, db: Store, keys: Keyring | None = None) -> None:
        super().__init__(db, keys)
        self._catalogue = CatalogueStore(db, keys)

    # what the schedules need of the catalogue (narrow records) -----------------------------------------------------
    def bookable(self, doctor_id: str) -> Bookable | None:
        return self._catalogue.bookable(doctor_id)

    def services(self) -> dict[ServiceCode, ServiceSettings]:
        return self._catalogue.services()

    def known_rooms(self, codes: set[str]) -> set[str]:
        return {code for code in codes if self._catalogue.room_exists(code)}

    # templates -------------------------------------------------------------------------------------------------
    def template(self, doctor_id: str) -> StoredSchedule | None:
        doc = self.db[TEMPLATES].find_one({"_id": doctor_id})
        return _schedule(doc) if doc else None

    def save_template(self, tx: Tx, doctor_id: str, template: ScheduleTemplate, by: str,
                      now: datetime) -> StoredSchedule:
        """Replace the template, one version up."""
        doc = update_and_read(tx[TEMPLATES], {"_id": doctor_id},
                              {"$set": {**template.model_dump(mode="json"), "updated_at": now, "updated_by": by},
                               "$inc": {"version": 1}}, upsert=True)
        return _schedule(doc)

    def doctors_with_templates(self) -> list[str]:
        return [doc["_id"] for doc in self.db[TEMPLATES].find({}, {"_id": 1})]

    # the slots' shape (generation; every write conditional, outside a transaction: each is idempotent) ---------------
    def slots_between(self, doctor_id: str, after: datetime, before: datetime) -> dict[str, SlotRecord]:
        found = self.db[SLOTS].find({"doctor_id": doctor_id, "start": {"$gt": after, "$lt": before}})
        return {doc["_id"]: slot_record(doc) for doc in found}

    def slot(self, slot_id: str) -> SlotRecord | None:
        doc = self.db[SLOTS].find_one({"_id": slot_id})
        return slot_record(doc) if doc else None

    def create_slots(self, slots: list[SlotRecord]) -> int:
        """Insert the missing slots in one round trip (a two-week schedule is hundreds); a slot another generator made
        a moment ago is left as it is (``$setOnInsert``), so this stays idempotent. Returns how many were made."""
        if not slots:
            return 0
        ops = [UpdateOne({"_id": slot.id}, {"$setOnInsert": {k: v for k, v in slot_document(slot).items()
                                                              if k != "_id"}}, upsert=True) for slot in slots]
        try:
            return self.db[SLOTS].bulk_write(ops, ordered=False).upserted_count
        except BulkWriteError as exc:  # duplicates: made by another generator at the same moment
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise
            return exc.details.get("nUpserted", 0)

    def reopen_slot(self, slot_id: str) -> bool:
        return self.db[SLOTS].update_one({"_id": slot_id, "status": "closed"},
                                         {"$set": {"status": "open"}}).matched_count == 1

    def close_slot_if_unbooked(self, slot_id: str) -> bool:
        return self.db[SLOTS].update_one({"_id": slot_id, "status": "open", "booked": 0},
                                         {"$set": {"status": "closed"}}).matched_count == 1

    def resize_slot(self, slot_id: str, booked: int, capacity: int, room: str | None) -> bool:
        """A new capacity (and room), conditional on ``booked`` being what was read (``free`` stays right)."""
        return self.db[SLOTS].update_one({"_id": slot_id, "booked": booked},
                                         {"$set": {"capacity": capacity, "free": capacity - booked,
                                                   "room": room}}).matched_count == 1

    # the generator's state -------------------------------------------------------------------------------------
    def request_regeneration(self, now: datetime) -> None:
        self.db[GENERATOR].update_one({"_id": "slots"}, {"$set": {"requested_at": now}}, upsert=True)

    def mark_generated(self, now: datetime) -> None:
        self.db[GENERATOR].update_one({"_id": "slots"}, {"$set": {"generated_at": now}}, upsert=True)

    def generation_state(self) -> tuple[datetime | None, datetime | None]:
        """(requested_at, generated_at)."""
        state = self.db[GENERATOR].find_one({"_id": "slots"}) or {}
        return state.get("requested_at"), state.get("generated_at")

    # availability ----------------------------------------------------------------------------------------------
    def free_slots(self, before: datetime, *, after: datetime | None = None, since: datetime | None = None,
                   doctor_id: str | None = None, department: str | None = None, service: str | None = None,
                   limit: int = 50, tx: Tx | None = None) -> list[SlotRecord]:
        """Open slots with a free place starting before ``before`` and after ``after`` / from ``since`` (inclusive),
        next first; ``limit`` 0: all."""
        start: dict = {"$lt": before}
        if after is not None:
            start["$gt"] = after
        if since is not None:
            start["$gte"] = since
        query: dict = {"status": "open", "free": {"$gt": 0}, "start": start}
        for name, value in (("doctor_id", doctor_id), ("department", department), ("service", service)):
            if value is not None:
                query[name] = value
        found = self._on(tx)[SLOTS].find(query).sort([("start", ASCENDING), ("doctor_id", ASCENDING)]).limit(limit)
        return [slot_record(doc) for doc in found]


def _schedule(doc: dict) -> StoredSchedule:
    template = ScheduleTemplate.model_validate({"sessions": doc["sessions"], "exceptions": doc["exceptions"]})
    return StoredSchedule(doctor_id=doc["_id"], template=template, version=doc["version"],
                          updated_at=doc["updated_at"])
