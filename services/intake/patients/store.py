"""Every MongoDB query of the patients capability: records (``patients``), links (``patient_links``) and care
relationships (``care_relations``). Name, phone, address and the identity document's number are encrypted here on
the way in (bound to the record) and decrypted on the way out; lookups use keyed blind indexes."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contracts.intake import documents
from contracts.intake.patients import (
    IdentityStatus,
    LinkedPatient,
    Patient,
    PatientRegistration,
    PrescribingFacts,
    Relationship,
)
from services.intake.patients.rules import PatientFacts, RemovedLink, self_taken
from wenzhen import ids, ratelimit
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, field_error
from wenzhen.ratelimit import Limit
from wenzhen.storage import CapabilityStore, Index, Tx, find_and_modify
from wenzhen.timez import to_local_iso

PATIENTS = "patients"
LINKS = "patient_links"
CARE = "care_relations"
ENCRYPTED = ("name", "phone", "address")  # AES-GCM ciphertext at rest; the phone is found by its blind index

INDEXES = [
    Index(PATIENTS, [("phone_index", ASCENDING)], name="by_phone"),  # relatives may share a number
    Index(PATIENTS, [("document_index", ASCENDING)], unique=True, name="unique_document", options={"sparse": True}),
    # one active link per account and patient, and one "self" per account
    Index(LINKS, [("account_id", ASCENDING), ("patient_id", ASCENDING)], unique=True, name="one_active_link",
          options={"partialFilterExpression": {"active": True}}),
    Index(LINKS, [("account_id", ASCENDING)], unique=True, name="one_self",
          options={"partialFilterExpression": {"is_self": True, "active": True}}),
    Index(LINKS, [("removed_at", ASCENDING)], name="removed", options={"sparse": True}),  # the gateway's catch-up
    Index(CARE, [("staff_id", ASCENDING), ("patient_id", ASCENDING)], name="by_staff_patient"),
    Index(CARE, [("ref", ASCENDING)], name="by_ref", options={"sparse": True}),
    *ratelimit.INDEXES,  # the per-account limits of registrations (here) and complaints
]
RETIRED_INDEXES = [(PATIENTS, "unique_phone")]  # phones were unique before relatives could be registered


# the stored documents (pure: unit-tested for what is encrypted, bound and blind-indexed) ------------------------------
def sealed(keys: Keyring, patient_id: str, **values: str | None) -> dict:
    """Each value encrypted, bound to its field and the record (a ciphertext copied elsewhere does not open)."""
    return {name: keys.encrypt(value, field=name, record=patient_id) for name, value in values.items()
            if value is not None}


def new_patient(keys: Keyring, patient_id: str, registration: PatientRegistration, registered_by: str,
                now: datetime) -> dict:
    return {"_id": patient_id, "sex": registration.sex.value, "birth_date": registration.birth_date.isoformat(),
            "phone_index": keys.blind_index("phone", registration.phone), "registered_at": now,
            "registered_by": registered_by,
            **sealed(keys, patient_id, name=registration.name, phone=registration.phone,
                     address=registration.address)}


def contact_change(keys: Keyring, patient_id: str, values: dict[str, str]) -> dict:
    """The ``$set`` of a contact change: the new values encrypted, a new phone's blind index."""
    update = sealed(keys, patient_id, **values)
    if "phone" in values:
        update["phone_index"] = keys.blind_index("phone", values["phone"])
    return update


def identity_fields(keys: Keyring, patient_id: str, document_type: documents.DocumentType, number: str,
                    recorded_by: str, now: datetime) -> dict:
    """The ``$set`` of a recorded document: the number encrypted, unverified, and its blind index (unique)."""
    return {"identity": {"document_type": document_type.value,
                         "number": keys.encrypt(number, field="identity.number", record=patient_id),
                         "status": "unverified", "method": None, "verified_at": None, "verified_by": None,
                         "recorded_at": now, "recorded_by": recorded_by},
            "document_index": keys.blind_index("document", f"{document_type.value}:{number}")}


