"""Booking: the public catalogue and availability, appointments, the waitlist, follow-up plans, and the managers'
catalogue and schedules.

Times are shown in the hospital's zone (Asia/Shanghai); query days (`from`, `to`) are local days. The booking
service re-checks whose appointment it is: a patient acts for their own and linked relatives' records, a
consultant sees the bookings they made, a doctor their own schedule's, a team lead all.
"""
from __future__ import annotations

import re

from contracts.booking.schemas import (
    Appointment,
    AppointmentQuery,
    AppointmentRequest,
    CancelRequest,
    CheckInRequest,
    Department,
    DepartmentChange,
    DepartmentInput,
    Doctor,
    DoctorChange,
    DoctorFilter,
    DoctorInput,
    DoctorSlotQuery,
    FollowUpPlan,
    FollowUpQuery,
    FollowUpRequest,
    RescheduleRequest,
    Room,
    RoomInput,
    Schedule,
    ScheduleTemplate,
    ServiceChange,
    ServiceSettings,
    Slot,
    SlotSearch,
    WaitlistEntry,
    WaitlistQuery,
    WaitlistRequest,
)
from gateway.api import Call, Reply
from gateway.app_api import api
from gateway.auth import PUBLIC
from gateway.problems import HttpProblem
from wenzhen.auth import Role

TAGS = ["booking"]
CATALOGUE = ["booking catalogue"]
MANAGERS = {Role.manager}
BOOKERS = {Role.patient, Role.consultant, Role.team_lead}
READERS = {Role.patient, Role.consultant, Role.doctor, Role.team_lead}
DESK = {Role.consultant, Role.team_lead}
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
NOT_YOURS = "No such appointment, or not one the caller may see (the two are not told apart)."
NOT_YOUR_ENTRY = "No such waitlist entry, or not one the caller may act on (the two are not told apart)."
NOT_YOUR_LIST = ("A doctor lists their own schedule (another doctor's `doctor_id`), or the caller's role may not use "
                 "this operation.")


def _query(call: Call) -> dict:
    return call.query.model_dump(mode="json", exclude_none=True)


# the public catalogue and availability ------------------------------------------------------------------------------
@api.route("GET", "/v1/departments", summary="List departments", tags=CATALOGUE, allow=PUBLIC,
           response=list[Department])
def list_departments(call: Call) -> list:
    return call.rpc("booking", "list_departments")


@api.route("GET", "/v1/services", summary="List bookable services", tags=CATALOGUE, allow=PUBLIC,
           response=list[ServiceSettings])
def list_services(call: Call) -> list:
    """First visit, follow-up, online video visit, examination: slot length and whether prepayment is needed."""
    return call.rpc("booking", "list_services")


@api.route("GET", "/v1/rooms", summary="List rooms", tags=CATALOGUE, allow=PUBLIC, response=list[Room])
def list_rooms(call: Call) -> list:
    return call.rpc("booking", "list_rooms")


@api.route("GET", "/v1/doctors", summary="List doctors", tags=CATALOGUE, allow=PUBLIC, query=DoctorFilter,
           response=list[Doctor])
def list_doctors(call: Call) -> list:
    """Public profiles (name, title, expertise, fee, licence); filter by `department`."""
    return call.rpc("booking", "list_doctors", call.query.department)


@api.route("GET", "/v1/doctors/{doctor_id}", summary="Get a doctor's profile", tags=CATALOGUE, allow=PUBLIC,
           response=Doctor, errors={404: "No such doctor."})
def get_doctor(call: Call, doctor_id: str) -> dict:
    return call.rpc("booking", "get_doctor", doctor_id)


@api.route("GET", "/v1/doctors/{doctor_id}/slots", summary="A doctor's free slots", tags=TAGS, allow=PUBLIC,
           query=DoctorSlotQuery, response=list[Slot],
           errors={404: "No such doctor.", 422: "A parameter is invalid (e.g. `to` before `from`)."})
def doctor_slots(call: Call, doctor_id: str) -> list:
    """Slots with a free place, next available first, from `from` (default today) to `to` (default the booking
    horizon), optionally of one `service`."""
    return call.rpc("booking", "doctor_slots", doctor_id, _query(call))


@api.route("GET", "/v1/slots", summary="Search free slots", tags=TAGS, allow=PUBLIC, query=SlotSearch,
           response=list[Slot], errors={422: "A parameter is invalid (e.g. `to` before `from`)."})
def search_slots(call: Call) -> list:
    """By department, doctor, service and date range; next available first."""
    return call.rpc("booking", "search_slots", _query(call))


