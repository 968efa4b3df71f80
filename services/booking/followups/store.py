"""Every MongoDB query of the follow-up plans; the note is encrypted here on the way in and decrypted on the way out.
The visit, the follow-up bookings and the free slots are read through appointments' and the schedules' stores
(narrow records)."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.booking.appointments.rules import BOOKED, AppointmentRecord
from services.booking.appointments.store import AppointmentStore
from services.booking.catalogue.rules import Bookable
from services.booking.followups.rules import Plan
from services.booking.schedules.rules import SlotRecord
from services.booking.schedules.store import ScheduleStore
from services.booking.scope import Scope
from wenzhen.crypto import Keyring
from wenzhen.storage import CapabilityStore, Index, Store, Tx, update_and_read

PLANS = "follow_up_plans"
ADVICE = "follow_up_advice"  # _id appointment id: a signed report's advice, waiting for the visit to complete
INDEXES = [
    Index(PLANS, [("appointment_id", ASCENDING)], unique=True, name="one_plan_per_visit"),
    Index(PLANS, [("patient_id", ASCENDING), ("due_date", ASCENDING)], name="by_patient"),
    Index(PLANS, [("doctor_id", ASCENDING), ("due_date", ASCENDING)], name="by_doctor"),
    Index(PLANS, [("reminded_at", ASCENDING), ("remind_at", ASCENDING)], name="reminders_due"),
]


class PlanExists(Exception):
    """The visit has a plan already (the one-plan-per-visit index)."""


class FollowUpStore(CapabilityStore):
    def __init__(self, db: Store, keys: Keyring | None = None) -> None:
        super().__init__(db, keys)
        self._appointments = AppointmentStore(db, keys)
        self._schedules = ScheduleStore(db, keys)

    # what the plans need of the other capabilities ---------------------------------------------------------------
    def visit(self, appointment_id: str) -> AppointmentRecord | None:
        return self._appointments.appointment(appointment_id)

    def bookable(self, doctor_id: str) -> Bookable | None:
        return self._appointments.bookable(doctor_id)

    def booked_follow_up(self, plan: Plan, tx: Tx | None = None) -> str | None:
        """The follow-up appointment booked for the plan's visit, if one is held, confirmed, checked in or completed."""
        return self._appointments.booked_follow_up(plan.appointment_id, plan.patient_id, BOOKED, tx)

    def free_slots(self, before: datetime, **filters) -> list[SlotRecord]:
        return self._schedules.free_slots(before, **filters)

    # plans -------------------------------------------------------------------------------------------------------
    def insert_plan(self, tx: Tx, plan: Plan) -> None:
        doc = {"_id": plan.id, "appointment_id": plan.appointment_id, "patient_id": plan.patient_id,
               "doctor_id": plan.doctor_id, "department": plan.department, "service": plan.service,
               "due_date": plan.due_date, "remind_on": plan.remind_on, "remind_at": plan.remind_at,
               "note": self.keys.encrypt(plan.note, field="note", record=plan.id) if plan.note else None,
               "planned_at": plan.planned_at, "planned_by": plan.planned_by, "reminded_at": None}
        try:
            tx[PLANS].insert_one(doc)
        except DuplicateKeyError:
            raise PlanExists() from None

    def has_plan(self, appointment_id: str, tx: Tx) -> bool:
        return tx[PLANS].find_one({"appointment_id": appointment_id}, {"_id": 1}) is not None

    def visit_in(self, tx: Tx, appointment_id: str) -> AppointmentRecord | None:
        return self._appointments.appointment(appointment_id, tx)

    def save_advice(self, tx: Tx, appointment_id: str, days: int, doctor_id: str, sequence: int | None,
                    now: datetime) -> None:
        """The newest report's advice (an amendment's event may come first: an older one loses)."""
        known = tx[ADVICE].find_one({"_id": appointment_id}, {"sequence": 1})
        if known is not None and sequence is not None and (known.get("sequence") or 0) >= sequence:
            return
        tx[ADVICE].update_one({"_id": appointment_id}, {"$set": {"days": days, "doctor_id": doctor_id,
                                                                 "sequence": sequence, "at": now}}, upsert=True)

    def advice(self, tx: Tx, appointment_id: str) -> int | None:
        doc = tx[ADVICE].find_one({"_id": appointment_id})
        return doc["days"] if doc else None

    def plans(self, scope: Scope, limit: int = 50) -> list[Plan]:
        query = {name: value for name, value in (("patient_id", scope.patient_id), ("doctor_id", scope.doctor_id))
                 if value is not None}
        found = self.db[PLANS].find(query).sort([("due_date", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [self._plan(d) for d in found]

    def reminders_due(self, now: datetime, limit: int) -> list[str]:
        found = self.db[PLANS].find({"reminded_at": None, "remind_at": {"$lte": now}}, {"_id": 1}).limit(limit)
        return [d["_id"] for d in found]

    def mark_reminded(self, tx: Tx, plan_id: str, now: datetime) -> Plan | None:
        """Once: conditional on no reminder yet."""
        doc = update_and_read(tx[PLANS], {"_id": plan_id, "reminded_at": None, "remind_at": {"$lte": now}},
                              {"$set": {"reminded_at": now}})
        return self._plan(doc) if doc else None

    def set_reminder_outcome(self, tx: Tx, plan_id: str, outcome: str) -> None:
        tx[PLANS].update_one({"_id": plan_id}, {"$set": {"reminder": outcome}})

    def _plan(self, doc: dict) -> Plan:
        note = self.keys.decrypt(doc["note"], field="note", record=doc["_id"]) if doc.get("note") else None
        return Plan(id=doc["_id"], appointment_id=doc["appointment_id"], patient_id=doc["patient_id"],
                    doctor_id=doc["doctor_id"], department=doc["department"], service=doc["service"],
                    due_date=doc["due_date"], remind_on=doc["remind_on"], remind_at=doc["remind_at"],
                    planned_at=doc["planned_at"], planned_by=doc["planned_by"], note=note,
                    reminded_at=doc.get("reminded_at"), reminder=doc.get("reminder"))
