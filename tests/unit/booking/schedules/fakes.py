"""The schedules' store, in memory: the same named methods as ``ScheduleStore`` over dicts."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from contracts.booking.schemas import ScheduleTemplate, ServiceCode
from services.booking.catalogue.rules import Bookable, service_settings
from services.booking.schedules.rules import SlotRecord, StoredSchedule
from tests.fakes import FakeCapabilityStore


class FakeScheduleStore(FakeCapabilityStore):
    def __init__(self, doctors: dict[str, Bookable] | None = None, rooms: set[str] = frozenset()) -> None:
        super().__init__()
        self.doctors = dict(doctors or {})
        self.service_overrides: dict[str, dict] = {}
        self.rooms = set(rooms)
        self.templates: dict[str, StoredSchedule] = {}
        self.slots: dict[str, SlotRecord] = {}
        self.requested_at: datetime | None = None
        self.generated_at: datetime | None = None

    def bookable(self, doctor_id: str) -> Bookable | None:
        return self.doctors.get(doctor_id)

    def services(self) -> dict:
        return {code: service_settings(code, self.service_overrides.get(code.value, {})) for code in ServiceCode}

    def known_rooms(self, codes: set[str]) -> set[str]:
        return codes & self.rooms

    def template(self, doctor_id: str) -> StoredSchedule | None:
        return self.templates.get(doctor_id)

    def save_template(self, tx, doctor_id: str, template: ScheduleTemplate, by: str, now: datetime) -> StoredSchedule:
        version = self.templates[doctor_id].version + 1 if doctor_id in self.templates else 1
        self.templates[doctor_id] = StoredSchedule(doctor_id, template, version, now)
        return self.templates[doctor_id]

    def doctors_with_templates(self) -> list[str]:
        return list(self.templates)

    def slots_between(self, doctor_id: str, after: datetime, before: datetime) -> dict[str, SlotRecord]:
        return {s.id: s for s in self.slots.values() if s.doctor_id == doctor_id and after < s.start < before}

    def slot(self, slot_id: str) -> SlotRecord | None:
        return self.slots.get(slot_id)

    def create_slots(self, slots: list[SlotRecord]) -> int:
        made = [s for s in slots if s.id not in self.slots]  # the id (doctor, start, service) is unique
        self.slots.update({s.id: s for s in made})
        return len(made)

    def reopen_slot(self, slot_id: str) -> bool:
        if self.slots[slot_id].status != "closed":
            return False
        self.slots[slot_id] = replace(self.slots[slot_id], status="open")
        return True

    def close_slot_if_unbooked(self, slot_id: str) -> bool:
        slot = self.slots[slot_id]
        if slot.status != "open" or slot.booked:
            return False
        self.slots[slot_id] = replace(slot, status="closed")
        return True

    def resize_slot(self, slot_id: str, booked: int, capacity: int, room: str | None) -> bool:
        slot = self.slots[slot_id]
        if slot.booked != booked:
            return False
        self.slots[slot_id] = replace(slot, capacity=capacity, free=capacity - booked, room=room)
        return True

    def request_regeneration(self, now: datetime) -> None:
        self.requested_at = now

    def mark_generated(self, now: datetime) -> None:
        self.generated_at = now

    def generation_state(self):
        return self.requested_at, self.generated_at

    def free_slots(self, before: datetime, *, after=None, since=None, doctor_id=None, department=None, service=None,
                   limit: int = 50, tx=None) -> list[SlotRecord]:
        return free_slots(self.slots.values(), before, after=after, since=since, doctor_id=doctor_id,
                          department=department, service=service, limit=limit)

    # for the tests ---------------------------------------------------------------------------------------------
    def book_places(self, slot_id: str, n: int = 1) -> None:
        """As appointments would: take ``n`` places."""
        slot = self.slots[slot_id]
        self.slots[slot_id] = replace(slot, booked=slot.booked + n, free=slot.free - n)


def free_slots(slots, before: datetime, *, after=None, since=None, doctor_id=None, department=None, service=None,
               limit: int = 50) -> list[SlotRecord]:
    """The availability query over records (shared with the other capabilities' fakes)."""
    found = [s for s in slots if s.status == "open" and s.free > 0 and s.start < before
             and (after is None or s.start > after) and (since is None or s.start >= since)
             and all(want is None or have == want for have, want in ((s.doctor_id, doctor_id),
                                                                      (s.department, department),
                                                                      (s.service, service)))]
    found.sort(key=lambda s: (s.start, s.doctor_id))
    return found[:limit] if limit else found
