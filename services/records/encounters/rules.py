"""The encounters' decisions, pure: who may open, read and write one; what an appointment's facts make of it (a
follow-up visit, a prior in-person diagnosis); what a signed report needs."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.records.encounters import EncounterMode, EncounterStatus, ReportContent
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error

ENTITY = "Encounter"
# no visit took place or will: cancelled, missed, a lapsed hold, a waitlist offer not (yet) taken
ENDED_APPOINTMENT = frozenset({"cancelled", "no_show", "declined", "expired", "offered"})
APPOINTMENT_CARE = timedelta(days=30)  # a doctor reads the patient's record until this long after the appointment


@dataclass(frozen=True)
class KnownAppointment:
    """What records keeps of one of booking's appointments."""

    id: str
    patient_id: str
    doctor_id: str
    department: str
    service: str
    kind: str  # visit, online_diagnosis or consultation_only (booking's Visit)
    online: bool
    status: str
    start: datetime | None = None
    consultation_id: str | None = None  # booked from this online consultation (its chat)
    sequence: int | None = None


@dataclass(frozen=True)
class EncounterRecord:
    id: str
    patient_id: str
    doctor_id: str
    appointment_id: str | None
    department: str
    mode: EncounterMode
    online: bool
    follow_up: bool
    prior_in_person_diagnosis: bool
    status: EncounterStatus
    opened_at: datetime
    closed_at: datetime | None = None
    draft: ReportContent | None = None
    signed_versions: int = 0
    prescriptions: int = 0
    version: int = 1  # its events so far (their sequence)
    consultation_id: str | None = None


@dataclass(frozen=True)
class SignedVersion:
    encounter_id: str
    version: int
    content: ReportContent
    content_hash: str
    signed_by: str
    signed_at: datetime
    reason: str | None = None


def not_found(encounter_id: str) -> NotFound:
    return NotFound(f"No encounter {encounter_id}, or not one the caller may see.")


def is_newer(known: KnownAppointment | None, sequence: int | None) -> bool:
    """Events of one appointment may arrive out of order: keep the newest."""
    return known is None or known.sequence is None or sequence is None or sequence > known.sequence


def require_doctor(principal: Principal) -> None:
    if not principal.has_role(Role.doctor):
        raise Forbidden("Only a doctor opens and writes an encounter.")


def may_open(principal: Principal, appointment: KnownAppointment | None, appointment_id: str) -> KnownAppointment:
    """The appointment's own doctor, for a visit that takes or took place (else 404 as for an unknown one, or 409)."""
    if appointment is None or appointment.doctor_id != principal.sub:
        raise NotFound(f"No appointment {appointment_id} of this doctor.",
                       [field_error("appointment_id", "is not an appointment of this doctor", "not_found")])
    if appointment.status in ENDED_APPOINTMENT:
        raise Conflict(f"Appointment {appointment_id} is {appointment.status}: no visit to record.",
                       [field_error("appointment_id", f"is {appointment.status}", "state")])
    return appointment


def visit_mode(appointment: KnownAppointment, asked: EncounterMode | None) -> EncounterMode:
    """In person for an in-person booking; video (or images) for an online one — never the other way round."""
    mode = asked or (EncounterMode.video if appointment.online else EncounterMode.in_person)
    if (mode == EncounterMode.in_person) == appointment.online:
        where = "online" if appointment.online else "in person"
        raise InvalidInput(f"The appointment is {where}.", [field_error("mode", f"does not fit an appointment {where}",
                                                                         "mismatch")])
    return mode


def is_follow_up(appointment: KnownAppointment) -> bool:
    """复诊: booked as a follow-up, or an online diagnosis (booking admits one only as a follow-up)."""
    return appointment.service == "follow_up" or appointment.kind == "online_diagnosis"


def diagnosed_in_person_before(appointment: KnownAppointment) -> bool:
    """booking established it: an online diagnosis follows an in-person one; an in-person follow-up follows a
    visit. A first visit and an online consultation do not."""
    return appointment.kind == "online_diagnosis" or (appointment.service == "follow_up" and not appointment.online)


def new_encounter(encounter_id: str, appointment: KnownAppointment, mode: EncounterMode,
                  now: datetime) -> EncounterRecord:
    return EncounterRecord(
        id=encounter_id, patient_id=appointment.patient_id, doctor_id=appointment.doctor_id,
        appointment_id=appointment.id, department=appointment.department, mode=mode, online=appointment.online,
        follow_up=is_follow_up(appointment), prior_in_person_diagnosis=diagnosed_in_person_before(appointment),
        status=EncounterStatus.open, opened_at=now, consultation_id=appointment.consultation_id)


def sees(principal: Principal, encounter: EncounterRecord, cares: bool = False,
         links: Collection[str] | None = None) -> bool:
    """The patient (an account acting for the record), the encounter's doctor, or a doctor caring for the patient."""
    if principal.acts_for(encounter.patient_id, links):
        return True
    return principal.has_role(Role.doctor) and (principal.sub == encounter.doctor_id or cares)


def require_author(principal: Principal, encounter: EncounterRecord) -> None:
    """Only the encounter's doctor writes in it (others who may read it get 403)."""
    if not (principal.has_role(Role.doctor) and principal.sub == encounter.doctor_id):
        raise Forbidden("Only the encounter's doctor writes in it.")


def require_open(encounter: EncounterRecord) -> None:
    if encounter.status != EncounterStatus.open:
        raise Conflict(f"Encounter {encounter.id} is closed: a signed report changes by amendment only.")


def require_unsigned(encounter: EncounterRecord) -> None:
    if encounter.signed_versions:
        raise Conflict(f"The report of encounter {encounter.id} is signed: correct it by an amendment.")


def signing_problems(content: ReportContent | None, known_codes: Collection[str]) -> list[dict]:
    """What a report needs before it is signed: the analysis, at least one diagnosis, codes from the hospital's
    ICD-10 list."""
    if content is None:
        return [field_error("draft", "there is no draft to sign", "missing")]
    problems = []
    if not content.condition_analysis.strip():
        problems.append(field_error("condition_analysis", "is needed to sign", "missing"))
    if not content.diagnoses:
        problems.append(field_error("diagnoses", "at least one is needed to sign", "missing"))
    for i, diagnosis in enumerate(content.diagnoses):
        if diagnosis.code not in known_codes:
            problems.append(field_error(f"diagnoses[{i}].code", "is not in the hospital's ICD-10 list", "unknown"))
    return problems


def require_signable(content: ReportContent | None, known_codes: Collection[str]) -> ReportContent:
    problems = signing_problems(content, known_codes)
    if problems:
        raise InvalidInput("The report cannot be signed yet.", problems)
    return content


def require_signed(encounter: EncounterRecord) -> None:
    if not encounter.signed_versions:
        raise Conflict(f"The report of encounter {encounter.id} is not signed yet: sign it first.")
