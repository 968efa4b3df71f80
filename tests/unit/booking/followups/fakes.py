"""The follow-up plans' store, in memory: the same named methods as ``FollowUpStore`` over dicts (the visits and
follow-up bookings it reads are appointment records; the free slots, slot records)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.booking.appointments.rules import BOOKED, AppointmentRecord
from services.booking.catalogue.rules import Bookable
from services.booking.followups.rules import Plan
from services.booking.followups.store import PlanExists
from services.booking.schedules.rules import SlotRecord
from tests.fakes import FakeCapabilityStore
from tests.unit.booking.schedules.fakes import free_slots


class FakeFollowUpStore(FakeCapabilityStore):
    def __init__(self, slots: dict[str, SlotRecord] | None = None, doctors: dict[str, Bookable] | None = None) -> None:
        super().__init__()
        self.slots = dict(slots or {})
        self.doctors = dict(doctors or {})
        self.appointments: dict[str, AppointmentRecord] = {}
        self.plans_: dict[str, Plan] = {}
        self.advice_: dict[str, tuple[int, int | None]] = {}  # appointment -> (days, the report event's sequence)

    def visit(self, appointment_id: str) -> AppointmentRecord | None:
        return self.appointments.get(appointment_id)

    def bookable(self, doctor_id: str) -> Bookable | None:
        return self.doctors.get(doctor_id)

    def booked_follow_up(self, plan: Plan, tx=None) -> str | None:
        found = sorted((a for a in self.appointments.values() if a.follow_up_of == plan.appointment_id
                        and a.patient_id == plan.patient_id and a.status in BOOKED), key=lambda a: a.start)
        return found[0].id if found else None

    def free_slots(self, before: datetime, **filters) -> list[SlotRecord]:
        return free_slots(self.slots.values(), before, **filters)

    def visit_in(self, tx, appointment_id: str) -> AppointmentRecord | None:
        return self.appointments.get(appointment_id)

    def has_plan(self, appointment_id: str, tx) -> bool:
        return any(p.appointment_id == appointment_id for p in self.plans_.values())

    def save_advice(self, tx, appointment_id: str, days: int, doctor_id: str, sequence, now) -> None:
        known = self.advice_.get(appointment_id)
        if known is None or sequence is None or (known[1] or 0) < sequence:
            self.advice_[appointment_id] = (days, sequence)

    def advice(self, tx, appointment_id: str) -> int | None:
        return self.advice_[appointment_id][0] if appointment_id in self.advice_ else None

    def insert_plan(self, tx, plan: Plan) -> None:
        if any(p.appointment_id == plan.appointment_id for p in self.plans_.values()):
            raise PlanExists()
        self.plans_[plan.id] = plan

    def plans(self, scope, limit: int = 50) -> list[Plan]:
        found = [p for p in self.plans_.values()
                 if all(want is None or have == want for have, want in ((p.patient_id, scope.patient_id),
                                                                        (p.doctor_id, scope.doctor_id)))]
        return sorted(found, key=lambda p: (p.due_date, p.id))[:limit]

    def reminders_due(self, now: datetime, limit: int) -> list[str]:
        return [p.id for p in self.plans_.values() if p.reminded_at is None and p.remind_at <= now][:limit]

    def mark_reminded(self, tx, plan_id: str, now: datetime) -> Plan | None:
        plan = self.plans_.get(plan_id)
        if plan is None or plan.reminded_at is not None or plan.remind_at > now:
            return None
        self.plans_[plan_id] = replace(plan, reminded_at=now)
        return self.plans_[plan_id]

    def set_reminder_outcome(self, tx, plan_id: str, outcome: str) -> None:
        self.plans_[plan_id] = replace(self.plans_[plan_id], reminder=outcome)
