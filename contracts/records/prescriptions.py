"""E-prescriptions: request and response models (records' RPCs and the gateway's routes).

The doctor of an open encounter writes and signs a prescription in one step, from the formulary; records checks
China's prescribing rules at that moment (处方管理办法; 互联网诊疗管理办法 2018; 互联网诊疗监管细则 2022) and names
each rule a prescription breaks. A signed prescription never changes; it takes effect only when a pharmacist
approves it, within its validity (the day of issue, extendable by the doctor to 3 days). Times in answers are local
ISO 8601 (Asia/Shanghai).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from contracts.records.codes import DrugCategory, DrugCode, IcdCode, Route
from wenzhen.fields import PersonName, Strict, printable

Note = Annotated[str, Field(min_length=2, max_length=500), AfterValidator(printable)]
MAX_ITEMS = 5  # 处方管理办法 art. 6: at most five drugs on one prescription


class PrescriptionKind(StrEnum):
    ordinary = "ordinary"  # 普通处方: at most 7 days' supply, longer only with a recorded reason
    emergency = "emergency"  # 急诊处方: at most 3 days' supply
    long_term = "long_term"  # 长期处方: up to 12 weeks, a stable chronic condition, never the restricted categories


class Frequency(StrEnum):
    """Dosing frequency (the abbreviations Chinese prescriptions use)."""

    once = "once"  # 立即/一次
    qd = "qd"  # once a day
    bid = "bid"  # twice a day
    tid = "tid"  # three times a day
    qid = "qid"  # four times a day
    q8h = "q8h"
    q12h = "q12h"
    qn = "qn"  # every night
    qod = "qod"  # every other day
    qw = "qw"  # once a week
    prn = "prn"  # when needed


class GuardianRelationship(StrEnum):
    parent = "parent"
    guardian = "guardian"  # another legal guardian (监护人)


class Guardian(Strict):
    """The guardian present for a child under 6 (监护人), recorded on the prescription."""

    name: PersonName
    relationship: GuardianRelationship


class ItemRequest(Strict):
    drug_code: DrugCode
    dose: Annotated[str, Field(min_length=1, max_length=40, description="One dose, e.g. `0.5 g` or `1 粒`."),
                    AfterValidator(printable)]
    route: Route
    frequency: Frequency
    days: int = Field(ge=1, le=84, description="Days' supply (用药天数).")
    quantity: int = Field(ge=1, le=999, description="Units dispensed (the formulary entry's `unit`).")
    instructions: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(printable)] | None = Field(
        default=None, description="E.g. 饭后服用 (after meals).")


class PrescriptionRequest(Strict):
    """What the doctor writes; signing it is the same request (nothing is generated for the doctor)."""

    items: list[ItemRequest] = Field(min_length=1, max_length=MAX_ITEMS)
    diagnoses: list[IcdCode] = Field(min_length=1, max_length=5,
                                     description="The clinical diagnoses it treats (临床诊断), from the ICD-10 list.")
    kind: PrescriptionKind = PrescriptionKind.ordinary
    longer_supply_reason: Note | None = Field(
        default=None, description="Why an ordinary prescription supplies more than 7 days (at most 30; 处方管理办法 "
                                  "art. 19 asks the doctor to state it).")
    stable_chronic: bool = Field(default=False, description="Long-term prescriptions: the doctor states the chronic "
                                                            "condition is stable (长期处方管理规范).")
    guardian: Guardian | None = Field(default=None, description="Needed for a child under 6.")
    note: Note | None = Field(default=None, description="For the reviewing pharmacist.")


class PrescribedItem(BaseModel):
    """An item as signed: what the doctor wrote and the formulary's entry as it was then."""

    drug_code: str
    name: str
    ingredient: str
    atc: str
    strength: str
    form: str
    unit: str
    price_fen: int
    categories: list[DrugCategory]
    dose: str
    route: Route
    frequency: Frequency
    days: int
    quantity: int
    instructions: str | None = None


class CodedDiagnosis(BaseModel):
    code: str
    name: str


class PrescriptionStatus(StrEnum):
    pending_review = "pending_review"  # signed; no effect until a pharmacist approves it
    took_effect = "took_effect"  # approved: may be dispensed within its validity
    rejected = "rejected"
    changes_requested = "changes_requested"  # the doctor writes a new one; this one never takes effect
    lapsed = "lapsed"  # its validity ended before a pharmacist approved it


class ReviewOutcome(StrEnum):
    approve = "approve"
    reject = "reject"
    request_change = "request_change"


class ReviewReason(StrEnum):
    """Why a pharmacist rejects or asks for a change (审核不合格的原因)."""

    indication = "indication"  # the drug does not fit the diagnosis
    dose = "dose"  # dose, frequency or route
    interaction = "interaction"
    allergy = "allergy"
    duplicate_therapy = "duplicate_therapy"
    contraindication = "contraindication"
    regulation = "regulation"  # a prescribing rule
    other = "other"


class ReviewRequest(Strict):
    outcome: ReviewOutcome
    reason: ReviewReason | None = Field(default=None, description="Needed to reject or to ask for a change.")
    note: Note | None = Field(default=None, description="For the doctor (encrypted; not in any event).")


class Review(BaseModel):
    reviewer_id: str
    outcome: ReviewOutcome
    reason: ReviewReason | None = None
    note: str | None = None
    at: str


class ExtendRequest(Strict):
    """Lengthen the validity: at most 3 days counted from the day of issue (the day of issue is day 1)."""

    validity_days: int = Field(ge=2, le=3)
    reason: Note


class Retention(BaseModel):
    """How long it is kept at least (处方管理办法 art. 50), and whether a legal hold keeps it longer."""

    years: int
    until: str


class Prescription(BaseModel):
    id: str
    encounter_id: str
    patient_id: str
    doctor_id: str
    status: PrescriptionStatus
    kind: PrescriptionKind
    items: list[PrescribedItem]
    diagnoses: list[CodedDiagnosis]
    longer_supply_reason: str | None = None
    stable_chronic: bool = False
    guardian: Guardian | None = None
    note: str | None = None
    content_hash: str = Field(description="SHA-256 of the canonical JSON of what was signed, hex.")
    signed_at: str
    valid_until: str = Field(description="Dispense before this (the end of the last day of validity, local time).")
    validity_days: int = Field(description="1 = the day of issue; the doctor may extend it to 3.")
    supply_days: int = Field(description="The longest days' supply of its items.")
    total_fen: int = Field(description="The items at the formulary's prices when signed (integer fen, CNY).")
    cold_chain: bool
    retention: Retention
    review: Review | None = None


class PrescriptionQuery(Strict):
    patient_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")] | None = Field(
        default=None, description="Patients: a record they act for; doctors: a patient they care for.")
    encounter_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")] | None = None
    status: PrescriptionStatus | None = Field(default=None, description="Pharmacists: `pending_review` is the "
                                                                        "review queue (oldest first).")
    limit: int = Field(default=50, ge=1, le=200)



class DispensingFacts(BaseModel):
    """What pharmacy needs to dispense a prescription, for pharmacy only (records' ``dispensing_facts``): the items as
    signed and whether it is in effect now. The diagnoses, notes and guardian stay in records."""

    prescription_id: str
    encounter_id: str
    patient_id: str
    doctor_id: str
    status: PrescriptionStatus
    items: list[PrescribedItem]
    total_fen: int
    cold_chain: bool
    signed_at: str = Field(description="UTC, ISO 8601")
    valid_until: str = Field(description="UTC, ISO 8601")
    reviewer_id: str | None = None
    reviewed_at: str | None = Field(default=None, description="ISO 8601")
