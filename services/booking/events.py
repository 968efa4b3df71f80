"""Events booking publishes (exchange ``booking.events``).

They let payments invoice (``appointment_booked`` with ``prepayment`` and ``fee_fen``), notify remind and
reports count bookings and arrivals (per doctor, department, service and booking consultant). Like every Wenzhen
event they carry identifiers, codes and times, never names or free text. Times are UTC, ISO 8601.

Appointment events have the appointment id as subject (in order per appointment); slot events the slot id.
"""
from __future__ import annotations

from pydantic import Field

from wenzhen.events import EventData


class _Booking(EventData):
    source = "booking"


class _Slot(_Booking):
    slot_id: str
    doctor_id: str = Field(description="The doctor's staff account id")
    department: str = Field(description="Department code")
    service: str = Field(description="first_visit, follow_up, online_video or examination")
    start: str = Field(description="Slot start (UTC, ISO 8601)")
    booked: int = Field(description="Places taken after this change")
    capacity: int


class SlotHeld(_Slot):
    """A place in a slot was taken for an appointment (a new booking or a reschedule)."""

    type = "slot_held"
    appointment_id: str


class SlotReleased(_Slot):
    """A place in a slot became free again."""

    type = "slot_released"
    appointment_id: str
    reason: str = Field(description="cancelled, hold_expired or rescheduled")


class _Appointment(_Booking):
    appointment_id: str
    patient_id: str
    doctor_id: str = Field(description="The doctor's staff account id")
    department: str = Field(description="Department code")
    service: str = Field(description="first_visit, follow_up, online_video or examination")
    start: str = Field(description="Appointment start (UTC, ISO 8601)")


class AppointmentBooked(_Appointment):
    """A slot was booked for a patient: ``held`` until paid when the service needs prepayment, else ``confirmed``
    (an ``appointment_confirmed`` follows in the same transaction)."""

    type = "appointment_booked"
    slot_id: str
    end: str = Field(description="Appointment end (UTC, ISO 8601)")
    status: str = Field(description="held or confirmed")
    kind: str = Field(description="visit (in person), online_diagnosis (an online follow-up of an in-person "
                                   "diagnosis) or consultation_only (a first online visit: no diagnosis)")
    online: bool
    prepayment: bool = Field(description="Payment is needed to confirm the booking")
    fee_fen: int = Field(description="The doctor's fee (integer fen, CNY)")
    hold_expires_at: str | None = Field(default=None, description="When an unpaid hold lapses (UTC)")
    booked_by: str | None = Field(default=None, description="Staff account id when staff booked on the patient's "
                                                            "behalf (consultant attribution)")
    consultation_id: str | None = None
    follow_up_of: str | None = Field(default=None, description="The in-person appointment this follows up")


class AppointmentConfirmed(_Appointment):
    """A booking is confirmed: paid, confirmed by staff, or needing no prepayment."""

    type = "appointment_confirmed"
    by: str = Field(description="no_prepayment, payment or staff")


class AppointmentCancelled(_Appointment):
    """A booking ended before the visit: cancelled by someone, or an unpaid hold lapsed."""

    type = "appointment_cancelled"
    reason: str = Field(description="patient_request, doctor_unavailable, booked_in_error, other or hold_expired")
    late: bool = Field(description="Cancelled inside the late-cancellation window (the fee may be kept)")
    by_role: str = Field(description="The canceller's role, or system for a lapsed hold")


class AppointmentRescheduled(_Appointment):
    """A booking moved to another slot of the same doctor and service (``start`` is the new time)."""

    type = "appointment_rescheduled"
    slot_id: str
    previous_slot_id: str
    previous_start: str = Field(description="The old start (UTC)")


class AppointmentCheckedIn(_Appointment):
    """The patient arrived (来诊): at the desk, by the QR code of the booking, or joining an online visit."""

    type = "appointment_checked_in"
    method: str = Field(description="desk, qr, online or doctor")
    booked_by: str | None = Field(default=None, description="Staff account id that booked it (arrivals per "
                                                            "consultant)")


class AppointmentNoShow(_Appointment):
    """The patient did not arrive within the grace period after the start."""

    type = "appointment_no_show"


class AppointmentCompleted(_Appointment):
    """The doctor finished the visit."""

    type = "appointment_completed"
