"""Events booking publishes (exchange ``booking.events``).

They let payments invoice (``appointment_booked`` with ``prepayment`` and ``fee_fen``), notify remind and
reports count bookings and arrivals (per doctor, department, service and booking consultant). Like every Wenzhen
event they carry identifiers, codes and times, never names or free text. Times are UTC, ISO 8601.

Appointment events have the appointment id as subject (in order per appointment); slot events the slot id;
waitlist events the waitlist entry's id; follow-up events the plan's id.
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
    reason: str = Field(description="cancelled, hold_expired, rescheduled, offer_declined or offer_lapsed (a "
                                    "place handed to the next in line is followed by a slot_held for the offer)")


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
    late: bool = Field(description="Cancelled inside the late-cancellation window")
    by_role: str = Field(description="The canceller's role, or system for a lapsed hold")
    fee_kept: bool = Field(default=False, description="The late-cancellation policy keeps the fee (payments does "
                                                      "not refund it)")


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


class AppointmentReminderDue(_Appointment):
    """A confirmed appointment starts within ``hours_before`` hours (the offsets of ``REMINDER_OFFSETS_HOURS``): notify
    reminds the patient. Each offset at most once per appointment time; none for a booking made inside it."""

    type = "appointment_reminder_due"
    hours_before: int
    end: str = Field(description="Appointment end (UTC, ISO 8601)")
    room: str | None = Field(default=None, description="Room code; none for online visits")
    online: bool


class WaitlistOffered(_Booking):
    """A freed place is held for the first patient in line until ``offer_expires_at``: they accept (it becomes a
    booking) or decline, or it lapses and goes to the next in line."""

    type = "waitlist_offered"
    waitlist_id: str
    appointment_id: str = Field(description="The appointment held for the patient (status offered)")
    patient_id: str
    doctor_id: str = Field(description="The doctor's staff account id")
    department: str = Field(description="Department code")
    service: str = Field(description="first_visit, follow_up, online_video or examination")
    slot_id: str
    start: str = Field(description="Slot start (UTC, ISO 8601)")
    room: str | None = Field(default=None, description="Room code; none for online visits")
    online: bool
    offer_expires_at: str = Field(description="Accept before this (UTC, ISO 8601)")


class WaitlistOfferEnded(_Booking):
    """An offer ended without a booking: declined, or lapsed unanswered."""

    type = "waitlist_offer_ended"
    waitlist_id: str
    appointment_id: str
    patient_id: str
    doctor_id: str = Field(description="The doctor's staff account id")
    slot_id: str
    outcome: str = Field(description="declined or lapsed")
    passed_on: bool = Field(description="The place was offered to the next in line (else it became free)")


class _FollowUp(_Booking):
    plan_id: str
    appointment_id: str = Field(description="The completed visit followed up")
    patient_id: str
    doctor_id: str = Field(description="The doctor's staff account id")
    department: str = Field(description="Department code")
    service: str = Field(description="follow_up or online_video")
    due_date: str = Field(description="The day the patient is asked back (hospital zone, YYYY-MM-DD)")


class FollowUpPlanned(_FollowUp):
    """The doctor of a completed visit asked the patient back by a day."""

    type = "follow_up_planned"
    remind_on: str = Field(description="The day the patient is reminded unless booked (hospital zone)")


class FollowUpDue(_FollowUp):
    """A follow-up is near and nothing is booked for it: notify reminds the patient."""

    type = "follow_up_due"
