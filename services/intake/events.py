"""Events intake publishes (exchange ``intake.events``).

Events carry identifiers, not personal data: they are copied to the broker, to
every subscriber and to reports' event log. A subscriber that needs contact
details asks intake for them (``intake.get_contact``), which decrypts them on
demand.
"""
from __future__ import annotations

from pydantic import Field

from wenzhen.events import EventData


class PatientRegistered(EventData):
    """A patient registered with Wenzhen."""

    source = "intake"
    type = "patient_registered"
    version = 1

    patient_id: str
    sex: str = Field(description="FHIR administrative gender")
    birth_year: int = Field(description="Year of birth (for age-band statistics; no full date)")
