"""The structured history of a consultation (the seed's 网络咨询流程, steps 1–3): its sections, what a patch sends
and what is shown (intake's RPCs ``get_history``, ``save_history``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.intake.consultations import ChatText

Short = ChatText


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def complete(self) -> bool:
        raise TypeError  # every section below says what complete means


class Subject(Section):
    """Who the patient is: the person typing, or a relative."""

    relationship: Literal["self", "relative"] | None = None
    relation: Short | None = Field(default=None, max_length=20, description="For a relative: e.g. 母亲, child.")
    sex: Literal["male", "female", "other", "unknown"] | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    occupation: Short | None = Field(default=None, max_length=40)

    def complete(self) -> bool:
        return None not in (self.relationship, self.sex, self.age) and (
            self.relationship == "self" or bool(self.relation))


class PresentIllness(Section):
    chief_complaint: Short | None = Field(default=None, max_length=200)
    site: Short | None = Field(default=None, max_length=60, description="Where: e.g. 小腹, left knee.")
    character: Literal["dull", "sharp", "colic", "stabbing", "burning", "pressure", "itching", "other"] | None = None
    onset: Short | None = Field(default=None, max_length=60, description="When it began, in the patient's words.")
    duration: Short | None = Field(default=None, max_length=60, description="How long: e.g. 3天, two weeks.")
    severity: Literal["mild", "moderate", "severe"] | None = None

    def complete(self) -> bool:
        return bool(self.chief_complaint) and bool(self.onset or self.duration) and self.severity is not None


class PastHistory(Section):
    happened_before: bool | None = None
    cured: bool | None = None
    prior_treatment: Short | None = Field(default=None, max_length=200)
    treated_where: Short | None = Field(default=None, max_length=100)
    prior_examinations: Short | None = Field(default=None, max_length=200)
    prior_diagnosis: Short | None = Field(default=None, max_length=200)

    def complete(self) -> bool:
        return self.happened_before is False or (self.happened_before is True and self.cured is not None)


class Allergies(Section):
    none_known: bool = False
    items: list[Short] = Field(default_factory=list, max_length=20)

    def complete(self) -> bool:
        return self.none_known or bool(self.items)


class Medications(Section):
    none: bool = False
    items: list[Short] = Field(default_factory=list, max_length=30)

    def complete(self) -> bool:
        return self.none or bool(self.items)


class FollowUp(Section):
    """A prior in-person diagnosis, shown by a document shared in the chat or a hospital record reference."""

    prior_in_person_diagnosis: bool | None = None
    diagnosis: Short | None = Field(default=None, max_length=200)
    evidence_attachment_id: str | None = Field(default=None, max_length=40)
    record_reference: Short | None = Field(default=None, max_length=60, description="e.g. the hospital's visit or "
                                                                                    "record number")

    def complete(self) -> bool:
        return self.prior_in_person_diagnosis is False or self.eligible()

    def eligible(self) -> bool:
        return bool(self.prior_in_person_diagnosis and self.diagnosis
                    and (self.evidence_attachment_id or self.record_reference))


SECTIONS: dict[str, type[Section]] = {"subject": Subject, "present_illness": PresentIllness,
                                      "past_history": PastHistory, "allergies": Allergies,
                                      "medications": Medications, "follow_up": FollowUp}


class HistoryPatch(BaseModel):
    """Any sections; each one sent replaces the stored one."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    present_illness: PresentIllness | None = None
    past_history: PastHistory | None = None
    allergies: Allergies | None = None
    medications: Medications | None = None
    follow_up: FollowUp | None = None

    @model_validator(mode="after")
    def _something(self):
        if not any(getattr(self, name) is not None for name in SECTIONS):
            raise ValueError("send at least one section")
        return self


class History(BaseModel):
    consultation_id: str
    sections: dict[str, dict]
    completion: dict[str, bool]
    complete: bool
    follow_up_eligible: bool


