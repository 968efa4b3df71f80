"""Encounters and the doctor's report: request and response models (records' RPCs and the gateway's routes).

A report has the seeds' structure (远程医学服务流程): the condition's analysis (病情分析), the diagnoses (ICD-10
code and text), the treatment plan, prevention and medication cautions, and follow-up advice. Times in answers are
local ISO 8601 (Asia/Shanghai).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from contracts.records.codes import IcdCode, Substance
from wenzhen.fields import Strict, printable

RecordId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")]


_BREAKS = str.maketrans("\n\r\t", "   ")


def _clinical_text(value: str) -> str:
    """Printable, except line breaks and tabs (a report is paragraphs)."""
    printable(value.translate(_BREAKS))
    return value


Paragraphs = Annotated[str, AfterValidator(_clinical_text), Field(max_length=5000)]


class EncounterMode(StrEnum):
    in_person = "in_person"
    video = "video"  # a remote visit by video
    images = "images"  # a remote visit by pictures and text


class EncounterStatus(StrEnum):
    open = "open"
    closed = "closed"


class EncounterRequest(Strict):
    """Open the record of a visit: the doctor of the appointment, once per appointment."""

    appointment_id: RecordId = Field(description="The booked appointment this encounter records (booking's id).")
    mode: EncounterMode | None = Field(default=None, description="How the visit takes place; by default in person "
                                                                 "for an in-person booking, video for an online one.")


class Diagnosis(Strict):
    code: IcdCode
    text: Annotated[str, Field(min_length=1, max_length=200, description="The diagnosis as the doctor words it."),
                    AfterValidator(printable)]


class ReportContent(Strict):
    """What the doctor writes (a draft may be incomplete; signing needs at least one diagnosis and the analysis)."""

    condition_analysis: Paragraphs = Field(default="", description="病情分析: the history, findings and reasoning.")
    diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=10)
    allergies: list[Substance] = Field(default_factory=list, max_length=30,
                                       description="Drug allergies found (prescriptions are checked against every "
                                                   "allergy a signed report of the patient records).")
    treatment_plan: Paragraphs = Field(default="", description="治疗方案.")
    cautions: Paragraphs = Field(default="", description="Prevention and medication cautions (预防及用药注意事项).")
    follow_up_advice: Paragraphs = Field(default="", description="随访建议.")
    follow_up_in_days: int | None = Field(default=None, ge=1, le=365,
                                          description="Advise a follow-up after this many days (booking plans it "
                                                      "when the report is signed).")


class AmendmentRequest(Strict):
    """A correction of a signed report: the whole corrected content, and why."""

    reason: Annotated[str, Field(min_length=2, max_length=500), AfterValidator(printable)]
    content: ReportContent


class ReportVersion(BaseModel):
    """One signed version: 1 is the report as signed, each later one an amendment."""

    version: int
    content: ReportContent
    content_hash: str = Field(description="SHA-256 of the canonical JSON of `content`, hex.")
    signed_by: str
    signed_at: str
    reason: str | None = Field(default=None, description="Why it was amended (versions after the first).")


ATTACHMENT_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "application/pdf")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


class EncounterAttachmentQuery(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(printable)] | None = Field(
        default=None, description="The file's name as the doctor knows it (the kind is read from its bytes).")


class ChatAttachmentRequest(Strict):
    """A photo or a PDF the patient shared in an online consultation, kept in the record of this encounter."""

    consultation_id: RecordId = Field(description="The consultation (chat) of the same patient.")
    attachment_id: RecordId = Field(description="The file's id in that chat.")


class EncounterAttachment(BaseModel):
    """An image or a PDF kept with the encounter (encrypted at rest; never deleted)."""

    id: str
    name: str
    content_type: str
    size: int
    added_by: str
    added_at: str
    from_consultation: str | None = Field(default=None, description="The chat it was taken from, if any.")


class Encounter(BaseModel):
    id: str
    patient_id: str
    doctor_id: str
    appointment_id: str | None
    consultation_id: str | None = Field(default=None, description="The online consultation (chat) the appointment "
                                                                   "was booked from.")
    department: str
    mode: EncounterMode
    online: bool
    follow_up: bool = Field(description="A follow-up visit (复诊).")
    prior_in_person_diagnosis: bool = Field(description="The condition was diagnosed in person before (online "
                                                        "prescribing needs it).")
    status: EncounterStatus
    opened_at: str
    closed_at: str | None = None
    draft: ReportContent | None = Field(default=None, description="The unsigned report (the doctor's working copy).")
    report: list[ReportVersion] = Field(default_factory=list,
                                        description="The signed versions, oldest first; the last is current.")
    attachments: list[EncounterAttachment] = Field(default_factory=list, description="Images and PDFs, oldest first.")


class EncounterQuery(Strict):
    patient_id: RecordId | None = Field(default=None, description="Patients and doctors: one patient's encounters.")
    status: EncounterStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)
