"""Doctors' weekly schedules, their exceptions, and the slots generated from them.

A schedule template says, in the hospital's local time, when a doctor sees patients: weekly sessions (weekday,
start–end, service, slot length, places per slot, room) and exceptions (leave, holidays, extra sessions). Slots are
generated from it for a horizon of days ahead (``BOOKING_HORIZON_DAYS``): when a manager changes the template, and
by a timer that moves the horizon on.

A slot's id is derived from (doctor, start, service), and a unique index on those three backs it, so generating
twice — two processes, a timer and a template change at once — never makes two slots of one time. Each slot keeps
``capacity``, ``booked`` and ``free`` (``booked + free == capacity`` after every update): a booking takes a place
with a conditional update on ``free > 0`` (``appointments.py``), so the database, not a check before the write,
keeps a slot from being overbooked.

When a template changes, future slots it no longer yields are closed if nobody booked them; booked ones stay
open and are reported (``kept_booked``) so that staff can move those patients. A capacity is lowered only where
the places already booked still fit.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from contracts.booking.schemas import Generation, Schedule, ScheduleTemplate, ServiceCode, ServiceSettings, Slot
from services.booking.catalogue.rules import require_manager
from services.booking.catalogue.store import CatalogueStore
from wenzhen import audit
from wenzhen.audit import UPDATE
from wenzhen.auth import Caller, Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, hospital_zone, to_local_iso, utcnow

TEMPLATES = "schedule_templates"
SLOTS = "slots"
GENERATOR = "slot_generator"  # one document: when a regeneration of every doctor's slots was last asked for
MAX_SEARCH_DAYS = 92

INDEXES = [
    Index(SLOTS, [("doctor_id", ASCENDING), ("start", ASCENDING), ("service", ASCENDING)], unique=True,
          name="one_slot_per_doctor_start_service"),
    Index(SLOTS, [("department", ASCENDING), ("start", ASCENDING)], name="by_department_start"),
    Index(SLOTS, [("service", ASCENDING), ("start", ASCENDING)], name="by_service_start"),
]


def slot_id(doctor_id: str, start: datetime, service: str) -> str:
    """The same (doctor, start, service) always gives the same opaque id."""
    key = f"{doctor_id}|{as_utc(start).isoformat()}|{service}"
    return "slot_" + hashlib.sha256(key.encode()).hexdigest()[:26]


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=hospital_zone())


def local_today(now: datetime) -> date:
    return as_utc(now).astimezone(hospital_zone()).date()


# the template --------------------------------------------------------------------------------------------------------
def put_schedule(store: Store, caller: Caller, doctor_id: str, template: ScheduleTemplate, horizon_days: int,
                 now: datetime | None = None) -> Schedule:
    """Replace a doctor's template (managers), then bring the doctor's slots in line with it at once."""
    require_manager(caller.principal)
    doctor = CatalogueStore(store).bookable(doctor_id)
    if doctor is None:
        raise NotFound(f"No doctor profile {doctor_id}; create it first.")
    services = CatalogueStore(store).services()
    _check_sessions(store, doctor, services, template)
    stored = template.model_dump(mode="json")

    def body(tx: Tx) -> dict:
        doc = tx[TEMPLATES].find_one_and_update(
            {"_id": doctor_id}, {"$set": {**stored, "updated_at": utcnow(), "updated_by": caller.principal.sub},
                                 "$inc": {"version": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        audit.record(tx, caller, UPDATE, "schedule", "Schedule", doctor_id,
                     detail=f"{len(template.sessions)} sessions, {len(template.exceptions)} exceptions")
        return doc

    doc = store.transact(body)
    generation = generate_slots(store, doctor_id, horizon_days, now or utcnow())
    return to_schedule(doc, generation)


def _check_sessions(store: Store, doctor: dict, services: dict[ServiceCode, ServiceSettings],
                    template: ScheduleTemplate) -> None:
    errors = []
    parts = [(f"sessions.{i}", s.service, s.room) for i, s in enumerate(template.sessions)]
    parts += [(f"exceptions.{i}", e.service, e.room) for i, e in enumerate(template.exceptions) if e.kind == "extra"]
    for where, service, room in parts:
        if service.value not in doctor.services:
            errors.append(field_error(f"{where}.service", "is not a service this doctor offers", "not_offered"))
        if services[service].online and room is not None:
            errors.append(field_error(f"{where}.room", "an online service has no room", "online"))
        elif room is not None and not CatalogueStore(store).room_exists(room):
            errors.append(field_error(f"{where}.room", "is not a room in the catalogue", "unknown"))
    if errors:
        raise InvalidInput("The schedule does not fit the doctor's profile or the catalogue.", errors)


def get_schedule(store: Store, caller: Caller, doctor_id: str) -> Schedule:
    """Managers see every schedule; a doctor their own."""
    principal = caller.principal
    if not (principal.has_role(Role.manager) or (principal.has_role(Role.doctor) and principal.sub == doctor_id)):
        raise Forbidden("Managers see schedules; a doctor sees their own.")
    doc = store[TEMPLATES].find_one({"_id": doctor_id})
    if doc is None:
        raise NotFound(f"Doctor {doctor_id} has no schedule yet.")
    return to_schedule(doc)


def to_schedule(doc: dict, generation: Generation | None = None) -> Schedule:
    template = ScheduleTemplate.model_validate({"sessions": doc["sessions"], "exceptions": doc["exceptions"]})
    return Schedule(doctor_id=doc["_id"], sessions=template.sessions, exceptions=template.exceptions,
                    version=doc["version"], updated_at=to_local_iso(doc["updated_at"]), generation=generation)


# slot planning (pure) ------------------------------------------------------------------------------------------------
def planned_slots(doctor: dict, template: ScheduleTemplate, services: dict[ServiceCode, ServiceSettings],
                  now: datetime, horizon_days: int) -> Iterator[dict]:
    """The slots the template yields from ``now`` to the end of the horizon (today counts as its first day)."""
    zone = hospital_zone()
    today = local_today(now)
    for offset in range(horizon_days):
        day = today + timedelta(days=offset)
        blocks = [e for e in template.exceptions if e.kind != "extra" and e.date <= day <= (e.until or e.date)]
        if any(e.kind == "holiday" or e.start is None for e in blocks):
            regular = []  # a holiday or a whole day of leave: no regular sessions
        else:
            regular = [s for s in template.sessions if s.weekday == day.isoweekday()]
        away = [(datetime.combine(day, e.start, tzinfo=zone), datetime.combine(day, e.end, tzinfo=zone))
                for e in blocks if e.start is not None]
        extras = [e for e in template.exceptions if e.kind == "extra" and e.date == day]
        for session, blocked in [*((s, away) for s in regular), *((e, []) for e in extras)]:
            service = services[session.service]
            step = timedelta(minutes=session.slot_minutes or service.slot_minutes)
            start = datetime.combine(day, session.start, tzinfo=zone)
            end = datetime.combine(day, session.end, tzinfo=zone)
            while start + step <= end:
                if start > now and not any(a < start + step and start < b for a, b in blocked):
                    yield _slot(doctor, service, session.capacity, session.room, start, start + step)
                start += step


def _slot(doctor: dict, service: ServiceSettings, capacity: int, room: str | None, start: datetime,
          end: datetime) -> dict:
    start, end = as_utc(start), as_utc(end)
    return {"_id": slot_id(doctor.id, start, service.code.value), "doctor_id": doctor.id,
            "department": doctor.department, "service": service.code.value, "online": service.online,
            "room": None if service.online else room, "start": start, "end": end, "capacity": capacity,
            "booked": 0, "free": capacity, "status": "open"}


# generation ----------------------------------------------------------------------------------------------------------
def generate_slots(store: Store, doctor_id: str, horizon_days: int, now: datetime) -> Generation:
    """Make the doctor's slots match the template for the horizon. Idempotent; every write is conditional."""
    doctor = CatalogueStore(store).bookable(doctor_id)
    doc = store[TEMPLATES].find_one({"_id": doctor_id})
    wanted: dict[str, dict] = {}
    if doctor is not None and doctor.active and doc is not None:
        template = ScheduleTemplate.model_validate({"sessions": doc["sessions"], "exceptions": doc["exceptions"]})
        offered = set(doctor.services)
        wanted = {s["_id"]: s for s in planned_slots(doctor, template, CatalogueStore(store).services(), now,
                                                     horizon_days) if s["service"] in offered}
    window_end = local_midnight(local_today(now) + timedelta(days=horizon_days))
    existing = {s["_id"]: s for s in store[SLOTS].find({"doctor_id": doctor_id,
                                                        "start": {"$gt": now, "$lt": window_end}})}
    result = Generation()
    result.created = _create(store, [slot for sid, slot in wanted.items() if sid not in existing])
    for sid, slot in wanted.items():
        have = existing.get(sid)
        if have is None:
            continue
        if have["status"] == "closed":
            done = store[SLOTS].update_one({"_id": sid, "status": "closed"}, {"$set": {"status": "open"}})
            result.reopened += done.matched_count
        if have["capacity"] != slot["capacity"] or have.get("room") != slot["room"]:
            result.resized += _resize(store, have, slot)
    for sid, have in existing.items():
        if sid in wanted or have["status"] != "open":
            continue
        done = store[SLOTS].update_one({"_id": sid, "status": "open", "booked": 0}, {"$set": {"status": "closed"}})
        if done.matched_count:
            result.closed += 1
        else:
            result.kept_booked.append(sid)
    return result


