"""The shapes of the online consultation desk at its boundary: what callers send and what they get back."""
from __future__ import annotations

import unicodedata
from datetime import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from wenzhen.fields import Strict, printable

DEPARTMENT_CODE = r"^[a-z][a-z0-9_]{1,40}$"
# the files a chat accepts (intake reads the kind from the bytes), and so what a download can be
FILE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "video/mp4", "video/quicktime",
              "application/pdf")
MAX_FILE_BYTES = 20 * 1024 * 1024  # a video's limit, the largest kind's; ATTACHMENT_MAX_BYTES may lower the others


def _chat_text(value: str) -> str:
    """Chat text may hold line breaks and tabs, never other control or format characters (e.g. bidi overrides)."""
    if any(unicodedata.category(ch).startswith("C") and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


ChatText = Annotated[str, AfterValidator(_chat_text)]


class Channel(StrEnum):
    web = "web"
    app = "app"
    mini_program = "mini_program"
    phone = "phone"  # a call logged by a consultant


class ConsultationStatus(StrEnum):
    """Where a consultation is (its name in the API document: a stable one, whatever module defines it)."""

    queued = "queued"  # waiting for a consultant
    assigned = "assigned"  # offered to a consultant, not yet accepted
    active = "active"  # a consultant is on the chat
    closed = "closed"


Status = ConsultationStatus  # intake's own short name for it


class Outcome(StrEnum):
    booked = "booked"
    information_only = "information_only"
    referred_in_person = "referred_in_person"
    dropped = "dropped"


class ConsultationOpen(Strict):
    """A first message opens a consultation."""

    channel: Channel = Channel.web
    message: ChatText = Field(min_length=1, max_length=2000, description="The first message, as the patient wrote it.")
    department: str | None = Field(default=None, pattern=DEPARTMENT_CODE,
                                   description="Department chosen by the patient; else guessed from the text.")
    patient_id: str | None = Field(default=None, description="A patient the signed-in account acts for (or, for a "
                                                             "logged phone call, the caller's record).")
    language: Literal["zh", "en"] = "zh"


class MessageInput(Strict):
    """A text message, or a knowledge-base reply template filled for this chat (staff only)."""

    text: ChatText | None = Field(default=None, min_length=1, max_length=4000)
    template_id: str | None = Field(default=None, description="A knowledge-base article to insert (staff only).")
    values: dict[str, str] = Field(default_factory=dict, description="Template variables the chat cannot fill.")
    client_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                  description="Chosen by the client; a retried post with the same id is stored once.")

    @model_validator(mode="after")
    def _one_body(self):
        if (self.text is None) == (self.template_id is None):
            raise ValueError("send exactly one of text or template_id")
        return self


class ReadReceipt(Strict):
    seq: int = Field(ge=0, description="The last message the reader has seen.")


class Transfer(Strict):
    to: str | None = Field(default=None, description="A colleague's account id; absent: the team lead on duty.")
    reason: Literal["colleague", "team_lead", "abusive"] = "colleague"
    note: ChatText | None = Field(default=None, max_length=500, description="Handover note for the next consultant.")


class Close(Strict):
    outcome: Outcome
    disease_category: str | None = Field(default=None, max_length=60)
    tags: list[str] = Field(default_factory=list, max_length=10)
    note: str | None = Field(default=None, max_length=1000)


class Rating(Strict):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class ExampleMark(Strict):
    example: Literal["satisfied", "unsatisfied"]
    title: str = Field(min_length=3, max_length=80, description='Named "disease — topic", e.g. "鼻炎 — 复诊预约".')


class PatientLink(Strict):
    patient_id: str = Field(min_length=4, max_length=40)


class DepartmentChoice(Strict):
    department: str = Field(pattern=DEPARTMENT_CODE)
    doctor_id: str | None = None


