"""The schedules' decisions, pure: slot ids, local days, the slots a template yields, what a generation changes, who
sees a schedule, what a search range means, and the views."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from contracts.booking.schemas import Generation, Schedule, ScheduleTemplate, ServiceCode, ServiceSettings, Slot
from services.booking.catalogue.rules import Bookable
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, InvalidInput, field_error
from wenzhen.timez import as_utc, hospital_zone, to_local_iso

MAX_SEARCH_DAYS = 92


@dataclass(frozen=True)
class SlotRecord:
    """A slot as stored (times in UTC): its places are ``capacity = booked + free``."""

    id: str
    doctor_id: str
    department: str
    service: str
    online: bool
    room: str | None
    start: datetime
    end: datetime
    capacity: int
    booked: int
    free: int
    status: str  # open | closed
    version: int = 0  # the number of its last event (a place taken or given back)

    def open_at(self, now: datetime) -> bool:
        """Still offered and not yet begun."""
        return self.status == "open" and as_utc(self.start) > now


@dataclass(frozen=True)
class StoredSchedule:
    doctor_id: str
    template: ScheduleTemplate
    version: int
    updated_at: datetime


@dataclass
class Reconciliation:
    """What making the stored slots match the wanted ones takes (each write stays conditional in the store)."""

    create: list[SlotRecord] = field(default_factory=list)
    reopen: list[str] = field(default_factory=list)
    resize: list[tuple[SlotRecord, SlotRecord]] = field(default_factory=list)  # (have, want)
    close: list[str] = field(default_factory=list)  # closed if nobody booked them meanwhile, else kept


def slot_id(doctor_id: str, start: datetime, service: str) -> str:
    """The same (doctor, start, service) always gives the same opaque id."""
    key = f"{doctor_id}|{as_utc(start).isoformat()}|{service}"
    return "slot_" + hashlib.sha256(key.encode()).hexdigest()[:26]


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=hospital_zone())


def local_today(now: datetime) -> date:
    return as_utc(now).astimezone(hospital_zone()).date()


def local_day(moment: datetime) -> date:
    return as_utc(moment).astimezone(hospital_zone()).date()


# who -----------------------------------------------------------------------------------------------------------------
def require_schedule_reader(principal: Principal, doctor_id: str) -> None:
    """Managers see every schedule; a doctor their own."""
    if not (principal.has_role(Role.manager) or (principal.has_role(Role.doctor) and principal.sub == doctor_id)):
        raise Forbidden("Managers see schedules; a doctor sees their own.")


# the template --------------------------------------------------------------------------------------------------------
def rooms_named(template: ScheduleTemplate) -> set[str]:
    return {part.room for part in [*template.sessions, *template.exceptions] if part.room is not None}


def check_sessions(doctor: Bookable, services: dict[ServiceCode, ServiceSettings], template: ScheduleTemplate,
                   known_rooms: set[str]) -> None:
    """Every session is of a service the doctor offers, online ones have no room, others a room of the catalogue."""
    errors = []
    parts = [(f"sessions.{i}", s.service, s.room) for i, s in enumerate(template.sessions)]
    parts += [(f"exceptions.{i}", e.service, e.room) for i, e in enumerate(template.exceptions) if e.kind == "extra"]
    for where, service, room in parts:
        if service.value not in doctor.services:
            errors.append(field_error(f"{where}.service", "is not a service this doctor offers", "not_offered"))
        if services[service].online and room is not None:
            errors.append(field_error(f"{where}.room", "an online service has no room", "online"))
        elif room is not None and room not in known_rooms:
            errors.append(field_error(f"{where}.room", "is not a room in the catalogue", "unknown"))
    if errors:
        raise InvalidInput("The schedule does not fit the doctor's profile or the catalogue.", errors)


# slot planning -------------------------------------------------------------------------------------------------------
def planned_slots(doctor: Bookable, template: ScheduleTemplate, services: dict[ServiceCode, ServiceSettings],
                  now: datetime, horizon_days: int) -> Iterator[SlotRecord]:
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


def _slot(doctor: Bookable, service: ServiceSettings, capacity: int, room: str | None, start: datetime,
          end: datetime) -> SlotRecord:
    start, end = as_utc(start), as_utc(end)
    return SlotRecord(id=slot_id(doctor.id, start, service.code.value), doctor_id=doctor.id,
                      department=doctor.department, service=service.code.value, online=service.online,
                      room=None if service.online else room, start=start, end=end, capacity=capacity, booked=0,
                      free=capacity, status="open")


def wanted_slots(doctor: Bookable | None, template: ScheduleTemplate | None,
                 services: dict[ServiceCode, ServiceSettings], now: datetime,
                 horizon_days: int) -> dict[str, SlotRecord]:
    """The slots an active doctor's template yields for the services the doctor offers (none otherwise)."""
    if doctor is None or not doctor.active or template is None:
        return {}
    offered = set(doctor.services)
    return {s.id: s for s in planned_slots(doctor, template, services, now, horizon_days) if s.service in offered}


