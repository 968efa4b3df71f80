"""Events records publishes (exchange ``records.events``).

They let booking plan a follow-up (``report_signed`` with ``follow_up_in_days``), pharmacy dispense what took
effect (``prescription_took_effect``), payments invoice it (``total_fen``), notify tell the patient and reports
count. They carry identifiers, codes, counts and times only: no clinical text, no diagnosis, no drug — a subscriber
that needs the content asks records, which checks who asks and audits the read. Times are UTC, ISO 8601.

Encounter and report events have the encounter id as subject (in order per encounter); prescription events the
prescription's id.
"""
from __future__ import annotations

from pydantic import Field

from wenzhen.events import EventData


class _Records(EventData):
    source = "records"


class _Encounter(_Records):
    encounter_id: str
    patient_id: str
    doctor_id: str = Field(description="The doctor's staff account id")


class EncounterOpened(_Encounter):
    """The doctor of an appointment opened its encounter (the visit's record)."""

    type = "encounter_opened"
    appointment_id: str | None = None
    mode: str = Field(description="in_person, video or images (a remote visit by pictures and text)")
    follow_up: bool = Field(description="A follow-up visit (复诊): online prescribing is possible only in one")
    department: str = Field(description="Department code")


class EncounterClosed(_Encounter):
    """The doctor closed the encounter: nothing more is written in it except amendments."""

    type = "encounter_closed"
    report_signed: bool
    prescriptions: int = Field(description="Prescriptions signed in it")


class ReportSigned(_Encounter):
    """The doctor signed the visit's report: from now on it changes only by amendment."""

    type = "report_signed"
    report_version: int = Field(description="1 when first signed")
    content_hash: str = Field(description="SHA-256 of the signed content (canonical JSON), hex")
    diagnoses: int = Field(description="How many diagnoses it records (the codes are not in the event)")
    follow_up_in_days: int | None = Field(default=None, description="The doctor advises a follow-up after this many "
                                                                    "days")
    appointment_id: str | None = None


class RecordAmended(_Encounter):
    """A signed report was corrected: a new version with reason and author; the earlier ones stay readable."""

    type = "record_amended"
    report_version: int = Field(description="The new version (2 for the first amendment)")
    content_hash: str
    author_id: str = Field(description="The staff account that amended it")


class _Prescription(_Records):
    prescription_id: str
    encounter_id: str
    patient_id: str
    doctor_id: str = Field(description="The prescribing doctor's staff account id")


class PrescriptionSigned(_Prescription):
    """The doctor signed a prescription; it waits for a pharmacist's review and has no effect before."""

    type = "prescription_signed"
    items: int
    content_hash: str = Field(description="SHA-256 of the signed content (canonical JSON), hex")
    valid_until: str = Field(description="The end of its validity (UTC)")


class PrescriptionReviewed(_Prescription):
    """A pharmacist reviewed it: approved (it takes effect at once) or a change was requested (the doctor writes a
    new one; this one never takes effect)."""

    type = "prescription_reviewed"
    reviewer_id: str = Field(description="The pharmacist's staff account id")
    outcome: str = Field(description="approved or changes_requested")
    reason: str | None = Field(default=None, description="For a change requested: indication, dose, interaction, "
                                                         "allergy, duplicate_therapy, contraindication, regulation or "
                                                         "other")


class PrescriptionRejected(_Prescription):
    """A pharmacist rejected it: it never takes effect."""

    type = "prescription_rejected"
    reviewer_id: str = Field(description="The pharmacist's staff account id")
    reason: str = Field(description="The concern, as a code: indication, dose, interaction, allergy, "
                                    "duplicate_therapy, contraindication, regulation or other")


class PrescriptionTookEffect(_Prescription):
    """Approved by a pharmacist and still valid: pharmacy may dispense it until ``valid_until``."""

    type = "prescription_took_effect"
    reviewer_id: str = Field(description="The pharmacist's staff account id")
    items: int
    total_fen: int = Field(description="The drugs' price at the formulary's prices (integer fen, CNY)")
    valid_until: str = Field(description="Dispense before this (UTC)")
    cold_chain: bool = Field(description="A drug needs cold-chain delivery")


class PrescriptionLapsed(_Prescription):
    """Its validity ended before a pharmacist approved it: it never takes effect (the doctor writes a new one)."""

    type = "prescription_lapsed"
    valid_until: str = Field(description="When its validity ended (UTC)")


class OrderPlaced(_Records):
    """The doctor of an encounter ordered examinations (the tests are not in the event)."""

    type = "order_placed"
    order_id: str
    encounter_id: str
    patient_id: str
    doctor_id: str = Field(description="The ordering doctor's staff account id")
    category: str = Field(description="LAB, RAD or OTH (v2-0074)")
    tests: int = Field(description="How many examinations")


class _Result(_Records):
    result_id: str
    order_id: str
    encounter_id: str
    patient_id: str
    doctor_id: str = Field(description="The ordering doctor's staff account id")
    category: str = Field(description="LAB, RAD or OTH (v2-0074)")


class ResultRecorded(_Result):
    """Results of an order were recorded (by staff, or a laboratory's FHIR Bundle); not yet shown to the patient."""

    type = "result_recorded"
    entered_by: str = Field(description="staff (entered through the API) or lab (a laboratory system's FHIR Bundle)")
    observations: int


class ResultReleased(_Result):
    """A doctor released the results to the patient (notify tells them; the values are not in the event)."""

    type = "result_released"
    released_by: str = Field(description="The releasing doctor's staff account id")


class LegalHoldPlaced(_Records):
    """An admin placed a legal hold on a patient's record: nothing of it may be disposed of until it is released
    (the reason stays in records)."""

    type = "legal_hold_placed"
    hold_id: str
    patient_id: str
    placed_by: str = Field(description="The admin's account id")


class LegalHoldReleased(_Records):
    """The legal hold was released: the retention periods apply again."""

    type = "legal_hold_released"
    hold_id: str
    patient_id: str
    released_by: str = Field(description="The admin's account id")
