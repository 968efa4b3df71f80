"""The waitlist: patients waiting for a full slot, or for any place of a doctor's service on a day.

**Joining.** A patient joins for the records they act for; consultants and team leads on a patient's behalf (as they
book). Only a full slot, or a day with no free place of that doctor's service, can be waited for (otherwise: book).
A unique index (``one_entry_per_patient_target``, partial on ``active``) lets a patient wait once per slot or day;
waiting for one slot and for its whole day are two entries.

**Offers.** When a place frees (a cancellation, a lapsed hold, a booking moved away, an offer declined or lapsed), it
is not given back to the slot while someone waits for it: in the same transaction the first entry in line (by the
time they joined) is marked ``offered`` and an appointment ``offered`` holds the place for them until
``BOOKING_OFFER_MINUTES`` later (or the slot's start, if sooner). That hand-off is appointments' (the place is
theirs: ``appointments.usecases.release``, with the line's head read and marked by ``AppointmentStore.line`` /
``offer_entry``, conditional on the entry still ``waiting``); see ``services/booking/appointments/__init__.py`` for
why it can neither lose the place to a race nor give it twice. notify tells the patient by SMS
(``waitlist_offered``).

**Answers.** Accepting turns the offered appointment into a booking like any other (``confirmed``, or ``held`` until
paid for services that need prepayment) with the usual ``appointment_booked`` events, by a conditional update on the
offer still open. Declining, or letting the offer lapse (the sweeper, every ``BOOKING_SWEEP_SECONDS``), ends the entry
and hands the place to the next in line in the same transaction — or back to the slot when nobody else waits. An
entry whose slot or day has passed expires.

Every entry shown is audited like an appointment; a refused look is a 404. Listing: ``services/booking/scope.py``.
"""
