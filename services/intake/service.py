"""intake's Nameko entrypoints: thin adapters over ``domain``."""
from __future__ import annotations

from pydantic import ValidationError
from pymongo import ASCENDING

from services.intake import domain
from services.intake.schemas import PatientRegistration
from wenzhen.crypto import keyring
from wenzhen.errors import from_pydantic
from wenzhen.service import ServiceBase, rpc
from wenzhen.storage import Index


class IntakeService(ServiceBase):
    name = "intake"
    indexes = [Index(domain.PATIENTS, [("phone_index", ASCENDING)], unique=True, name="unique_phone")]

    @rpc
    def register_patient(self, registration: dict) -> dict:
        try:
            valid = PatientRegistration.model_validate(registration)
        except ValidationError as exc:
            raise from_pydantic(exc) from None
        return domain.register_patient(self.store, keyring(), valid).model_dump(mode="json")

    @rpc
    def get_patient(self, patient_id: str) -> dict:
        return domain.get_patient(self.store, keyring(), patient_id).model_dump(mode="json")

    @rpc
    def get_contact(self, patient_id: str) -> dict:
        """Name and phone, for a service that must reach the patient (notify)."""
        patient = domain.get_patient(self.store, keyring(), patient_id)
        return {"name": patient.name, "phone": patient.phone}
