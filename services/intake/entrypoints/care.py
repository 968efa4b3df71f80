"""Care relationships that other services' facts create: the doctor of an appointment may see the patient's record
from the booking until ``access.APPOINTMENT_CARE`` after the visit; a cancelled booking ends it at once."""
from __future__ import annotations

from datetime import timedelta

from contracts.booking.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from services.intake import access
from wenzhen.consumer import consumes
from wenzhen.events import Envelope
from wenzhen.storage import Tx
from wenzhen.timez import parse_iso, utcnow

VISIT_LENGTH = timedelta(hours=4)  # an upper bound for a rescheduled visit, whose event carries only the start


class CareEntrypoints:
    @consumes(AppointmentBooked)
    def on_appointment_booked(self, tx: Tx, event: AppointmentBooked, envelope: Envelope) -> None:
        access.grant_care(tx, event.doctor_id, event.patient_id, "appointment", ref=event.appointment_id,
                          until=parse_iso(event.end) + access.APPOINTMENT_CARE)

    @consumes(AppointmentRescheduled)
    def on_appointment_rescheduled(self, tx: Tx, event: AppointmentRescheduled, envelope: Envelope) -> None:
        access.set_care_end(tx, "appointment", event.appointment_id,
                            parse_iso(event.start) + VISIT_LENGTH + access.APPOINTMENT_CARE)

    @consumes(AppointmentCancelled)
    def on_appointment_cancelled(self, tx: Tx, event: AppointmentCancelled, envelope: Envelope) -> None:
        access.set_care_end(tx, "appointment", event.appointment_id, utcnow())
