"""The schedules' operations: authorize → store → audit (schedules publish no events of their own), the slot
generation (idempotent, every write conditional) and the availability search."""
from __future__ import annotations

from datetime import date, datetime

from contracts.booking.schemas import Generation, Schedule, ScheduleTemplate, Slot
from services.booking.catalogue.rules import require_manager
from services.booking.schedules import rules
from services.booking.schedules.rules import SlotRecord
from services.booking.schedules.store import ScheduleStore
from wenzhen import audit
from wenzhen.audit import UPDATE
from wenzhen.auth import Caller
from wenzhen.errors import NotFound
from wenzhen.storage import Tx

RESIZE_ATTEMPTS = 3


# the template --------------------------------------------------------------------------------------------------------
def put_schedule(store: ScheduleStore, caller: Caller, doctor_id: str, template: ScheduleTemplate, horizon_days: int,
                 now: datetime) -> Schedule:
    """Replace a doctor's template (managers), then bring the doctor's slots in line with it at once."""
    require_manager(caller.principal)
    doctor = store.bookable(doctor_id)
    if doctor is None:
        raise NotFound(f"No doctor profile {doctor_id}; create it first.")
    rules.check_sessions(doctor, store.services(), template, store.known_rooms(rules.rooms_named(template)))

    def body(tx: Tx):
        stored = store.save_template(tx, doctor_id, template, caller.principal.sub, now)
        audit.record(tx, caller, UPDATE, "schedule", "Schedule", doctor_id,
                     detail=f"{len(template.sessions)} sessions, {len(template.exceptions)} exceptions")
        return stored

    stored = store.transact(body)
    return rules.to_schedule(stored, generate_slots(store, doctor_id, horizon_days, now))


def get_schedule(store: ScheduleStore, caller: Caller, doctor_id: str) -> Schedule:
    rules.require_schedule_reader(caller.principal, doctor_id)
    stored = store.template(doctor_id)
    if stored is None:
        raise NotFound(f"Doctor {doctor_id} has no schedule yet.")
    return rules.to_schedule(stored)


# generation ----------------------------------------------------------------------------------------------------------
def generate_slots(store: ScheduleStore, doctor_id: str, horizon_days: int, now: datetime) -> Generation:
    """Make the doctor's slots match the template for the horizon. Idempotent; every write is conditional."""
    stored = store.template(doctor_id)
    wanted = rules.wanted_slots(store.bookable(doctor_id), stored.template if stored else None, store.services(), now,
                                horizon_days)
    plan = rules.reconcile(wanted, store.slots_between(doctor_id, now, rules.window_end(now, horizon_days)))
    result = Generation(created=store.create_slots(plan.create))
    result.reopened = sum(store.reopen_slot(sid) for sid in plan.reopen)
    result.resized = sum(_resize(store, have, want) for have, want in plan.resize)
    for sid in plan.close:
        if store.close_slot_if_unbooked(sid):
            result.closed += 1
        else:
            result.kept_booked.append(sid)
    return result


def _resize(store: ScheduleStore, have: SlotRecord, want: SlotRecord) -> int:
    """Set a new capacity (and room) where the places booked still fit; a booking in between makes it read again
    instead of miscounting ``free``."""
    for _ in range(RESIZE_ATTEMPTS):
        if have is None or have.booked > want.capacity:
            return 0
        if store.resize_slot(have.id, have.booked, want.capacity, want.room):
            return 1
        have = store.slot(have.id)
    return 0


def generate_all(store: ScheduleStore, horizon_days: int, now: datetime) -> int:
    """Regenerate every doctor with a template; returns how many slots were created."""
    created = sum(generate_slots(store, doctor_id, horizon_days, now).created
                  for doctor_id in store.doctors_with_templates())
    store.mark_generated(now)
    return created


def request_regeneration(store: ScheduleStore, now: datetime) -> None:
    """Ask the generator (whichever process holds its lease) to regenerate every doctor's slots soon."""
    store.request_regeneration(now)


def regeneration_requested(store: ScheduleStore) -> datetime | None:
    return rules.regeneration_due(*store.generation_state())


# availability --------------------------------------------------------------------------------------------------------
def search_slots(store: ScheduleStore, *, now: datetime, horizon_days: int, doctor_id: str | None = None,
                 department: str | None = None, service: str | None = None, day_from: date | None = None,
                 day_to: date | None = None, limit: int = 50) -> list[Slot]:
    """Free slots, next available first."""
    after, before = rules.search_window(now, horizon_days, day_from, day_to)
    return [rules.to_slot(s) for s in store.free_slots(before, after=after, doctor_id=doctor_id,
                                                       department=department, service=service, limit=limit)]


def doctor_slots(store: ScheduleStore, doctor_id: str, *, now: datetime, horizon_days: int,
                 service: str | None = None, day_from: date | None = None, day_to: date | None = None,
                 limit: int = 50) -> list[Slot]:
    """An active doctor's free slots (404 for an unknown or inactive doctor)."""
    doctor = store.bookable(doctor_id)
    if doctor is None or not doctor.active:
        raise NotFound(f"No doctor {doctor_id}.")
    return search_slots(store, now=now, horizon_days=horizon_days, doctor_id=doctor_id, service=service,
                        day_from=day_from, day_to=day_to, limit=limit)
