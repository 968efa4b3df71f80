"""Follow-up plans: the doctor of a completed visit asks the patient back after some days or weeks.

The plan records the due day (counted from the day of the visit, hospital zone), the service (an in-person follow-up,
an online video follow-up — with diagnosis, since it follows an in-person one — or an examination) and an optional
note for the patient (stored encrypted by ``store.FollowUpStore``; never sent by SMS). Booking proposes the doctor's
first free slots around the due day (from a few days before to a week after, nearest first) whenever the plan is
read, so the proposal is always what is free now. The patient (or a consultant on the phone) books one the normal
way, with ``follow_up_of`` = the visit: the plan shows ``booked`` while such a booking is held, confirmed, checked in
or completed — derived from the appointments, so a cancelled follow-up makes the plan open again without a second
copy to keep in step.

Invariants and what enforces them: one plan per visit (a unique index on ``appointment_id``: a second is a 409);
``BOOKING_FOLLOW_UP_REMIND_DAYS`` before the due day (at 09:00, or at once when that has passed) the sweeper emits
``follow_up_due`` for a plan with nothing booked — once, by a conditional update of ``reminded_at`` in the same
transaction — and notify reminds the patient by SMS. Only a completed in-person visit can be followed up (the rule of
``follow_up_of``). Listing: ``services/booking/scope.py``.
"""
