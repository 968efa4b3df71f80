"""Booking, holds, confirming, cancelling, rescheduling, check-in, no-shows and reminders of appointments.

Invariants and what enforces them:

* **No double booking, no overbooking.** A booking takes a place with one conditional update of the slot
  (``{"_id": slot, "status": "open", "free": {"$gt": 0}}`` → ``$inc booked +1, free -1``, ``store.take_place``) inside
  the transaction that also inserts the appointment and its events: when the slot is full the update matches nothing
  and the booking fails, whatever the concurrency (two transactions taking the last place collide on the slot and one
  of them is retried, then finds it full). A unique index (``one_place_per_patient_slot``, partial on ``holds_slot``)
  lets a patient hold one place per slot. Nothing is checked first and written later.
* **Holds.** A service that needs prepayment (by default the online video visit) is booked ``held`` until
  ``confirm`` — by payments when the invoice is paid, or by desk staff who took the payment in person. An unpaid hold
  lapses after ``BOOKING_HOLD_MINUTES``: the sweeper (``usecases.expire_holds``) ends it and gives its place back,
  with conditional updates on ``status: held``, so a sweep and a payment racing each other never both win.
* **Idempotency.** A booking request may carry an ``Idempotency-Key``: the key is stored first in the booking's
  transaction, under a unique index on (account, key). A retry with the same key and body returns the first result
  (``replayed``); the same key with a different body is a 409. Keys are kept 24 hours (a TTL index).
* **Half-days.** A patient who names only a day and a half-day gets 10:00 (morning) or 14:00 (afternoon) — the
  seed's rule (网络咨询流程, step 7) — or, when that is taken, the nearest free slot in the same half-day (morning:
  before 12:00; afternoon: from 12:00); the answer says which.
* **Online visits** (互联网诊疗管理办法): diagnosis online only for follow-ups of an in-person diagnosis. An
  ``online_video`` booking is ``online_diagnosis`` when it follows up a completed in-person appointment
  (``follow_up_of``), a consultation whose structured history showed a prior in-person diagnosis (intake's
  ``consultation_intake_completed`` with ``follow_up_eligible``), or a hospital record reference attested by staff;
  otherwise it is ``consultation_only`` and the answer says so.
* **Rescheduling** takes the new place first and gives the old one back in the same transaction: when the new slot is
  full nothing changes. **Cancelling** gives the place back; inside ``BOOKING_LATE_CANCEL_HOURS`` before the start it
  is marked late, and ``BOOKING_LATE_CANCEL_POLICY`` says whether that is all (``mark``), whether a patient's own late
  cancellation keeps the fee (``keep_fee``) or whether patients may not cancel then at all (``refuse``).
* **A freed place goes to the waitlist first** (``usecases.release``): when a patient waits for that slot, or for that
  doctor's service on that day, the place is not given back at all — the same transaction marks the first entry in
  line ``offered`` (conditional on it still ``waiting``) and inserts an appointment ``offered`` to that patient that
  holds the place. So the place never shows as free in between (nobody else can take it), and two places freed at
  once go to two different patients (both transactions update the same entry: one is retried and finds the next in
  line). Only when nobody is waiting does the slot get it back. An offer to a patient who took a place in that slot
  a moment ago collides on the one-place index and the change is tried again (``usecases.transact_releasing``).
* **Arrival** (来诊): desk staff check the patient in (scanning the QR code of the booking, or by hand), a patient
  joins an online visit themself; ``BOOKING_NO_SHOW_GRACE_MINUTES`` after the start a confirmed booking nobody checked
  in is marked no-show by the sweeper.
* **Reminders: booking's sweeper decides, notify only words and sends.** The sweeper looks for confirmed appointments
  that start within an offset of ``REMINDER_OFFSETS_HOURS`` and have not had that reminder, marks it with a
  conditional update (``reminded.h<offset>`` unset, status still ``confirmed``, start unchanged) and emits
  ``appointment_reminder_due`` in the same transaction: each reminder once, even with two sweepers racing or a crash
  between the two. notify keeping its own timetable from the appointment events would copy the appointment's state
  into a second service and have to get every transition right, in order, across queues; here the only copy that
  decides is the one the booking rules change, so a cancelled appointment is never reminded and a moved one is
  reminded for its new time (moving clears ``reminded``). A reminder is only for a time fixed before its moment
  (booked 3 hours ahead: the 2-hour reminder, not the 24-hour one); found within several offsets at once, only the
  nearest is sent. The event carries times and codes only.

**Who.** A patient account books, sees and cancels for the records it acts for (its token lists them); consultants
and team leads book on a patient's behalf (for a patient intake has registered); a consultant sees the bookings they
made, a doctor the bookings of their own schedule, a team lead all (the desk's supervisor). Every read of an
appointment is audited; a refused one looks like a missing one (404). Listing: ``services/booking/scope.py``.
"""
