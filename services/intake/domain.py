"""intake's rules as plain functions over a transaction (no Nameko here)."""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from services.intake.events import PatientRegistered
from services.intake.schemas import Patient, PatientRegistration
from wenzhen import ids
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, NotFound, field_error
from wenzhen.storage import Store, Tx
from wenzhen.timez import to_local_iso, utcnow

PATIENTS = "patients"
ENCRYPTED = ("name", "phone")  # stored as AES-GCM ciphertext; the phone is found by its blind index


def phone_index(keys: Keyring, phone: str) -> str:
    return keys.blind_index("phone", phone)


def register_patient(store: Store, keys: Keyring, registration: PatientRegistration) -> Patient:
    """Store a new patient and emit ``patient_registered`` in one transaction.

    The phone number is unique, enforced by the database's unique index on
    its blind index (not by a look-up first): a second registration with it
    is a Conflict.
    """
    patient_id = ids.new_id("pat")
    doc = {
        "_id": patient_id,
        "sex": registration.sex.value,
        "birth_date": registration.birth_date.isoformat(),
        "phone_index": phone_index(keys, registration.phone),
        "registered_at": utcnow(),
        **{field: keys.encrypt(getattr(registration, field), field=field, record=patient_id) for field in ENCRYPTED},
    }

    def body(tx: Tx) -> None:
        tx[PATIENTS].insert_one(doc)
        tx.emit(PatientRegistered(patient_id=patient_id, sex=doc["sex"], birth_year=registration.birth_date.year),
                subject=patient_id)

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict(
            "A patient with this phone number is already registered.",
            [field_error("phone", "is already registered", "duplicate")],
        ) from None
    return to_patient(keys, doc)


def get_patient(store: Store, keys: Keyring, patient_id: str) -> Patient:
    doc = store[PATIENTS].find_one({"_id": patient_id})
    if doc is None:
        raise NotFound(f"No patient with id {patient_id}.")
    return to_patient(keys, doc)


def to_patient(keys: Keyring, doc: dict) -> Patient:
    plain = {field: keys.decrypt(doc[field], field=field, record=doc["_id"]) for field in ENCRYPTED}
    return Patient(id=doc["_id"], sex=doc["sex"], birth_date=doc["birth_date"],
                   registered_at=to_local_iso(doc["registered_at"]), **plain)
