"""Complaints: what a patient or the desk files, how a complaint is moved on, and what is shown (intake's RPCs
``file_complaint``, ``change_complaint``, ``get_complaint``, ``list_complaints``)."""
from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class ComplaintAbout(StrEnum):
    consultation = "consultation"
    appointment = "appointment"
    pharmacy = "pharmacy"
    bill = "bill"


class ComplaintStatus(StrEnum):
    received = "received"
    investigating = "investigating"
    answered = "answered"
    closed = "closed"


class ComplaintChannel(StrEnum):
    online = "online"  # filed by the patient's account
    phone = "phone"  # logged by a consultant or team lead during a call


class ComplaintCloseReason(StrEnum):
    """Why a complaint was closed without (or after) an answer."""

    duplicate = "duplicate"
    withdrawn = "withdrawn"
    harassment = "harassment"  # abusive complainants are not argued with (客服管理制度)


def _free_text(value: str) -> str:
    """Line breaks and tabs are fine in a complaint; other control or format characters (bidi overrides) are not."""
    if any(unicodedata.category(ch).startswith("C") and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


FreeText = Annotated[str, AfterValidator(_free_text)]
REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ComplaintFiling(_Strict):
    """A complaint about a consultation, an appointment, the pharmacy or a bill.

    A patient files for a record their account acts for; a consultant or team lead logs a complaint made by phone
    for the caller's patient record (channel `phone`).
    """

    patient_id: str = Field(min_length=1, max_length=64, description="The patient the complaint concerns.")
    about: ComplaintAbout
    reference: str | None = Field(default=None, pattern=REFERENCE,
                                  description="Id of what it is about; required for a consultation.",
                                  examples=["con_01HZX3K9V7Q2M4N6P8R0S2T4V6"])
    text: FreeText = Field(min_length=10, max_length=2000, description="What happened (encrypted at rest).")
    desired_outcome: FreeText | None = Field(default=None, min_length=1, max_length=500,
                                             description="What the patient hopes for (encrypted at rest).")


class ComplaintStatusChange(_Strict):
    """Move a complaint on. `answer` goes with `answered`; `reason` with `closed` (required while it is open)."""

    status: Literal["investigating", "answered", "closed"]
    note: FreeText | None = Field(default=None, min_length=1, max_length=1000,
                                  description="Internal note for the history (encrypted; staff see it).")
    answer: FreeText | None = Field(default=None, min_length=1, max_length=2000,
                                    description="The hospital's answer to the patient (encrypted at rest).")
    reason: ComplaintCloseReason | None = None


class ComplaintQuery(_Strict):
    status: ComplaintStatus | None = None
    overdue: bool = Field(default=False, description="true: only open complaints past the answer deadline.")
    about: ComplaintAbout | None = None
    limit: int = Field(default=50, ge=1, le=200)


class ComplaintHistoryEntry(BaseModel):
    at: str = Field(description="In the hospital's time zone.")
    status: ComplaintStatus
    previous: ComplaintStatus | None = None
    role: str | None = Field(default=None, description="Role of who moved it (patient, consultant, team_lead…).")
    by: str | None = Field(default=None, description="Account id (shown to staff only).")
    note: str | None = Field(default=None, description="Shown to staff only.")


class Complaint(BaseModel):
    id: str
    patient_id: str
    about: ComplaintAbout
    reference: str | None = None
    consultation_id: str | None = None
    transcript: str | None = Field(default=None, description="Where handlers open the consultation's transcript.")
    channel: ComplaintChannel
    text: str
    desired_outcome: str | None = None
    status: ComplaintStatus
    filed_at: str = Field(description="Times are in the hospital's time zone (ISO 8601).")
    filed_by: str | None = Field(default=None, description="Staff account that logged a phone complaint (staff "
                                                           "only).")
    acknowledge_by: str
    due_at: str = Field(description="Answer due: 5 calendar days after filing.")
    overdue: bool = Field(description="Open and past the answer deadline.")
    escalation_level: int = Field(description="0 none; 1 managers; 2 hospital management.")
    assignee: str | None = Field(default=None, description="Staff account investigating it (staff only).")
    answer: str | None = None
    answered_at: str | None = None
    on_time: bool | None = Field(default=None, description="Answered by the deadline.")
    closed_at: str | None = None
    close_reason: ComplaintCloseReason | None = None
    history: list[ComplaintHistoryEntry]


class ComplaintSummary(BaseModel):
    """A line of a list: no text, no answer (open the complaint for those)."""

    id: str
    patient_id: str
    about: ComplaintAbout
    reference: str | None = None
    channel: ComplaintChannel
    status: ComplaintStatus
    filed_at: str
    due_at: str
    overdue: bool
    escalation_level: int
    assignee: str | None = None
    answered_at: str | None = None


# who -------------------------------------------------------------------------------------------------------------
