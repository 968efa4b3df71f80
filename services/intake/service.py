"""intake's Nameko entrypoints: thin adapters over ``domain``."""
from __future__ import annotations

from pydantic import ValidationError
from pymongo import ASCENDING

from services.intake import domain
from services.intake.schemas import PatientRegistration
from wenzhen.errors import from_pydantic
from wenzhen.service import ServiceBase, rpc
from wenzhen.storage import Index


class IntakeService(ServiceBase):
    name = "intake"
    indexes = [Index(domain.PATIENTS, [("phone", ASCENDING)], unique=True, name="unique_phone")]

    @rpc
    def register_patient(self, registration: dict) -> dict:
        try:
            valid = PatientRegistration.model_validate(registration)
        except ValidationError as exc:
            raise from_pydantic(exc) from None
        return domain.register_patient(self.store, valid).model_dump(mode="json")

    @rpc
    def get_patient(self, patient_id: str) -> dict:
        return domain.get_patient(self.store, patient_id).model_dump(mode="json")
