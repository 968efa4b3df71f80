"""intake's patient rules as plain functions over a store (no Nameko here).

Every read and change of a patient record is checked against ``access`` and
recorded in the audit trail; a refused read looks exactly like a missing record
(404), so ids cannot be probed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

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
    IdentityStatus,
    IdentityVerification,
    LinkedPatient,
    Patient,
    PatientChange,
    PatientRegistration,
    Relationship,
)
from services.intake import access
from wenzhen import audit, ids, ratelimit
from wenzhen.audit import CREATE, DELETE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.ratelimit import Limit
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import hospital_zone, to_local_iso, to_utc_iso, utcnow

PATIENTS = "patients"
ENCRYPTED = ("name", "phone", "address")  # AES-GCM ciphertext at rest; the phone is found by its blind index

INDEXES = [
    Index(PATIENTS, [("phone_index", ASCENDING)], name="by_phone"),  # relatives may share a number
    Index(PATIENTS, [("document_index", ASCENDING)], unique=True, name="unique_document", options={"sparse": True}),
    *access.INDEXES,
    *ratelimit.INDEXES,
]
RETIRED_INDEXES = [(PATIENTS, "unique_phone")]  # phones were unique before relatives could be registered

# a patient account registers itself and a few relatives, not a crowd (each record costs a welcome SMS)
RECORDS_PER_ACCOUNT_DAY = Limit("records-account-1d", 10, timedelta(days=1),
                                "This account registered many records today; ask the hospital's desk for more.")
REGISTRARS = (Role.consultant, Role.team_lead)  # staff who register patients on their behalf
VERIFIERS = (Role.consultant, Role.team_lead, Role.doctor)  # staff who attest an identity document


def _not_found(patient_id: str) -> NotFound:
    return NotFound(f"No patient with id {patient_id}.")


def _seal(keys: Keyring, patient_id: str, **values: str | None) -> dict:
    return {name: keys.encrypt(value, field=name, record=patient_id) for name, value in values.items()
            if value is not None}


def _authorized(store: Store, caller: Caller, patient_id: str, action: str, subtype: str,
                staff_roles: tuple[Role, ...] = access.CARE_ROLES) -> dict:
    """The patient document when the caller may act on it; otherwise the refusal is audited and a 404 raised."""
    doc = store[PATIENTS].find_one({"_id": patient_id})
    if doc is None or not access.may_see(store, caller, patient_id, staff_roles):
        audit.record(store, caller, action, subtype, "Patient", patient_id, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise _not_found(patient_id)
    return doc


# registration ------------------------------------------------------------------------------------------------------
def register_patient(store: Store, keys: Keyring, caller: Caller, registration: PatientRegistration) -> Patient:
    """Store a new patient and emit ``patient_registered`` in one transaction.

    A patient account gets a link to the record (``patient_link_created``); a consultant or team lead
    registering on the patient's behalf gets a care relationship to it.
    """
    principal = caller.principal
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

    if principal.has_role(Role.patient):
        ratelimit.hit(store, RECORDS_PER_ACCOUNT_DAY, principal.sub)
    patient_id = ids.new_id("pat")
    doc = {
        "_id": patient_id,
        "sex": registration.sex.value,
        "birth_date": registration.birth_date.isoformat(),
        "phone_index": keys.blind_index("phone", registration.phone),
        "registered_at": utcnow(),
        "registered_by": principal.sub,
        **_seal(keys, patient_id, name=registration.name, phone=registration.phone, address=registration.address),
    }

    def body(tx: Tx) -> None:
        tx[PATIENTS].insert_one(doc)
        tx.emit(PatientRegistered(patient_id=patient_id, sex=doc["sex"], birth_year=registration.birth_date.year,
                                  relationship=registration.relationship.value if registration.relationship else None),
                subject=patient_id)
        if principal.has_role(Role.patient):
            _link(tx, principal.sub, patient_id, registration.relationship)
        else:
            access.grant_care(tx, principal.sub, patient_id, "registration", until=utcnow() + access.REGISTRATION_CARE)
        audit.record(tx, caller, CREATE, "create", "Patient", patient_id, patient_id=patient_id)

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict("Your account has a record of its own already; register relatives with their "
                       "relationship to you.",
                       [field_error("relationship", "self is taken for this account", "duplicate")]) from None
    return to_patient(keys, doc)


def _link(tx: Tx, account_id: str, patient_id: str, relationship: Relationship) -> None:
    link_id = ids.new_id("lnk")
    tx[access.LINKS].insert_one({"_id": link_id, "account_id": account_id, "patient_id": patient_id,
                                 "relationship": relationship.value, "is_self": relationship == Relationship.self,
                                 "active": True, "created_at": utcnow()})
    tx.emit(PatientLinkCreated(link_id=link_id, account_id=account_id, patient_id=patient_id,
                               relationship=relationship.value), subject=patient_id)


# reading and changing ----------------------------------------------------------------------------------------------
def get_patient(store: Store, keys: Keyring, caller: Caller, patient_id: str) -> Patient:
    doc = _authorized(store, caller, patient_id, READ, "read")
    audit.record(store, caller, READ, "read", "Patient", patient_id, patient_id=patient_id)
    return to_patient(keys, doc)


def get_contact(store: Store, keys: Keyring, caller: Caller, patient_id: str) -> dict:
    """Name and phone, for the notification service only (it must reach the patient)."""
    if not caller.principal.is_service("notify"):
        raise Forbidden("Only the notification service reads contact details this way.")
    doc = store[PATIENTS].find_one({"_id": patient_id})
    if doc is None:
        raise _not_found(patient_id)
    audit.record(store, caller, READ, "read", "Patient", patient_id, patient_id=patient_id, detail="contact")
    patient = to_patient(keys, doc)
    return {"name": patient.name, "phone": patient.phone}


def change_patient(store: Store, keys: Keyring, caller: Caller, patient_id: str, change: PatientChange) -> Patient:
    values = change.model_dump(exclude_none=True)
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])
    _authorized(store, caller, patient_id, UPDATE, "update", staff_roles=REGISTRARS)
    update = _seal(keys, patient_id, **values)
    if "phone" in values:
        update["phone_index"] = keys.blind_index("phone", values["phone"])

    def body(tx: Tx) -> dict:
        doc = tx[PATIENTS].find_one_and_update({"_id": patient_id}, {"$set": update},
                                               return_document=ReturnDocument.AFTER)
        audit.record(tx, caller, UPDATE, "update", "Patient", patient_id, patient_id=patient_id,
                     detail=",".join(sorted(values)))
        return doc

    return to_patient(keys, store.transact(body))


# real-name identity ------------------------------------------------------------------------------------------------
def record_identity_document(store: Store, keys: Keyring, caller: Caller, patient_id: str,
                             document: IdentityDocumentInput) -> Patient:
    """Store the document number (encrypted; unique across patients by its blind index), unverified."""
    doc = _authorized(store, caller, patient_id, UPDATE, "identity-document", staff_roles=VERIFIERS)
    today = datetime.now(hospital_zone()).date()
    try:
        number, resident = documents.normalize(document.document_type, document.number, today)
    except ValueError as exc:
        raise InvalidInput("The document number is not valid.", [field_error("number", str(exc))]) from None
    if resident is not None:
        mismatches = []
        if resident.birth_date.isoformat() != doc["birth_date"]:
            mismatches.append(field_error("number", "its birth date differs from the patient's", "mismatch"))
        if doc["sex"] in ("male", "female") and resident.sex != doc["sex"]:
            mismatches.append(field_error("number", "its sex digit differs from the patient's", "mismatch"))
        if mismatches:
            raise InvalidInput("The resident ID does not belong to this patient record.", mismatches)
    identity = {
        "document_type": document.document_type.value,
        "number": keys.encrypt(number, field="identity.number", record=patient_id),
        "status": "unverified", "method": None, "verified_at": None, "verified_by": None,
        "recorded_at": utcnow(), "recorded_by": caller.principal.sub,
    }
    document_index = keys.blind_index("document", f"{document.document_type.value}:{number}")

    def body(tx: Tx) -> dict:
        updated = tx[PATIENTS].find_one_and_update(
            {"_id": patient_id}, {"$set": {"identity": identity, "document_index": document_index}},
            return_document=ReturnDocument.AFTER)
        tx.emit(PatientIdentityDocumentRecorded(patient_id=patient_id, document_type=identity["document_type"]),
                subject=patient_id)
        audit.record(tx, caller, UPDATE, "identity-document", "Patient", patient_id, patient_id=patient_id)
        return updated

    try:
        return to_patient(keys, store.transact(body))
    except DuplicateKeyError:
        raise Conflict("This document is registered to another patient record; please ask the hospital's desk.",
                       [field_error("number", "belongs to another patient record", "duplicate")]) from None


def verify_identity(store: Store, keys: Keyring, caller: Caller, patient_id: str,
                    verification: IdentityVerification) -> Patient:
    """A consultant, team lead or doctor who has seen the document attests it."""
    if not caller.principal.has_role(*VERIFIERS):
        raise Forbidden("Only consultants, team leads and doctors verify identity documents.")
    doc = _authorized(store, caller, patient_id, UPDATE, "verify-identity", staff_roles=VERIFIERS)
    if not doc.get("identity"):
        raise Conflict("The patient has no identity document recorded yet.",
                       [field_error("identity", "record the document first", "missing")])

    def body(tx: Tx) -> dict:
        updated = tx[PATIENTS].find_one_and_update(
            {"_id": patient_id, "identity.status": "unverified"},
            {"$set": {"identity.status": "verified", "identity.method": verification.method.value,
                      "identity.verified_at": utcnow(), "identity.verified_by": caller.principal.sub}},
            return_document=ReturnDocument.AFTER)
        if updated is None:
            raise Conflict("The identity document is verified already.",
                           [field_error("identity", "is verified already", "state")])
        tx.emit(PatientIdentityVerified(patient_id=patient_id, document_type=updated["identity"]["document_type"],
                                        method=verification.method.value, verified_by=caller.principal.sub),
                subject=patient_id)
        audit.record(tx, caller, UPDATE, "verify-identity", "Patient", patient_id, patient_id=patient_id,
                     detail=verification.method.value)
        return updated

    return to_patient(keys, store.transact(body))


# the patients an account acts for ----------------------------------------------------------------------------------
def linked(store: Store, keys: Keyring, caller: Caller) -> list[LinkedPatient]:
    principal = caller.principal
    if not principal.has_role(Role.patient):
        raise Forbidden("Only patient accounts have linked patient records.")
    result = []
    for link in store[access.LINKS].find({"account_id": principal.sub, "active": True}).sort("_id", ASCENDING):
        doc = store[PATIENTS].find_one({"_id": link["patient_id"]})
        audit.record(store, caller, READ, "read", "Patient", link["patient_id"], patient_id=link["patient_id"],
                     detail="linked list")
        result.append(LinkedPatient(patient_id=link["patient_id"], relationship=link["relationship"],
                                    name=keys.decrypt(doc["name"], field="name", record=doc["_id"]),
                                    linked_at=to_local_iso(link["created_at"])))
    return result


def linked_ids(store: Store, caller: Caller, account_id: str) -> list[str]:
    if not caller.principal.is_service("identity"):
        raise Forbidden("Only the identity service asks which records an account acts for.")
    return sorted(access.linked_patients(store, account_id))


def removed_links(store: Store, since: datetime) -> list[dict]:
    """Links removed since ``since``: account and patient ids and the time, no personal data."""
    return [{"account_id": link["account_id"], "patient_id": link["patient_id"],
             "removed_at": to_utc_iso(link["removed_at"])}
            for link in store[access.LINKS].find({"removed_at": {"$gte": since}},
                                                 {"account_id": 1, "patient_id": 1, "removed_at": 1})]


def remove_link(store: Store, caller: Caller, patient_id: str) -> None:
    """A patient stops acting for a relative's record (their own record stays theirs)."""
    principal = caller.principal
    if not principal.has_role(Role.patient):
        raise Forbidden("Only patient accounts have linked patient records.")

    def body(tx: Tx) -> None:
        link = tx[access.LINKS].find_one_and_update(
            {"account_id": principal.sub, "patient_id": patient_id, "active": True, "is_self": False},
            {"$set": {"active": False, "removed_at": utcnow()}})
        if link is None:
            raise NotFound(f"Your account is not linked to a relative's record {patient_id}.")
        tx.emit(PatientLinkRemoved(link_id=link["_id"], account_id=principal.sub, patient_id=patient_id),
                subject=patient_id)
        audit.record(tx, caller, DELETE, "unlink", "PatientLink", link["_id"], patient_id=patient_id)

    store.transact(body)


# the view ----------------------------------------------------------------------------------------------------------
def to_patient(keys: Keyring, doc: dict) -> Patient:
    plain = {name: keys.decrypt(doc[name], field=name, record=doc["_id"]) for name in ENCRYPTED if doc.get(name)}
    identity = None
    if doc.get("identity"):
        ident = doc["identity"]
        number = keys.decrypt(ident["number"], field="identity.number", record=doc["_id"])
        identity = IdentityStatus(document_type=ident["document_type"], number=documents.masked(number),
                                  status=ident["status"], method=ident.get("method"),
                                  verified_at=to_local_iso(ident["verified_at"]) if ident.get("verified_at") else None)
    return Patient(id=doc["_id"], sex=doc["sex"], birth_date=doc["birth_date"], identity=identity,
                   registered_at=to_local_iso(doc["registered_at"]), **plain)