class DoctorPreference(BaseModel):
    """What the patient said they want of a doctor (the triage advice's input); every field optional."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sex: str | None = Field(default=None, pattern=r"^(male|female)$")
    doctor_id: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1, max_length=40)


class Presence(Strict):
    available: bool


class RosterEntry(Strict):
    skills: list[str] = Field(default_factory=list, max_length=20, description="Department codes; empty: any.")
    max_chats: int = Field(default=5, ge=1, le=20)
    shifts: list[str] = Field(default_factory=lambda: ["day", "evening"], min_length=1, max_length=10)


# the desk's shifts ------------------------------------------------------------------------------------------------
ShiftName = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(printable)]
# documented as what it is, in and out: whole minutes (JSON Schema's "time" format is RFC 3339's, with seconds and zone)
WallClock = Annotated[time, PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
                      WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"})]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday … 6 = Sunday.")]


class Shift(BaseModel):
    """One shift of the online desk, in the hospital's local time, on the weekdays it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=32,
                      description="Slug the consultants' rosters refer to.", examples=["day"])
    name_zh: ShiftName = Field(examples=["白班"])
    name_en: ShiftName = Field(examples=["Day shift"])
    start: WallClock = Field(description="Local start time, whole minutes (HH:MM).", examples=["08:00"])
    end: WallClock = Field(description="Local end time, whole minutes; earlier than start when the shift runs past "
                                       "midnight.", examples=["17:00"])
    weekdays: list[Weekday] = Field(default_factory=lambda: list(range(7)), min_length=1, max_length=7,
                                    description="Weekdays the shift starts on, 0 = Monday … 6 = Sunday.")
    team_lead_id: str | None = Field(default=None, min_length=1, max_length=64,
                                     description="Account of the team lead responsible for the shift.")

    @field_validator("start", "end")
    @classmethod
    def _wall_clock_minutes(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("must be a local time without a zone offset (the hospital's zone applies)")
        if value.second or value.microsecond:
            raise ValueError("must be a whole minute (HH:MM)")
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: time, info: ValidationInfo) -> time:
        if info.data.get("start") == value:
            raise ValueError("must differ from start (a shift of no length, or of a whole day, is ambiguous)")
        return value

    @field_validator("weekdays")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a weekday")
        return sorted(value)

    @property
    def overnight(self) -> bool:
        """Whether the shift runs past midnight into the next day."""
        return self.end < self.start


class ShiftTable(Strict):
    shifts: list[dict] = Field(min_length=1, max_length=10)


# views ---------------------------------------------------------------------------------------------------------------
class Attachment(BaseModel):
    id: str
    name: str
    content_type: str
    size: int


class Message(BaseModel):
    id: str
    seq: int
    author: str = Field(description="patient, visitor, consultant, team_lead or system")
    author_id: str | None = Field(default=None, description="Staff account id (patients' and visitors' are not shown)")
    kind: str = Field(description="text, image, video, file, emergency, auto_reply, booking or note")
    text: str | None = None
    attachment: Attachment | None = None
    at: str = Field(description="In the hospital's time zone.")


class Messages(BaseModel):
    items: list[Message]
    last_seq: int
    read: dict[str, int] = Field(description="Read receipts: the last seq each side has read (patient, staff).")


class QueueInfo(BaseModel):
    position: int | None = None
    expected_wait_seconds: int | None = Field(default=None, description="An estimate; absent when nobody is on duty.")
    next_opening: str | None = Field(default=None, description="When service opens, if it is closed now.")


class Consultation(BaseModel):
    id: str
    status: Status
    channel: Channel
    opened_at: str
    department: str | None = None
    department_source: str | None = None
    urgent: bool = False
    red_flags: list[str] = Field(default_factory=list)
    patient_id: str | None = None
    visitor: bool = False
    consultant_id: str | None = None
    accepted_at: str | None = None
    last_seq: int = 0
    unread: int = Field(default=0, description="Messages from the other side the caller's side has not read.")
    read: dict[str, int] = Field(default_factory=dict)
    queue: QueueInfo | None = None
    in_service_hours: bool = True
    outcome: Outcome | None = None
    disease_category: str | None = None
    tags: list[str] = Field(default_factory=list)
    rating: int | None = None
    closed_at: str | None = None
    history_completion: dict[str, bool] = Field(default_factory=dict)
    follow_up_eligible: bool = False


class Opened(BaseModel):
    consultation: Consultation
    messages: list[Message]
    visitor_token: dict | None = Field(default=None, description="For an anonymous visitor: access and refresh "
                                                                 "tokens for the following calls.")


class QueueItem(BaseModel):
    id: str
    channel: Channel
    department: str | None
    urgent: bool
    waited_seconds: int
    status: Status
    consultant_id: str | None = None


class RosterView(BaseModel):
    consultant_id: str
    skills: list[str]
    max_chats: int
    shifts: list[str]
    available: bool
    load: int
    on_duty: bool


class DeskView(BaseModel):
    """The team lead's live view."""

    now: str
    in_service_hours: bool
    on_duty_shifts: list[str]
    queue: list[QueueItem]
    consultants: list[RosterView]
    red_flags: list[dict] = Field(description="Open urgent consultations and their codes.")
    breaches_today: dict[str, int]
    open_incidents: list[dict]
    escalated: list[str] = Field(description="Consultations handed to the team lead (transfers, abusive visitors).")


class TriageAdvice(BaseModel):
    """Advice, never a diagnosis: the consultant chooses, and the choice is recorded beside the advice."""

    rules_version: int
    departments: list[dict] = Field(description="Departments, best first, each with the matched words and a hedged "
                                                "reason to show.")
    doctors: list[dict] = Field(description="Doctors of the first department, each with the reasons for the rank.")
    current_department: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _dump(cls, data):
        if isinstance(data, dict):
            for key in ("departments", "doctors"):
                data[key] = [d.model_dump(mode="json") if hasattr(d, "model_dump") else d for d in data.get(key, [])]
        return data
