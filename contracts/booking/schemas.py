"""booking's public contract: request and response models.

The gateway validates HTTP bodies and query strings and builds its OpenAPI document from these models; the
service validates its RPC input with the same ones. Times in requests and answers are in the hospital's zone
(Asia/Shanghai): a schedule says "08:00–12:00 on Mondays" in local time, and answers show local ISO 8601 times.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, create_model, model_validator

from wenzhen.fields import PersonName, Strict, printable

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="Lower-case code, e.g. `urology`.",
                            examples=["urology"])]
Label = Annotated[str, AfterValidator(printable), Field(min_length=1, max_length=80)]
AccountId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$", description="An account id (acc_…).")]
RecordId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")]
LocalTime = Annotated[dt.time, PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
                     Field(description="Local time (hospital zone), HH:MM.", examples=["08:00"])]
CheckInCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,64}$", description="The code in the booking's QR "
                                                                                   "code.")]


class ServiceCode(StrEnum):
    first_visit = "first_visit"  # 初诊
    follow_up = "follow_up"  # 复诊 (in person)
    online_video = "online_video"  # 视频问诊
    examination = "examination"  # 检查


class HalfDay(StrEnum):
    morning = "morning"
    afternoon = "afternoon"


class Visit(StrEnum):
    """What a booking may lead to (互联网诊疗管理办法: online diagnosis only for follow-ups)."""

    visit = "visit"  # in person
    online_diagnosis = "online_diagnosis"  # an online follow-up of an in-person diagnosis
    consultation_only = "consultation_only"  # a first online visit: advice, no diagnosis or prescription


class AppointmentStatus(StrEnum):
    """Where an appointment is (its name in the API document: a stable one, whatever module defines it)."""

    held = "held"  # a place is taken; waiting for payment (services that need prepayment)
    confirmed = "confirmed"
    checked_in = "checked_in"
    completed = "completed"
    no_show = "no_show"
    cancelled = "cancelled"
    expired = "expired"  # an unpaid hold lapsed
    offered = "offered"  # a freed place held for a waitlisted patient until they accept or the offer lapses
    declined = "declined"  # a waitlist offer declined or let lapse (the place went to the next in line)


Status = AppointmentStatus  # booking's own short name for it


class WaitlistStatus(StrEnum):
    waiting = "waiting"  # in line
    offered = "offered"  # a place is held for them until the offer's end
    booked = "booked"  # they accepted the offer
    declined = "declined"
    lapsed = "lapsed"  # the offer ended unanswered
    left = "left"  # they left the line
    expired = "expired"  # the slot or day passed with no place freed


# catalogue -----------------------------------------------------------------------------------------------------------
class DepartmentInput(Strict):
    code: Code
    name_zh: Label = Field(examples=["泌尿外科"])
    name_en: Label = Field(examples=["Urology"])
    active: bool = True


class DepartmentChange(Strict):
    name_zh: Label | None = None
    name_en: Label | None = None
    active: bool | None = None


class Department(BaseModel):
    code: str
    name_zh: str
    name_en: str
    active: bool


class ServiceSettings(BaseModel):
    """A bookable service: how long a slot is and whether it must be paid before it is confirmed."""

    code: ServiceCode
    name_zh: str
    name_en: str
    slot_minutes: int
    prepayment: bool = Field(description="Held until paid (the hold lapses after the configured minutes).")
    online: bool = Field(description="Takes place on video; no room.")


class ServiceChange(Strict):
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    prepayment: bool | None = None


class RoomInput(Strict):
    code: Code = Field(examples=["op3_12"])
    name: Label = Field(examples=["门诊楼3层12诊室"])
    department: Code | None = None


class Room(BaseModel):
    code: str
    name: str
    department: str | None = None


class DoctorInput(Strict):
    """A doctor's public profile. ``doctor_id`` is the doctor's staff account (created by an admin in identity)."""

    doctor_id: AccountId
    display_name: PersonName = Field(description="The name shown to patients (stored encrypted).",
                                     examples=["李明"])
    department: Code
    title: Label = Field(examples=["主任医师"])
    expertise: list[Label] = Field(default_factory=list, max_length=20, examples=[["前列腺炎", "泌尿系结石"]])
    fee_level: Label = Field(description="The fee level's name.", examples=["主任医师号"])
    fee_fen: int = Field(ge=0, le=10_000_000, description="Fee per visit in integer fen (CNY).", examples=[5000])
    licence_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{4,40}$", examples=["110440000012345"])]
    profile: Annotated[str, AfterValidator(printable), Field(max_length=2000)] = ""
    services: list[ServiceCode] = Field(min_length=1, description="Services this doctor offers.")
    active: bool = True


class DoctorChange(Strict):
    display_name: PersonName | None = None
    department: Code | None = None
    title: Label | None = None
    expertise: list[Label] | None = Field(default=None, max_length=20)
    fee_level: Label | None = None
    fee_fen: int | None = Field(default=None, ge=0, le=10_000_000)
    licence_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{4,40}$")] | None = None
    profile: Annotated[str, AfterValidator(printable), Field(max_length=2000)] | None = None
    services: list[ServiceCode] | None = Field(default=None, min_length=1)
    active: bool | None = None


class Doctor(BaseModel):
    id: str
    display_name: str
    department: str
    title: str
    expertise: list[str]
    fee_level: str
    fee_fen: int
    licence_number: str
    profile: str
    services: list[ServiceCode]
    active: bool


class DoctorFilter(Strict):
    department: Code | None = None


# schedules -----------------------------------------------------------------------------------------------------------
class Session(Strict):
    """A weekly clinic session: every ``weekday`` (1 = Monday … 7 = Sunday) from ``start`` to ``end`` local time,
    cut into slots of ``slot_minutes`` (default: the service's), each with ``capacity`` places."""

    weekday: int = Field(ge=1, le=7)
    start: LocalTime
    end: LocalTime
    service: ServiceCode
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    capacity: int = Field(default=1, ge=1, le=100)
    room: Code | None = Field(default=None, description="A room code; none for online services.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ScheduleException(Strict):
    """``leave`` (the doctor is away; with ``start``/``end`` only that part of each day) and ``holiday`` (no
    regular sessions) cover ``date`` to ``until``; ``extra`` adds a session on ``date``."""

    kind: Literal["leave", "holiday", "extra"]
    date: dt.date
    until: dt.date | None = Field(default=None, description="Last day (inclusive) of a leave or holiday.")
    start: LocalTime | None = None
    end: LocalTime | None = None
    service: ServiceCode | None = Field(default=None, description="extra only")
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    capacity: int = Field(default=1, ge=1, le=100)
    room: Code | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.until is not None and self.until < self.date:
            raise ValueError("until must not be before date")
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.kind == "extra":
            if self.start is None or self.service is None:
                raise ValueError("an extra session needs start, end and service")
            if self.until is not None:
                raise ValueError("an extra session is on one date")
        elif self.service is not None or self.room is not None or self.slot_minutes is not None:
            raise ValueError("service, room and slot_minutes belong to extra sessions")
        return self


class ScheduleTemplate(Strict):
    sessions: list[Session] = Field(max_length=60)
    exceptions: list[ScheduleException] = Field(default_factory=list, max_length=366)

    @model_validator(mode="after")
    def _no_overlap(self):
        by_day: dict[int, list[Session]] = {}
        for session in self.sessions:
            by_day.setdefault(session.weekday, []).append(session)
        for day, sessions in by_day.items():
            sessions.sort(key=lambda s: s.start)
            for a, b in zip(sessions, sessions[1:], strict=False):
                if b.start < a.end:
                    raise ValueError(f"sessions overlap on weekday {day} ({a.start:%H:%M} and {b.start:%H:%M})")
        return self


class Generation(BaseModel):
    """What a slot generation did (it is idempotent: a second run creates nothing)."""

    created: int = 0
    reopened: int = 0
    resized: int = 0
    closed: int = 0
    kept_booked: list[str] = Field(default_factory=list, description="Slots no longer in the schedule that still "
                                                                     "have bookings: staff should move them.")


class Schedule(BaseModel):
    doctor_id: str
    sessions: list[Session]
    exceptions: list[ScheduleException]
    version: int
    updated_at: str
    generation: Generation | None = None


class Slot(BaseModel):
    id: str
    doctor_id: str
    department: str
    service: ServiceCode
    start: str = Field(description="Hospital time zone, ISO 8601.")
    end: str
    capacity: int
    free: int
    room: str | None = None
    online: bool


def _query(name: str, doc: str, **fields):
    """A query-string model. ``from`` is a Python keyword, so these models are made with ``create_model``."""
    return create_model(name, __base__=Strict, __doc__=doc, **fields)


_FROM = (dt.date | None, Field(default=None, description="First day (hospital zone); default today."))
_TO = (dt.date | None, Field(default=None, description="Last day, inclusive; default the booking horizon."))
_LIMIT = (int, Field(default=50, ge=1, le=200))

DoctorSlotQuery = _query("DoctorSlotQuery", "Free slots of one doctor.", **{
    "service": (ServiceCode | None, None), "from": _FROM, "to": _TO, "limit": _LIMIT})
SlotSearch = _query("SlotSearch", "Free slots by department, doctor and service; next available first.", **{
    "department": (Code | None, None), "doctor_id": (AccountId | None, None), "service": (ServiceCode | None, None),
    "from": _FROM, "to": _TO, "limit": _LIMIT})
AppointmentQuery = _query("AppointmentQuery", "Appointments of a patient, or of a doctor's schedule.", **{
    "patient_id": (RecordId | None, None), "doctor_id": (AccountId | None, None), "status": (Status | None, None),
    "from": _FROM, "to": _TO, "limit": _LIMIT})
WaitlistQuery = _query("WaitlistQuery", "Waitlist entries of a patient, or for a doctor.", **{
    "patient_id": (RecordId | None, None), "doctor_id": (AccountId | None, None),
    "status": (WaitlistStatus | None, None), "limit": _LIMIT})
FollowUpQuery = _query("FollowUpQuery", "Follow-up plans of a patient, or made by a doctor.", **{
    "patient_id": (RecordId | None, None), "doctor_id": (AccountId | None, None), "limit": _LIMIT})


# appointments --------------------------------------------------------------------------------------------------------
class PriorDiagnosis(Strict):
    """Evidence of a prior in-person diagnosis, for an online visit with diagnosis: a consultation whose structured
    history shows one (intake), or a hospital record reference attested by staff."""

    source: Literal["consultation", "record"]
    reference: Annotated[str, AfterValidator(printable), Field(min_length=1, max_length=60)]


class _SlotChoice(Strict):
    slot_id: RecordId | None = Field(default=None, description="A slot from the availability search.")
    date: dt.date | None = Field(default=None, description="With `half_day`, instead of `slot_id`.")
    half_day: HalfDay | None = Field(default=None, description="morning → 10:00, afternoon → 14:00 (or the nearest "
                                                               "free slot in that half-day).")

    def _check_choice(self, *, needs_where: bool) -> None:
        if self.slot_id is not None:
            if self.date is not None or self.half_day is not None:
                raise ValueError("give either slot_id, or date and half_day")
        elif self.date is None or self.half_day is None:
            raise ValueError("give slot_id, or date and half_day")
        elif needs_where and getattr(self, "doctor_id", None) is None and getattr(self, "department", None) is None:
            raise ValueError("with date and half_day, give doctor_id or department")


class AppointmentRequest(_SlotChoice):
    """Book a slot for a patient: name the slot, or a day and half-day (with a doctor or department and a
    service)."""

    patient_id: RecordId
    service: ServiceCode | None = Field(default=None, description="Required with date and half_day; with slot_id "
                                                                  "it must match the slot's.")
    doctor_id: AccountId | None = None
    department: Code | None = None
    follow_up_of: RecordId | None = Field(default=None, description="A completed in-person appointment this "
                                                                    "follows up (online diagnosis allowed).")
    prior_diagnosis: PriorDiagnosis | None = None

    @model_validator(mode="after")
    def _choice(self):
        self._check_choice(needs_where=True)
        if self.slot_id is None and self.service is None:
            raise ValueError("with date and half_day, give the service")
        return self


class RescheduleRequest(_SlotChoice):
    """Move a booking to another slot of the same doctor and service."""

    @model_validator(mode="after")
    def _choice(self):
        self._check_choice(needs_where=False)
        return self


class CancelRequest(Strict):
    reason: Literal["patient_request", "doctor_unavailable", "booked_in_error", "other"] = "patient_request"


class CheckInRequest(Strict):
    code: CheckInCode | None = Field(default=None, description="Scanned from the patient's QR code (desk).")


class HalfDayChoice(BaseModel):
    """Which slot a half-day request got, and whether it is the default time."""

    half_day: HalfDay
    default_time: str = Field(examples=["10:00"])
    chosen_time: str = Field(examples=["10:30"])
    exact: bool
    note: str


class Appointment(BaseModel):
    id: str
    patient_id: str
    doctor_id: str
    department: str
    service: ServiceCode
    kind: Visit
    notice: str | None = Field(default=None, description="What the patient should know, e.g. that a first online "
                                                         "visit is a consultation only.")
    status: Status
    slot_id: str
    start: str = Field(description="Hospital time zone, ISO 8601.")
    end: str
    room: str | None = None
    online: bool
    fee_fen: int
    prepayment: bool
    hold_expires_at: str | None = None
    booked_at: str
    booked_by_role: str
    confirmed_at: str | None = None
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    late_cancel: bool | None = None
    fee_kept: bool | None = Field(default=None, description="A late cancellation under a policy that keeps the fee.")
    checked_in_at: str | None = None
    checkin_method: str | None = None
    completed_at: str | None = None
    reschedules: int = 0
    follow_up_of: str | None = None
    consultation_id: str | None = None
    waitlist_id: str | None = Field(default=None, description="The waitlist entry this place was offered to.")
    offer_expires_at: str | None = Field(default=None, description="While `offered`: accept before this time.")
    half_day: HalfDayChoice | None = None
    checkin_code: str | None = Field(default=None, description="For the patient's QR code (shown to the patient "
                                                                "only).")
    replayed: bool = Field(default=False, description="The answer to an earlier request with the same "
                                                      "Idempotency-Key.")


class VisitFacts(BaseModel):
    """What records needs of an appointment when its doctor opens the visit's encounter (asked then, by RPC: the
    answer must be the appointment as it is now)."""

    appointment_id: str
    patient_id: str
    doctor_id: str
    department: str
    service: ServiceCode
    kind: Visit
    online: bool
    status: Status
    start: str = Field(description="Start (UTC, ISO 8601)")
    consultation_id: str | None = Field(default=None, description="The online consultation it was booked from")


# the waitlist --------------------------------------------------------------------------------------------------------
class WaitlistRequest(Strict):
    """Wait for a place in a full slot (``slot_id``), or for any place of a doctor's service on a day (``doctor_id``,
    ``service`` and ``date``). When a place frees it is offered to the first in line for a limited time."""

    patient_id: RecordId
    slot_id: RecordId | None = Field(default=None, description="A full slot.")
    doctor_id: AccountId | None = None
    service: ServiceCode | None = None
    date: dt.date | None = Field(default=None, description="A day (hospital zone), with doctor_id and service.")
    follow_up_of: RecordId | None = Field(default=None, description="As for a booking.")
    prior_diagnosis: PriorDiagnosis | None = None

    @model_validator(mode="after")
    def _target(self):
        day = (self.doctor_id, self.service, self.date)
        if self.slot_id is not None:
            if any(v is not None for v in day):
                raise ValueError("give either slot_id, or doctor_id, service and date")
        elif any(v is None for v in day):
            raise ValueError("give slot_id, or doctor_id, service and date")
        return self


class WaitlistOffer(BaseModel):
    appointment_id: str = Field(description="The appointment held for the patient (status `offered`).")
    slot_id: str
    start: str
    expires_at: str = Field(description="Accept before this time; then the place goes to the next in line.")


class WaitlistEntry(BaseModel):
    id: str
    patient_id: str
    doctor_id: str
    department: str
    service: ServiceCode
    slot_id: str | None = Field(default=None, description="Set when waiting for one slot; else any slot that day.")
    date: str = Field(description="The day (hospital zone).")
    status: WaitlistStatus
    position: int | None = Field(default=None, description="While waiting: the place in line for that doctor, "
                                                           "service and day (1 = next).")
    kind: Visit
    notice: str | None = None
    joined_at: str
    offer: WaitlistOffer | None = None
    offers: int = Field(default=0, description="How many places were offered to this entry.")
    ended_at: str | None = None


# follow-up plans -----------------------------------------------------------------------------------------------------
Note = Annotated[str, AfterValidator(printable), Field(min_length=1, max_length=500)]


class FollowUpRequest(Strict):
    """The doctor of a completed visit asks the patient back after ``after_days`` or ``after_weeks``."""

    after_days: int | None = Field(default=None, ge=1, le=730)
    after_weeks: int | None = Field(default=None, ge=1, le=104)
    service: ServiceCode = Field(default=ServiceCode.follow_up, description="follow_up in person, or online_video "
                                                                            "(an online follow-up: with diagnosis).")
    note: Note | None = Field(default=None, description="For the patient, e.g. what to bring (stored encrypted; "
                                                        "never in an SMS).", examples=["复查尿常规，带上次化验单"])

    @model_validator(mode="after")
    def _one_interval(self):
        if (self.after_days is None) == (self.after_weeks is None):
            raise ValueError("give after_days or after_weeks")
        return self

    @property
    def days(self) -> int:
        return self.after_days if self.after_days is not None else 7 * self.after_weeks


class FollowUpPlan(BaseModel):
    id: str
    appointment_id: str = Field(description="The completed visit followed up (book with `follow_up_of` = this).")
    patient_id: str
    doctor_id: str
    department: str
    service: ServiceCode
    due_date: str = Field(description="The day the doctor asks the patient back (hospital zone).")
    remind_on: str = Field(description="The day the patient is reminded by SMS unless booked by then.")
    note: str | None = None
    status: Literal["planned", "booked"] = Field(description="booked while a follow-up appointment is held, "
                                                            "confirmed, checked in or completed.")
    booked_appointment_id: str | None = None
    planned_at: str
    reminded_at: str | None = None
    proposed: list[Slot] = Field(description="The doctor's first free slots around the due date (nearest first).")