# appointments -------------------------------------------------------------------------------------------------------
@api.route("POST", "/v1/appointments", summary="Book an appointment", tags=TAGS, allow=BOOKERS,
           request=AppointmentRequest, response=Appointment, status=201,
           errors={404: "No such slot, or not a patient the caller may book for.",
                   409: "The slot is full, closed or past; the patient has it already; or the Idempotency-Key was "
                        "used with another body.",
                   422: "A field (or the Idempotency-Key header) is invalid."})
def book(call: Call) -> Reply:
    """A patient books for a record they act for; consultants and team leads book on a patient's behalf. Name a
    `slot_id`, or a `date` and `half_day` (morning → 10:00, afternoon → 14:00, or the nearest free time in that
    half-day; `half_day` in the answer says which) with a `doctor_id` or `department` and a `service`.

    Services that need prepayment are `held` until paid (`hold_expires_at`); others are `confirmed` at once. A first
    online video visit is `consultation_only` (no diagnosis online), unless it follows up an in-person diagnosis
    (`follow_up_of`, `prior_diagnosis`).

    Send an `Idempotency-Key` header (1–64 of `A-Za-z0-9._:-`) to make retries safe: a retry with the same key and
    body answers the first result (`replayed: true`); the same key with another body is a 409."""
    key = call.req.get_header("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise HttpProblem(422, "The Idempotency-Key header is invalid.", slug="validation",
                          errors=[{"field": "Idempotency-Key", "message": "1–64 letters, digits or ._:-",
                                   "type": "pattern"}])
    appointment = call.rpc("booking", "book", call.body.model_dump(mode="json"), key)
    return Reply(appointment, 201, {"Location": f"/v1/appointments/{appointment['id']}"})


@api.route("GET", "/v1/appointments", summary="List appointments", tags=TAGS, allow=READERS, query=AppointmentQuery,
           response=list[Appointment], errors={403: NOT_YOUR_LIST, 404: "Not a patient record this account acts for.",
                                               422: "A team lead names a patient or a doctor."})
def list_appointments(call: Call) -> list:
    """Patients: a record they act for (`patient_id`). Doctors: their own schedule. Consultants: the bookings they
    made. Team leads: by patient or doctor. Every appointment shown is recorded in the audit trail."""
    return call.rpc("booking", "list_appointments", _query(call))


@api.route("GET", "/v1/appointments/{appointment_id}", summary="Get an appointment", tags=TAGS, allow=READERS,
           response=Appointment, errors={404: NOT_YOURS})
def get_appointment(call: Call, appointment_id: str) -> dict:
    """The patient's own view carries `checkin_code`, the content of the QR code shown at the desk."""
    return call.rpc("booking", "get_appointment", appointment_id)


@api.route("POST", "/v1/appointments/{appointment_id}/cancel", summary="Cancel an appointment", tags=TAGS,
           allow=READERS, request=CancelRequest, response=Appointment,
           errors={404: NOT_YOURS, 409: "The appointment is not held or confirmed, or has started."})
def cancel(call: Call, appointment_id: str) -> dict:
    """Gives the place back. Inside the late-cancellation window (`BOOKING_LATE_CANCEL_HOURS`) a confirmed booking is
    marked `late_cancel`."""
    return call.rpc("booking", "cancel", appointment_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/appointments/{appointment_id}/reschedule", summary="Move an appointment", tags=TAGS,
           allow=BOOKERS, request=RescheduleRequest, response=Appointment,
           errors={404: NOT_YOURS, 409: "The new slot is full (the booking is unchanged), or the booking cannot move."})
def reschedule(call: Call, appointment_id: str) -> dict:
    """To another slot of the same doctor and service (`slot_id`, or `date` and `half_day`). Atomic: the new place is
    taken before the old one is given back, so a full new slot leaves the booking as it was."""
    return call.rpc("booking", "reschedule", appointment_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/appointments/{appointment_id}/confirm", summary="Confirm a held appointment", tags=TAGS,
           allow=DESK, response=Appointment, errors={404: NOT_YOURS, 409: "The hold lapsed or was cancelled."})
def confirm(call: Call, appointment_id: str) -> dict:
    """Desk staff who took the payment in person. (Payments confirms paid bookings itself, by RPC.)"""
    return call.rpc("booking", "confirm", appointment_id)


@api.route("POST", "/v1/appointments/{appointment_id}/check-in", summary="Check a patient in (来诊)", tags=TAGS,
           allow=READERS, request=CheckInRequest, response=Appointment,
           errors={403: "A patient checks in themself only for an online visit.", 404: NOT_YOURS,
                   409: "Not confirmed, too early, or past the grace period.", 422: "The QR code does not match."})
def check_in(call: Call, appointment_id: str) -> dict:
    """Desk staff (consultants, team leads) check in any booking: by scanning the patient's QR code (`code`) or by
    hand; the booking's doctor may; a patient checks in themself by joining an online visit."""
    return call.rpc("booking", "check_in", appointment_id, call.body.model_dump(mode="json", exclude_none=True))


