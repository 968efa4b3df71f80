"""The patients' store, in memory: the same named methods as ``PatientStore`` over dicts. Records are kept as the
real store builds them (``store.new_patient`` and friends: encrypted, blind-indexed), so what the tests read back went
through the same encryption; the uniqueness the real store gets from its indexes is checked here by hand."""
from __future__ import annotations

from datetime import datetime

from contracts.intake.patients import LinkedPatient, Patient, PatientRegistration, PrescribingFacts, Relationship
from services.intake.patients import store as real
from services.intake.patients.rules import PatientFacts, RemovedLink, self_taken
from tests.fakes import FakeCapabilityStore
from tests.unit.intake.fakes import KEYS, CountedLimits
from wenzhen import ids
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, field_error
from wenzhen.timez import as_utc, to_local_iso


class FakePatientStore(CountedLimits, FakeCapabilityStore):
    def __init__(self, keys: Keyring = KEYS) -> None:
        FakeCapabilityStore.__init__(self)
        CountedLimits.__init__(self)
        self.keys = keys
        self.records: dict[str, dict] = {}  # as stored: encrypted fields, blind indexes
        self.links: dict[str, dict] = {}
        self.care: list[dict] = []

    # records -----------------------------------------------------------------------------------------------------
    def insert_patient(self, tx, patient_id: str, registration: PatientRegistration, registered_by: str,
                       now: datetime) -> Patient:
        self.records[patient_id] = real.new_patient(self.keys, patient_id, registration, registered_by, now)
        return real.to_patient(self.keys, self.records[patient_id])

    def exists(self, patient_id: str, tx=None) -> bool:
        return patient_id in self.records

    def facts(self, patient_id: str) -> PatientFacts | None:
        doc = self.records.get(patient_id)
        return None if doc is None else PatientFacts(patient_id, doc["sex"], doc["birth_date"],
                                                     bool(doc.get("identity")))

    def prescribing_facts(self, patient_id: str) -> PrescribingFacts | None:
        doc = self.records.get(patient_id)
        return None if doc is None else real.to_prescribing_facts(doc)

    def patient(self, patient_id: str) -> Patient | None:
        doc = self.records.get(patient_id)
        return None if doc is None else real.to_patient(self.keys, doc)

    def contact(self, patient_id: str) -> tuple[str, str] | None:
        patient = self.patient(patient_id)
        return None if patient is None else (patient.name, patient.phone)

    def surname(self, patient_id: str) -> str | None:
        patient = self.patient(patient_id)
        return patient.name[:1] if patient else None

    def change_contact(self, tx, patient_id: str, values: dict[str, str]) -> Patient:
        self.records[patient_id].update(real.contact_change(self.keys, patient_id, values))
        return self.patient(patient_id)

    def record_identity(self, tx, patient_id, document_type, number, recorded_by, now) -> Patient:
        fields = real.identity_fields(self.keys, patient_id, document_type, number, recorded_by, now)
        if any(other.get("document_index") == fields["document_index"] for pid, other in self.records.items()
               if pid != patient_id):  # the unique index unique_document
            raise Conflict("This document is registered to another patient record.",
                           [field_error("number", "belongs to another patient record", "duplicate")])
        self.records[patient_id].update(fields)
        return self.patient(patient_id)

    def verify_identity(self, tx, patient_id, method, verified_by, now) -> Patient | None:
        identity = self.records[patient_id].get("identity")
        if not identity or identity["status"] != "unverified":
            return None
        identity.update(status="verified", method=method, verified_at=now, verified_by=verified_by)
        return self.patient(patient_id)

    # links -------------------------------------------------------------------------------------------------------
    def insert_link(self, tx, account_id: str, patient_id: str, relationship: Relationship, now: datetime) -> str:
        active = [link for link in self.links.values() if link["account_id"] == account_id and link["active"]]
        if relationship == Relationship.self and any(link["is_self"] for link in active):  # one_self
            raise self_taken()
        assert not any(link["patient_id"] == patient_id for link in active), "one_active_link"
        link_id = ids.new_id("lnk")
        self.links[link_id] = {"_id": link_id, "account_id": account_id, "patient_id": patient_id,
                               "relationship": relationship.value, "is_self": relationship == Relationship.self,
                               "active": True, "created_at": now}
        return link_id

    def linked_patients(self, account_id: str, tx=None) -> set[str]:
        return {link["patient_id"] for link in self.links.values()
                if link["account_id"] == account_id and link["active"]}

    def linked_records(self, account_id: str) -> list[LinkedPatient]:
        return [LinkedPatient(patient_id=link["patient_id"], relationship=link["relationship"],
                              name=self.patient(link["patient_id"]).name, linked_at=to_local_iso(link["created_at"]))
                for _, link in sorted(self.links.items())
                if link["account_id"] == account_id and link["active"]]

    def remove_link(self, tx, account_id: str, patient_id: str, now: datetime) -> str | None:
        for link in self.links.values():
            if (link["account_id"], link["patient_id"]) == (account_id, patient_id) and link["active"] \
                    and not link["is_self"]:
                link.update(active=False, removed_at=now)
                return link["_id"]
        return None

    def removed_links(self, since: datetime) -> list[RemovedLink]:
        return [RemovedLink(link["account_id"], link["patient_id"], link["removed_at"]) for link in self.links.values()
                if link.get("removed_at") and as_utc(link["removed_at"]) >= as_utc(since)]

    # care relationships ------------------------------------------------------------------------------------------
    def grant_care(self, tx, staff_id, patient_id, kind, ref, since, until) -> None:
        self.care.append({"staff_id": staff_id, "patient_id": patient_id, "kind": kind, "ref": ref, "since": since,
                          "until": until})

    def set_care_end(self, tx, kind, ref, until, staff_id=None) -> int:
        changed = [c for c in self.care if c["kind"] == kind and c["ref"] == ref
                   and staff_id in (None, c["staff_id"]) and c["until"] != until]
        for care in changed:
            care["until"] = until
        return len(changed)

    def has_care(self, staff_id, patient_id, now, tx=None) -> bool:
        return any(c["staff_id"] == staff_id and c["patient_id"] == patient_id
                   and (c["until"] is None or as_utc(c["until"]) > as_utc(now)) for c in self.care)
