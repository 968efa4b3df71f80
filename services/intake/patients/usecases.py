"""The patients' operations: authorize → store → emit → audit. A read or change of a record the caller may not see
is audited as denied and answered like a missing record (404)."""
from __future__ import annotations

from datetime import date, datetime

from contracts.intake import documents
from contracts.intake.events import (
    PatientIdentityDocumentRecorded,
    PatientIdentityVerified,
    PatientLinkCreated,
    PatientLinkRemoved,
    PatientRegistered,
)
from contracts.intake.patients import (
    IdentityDocumentInput,
    IdentityVerification,
    LinkedPatient,
    Patient,
    PatientChange,
    PatientRegistration,
    PrescribingFacts,
)
from services.intake.patients import rules
from services.intake.patients.rules import CARE_ROLES
from services.intake.patients.store import PatientStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, DELETE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import to_utc_iso


def _not_found(patient_id: str) -> NotFound:
    return NotFound(f"No patient with id {patient_id}.")


# who may see a record ----------------------------------------------------------------------------------------------
def may_see(store: PatientStore, caller: Caller, patient_id: str, now: datetime,
            staff_roles: tuple[Role, ...] = CARE_ROLES, tx: Tx | None = None) -> bool:
    """A patient account: its own and linked records (intake's links, not the token's); ``staff_roles``: a care
    relationship in force; anyone else: no."""
    principal = caller.principal
    if principal.has_role(Role.patient):
        return principal.acts_for(patient_id, store.linked_patients(principal.sub, tx))
    if principal.has_role(*staff_roles):
        return store.has_care(principal.sub, patient_id, now, tx)
    return False