@api.route("POST", "/v1/appointments/{appointment_id}/complete", summary="Complete a visit", tags=TAGS,
           allow={Role.doctor}, response=Appointment,
           errors={404: NOT_YOURS, 409: "The patient was not checked in."})
def complete(call: Call, appointment_id: str) -> dict:
    return call.rpc("booking", "complete", appointment_id)


# the waitlist --------------------------------------------------------------------------------------------------------
@api.route("POST", "/v1/appointments/waitlist", summary="Join the waitlist", tags=TAGS, allow=BOOKERS,
           request=WaitlistRequest, response=WaitlistEntry, status=201,
           errors={404: "No such slot or doctor, or not a patient the caller may book for.",
                   409: "The slot or day has a free place (book it), has passed, or the patient waits for it already.",
                   422: "A field is invalid (e.g. a day beyond the booking horizon)."})
def join_waitlist(call: Call) -> Reply:
    """Wait for a place in a full slot (`slot_id`), or for any place of a doctor's service on a day (`doctor_id`,
    `service`, `date`). Patients for records they act for; consultants and team leads on a patient's behalf.

    When a place frees, the first in line is *offered* it: an appointment `offered` holds the place for
    `BOOKING_OFFER_MINUTES` (the entry's `offer.expires_at`) and the patient gets an SMS. Accept it to book, decline
    it (or let it lapse) and it goes to the next in line."""
    entry = call.rpc("booking", "join_waitlist", call.body.model_dump(mode="json"))
    return Reply(entry, 201, {"Location": f"/v1/appointments/waitlist/{entry['id']}"})


@api.route("GET", "/v1/appointments/waitlist", summary="List waitlist entries", tags=TAGS, allow=READERS,
           query=WaitlistQuery, response=list[WaitlistEntry],
           errors={403: NOT_YOUR_LIST, 404: "Not a patient record this account acts for.",
                   422: "A team lead names a patient or doctor."})
def list_waitlist(call: Call) -> list:
    """Patients: a record they act for (`patient_id`). Doctors: the line for their own schedule. Consultants: a
    patient's entries, or the ones they made. Team leads: by patient or doctor. Every entry shown is audited."""
    return call.rpc("booking", "list_waitlist", _query(call))


@api.route("GET", "/v1/appointments/waitlist/{entry_id}", summary="Get a waitlist entry", tags=TAGS, allow=READERS,
           response=WaitlistEntry, errors={404: NOT_YOUR_ENTRY})
def get_waitlist_entry(call: Call, entry_id: str) -> dict:
    """With the place in line while waiting, and the offer while one is open."""
    return call.rpc("booking", "get_waitlist_entry", entry_id)


@api.route("DELETE", "/v1/appointments/waitlist/{entry_id}", summary="Leave the waitlist", tags=TAGS,
           allow=BOOKERS, response=WaitlistEntry,
           errors={404: NOT_YOUR_ENTRY, 409: "The entry is not waiting (booked, ended)."})
def leave_waitlist(call: Call, entry_id: str) -> dict:
    """An open offer is declined, and its place goes to the next in line."""
    return call.rpc("booking", "leave_waitlist", entry_id)


@api.route("POST", "/v1/appointments/waitlist/{entry_id}/accept", summary="Accept a waitlist offer", tags=TAGS,
           allow=BOOKERS, response=Appointment,
           errors={404: NOT_YOUR_ENTRY, 409: "No open offer: it lapsed, was declined, or was never made."})
def accept_offer(call: Call, entry_id: str) -> dict:
    """The offered appointment becomes a booking: `confirmed`, or `held` until paid for services that need
    prepayment — exactly as if booked directly."""
    return call.rpc("booking", "accept_offer", entry_id)


@api.route("POST", "/v1/appointments/waitlist/{entry_id}/decline", summary="Decline a waitlist offer", tags=TAGS,
           allow=BOOKERS, response=WaitlistEntry, errors={404: NOT_YOUR_ENTRY, 409: "No open offer."})
def decline_offer(call: Call, entry_id: str) -> dict:
    """The place goes to the next in line (or back to the slot); the entry ends."""
    return call.rpc("booking", "decline_offer", entry_id)


# follow-up plans -----------------------------------------------------------------------------------------------------
@api.route("POST", "/v1/appointments/{appointment_id}/follow-up", summary="Plan a follow-up", tags=TAGS,
           allow={Role.doctor}, request=FollowUpRequest, response=FollowUpPlan, status=201,
           errors={404: NOT_YOURS, 409: "The visit is not a completed in-person visit, or has a plan already.",
                   422: "Give `after_days` or `after_weeks`; the service must be a follow-up service the doctor "
                        "offers."})
