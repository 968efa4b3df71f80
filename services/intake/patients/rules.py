"""The patients' decisions, pure: who registers whom, who verifies, what a care relationship lasts, whether a resident
ID belongs to a record."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.intake.documents import ResidentId
from contracts.intake.patients import PatientRegistration, Relationship
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, field_error
from wenzhen.ratelimit import Limit

CARE_ROLES = (Role.consultant, Role.doctor, Role.pharmacist, Role.team_lead)  # see a record by a care relationship
REGISTRARS = (Role.consultant, Role.team_lead)  # staff who register patients on their behalf
VERIFIERS = (Role.consultant, Role.team_lead, Role.doctor)  # staff who attest an identity document

REGISTRATION_CARE = timedelta(days=30)  # the staff member who registered the patient
APPOINTMENT_CARE = timedelta(days=30)  # after the visit: results, records, the follow-up
VISIT_LENGTH = timedelta(hours=4)  # an upper bound for a rescheduled visit, whose event carries only the start

# a patient account registers itself and a few relatives, not a crowd (each record costs a welcome SMS)
RECORDS_PER_ACCOUNT_DAY = Limit("records-account-1d", 10, timedelta(days=1),
                                "This account registered many records today; ask the hospital's desk for more.")


@dataclass(frozen=True)
class PatientFacts:
    """What the rules need of a record without decrypting it."""

    id: str
    sex: str
    birth_date: str  # ISO date, as stored
    has_identity: bool


@dataclass(frozen=True)
class RemovedLink:
    account_id: str
    patient_id: str
    removed_at: datetime


def check_registrar(principal: Principal, registration: PatientRegistration) -> None:
    """Patients register themselves and relatives (saying who they are to them); consultants and team leads register
    on a patient's behalf (saying nothing of the kind); nobody else registers."""
    if principal.has_role(Role.patient):
        if registration.relationship is None:
            raise InvalidInput("Say who the patient is to you.",
                               [field_error("relationship", "is required: self or a relative", "missing")])
    elif principal.has_role(*REGISTRARS):
        if registration.relationship is not None:
            raise InvalidInput("Staff register patients without a relationship.",
                               [field_error("relationship", "applies only to patients' own accounts", "extra")])
    else:
        raise Forbidden("Patients register themselves and their relatives; consultants register on their behalf.")


def self_taken() -> Conflict:
    return Conflict("Your account has a record of its own already; register relatives with their relationship to "
                    "you.", [field_error("relationship", "self is taken for this account", "duplicate")])


def is_self(relationship: Relationship) -> bool:
    return relationship == Relationship.self


def resident_mismatches(resident: ResidentId | None, patient: PatientFacts) -> list[dict]:
    """A resident ID must carry the record's birth date and (for male or female) its sex digit."""
    if resident is None:
        return []
    mismatches = []
    if resident.birth_date.isoformat() != patient.birth_date:
        mismatches.append(field_error("number", "its birth date differs from the patient's", "mismatch"))
    if patient.sex in ("male", "female") and resident.sex != patient.sex:
        mismatches.append(field_error("number", "its sex digit differs from the patient's", "mismatch"))
    return mismatches


def require_verifier(principal: Principal) -> None:
    if not principal.has_role(*VERIFIERS):
        raise Forbidden("Only consultants, team leads and doctors verify identity documents.")


def require_patient_account(principal: Principal) -> None:
    if not principal.has_role(Role.patient):
        raise Forbidden("Only patient accounts have linked patient records.")


def require_changes(values: dict) -> dict:
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])
    return values


def appointment_care_until(end: datetime) -> datetime:
    return end + APPOINTMENT_CARE


def rescheduled_care_until(start: datetime) -> datetime:
    return start + VISIT_LENGTH + APPOINTMENT_CARE