def _authorize(store: PatientStore, caller: Caller, patient_id: str, action: str, subtype: str, now: datetime,
               staff_roles: tuple[Role, ...] = CARE_ROLES) -> None:
    if not store.exists(patient_id) or not may_see(store, caller, patient_id, now, staff_roles):
        audit.record(store, caller, action, subtype, "Patient", patient_id, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise _not_found(patient_id)


class PatientAccess:
    """What intake's other capabilities may ask of patients (the desk, complaints), and nothing more: who may see a
    record, the records an account acts for, whether a record exists, its surname (for a reply template), and care
    relationships granted or ended in the caller's transaction. Kept narrow so that a capability moved to a process
    of its own needs only these few calls (today in-process, over the same database)."""

    def __init__(self, store: PatientStore) -> None:
        self.store = store

    def may_see(self, caller: Caller, patient_id: str, now: datetime, staff_roles: tuple[Role, ...] = CARE_ROLES,
                tx: Tx | None = None) -> bool:
        return may_see(self.store, caller, patient_id, now, staff_roles, tx)

    def linked(self, account_id: str, tx: Tx | None = None) -> set[str]:
        return self.store.linked_patients(account_id, tx)

    def exists(self, patient_id: str) -> bool:
        return self.store.exists(patient_id)

    def surname(self, patient_id: str) -> str | None:
        return self.store.surname(patient_id)

    def grant_care(self, tx: Tx, staff_id: str, patient_id: str, kind: str, ref: str | None, since: datetime,
                   until: datetime | None) -> None:
        self.store.grant_care(tx, staff_id, patient_id, kind, ref, since, until)

    def end_care(self, tx: Tx, kind: str, ref: str, until: datetime, staff_id: str | None = None) -> int:
        return self.store.set_care_end(tx, kind, ref, until, staff_id)


# registration ------------------------------------------------------------------------------------------------------
def register_patient(store: PatientStore, caller: Caller, registration: PatientRegistration, now: datetime
                     ) -> Patient:
    """Store a new patient and emit ``patient_registered`` in one transaction. A patient account gets a link to the
    record (``patient_link_created``); a consultant or team lead registering on the patient's behalf gets a care
    relationship to it."""
    principal = caller.principal
    rules.check_registrar(principal, registration)
    if principal.has_role(Role.patient):
        store.hit_limit(rules.RECORDS_PER_ACCOUNT_DAY, principal.sub)
    patient_id = ids.new_id("pat")

    def body(tx: Tx) -> Patient:
        patient = store.insert_patient(tx, patient_id, registration, principal.sub, now)
        tx.emit(PatientRegistered(patient_id=patient_id, sex=registration.sex.value,
                                  birth_year=registration.birth_date.year,
                                  relationship=registration.relationship.value if registration.relationship else None),
                subject=patient_id)
        if principal.has_role(Role.patient):
            link_id = store.insert_link(tx, principal.sub, patient_id, registration.relationship, now)
            tx.emit(PatientLinkCreated(link_id=link_id, account_id=principal.sub, patient_id=patient_id,
                                       relationship=registration.relationship.value), subject=patient_id)
        else:
            store.grant_care(tx, principal.sub, patient_id, "registration", None, now, now + rules.REGISTRATION_CARE)
        audit.record(tx, caller, CREATE, "create", "Patient", patient_id, patient_id=patient_id)
        return patient

    return store.transact(body)


# reading and changing ----------------------------------------------------------------------------------------------
def get_patient(store: PatientStore, caller: Caller, patient_id: str, now: datetime) -> Patient:
    patient = store.patient(patient_id)  # one read: the record, then whether the caller may see it
    if patient is None or not may_see(store, caller, patient_id, now):
        audit.record(store, caller, READ, "read", "Patient", patient_id, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise _not_found(patient_id)
    audit.record(store, caller, READ, "read", "Patient", patient_id, patient_id=patient_id)
    return patient


def get_contact(store: PatientStore, caller: Caller, patient_id: str) -> dict:
    """Name and phone, for the notification service only (it must reach the patient)."""
    if not caller.principal.is_service("notify"):
        raise Forbidden("Only the notification service reads contact details this way.")
    contact = store.contact(patient_id)
    if contact is None:
        raise _not_found(patient_id)
    audit.record(store, caller, READ, "read", "Patient", patient_id, patient_id=patient_id, detail="contact")
    name, phone = contact
    return {"name": name, "phone": phone}


def prescribing_facts(store: PatientStore, caller: Caller, patient_id: str) -> PrescribingFacts:
    """Real-name status and birth date, for the records service only (it checks the prescribing rules when a doctor
    signs)."""
    if not caller.principal.is_service("records"):
        raise Forbidden("Only the records service reads prescribing facts this way.")
    facts = store.prescribing_facts(patient_id)
    if facts is None:
        raise _not_found(patient_id)
    audit.record(store, caller, READ, "read", "Patient", patient_id, patient_id=patient_id, detail="prescribing facts")
    return facts


def change_patient(store: PatientStore, caller: Caller, patient_id: str, change: PatientChange, now: datetime
                   ) -> Patient:
    values = rules.require_changes(change.model_dump(exclude_none=True))
    _authorize(store, caller, patient_id, UPDATE, "update", now, staff_roles=rules.REGISTRARS)

    def body(tx: Tx) -> Patient:
        patient = store.change_contact(tx, patient_id, values)
        audit.record(tx, caller, UPDATE, "update", "Patient", patient_id, patient_id=patient_id,
                     detail=",".join(sorted(values)))
        return patient

    return store.transact(body)


# real-name identity ------------------------------------------------------------------------------------------------
def record_identity_document(store: PatientStore, caller: Caller, patient_id: str, document: IdentityDocumentInput,
                             now: datetime, today: date) -> Patient:
    """Store the document number (encrypted; unique across patients by its blind index), unverified. ``today``: the
    hospital's date (a resident ID's birth date must not be after it)."""
    _authorize(store, caller, patient_id, UPDATE, "identity-document", now, staff_roles=rules.VERIFIERS)
    facts = store.facts(patient_id)
    try:
        number, resident = documents.normalize(document.document_type, document.number, today)
    except ValueError as exc:
        raise InvalidInput("The document number is not valid.", [field_error("number", str(exc))]) from None
    mismatches = rules.resident_mismatches(resident, facts)
    if mismatches:
        raise InvalidInput("The resident ID does not belong to this patient record.", mismatches)

    def body(tx: Tx) -> Patient:
        patient = store.record_identity(tx, patient_id, document.document_type, number, caller.principal.sub, now)
        tx.emit(PatientIdentityDocumentRecorded(patient_id=patient_id, document_type=document.document_type.value),
                subject=patient_id)
        audit.record(tx, caller, UPDATE, "identity-document", "Patient", patient_id, patient_id=patient_id)
        return patient

    return store.transact(body)


def verify_identity(store: PatientStore, caller: Caller, patient_id: str, verification: IdentityVerification,
                    now: datetime) -> Patient:
    """A consultant, team lead or doctor who has seen the document attests it, once."""
    rules.require_verifier(caller.principal)
    _authorize(store, caller, patient_id, UPDATE, "verify-identity", now, staff_roles=rules.VERIFIERS)
    if not store.facts(patient_id).has_identity:
        raise Conflict("The patient has no identity document recorded yet.",
                       [field_error("identity", "record the document first", "missing")])
    method = verification.method.value

    def body(tx: Tx) -> Patient:
        patient = store.verify_identity(tx, patient_id, method, caller.principal.sub, now)
        if patient is None:
            raise Conflict("The identity document is verified already.",
                           [field_error("identity", "is verified already", "state")])
        tx.emit(PatientIdentityVerified(patient_id=patient_id, document_type=patient.identity.document_type.value,
                                        method=method, verified_by=caller.principal.sub), subject=patient_id)
        audit.record(tx, caller, UPDATE, "verify-identity", "Patient", patient_id, patient_id=patient_id,
                     detail=method)
        return patient

    return store.transact(body)


# the patients an account acts for ----------------------------------------------------------------------------------
def linked(store: PatientStore, caller: Caller) -> list[LinkedPatient]:
    """Each record listed is a read in the audit trail."""
    rules.require_patient_account(caller.principal)
    records = store.linked_records(caller.principal.sub)
    for record in records:
        audit.record(store, caller, READ, "read", "Patient", record.patient_id, patient_id=record.patient_id,
                     detail="linked list")
    return records


def linked_ids(store: PatientStore, caller: Caller, account_id: str) -> list[str]:
    if not caller.principal.is_service("identity"):
        raise Forbidden("Only the identity service asks which records an account acts for.")
    return sorted(store.linked_patients(account_id))


def removed_links(store: PatientStore, since: datetime) -> list[dict]:
    """Links removed since ``since``: account and patient ids and the time (UTC), no personal data."""
    return [{"account_id": link.account_id, "patient_id": link.patient_id, "removed_at": to_utc_iso(link.removed_at)}
            for link in store.removed_links(since)]


def remove_link(store: PatientStore, caller: Caller, patient_id: str, now: datetime) -> None:
    """A patient stops acting for a relative's record (their own record stays theirs)."""
    principal = caller.principal
    rules.require_patient_account(principal)

    def body(tx: Tx) -> None:
        link_id = store.remove_link(tx, principal.sub, patient_id, now)
        if link_id is None:
            raise NotFound(f"Your account is not linked to a relative's record {patient_id}.")
        tx.emit(PatientLinkRemoved(link_id=link_id, account_id=principal.sub, patient_id=patient_id),
                subject=patient_id)
        audit.record(tx, caller, DELETE, "unlink", "PatientLink", link_id, patient_id=patient_id)

    store.transact(body)


# care relationships from booking's facts ---------------------------------------------------------------------------
def care_for_appointment(store: PatientStore, tx: Tx, doctor_id: str, patient_id: str, appointment_id: str,
                         end: datetime, now: datetime) -> None:
    """The doctor of an appointment may see the patient's record from the booking until 30 days after the visit."""
    store.grant_care(tx, doctor_id, patient_id, "appointment", appointment_id, now, rules.appointment_care_until(end))


def appointment_rescheduled(store: PatientStore, tx: Tx, appointment_id: str, start: datetime) -> None:
    store.set_care_end(tx, "appointment", appointment_id, rules.rescheduled_care_until(start))


def appointment_cancelled(store: PatientStore, tx: Tx, appointment_id: str, now: datetime) -> None:
    """A cancelled booking ends the doctor's care relationship at once."""
    store.set_care_end(tx, "appointment", appointment_id, now)
