"""Doctors' weekly schedules, their exceptions, and the slots generated from them; the availability search.

A schedule template says, in the hospital's local time, when a doctor sees patients: weekly sessions (weekday,
start–end, service, slot length, places per slot, room) and exceptions (leave, holidays, extra sessions). Slots are
generated from it for a horizon of days ahead (``BOOKING_HORIZON_DAYS``): when a manager changes the template, and
by the service's slot generator, which moves the horizon on (``services/booking/service.py``).

Invariants and what enforces them:

* **One slot per (doctor, start, service).** A slot's id is derived from the three (``rules.slot_id``) and a unique
  index on them backs it; slots are inserted by upsert with ``$setOnInsert`` — so generating twice (two processes, a
  timer and a template change at once) never makes two slots of one time (``store.ScheduleStore.create_slots``).
* **``booked + free == capacity``** after every update. Schedules never take or give places (appointments does, with
  a conditional update on ``free > 0``); a capacity is changed only by a conditional update on the ``booked`` count
  that was read, and only where the places booked still fit (``usecases.generate_slots``).
* When a template changes, future slots it no longer yields are closed only if nobody booked them (a conditional
  update on ``booked: 0``); booked ones stay open and are reported (``kept_booked``) so that staff can move those
  patients.
"""
