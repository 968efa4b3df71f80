"""intake's public contract: request and response models.

The gateway validates HTTP bodies and builds its OpenAPI document from these
same models, and the service validates its RPC input with them, so each rule
lives here once.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wenzhen.timez import hospital_zone

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class AdministrativeGender(str, Enum):
    """FHIR R4 AdministrativeGender."""

    male = "male"
    female = "female"
    other = "other"
    unknown = "unknown"


def normalize_mobile(value: str) -> str:
    """A mainland China mobile number as 11 digits (accepts +86/0086 and separators)."""
    digits = re.sub(r"[\s\-()]", "", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    if not _MOBILE.match(digits):
        raise ValueError("must be a mainland China mobile number: 11 digits starting with 13-19")
    return digits


class PatientRegistration(BaseModel):
    """A new patient."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64, description="Full name as on the identity document.",
                      examples=["张三"])
    sex: AdministrativeGender = Field(description="FHIR administrative gender.")
    birth_date: date = Field(description="Date of birth (YYYY-MM-DD).", examples=["1985-04-12"])
    phone: str = Field(description="Mainland China mobile number; +86 prefix allowed.", examples=["13812345678"])

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if any(unicodedata.category(ch).startswith("C") for ch in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        from datetime import datetime

        today = datetime.now(hospital_zone()).date()
        if value > today:
            raise ValueError("must not be in the future")
        if value.year < 1900:
            raise ValueError("must be in 1900 or later")
        return value

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        return normalize_mobile(value)


class Patient(BaseModel):
    """A registered patient as the API shows it."""

    id: str = Field(examples=["pat_01JD3Q5X7C9V2B8N4M6K1H0G2F"])
    name: str
    sex: AdministrativeGender
    birth_date: date
    phone: str
    registered_at: str = Field(description="When the patient registered, in the hospital's time zone (ISO 8601).")
