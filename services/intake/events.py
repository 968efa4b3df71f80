"""Events intake publishes (exchange ``intake.events``).

Events carry identifiers, not personal data: they are copied to the broker, to
every subscriber and to reports' event log. A subscriber that needs contact
details asks intake for them (``intake.get_contact``), which decrypts them on
demand and audits the read.
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
    relationship: str | None = Field(default=None, description="Who registered it: `self` (the patient's own "
                                     "account), a relationship (a relative's account), or absent (staff)")


class PatientLinkCreated(EventData):
    """An account may now act for a patient record: its own (relationship ``self``) or a relative's."""

    source = "intake"
    type = "patient_link_created"

    link_id: str
    account_id: str
    patient_id: str
    relationship: str


class PatientLinkRemoved(EventData):
    """An account no longer acts for a patient record."""

    source = "intake"
    type = "patient_link_removed"

    link_id: str
    account_id: str
    patient_id: str


class PatientIdentityDocumentRecorded(EventData):
    """A patient's identity document was recorded (not yet verified). The number is not in the event."""

    source = "intake"
    type = "patient_identity_document_recorded"

    patient_id: str
    document_type: str


class PatientIdentityVerified(EventData):
    """A staff member verified a patient's real-name identity; prescribing for the patient is now possible."""

    source = "intake"
    type = "patient_identity_verified"

    patient_id: str
    document_type: str
    method: str = Field(description="in_person or video")
    verified_by: str = Field(description="The verifying staff account id")
