"""The appointments' store, in memory: the same named methods as ``AppointmentStore`` over dicts, with its
conditional updates as plain comparisons and its unique indexes as checks (one place per patient and slot, one key
per account). It also holds the waitlist's entries, which the hand-off of a freed place reads and marks (the
waitlist's fake is a view over this one: one database, one transaction)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from contracts.booking.schemas import ServiceCode, Status, WaitlistStatus
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
from services.booking.catalogue.rules import Bookable, service_settings
from services.booking.schedules.rules import SlotRecord
from services.booking.waitlist.rules import Entry
from tests.fakes import FakeCapabilityStore
from tests.unit.booking.schedules.fakes import free_slots


class FakeAppointmentStore(FakeCapabilityStore):
    def __init__(self, slots: dict[str, SlotRecord] | None = None, doctors: dict[str, Bookable] | None = None,
                 patients=()) -> None:
        super().__init__()
        self.slots = dict(slots or {})
        self.doctors = dict(doctors or {})
        self.service_overrides: dict[str, dict] = {}
        self.records: dict[str, AppointmentRecord] = {}  # the appointments
        self.entries: dict[str, Entry] = {}  # the waitlist's
        self.keys: dict[tuple[str, str], IdempotencyKey] = {}
        self.patients: set[str] = set(patients)
        self.consultations: dict[str, KnownConsultation] = {}

    # the catalogue -----------------------------------------------------------------------------------------------
    def bookable(self, doctor_id: str, tx=None) -> Bookable | None:
        return self.doctors.get(doctor_id)

    def service(self, code, tx=None):
        return service_settings(code, self.service_overrides.get(ServiceCode(code).value, {}))

    # places ----------------------------------------------------------------------------------------------------
    def slot(self, slot_id: str, tx=None) -> SlotRecord | None:
        return self.slots.get(slot_id)

    def _places(self, slot_id: str, n: int) -> SlotRecord:
        slot = self.slots[slot_id]
        self.slots[slot_id] = replace(slot, booked=slot.booked + n, free=slot.free - n, version=slot.version + 1)
        return self.slots[slot_id]

    def count_slot_events(self, tx, slot_id: str, events: int) -> int:
        self.slots[slot_id] = replace(self.slots[slot_id], version=self.slots[slot_id].version + events)
        return self.slots[slot_id].version

    def take_place(self, tx, slot_id: str, now: datetime) -> SlotRecord:
        slot = self.slots.get(slot_id)
        if slot is None or slot.status != "open" or slot.free <= 0 or slot.start <= now:
            raise SlotGone(gone_reason(slot, now))
        return self._places(slot_id, 1)

    def give_back(self, tx, slot_id: str) -> SlotRecord | None:
        slot = self.slots.get(slot_id)
        return self._places(slot_id, -1) if slot is not None and slot.booked > 0 else None

    def free_slots(self, before: datetime, **filters) -> list[SlotRecord]:
        filters.pop("tx", None)
        return free_slots(self.slots.values(), before, **filters)

    def day_places(self, doctor_id: str, service: str, after: datetime, before: datetime) -> tuple[bool, bool]:
        sessions = [s for s in self.slots.values() if s.doctor_id == doctor_id and s.service == service
                    and s.status == "open" and after < s.start < before]
        return bool(sessions), any(s.free > 0 for s in sessions)

    def holds_place(self, patient_id: str, slot_id: str, tx=None) -> bool:
        return self._holds(patient_id, slot_id)

    def _holds(self, patient_id: str, slot_id: str) -> bool:  # the unique index (what a read may miss in a race)
        return any(a.patient_id == patient_id and a.slot_id == slot_id and a.holds_slot
                   for a in self.records.values())

    # the line ----------------------------------------------------------------------------------------------------
    def line(self, tx, slot: SlotRecord, limit: int) -> list[InLine]:
        waiting = [e for e in self.entries.values()
                   if e.status == WaitlistStatus.waiting and e.doctor_id == slot.doctor_id
                   and e.service == slot.service
                   and (e.slot_id == slot.id or (e.slot_id is None and e.window_start <= slot.start < e.until))]
        waiting.sort(key=lambda e: (e.joined_at, e.id))
        return [InLine(e.id, e.patient_id, e.kind, e.notice, e.joined_by, e.joined_by_role, e.follow_up_of,
                       e.prior_diagnosis) for e in waiting[:limit]]

    def offer_entry(self, tx, entry_id: str, offer: Offer, now: datetime) -> bool:
        entry = self.entries.get(entry_id)
        if entry is None or entry.status != WaitlistStatus.waiting:
            return False
        self.entries[entry_id] = replace(entry, status=WaitlistStatus.offered, offer=offer, offers=entry.offers + 1)
        return True

    # appointments ----------------------------------------------------------------------------------------------
    def insert_appointment(self, tx, appointment: AppointmentRecord) -> None:
        if self._holds(appointment.patient_id, appointment.slot_id):
            raise AlreadyBooked()
        self.records[appointment.id] = appointment

    def appointment(self, appointment_id: str, tx=None) -> AppointmentRecord | None:
        return self.records.get(appointment_id)

    def _change(self, appointment_id: str, when, events: int = 1, **values) -> AppointmentRecord | None:
        found = self.records.get(appointment_id)
        if found is None or not when(found):
            return None
        self.records[appointment_id] = replace(found, **values, version=found.version + events)
        return self.records[appointment_id]

    def confirm_held(self, tx, appointment_id, by, now):
        return self._change(appointment_id, lambda a: a.status == Status.held, status=Status.confirmed,
                            confirmed_at=now, hold_expires_at=None, confirmed_by=by)

    def cancel(self, tx, appointment, reason, late, fee_kept, by, now):
        return self._change(appointment.id, lambda a: (a.status, a.slot_id) == (appointment.status,
                                                                                  appointment.slot_id),
                            status=Status.cancelled, holds_slot=False, cancelled_at=now, cancel_reason=reason,
                            late_cancel=late, fee_kept=fee_kept, cancelled_by=by, hold_expires_at=None)

    def move(self, tx, appointment, slot, half_day, now):
        if any(a.id != appointment.id and a.patient_id == appointment.patient_id and a.slot_id == slot.id
               and a.holds_slot for a in self.records.values()):
            raise AlreadyBooked()
        found = self.records.get(appointment.id)
        return self._change(appointment.id, lambda a: (a.status, a.slot_id) == (appointment.status,
                                                                                  appointment.slot_id),
                            slot_id=slot.id, start=slot.start, end=slot.end, room=slot.room, rescheduled_at=now,
                            half_day=half_day, reminded={}, reschedules=(found.reschedules + 1) if found else 1)

    def check_in(self, tx, appointment_id, method, by, now):
        return self._change(appointment_id, lambda a: a.status == Status.confirmed, status=Status.checked_in,
                            checked_in_at=now, checkin_method=method, checked_in_by=by)

    def complete(self, tx, appointment_id, now):
        return self._change(appointment_id, lambda a: a.status == Status.checked_in, status=Status.completed,
                            completed_at=now)

    def expire_hold(self, tx, appointment_id, now):
        return self._change(appointment_id, lambda a: a.status == Status.held and a.hold_expires_at <= now,
                            status=Status.expired, holds_slot=False, expired_at=now)

    def mark_no_show(self, tx, appointment_id, cutoff, now):
        return self._change(appointment_id, lambda a: a.status == Status.confirmed and a.start <= cutoff,
                            status=Status.no_show, no_show_at=now)

    def confirmed(self, tx, appointment_id):
        found = self.records.get(appointment_id)
        return found if found is not None and found.status == Status.confirmed else None

    def mark_reminded(self, tx, appointment, marks, now):
        keys = [reminder_key(h) for h in marks]
        return self._change(
            appointment.id, lambda a: a.status == Status.confirmed and a.start == appointment.start
            and not any(k in a.reminded for k in keys),
            reminded={**appointment.reminded, **{reminder_key(h): {"at": now, "sent": sent}
                                                 for h, sent in marks.items()}}, events=1 if any(marks.values()) else 0)

    def accept_offer(self, tx, appointment_id, confirmed, hold_until, by, now):
        return self._change(appointment_id, lambda a: a.status == Status.offered and a.offer_expires_at > now,
                            status=Status.confirmed if confirmed else Status.held, booked_at=now,
                            confirmed_at=now if confirmed else None, hold_expires_at=hold_until,
                            offer_expires_at=None, accepted_by=by, events=2 if confirmed else 1)

    def end_offer(self, tx, appointment_id, outcome, now, lapsed_by=None):
        return self._change(appointment_id, lambda a: a.status == Status.offered and (
            lapsed_by is None or a.offer_expires_at <= lapsed_by), status=Status.declined, holds_slot=False,
                            offer_outcome=outcome, declined_at=now, events=0)

    def appointments(self, scope, *, status=None, since=None, before=None, limit=50) -> list[AppointmentRecord]:
        found = [a for a in self.records.values()
                 if all(want is None or have == want for have, want in (
                     (a.patient_id, scope.patient_id), (a.doctor_id, scope.doctor_id),
                     (a.booked_by, scope.made_by), (a.status, status)))
                 and (since is None or a.start >= since) and (before is None or a.start < before)]
        return sorted(found, key=lambda a: a.start)[:limit]

    def booked_follow_up(self, visit_id, patient_id, statuses, tx=None):
        found = sorted((a for a in self.records.values() if a.follow_up_of == visit_id
                        and a.patient_id == patient_id and a.status in statuses), key=lambda a: a.start)
        return found[0].id if found else None

    def _due(self, when, limit: int) -> list[str]:
        return [a.id for a in self.records.values() if when(a)][:limit]

    def holds_due(self, now, limit):
        return self._due(lambda a: a.status == Status.held and a.hold_expires_at <= now, limit)

    def no_shows_due(self, cutoff, limit):
        return self._due(lambda a: a.status == Status.confirmed and a.start <= cutoff, limit)

    def offers_due(self, now, limit):
        return self._due(lambda a: a.status == Status.offered and a.offer_expires_at <= now, limit)

    def reminders_due(self, hours, now, limit):
        found = sorted((a for a in self.records.values() if a.status == Status.confirmed
                        and now < a.start <= now + timedelta(hours=hours) and reminder_key(hours) not in a.reminded),
                       key=lambda a: a.start)
        return [a.id for a in found][:limit]

    # idempotency keys, intake's facts ----------------------------------------------------------------------------
    def insert_key(self, tx, account_id, key, fingerprint, appointment_id, now) -> None:
        if (account_id, key) in self.keys:
            raise KeyTaken()
        self.keys[(account_id, key)] = IdempotencyKey(fingerprint, appointment_id)

    def idempotency_key(self, account_id, key) -> IdempotencyKey | None:
        return self.keys.get((account_id, key))

    def record_patient(self, tx, patient_id, now) -> None:
        self.patients.add(patient_id)

    def patient_known(self, patient_id) -> bool:
        return patient_id in self.patients

    def consultation(self, consultation_id, tx=None) -> KnownConsultation | None:
        return self.consultations.get(consultation_id)

    def save_consultation(self, tx, consultation_id, known, now) -> None:
        self.consultations[consultation_id] = known

    # for the tests ---------------------------------------------------------------------------------------------
    def counters(self, slot_id: str) -> tuple[int, int]:
        return self.slots[slot_id].booked, self.slots[slot_id].free

    def set_slot(self, slot_id: str, **values) -> None:
        self.slots[slot_id] = replace(self.slots[slot_id], **values)

    def set_appointment(self, appointment_id: str, **values) -> None:
        self.records[appointment_id] = replace(self.records[appointment_id], **values)
