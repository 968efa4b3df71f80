"""Appointment reminders: ``REMINDER_OFFSETS_HOURS`` (default 24 and 2) hours before every confirmed appointment.

**Design: booking's sweeper decides, notify only words and sends.** Every ``BOOKING_SWEEP_SECONDS`` the sweeper looks
for confirmed appointments that start within an offset and have not had that reminder, marks it with a conditional
update on the appointment (``reminded.h<offset>`` still unset, status still ``confirmed``, start unchanged) and emits
``appointment_reminder_due`` in the same transaction (the outbox): each reminder is emitted once, even with two
sweepers racing or a crash between the two. The alternative — notify keeping its own timetable from
``appointment_booked`` / ``_confirmed`` / ``_cancelled`` / ``_rescheduled`` — would copy the appointment's state into a
second service and have to get every transition right, in order, across queues (a cancellation overtaking a
confirmation, a reschedule arriving twice); here the only copy that decides is the one the booking rules change, so
a cancelled or no longer confirmed appointment is never reminded, and a rescheduled one is reminded for its new time
(moving clears ``reminded``). The cost is one indexed query per offset per sweep.

**Which reminder.** A reminder is only for a time fixed before that reminder's moment: booked (or confirmed, or
moved) 3 hours ahead, the patient gets the 2-hour reminder but not the 24-hour one. An appointment found within
several offsets at once (the service was down for a day) gets only the nearest; the others are marked passed over.
The event carries times and codes only; notify writes the SMS (time, department and place — no clinical detail).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument

from contracts.booking.events import AppointmentReminderDue
from contracts.booking.schemas import Status
from services.booking.places import APPOINTMENTS, appointment_fields
from wenzhen.storage import Store, Tx
from wenzhen.timez import as_utc, to_utc_iso

SWEEP_BATCH = 200


def key(hours: int) -> str:
    return f"h{hours}"


def fixed_at(doc: dict) -> datetime:
    """When the appointment's current time became certain: moved, else confirmed, else booked."""
    return as_utc(doc.get("rescheduled_at") or doc.get("confirmed_at") or doc["booked_at"])


def reminder_due(start: datetime, fixed: datetime, reminded: dict, offsets: tuple[int, ...],
                 now: datetime) -> tuple[int | None, list[int]]:
    """At ``now``, for an appointment starting at ``start`` whose time was fixed at ``fixed``: the offset to remind
    for (or None) and the offsets to mark as done (sent or passed over)."""
    remaining = as_utc(start) - as_utc(now)
    if remaining <= timedelta(0):
        return None, []
    within = sorted(h for h in offsets if remaining <= timedelta(hours=h) and key(h) not in reminded)
    if not within:
        return None, []
    nearest = within[0]
    send = nearest if as_utc(fixed) <= as_utc(start) - timedelta(hours=nearest) else None
    return send, within


def send_due_reminders(store: Store, offsets: tuple[int, ...], now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Emit the reminders due at ``now``; returns how many were emitted."""
    due: list[str] = []
    for hours in offsets:
        query = {"status": Status.confirmed.value, "start": {"$gt": now, "$lte": now + timedelta(hours=hours)},
                 f"reminded.{key(hours)}": None}
        due += [d["_id"] for d in store[APPOINTMENTS].find(query, {"_id": 1}).sort("start", ASCENDING).limit(limit)
                if d["_id"] not in due]
    sent = 0
    for appointment_id in due:
        sent += store.transact(lambda tx, aid=appointment_id: _remind(tx, aid, offsets, now))
    return sent


def _remind(tx: Tx, appointment_id: str, offsets: tuple[int, ...], now: datetime) -> int:
    doc = tx[APPOINTMENTS].find_one({"_id": appointment_id, "status": Status.confirmed.value})
    if doc is None:
        return 0
    send, mark = reminder_due(doc["start"], fixed_at(doc), doc.get("reminded") or {}, offsets, now)
    if not mark:
        return 0
    done = tx[APPOINTMENTS].find_one_and_update(
        {"_id": appointment_id, "status": Status.confirmed.value, "start": doc["start"],
         **{f"reminded.{key(h)}": None for h in mark}},
        {"$set": {f"reminded.{key(h)}": {"at": now, "sent": h == send} for h in mark}},
        return_document=ReturnDocument.AFTER)
    if done is None or send is None:
        return 0
    tx.emit(AppointmentReminderDue(**appointment_fields(done), hours_before=send, end=to_utc_iso(done["end"]),
                                   room=done.get("room"), online=done["online"]), subject=appointment_id)
    return 1