def plan_follow_up(call: Call, appointment_id: str) -> Reply:
    """The doctor of a completed visit asks the patient back after `after_days` or `after_weeks`. The answer proposes
    the doctor's first free slots around the due day; the patient is reminded by SMS
    (`BOOKING_FOLLOW_UP_REMIND_DAYS` before) unless a follow-up is booked by then (`follow_up_of` = this visit)."""
    plan = call.rpc("booking", "plan_follow_up", appointment_id, call.body.model_dump(mode="json", exclude_none=True))
    return Reply(plan, 201)


@api.route("GET", "/v1/follow-ups", summary="List follow-up plans", tags=TAGS, allow=READERS, query=FollowUpQuery,
           response=list[FollowUpPlan],
           errors={403: NOT_YOUR_LIST, 404: "Not a patient record this account acts for.",
                   422: "Consultants and team leads name a patient."})
def list_follow_ups(call: Call) -> list:
    """Patients: a record they act for (`patient_id`). Doctors: the plans they made. Consultants and team leads: a
    patient's plans (to book them). Each open plan carries `proposed` slots, nearest the due day first."""
    return call.rpc("booking", "list_follow_ups", _query(call))


# the managers' catalogue and schedules --------------------------------------------------------------------------------
@api.route("POST", "/v1/departments", summary="Create a department", tags=CATALOGUE, allow=MANAGERS,
           request=DepartmentInput, response=Department, status=201, errors={409: "The code is taken."})
def create_department(call: Call) -> Reply:
    department = call.rpc("booking", "create_department", call.body.model_dump(mode="json"))
    return Reply(department, 201, {"Location": f"/v1/departments/{department['code']}"})


@api.route("PATCH", "/v1/departments/{code}", summary="Change a department", tags=CATALOGUE, allow=MANAGERS,
           request=DepartmentChange, response=Department, errors={404: "No such department."})
def change_department(call: Call, code: str) -> dict:
    return call.rpc("booking", "change_department", code, call.body.model_dump(mode="json", exclude_none=True))


@api.route("PATCH", "/v1/services/{code}", summary="Change a service's settings", tags=CATALOGUE, allow=MANAGERS,
           request=ServiceChange, response=ServiceSettings, errors={404: "No such service."})
def change_service(call: Call, code: str) -> dict:
    """Slot length and prepayment. A new slot length re-cuts future free slots shortly (the slot generator)."""
    return call.rpc("booking", "change_service", code, call.body.model_dump(mode="json", exclude_none=True))


@api.route("POST", "/v1/rooms", summary="Create a room", tags=CATALOGUE, allow=MANAGERS, request=RoomInput,
           response=Room, status=201, errors={409: "The code is taken."})
def create_room(call: Call) -> Reply:
    return Reply(call.rpc("booking", "create_room", call.body.model_dump(mode="json")), 201)


@api.route("POST", "/v1/doctors", summary="Create a doctor's profile", tags=CATALOGUE, allow=MANAGERS,
           request=DoctorInput, response=Doctor, status=201,
           errors={409: "The doctor has a profile already.",
                   422: "Not a doctor's staff account, no such department, or another invalid field."})
def create_doctor(call: Call) -> Reply:
    """`doctor_id` is the doctor's staff account (an admin creates it first)."""
    doctor = call.rpc("booking", "create_doctor", call.body.model_dump(mode="json"))
    return Reply(doctor, 201, {"Location": f"/v1/doctors/{doctor['id']}"})


@api.route("PATCH", "/v1/doctors/{doctor_id}", summary="Change a doctor's profile", tags=CATALOGUE, allow=MANAGERS,
           request=DoctorChange, response=Doctor, errors={404: "No such doctor."})
def change_doctor(call: Call, doctor_id: str) -> dict:
    return call.rpc("booking", "change_doctor", doctor_id, call.body.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/doctors/{doctor_id}/schedule", summary="Get a doctor's schedule", tags=CATALOGUE,
           allow={Role.manager, Role.doctor}, response=Schedule,
           errors={403: "A doctor sees only their own schedule.", 404: "No schedule yet."})
def get_schedule(call: Call, doctor_id: str) -> dict:
    return call.rpc("booking", "get_schedule", doctor_id)


@api.route("PUT", "/v1/doctors/{doctor_id}/schedule", summary="Set a doctor's weekly schedule", tags=CATALOGUE,
           allow=MANAGERS, request=ScheduleTemplate, response=Schedule,
           errors={404: "No such doctor.", 422: "A session or exception is invalid or does not fit the profile."})
def put_schedule(call: Call, doctor_id: str) -> dict:
    """Weekly sessions in local time and exceptions (leave, holiday, extra session). Slots for the booking horizon
    are generated at once (`generation` says what changed); free slots the schedule no longer yields are closed,
    booked ones are kept and listed (`kept_booked`)."""
    return call.rpc("booking", "put_schedule", doctor_id, call.body.model_dump(mode="json"))
