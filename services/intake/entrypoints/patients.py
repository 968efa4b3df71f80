"""Patient records: registration, real-name identity, links (thin adapters over ``services.intake.domain``)."""
from __future__ import annotations

from contracts.intake.patients import IdentityDocumentInput, IdentityVerification, PatientChange, PatientRegistration
from services.intake import domain
from wenzhen.crypto import keyring
from wenzhen.errors import validated
from wenzhen.service import rpc
from wenzhen.timez import parse_iso


class PatientEntrypoints:
    @rpc
    def register_patient(self, registration: dict) -> dict:
        valid = validated(PatientRegistration, registration)
        return domain.register_patient(self.store, keyring(), self.caller, valid).model_dump(mode="json")

    @rpc
    def get_patient(self, patient_id: str) -> dict:
        return domain.get_patient(self.store, keyring(), self.caller, patient_id).model_dump(mode="json")

    @rpc
    def change_patient(self, patient_id: str, change: dict) -> dict:
        valid = validated(PatientChange, change)
        return domain.change_patient(self.store, keyring(), self.caller, patient_id, valid).model_dump(mode="json")

    @rpc
    def record_identity_document(self, patient_id: str, document: dict) -> dict:
        valid = validated(IdentityDocumentInput, document)
        return domain.record_identity_document(self.store, keyring(), self.caller, patient_id, valid).model_dump(
            mode="json")

    @rpc
    def verify_identity(self, patient_id: str, verification: dict) -> dict:
        valid = validated(IdentityVerification, verification)
        return domain.verify_identity(self.store, keyring(), self.caller, patient_id, valid).model_dump(mode="json")

    @rpc
    def linked_patients(self) -> list[dict]:
        return [p.model_dump(mode="json") for p in domain.linked(self.store, keyring(), self.caller)]

    @rpc
    def remove_link(self, patient_id: str) -> None:
        domain.remove_link(self.store, self.caller, patient_id)

    @rpc
    def removed_links(self, since: str) -> list[dict]:
        """For the gateway, when it (re)connects: the links removed since ``since`` (ids and times only), so tokens
        issued before a removal no longer act for that record (``gateway/revocations.py``)."""
        return domain.removed_links(self.store, parse_iso(since))

    @rpc
    def linked_patient_ids(self, account_id: str) -> list[str]:
        """For identity, at every token issue: the patient records an account acts for."""
        return domain.linked_ids(self.store, self.caller, account_id)

    @rpc
    def get_contact(self, patient_id: str) -> dict:
        """Name and phone, for the notification service (it must reach the patient)."""
        return domain.get_contact(self.store, keyring(), self.caller, patient_id)