def window_end(now: datetime, horizon_days: int) -> datetime:
    return as_utc(local_midnight(local_today(now) + timedelta(days=horizon_days)))


def reconcile(wanted: dict[str, SlotRecord], existing: dict[str, SlotRecord]) -> Reconciliation:
    """Missing slots are created; wanted ones that were closed reopen; a changed capacity or room is resized; open
    slots no longer wanted are closed (unless booked)."""
    plan = Reconciliation(create=[slot for sid, slot in wanted.items() if sid not in existing])
    for sid, slot in wanted.items():
        have = existing.get(sid)
        if have is None:
            continue
        if have.status == "closed":
            plan.reopen.append(sid)
        if have.capacity != slot.capacity or have.room != slot.room:
            plan.resize.append((have, slot))
    plan.close = [sid for sid, have in existing.items() if sid not in wanted and have.status == "open"]
    return plan


def regeneration_due(requested: datetime | None, generated: datetime | None) -> datetime | None:
    """When a regeneration was asked for that has not been done since."""
    if requested and (generated is None or as_utc(requested) > as_utc(generated)):
        return as_utc(requested)
    return None


# availability --------------------------------------------------------------------------------------------------------
def search_window(now: datetime, horizon_days: int, day_from: date | None,
                  day_to: date | None) -> tuple[datetime, datetime]:
    """The start times searched (after, before): from ``day_from`` (default today, never before now) to the end of
    ``day_to`` (default the last day of the horizon), at most ``MAX_SEARCH_DAYS`` days."""
    first = day_from or local_today(now)
    last = day_to or (local_today(now) + timedelta(days=horizon_days - 1))
    if last < first:
        raise InvalidInput("The range ends before it starts.", [field_error("to", "must not be before from")])
    if (last - first).days >= MAX_SEARCH_DAYS:
        raise InvalidInput("The range is too long.", [field_error("to", f"at most {MAX_SEARCH_DAYS} days after from")])
    return (max(as_utc(now), as_utc(local_midnight(first))), as_utc(local_midnight(last + timedelta(days=1))))


# views ---------------------------------------------------------------------------------------------------------------
def to_slot(slot: SlotRecord) -> Slot:
    return Slot(id=slot.id, doctor_id=slot.doctor_id, department=slot.department, service=slot.service,
                start=to_local_iso(slot.start), end=to_local_iso(slot.end), capacity=slot.capacity, free=slot.free,
                room=slot.room, online=slot.online)


def to_schedule(stored: StoredSchedule, generation: Generation | None = None) -> Schedule:
    return Schedule(doctor_id=stored.doctor_id, sessions=stored.template.sessions,
                    exceptions=stored.template.exceptions, version=stored.version,
                    updated_at=to_local_iso(stored.updated_at), generation=generation)
