"""Events intake publishes (exchange ``intake.events``)."""
from __future__ import annotations

from datetime import date

from pydantic import Field

from wenzhen.events import EventData


class PatientRegistered(EventData):
    """A patient registered with Wenzhen."""

    source = "intake"
    type = "patient_registered"
    version = 1
    personal_data = ("name", "phone", "birth_date")

    patient_id: str
    name: str
    sex: str = Field(description="FHIR administrative gender")
    birth_date: date
    phone: str = Field(description="Mainland China mobile number, 11 digits")
