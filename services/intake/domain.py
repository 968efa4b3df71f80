"""intake's rules as plain functions over a transaction (no Nameko here)."""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from services.intake.events import PatientRegistered
from services.intake.schemas import Patient, PatientRegistration
from wenzhen import ids
from wenzhen.errors import Conflict, NotFound, field_error
from wenzhen.storage import Store, Tx
from wenzhen.timez import to_local_iso, utcnow

PATIENTS = "patients"


def register_patient(store: Store, registration: PatientRegistration) -> Patient:
    """Store a new patient and emit ``patient_registered`` in one transaction.

    The phone number is unique (enforced by the database's unique index, not
    by a look-up first): a second registration with it is a Conflict.
    """
    doc = {
        "_id": ids.new_id("pat"),
        "name": registration.name,
        "sex": registration.sex.value,
        "birth_date": registration.birth_date.isoformat(),
        "phone": registration.phone,
        "registered_at": utcnow(),
    }

    def body(tx: Tx) -> None:
        tx[PATIENTS].insert_one(doc)
        tx.emit(
            PatientRegistered(
                patient_id=doc["_id"], name=doc["name"], sex=doc["sex"],
                birth_date=registration.birth_date, phone=doc["phone"],
            ),
            subject=doc["_id"],
        )

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict(
            "A patient with this phone number is already registered.",
            [field_error("phone", "is already registered", "duplicate")],
        ) from None
    return to_patient(doc)


def get_patient(store: Store, patient_id: str) -> Patient:
    doc = store[PATIENTS].find_one({"_id": patient_id})
    if doc is None:
        raise NotFound(f"No patient with id {patient_id}.")
    return to_patient(doc)


def to_patient(doc: dict) -> Patient:
    return Patient(
        id=doc["_id"], name=doc["name"], sex=doc["sex"], birth_date=doc["birth_date"],
        phone=doc["phone"], registered_at=to_local_iso(doc["registered_at"]),
    )