def to_prescribing_facts(doc: dict) -> PrescribingFacts:
    """Verified real-name identity and birth date (nothing to decrypt)."""
    return PrescribingFacts(patient_id=doc["_id"], birth_date=doc["birth_date"],
                            verified=(doc.get("identity") or {}).get("status") == "verified")


def to_patient(keys: Keyring, doc: dict) -> Patient:
    """The record as the API shows it: decrypted, the document number masked."""
    plain = {name: keys.decrypt(doc[name], field=name, record=doc["_id"]) for name in ENCRYPTED if doc.get(name)}
    identity = None
    if doc.get("identity"):
        ident = doc["identity"]
        number = keys.decrypt(ident["number"], field="identity.number", record=doc["_id"])
        identity = IdentityStatus(document_type=ident["document_type"], number=documents.masked(number),
                                  status=ident["status"], method=ident.get("method"),
                                  verified_at=to_local_iso(ident["verified_at"]) if ident.get("verified_at")
                                  else None)
    return Patient(id=doc["_id"], sex=doc["sex"], birth_date=doc["birth_date"], identity=identity,
                   registered_at=to_local_iso(doc["registered_at"]), **plain)


class PatientStore(CapabilityStore):
    # records -----------------------------------------------------------------------------------------------------
    def insert_patient(self, tx: Tx, patient_id: str, registration: PatientRegistration, registered_by: str,
                       now: datetime) -> Patient:
        doc = new_patient(self.keys, patient_id, registration, registered_by, now)
        tx[PATIENTS].insert_one(doc)
        return to_patient(self.keys, doc)

    def exists(self, patient_id: str, tx: Tx | None = None) -> bool:
        return self._on(tx)[PATIENTS].find_one({"_id": patient_id}, {"_id": 1}) is not None

    def facts(self, patient_id: str) -> PatientFacts | None:
        doc = self.db[PATIENTS].find_one({"_id": patient_id}, {"sex": 1, "birth_date": 1, "identity": 1})
        if doc is None:
            return None
        return PatientFacts(id=doc["_id"], sex=doc["sex"], birth_date=doc["birth_date"],
                            has_identity=bool(doc.get("identity")))

    def prescribing_facts(self, patient_id: str) -> PrescribingFacts | None:
        doc = self.db[PATIENTS].find_one({"_id": patient_id}, {"birth_date": 1, "identity": 1})
        return to_prescribing_facts(doc) if doc else None

    def patient(self, patient_id: str) -> Patient | None:
        doc = self.db[PATIENTS].find_one({"_id": patient_id})
        return to_patient(self.keys, doc) if doc else None

    def contact(self, patient_id: str) -> tuple[str, str] | None:
        """Name and phone (decrypted)."""
        doc = self.db[PATIENTS].find_one({"_id": patient_id}, {"name": 1, "phone": 1})
        if doc is None:
            return None
        return (self.keys.decrypt(doc["name"], field="name", record=patient_id),
                self.keys.decrypt(doc["phone"], field="phone", record=patient_id))

    def surname(self, patient_id: str) -> str | None:
        doc = self.db[PATIENTS].find_one({"_id": patient_id}, {"name": 1})
        if not doc or not doc.get("name"):
            return None
        return self.keys.decrypt(doc["name"], field="name", record=patient_id)[:1]

    def change_contact(self, tx: Tx, patient_id: str, values: dict[str, str]) -> Patient:
        doc = find_and_modify(tx[PATIENTS], {"_id": patient_id},
                              {"$set": contact_change(self.keys, patient_id, values)})
        return to_patient(self.keys, doc)

    def record_identity(self, tx: Tx, patient_id: str, document_type: documents.DocumentType, number: str,
                        recorded_by: str, now: datetime) -> Patient:
        """Store the (normalized) number encrypted and unverified; its blind index is unique across records."""
        fields = identity_fields(self.keys, patient_id, document_type, number, recorded_by, now)
        try:
            doc = find_and_modify(tx[PATIENTS], {"_id": patient_id}, {"$set": fields})
        except DuplicateKeyError:
            raise Conflict("This document is registered to another patient record; please ask the hospital's desk.",
                           [field_error("number", "belongs to another patient record", "duplicate")]) from None
        return to_patient(self.keys, doc)

    def verify_identity(self, tx: Tx, patient_id: str, method: str, verified_by: str, now: datetime
                        ) -> Patient | None:
        """Verified, or None when it was not unverified (verified already)."""
        doc = find_and_modify(
            tx[PATIENTS],
            {"_id": patient_id, "identity.status": "unverified"},
            {"$set": {"identity.status": "verified", "identity.method": method, "identity.verified_at": now,
            "identity.verified_by": verified_by}})
        return to_patient(self.keys, doc) if doc else None

    def hit_limit(self, limit: Limit, key: str) -> None:
        ratelimit.hit(self.db, limit, key)

    # links -------------------------------------------------------------------------------------------------------
    def insert_link(self, tx: Tx, account_id: str, patient_id: str, relationship: Relationship,
                    now: datetime) -> str:
        link_id = ids.new_id("lnk")
        try:
            tx[LINKS].insert_one({"_id": link_id, "account_id": account_id, "patient_id": patient_id,
                                  "relationship": relationship.value, "is_self": relationship == Relationship.self,
                                  "active": True, "created_at": now})
        except DuplicateKeyError:  # the invariant is the database's: one self per account (one_self)
            raise self_taken() from None
        return link_id

    def linked_patients(self, account_id: str, tx: Tx | None = None) -> set[str]:
        return {link["patient_id"] for link in self._on(tx)[LINKS].find({"account_id": account_id, "active": True},
                                                                        {"patient_id": 1})}

    def linked_records(self, account_id: str) -> list[LinkedPatient]:
        result = []
        for link in self.db[LINKS].find({"account_id": account_id, "active": True}).sort("_id", ASCENDING):
            doc = self.db[PATIENTS].find_one({"_id": link["patient_id"]}, {"name": 1})
            result.append(LinkedPatient(patient_id=link["patient_id"], relationship=link["relationship"],
                                        name=self.keys.decrypt(doc["name"], field="name", record=doc["_id"]),
                                        linked_at=to_local_iso(link["created_at"])))
        return result

    def remove_link(self, tx: Tx, account_id: str, patient_id: str, now: datetime) -> str | None:
        """Deactivate a relative's link (never one's own record's); its id, or None when there was none."""
        link = find_and_modify(tx[LINKS],
                               {"account_id": account_id, "patient_id": patient_id, "active": True, "is_self": False},
                               {"$set": {"active": False, "removed_at": now}}, before=True)
        return link["_id"] if link else None

    def removed_links(self, since: datetime) -> list[RemovedLink]:
        return [RemovedLink(account_id=link["account_id"], patient_id=link["patient_id"],
                            removed_at=link["removed_at"])
                for link in self.db[LINKS].find({"removed_at": {"$gte": since}},
                                                {"account_id": 1, "patient_id": 1, "removed_at": 1})]

    # care relationships ------------------------------------------------------------------------------------------
    def grant_care(self, tx: Tx, staff_id: str, patient_id: str, kind: str, ref: str | None, since: datetime,
                   until: datetime | None) -> None:
        tx[CARE].insert_one({"_id": ids.new_id("care"), "staff_id": staff_id, "patient_id": patient_id, "kind": kind,
                             "ref": ref, "since": since, "until": until})

    def set_care_end(self, tx: Tx, kind: str, ref: str, until: datetime, staff_id: str | None = None) -> int:
        """Move the end of the care relationships ``ref`` gave (to ``staff_id`` only, when named); how many."""
        query = {"kind": kind, "ref": ref, **({"staff_id": staff_id} if staff_id else {})}
        return tx[CARE].update_many(query, {"$set": {"until": until}}).modified_count

    def has_care(self, staff_id: str, patient_id: str, now: datetime, tx: Tx | None = None) -> bool:
        return self._on(tx)[CARE].find_one({"staff_id": staff_id, "patient_id": patient_id,
                                            "$or": [{"until": None}, {"until": {"$gt": now}}]},
                                           {"_id": 1}) is not None