def _create(store: Store, slots: list[dict]) -> int:
    """Insert the missing slots in one round trip (a two-week schedule is hundreds); a slot another generator made a
    moment ago is left as it is (``$setOnInsert``), so this stays idempotent."""
    if not slots:
        return 0
    ops = [UpdateOne({"_id": slot["_id"]}, {"$setOnInsert": {k: v for k, v in slot.items() if k != "_id"}},
                     upsert=True) for slot in slots]
    try:
        return store[SLOTS].bulk_write(ops, ordered=False).upserted_count
    except BulkWriteError as exc:  # duplicates: made by another generator at the same moment
        if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
            raise
        return exc.details.get("nUpserted", 0)


def _resize(store: Store, have: dict, slot: dict, attempts: int = 3) -> int:
    """Set a new capacity (and room) where the places booked still fit; conditional on ``booked`` being what was
    read, so a booking in between makes it read again instead of miscounting ``free``."""
    for _ in range(attempts):
        booked = have["booked"]
        if booked > slot["capacity"]:
            return 0
        done = store[SLOTS].update_one({"_id": have["_id"], "booked": booked},
                                       {"$set": {"capacity": slot["capacity"], "free": slot["capacity"] - booked,
                                                 "room": slot["room"]}})
        if done.matched_count:
            return 1
        have = store[SLOTS].find_one({"_id": have["_id"]})
    return 0


