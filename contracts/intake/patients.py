"""intake's public contract: request and response models.

The gateway validates HTTP bodies and builds its OpenAPI document from these
same models, and the service validates its RPC input with them, so each rule
lives here once.
"""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from contracts.intake.documents import DocumentType
from wenzhen.fields import Mobile, PersonName, Strict, printable
from wenzhen.timez import hospital_zone


class AdministrativeGender(StrEnum):
    """FHIR R4 AdministrativeGender."""

    male = "male"
    female = "female"
    other = "other"
    unknown = "unknown"


class Relationship(StrEnum):
    """Who the patient is to the signed-in account that registers them (FHIR v3 RoleCode, simplified)."""

    self = "self"
    child = "child"
    parent = "parent"
    spouse = "spouse"
    sibling = "sibling"
    grandparent = "grandparent"
    grandchild = "grandchild"
    other_relative = "other_relative"


AddressLine = Annotated[str, AfterValidator(printable),
                        Field(min_length=1, max_length=200, description="One line of free text (encrypted at rest).",
                              examples=["上海市徐汇区漕溪北路1号"])]


class PatientRegistration(Strict):
    """A new patient record.

    A signed-in patient registers themself (`relationship: self`, once) or a relative they act for (any other
    relationship: the link is recorded). Consultants and team leads register a patient on their behalf (no
    `relationship`), e.g. during a phone call.
    """

    name: PersonName = Field(description="Full name as on the identity document.", examples=["张三"])
    sex: AdministrativeGender = Field(description="FHIR administrative gender.")
    birth_date: date = Field(description="Date of birth (YYYY-MM-DD).", examples=["1985-04-12"])
    phone: Mobile
    address: AddressLine | None = None
    relationship: Relationship | None = Field(default=None, description="Required when a patient account "
                                                                        "registers; absent when staff do.")

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        today = datetime.now(hospital_zone()).date()
        if value > today:
            raise ValueError("must not be in the future")
        if value.year < 1900:
            raise ValueError("must be in 1900 or later")
        return value


class PatientChange(Strict):
    """New contact details (name, sex and birth date change only with a verified document)."""

    phone: Mobile | None = None
    address: AddressLine | None = None


class IdentityDocumentInput(Strict):
    """A real-name identity document. A resident ID must match the patient's birth date and sex."""

    document_type: DocumentType
    number: str = Field(min_length=5, max_length=32, description="As printed on the document.",
                        examples=["11010519491231002X"])


class VerificationMethod(StrEnum):
    in_person = "in_person"  # the document was inspected at the hospital desk
    video = "video"  # the document was shown to a staff member in a video call


class IdentityVerification(Strict):
    """A staff member attests that they saw the patient's document and it matches the person."""

    method: VerificationMethod


class IdentityStatus(BaseModel):
    document_type: DocumentType
    number: str = Field(description="Masked: the first 3 and last 4 characters.", examples=["110***********002X"])
    status: Literal["unverified", "verified"]
    method: VerificationMethod | None = None
    verified_at: str | None = None


class Patient(BaseModel):
    """A patient record as the API shows it."""

    id: str = Field(examples=["pat_01JD3Q5X7C9V2B8N4M6K1H0G2F"])
    name: str
    sex: AdministrativeGender
    birth_date: date
    phone: str
    address: str | None = None
    identity: IdentityStatus | None = Field(default=None, description="Real-name identity; prescribing needs it "
                                                                      "verified.")
    registered_at: str = Field(description="When the patient was registered, in the hospital's time zone "
                                           "(ISO 8601).")


class PrescribingFacts(BaseModel):
    """What records checks of a patient when a doctor signs a prescription (``intake.prescribing_facts``, records
    only, audited): whether the real-name identity is verified, and the birth date (age-dependent rules)."""

    patient_id: str
    verified: bool = Field(description="The real-name identity document is recorded and verified by staff.")
    birth_date: date


class LinkedPatient(BaseModel):
    """A patient record the signed-in account acts for."""

    patient_id: str
    relationship: Relationship
    name: str
    linked_at: str