def request_regeneration(tx: Tx | Store) -> None:
    """Ask the generator (whichever process holds its lease) to regenerate every doctor's slots soon."""
    tx[GENERATOR].update_one({"_id": "slots"}, {"$set": {"requested_at": utcnow()}}, upsert=True)


def generate_all(store: Store, horizon_days: int, now: datetime) -> int:
    """Regenerate every doctor with a template; returns how many slots were created."""
    created = 0
    for doc in store[TEMPLATES].find({}, {"_id": 1}):
        created += generate_slots(store, doc["_id"], horizon_days, now).created
    store[GENERATOR].update_one({"_id": "slots"}, {"$set": {"generated_at": now}}, upsert=True)
    return created


def regeneration_requested(store: Store) -> datetime | None:
    state = store[GENERATOR].find_one({"_id": "slots"}) or {}
    requested, generated = state.get("requested_at"), state.get("generated_at")
    if requested and (generated is None or as_utc(requested) > as_utc(generated)):
        return as_utc(requested)
    return None


# availability --------------------------------------------------------------------------------------------------------
def search_slots(store: Store, *, now: datetime, horizon_days: int, doctor_id: str | None = None,
                 department: str | None = None, service: str | None = None, day_from: date | None = None,
                 day_to: date | None = None, limit: int = 50) -> list[Slot]:
    """Free slots, next available first."""
    first = day_from or local_today(now)
    last = day_to or (local_today(now) + timedelta(days=horizon_days - 1))
    if last < first:
        raise InvalidInput("The range ends before it starts.", [field_error("to", "must not be before from")])
    if (last - first).days >= MAX_SEARCH_DAYS:
        raise InvalidInput("The range is too long.", [field_error("to", f"at most {MAX_SEARCH_DAYS} days after from")])
    query: dict = {"status": "open", "free": {"$gt": 0},
                   "start": {"$gt": max(as_utc(now), as_utc(local_midnight(first))),
                             "$lt": as_utc(local_midnight(last + timedelta(days=1)))}}
    for name, value in (("doctor_id", doctor_id), ("department", department), ("service", service)):
        if value is not None:
            query[name] = value
    found = store[SLOTS].find(query).sort([("start", ASCENDING), ("doctor_id", ASCENDING)]).limit(limit)
    return [to_slot(s) for s in found]


def to_slot(doc: dict) -> Slot:
    return Slot(id=doc["_id"], doctor_id=doc["doctor_id"], department=doc["department"], service=doc["service"],
                start=to_local_iso(doc["start"]), end=to_local_iso(doc["end"]), capacity=doc["capacity"],
                free=doc["free"], room=doc.get("room"), online=doc["online"])
