"""The prescriptions' Nameko entrypoints: thin adapters over ``usecases``; signing asks identity (the prescriber's
licence and practice) and intake (the patient's real-name status and age) at that moment, as records."""
from __future__ import annotations

from datetime import date

from contracts.identity.schemas import Prescriber
from contracts.intake.patients import PrescribingFacts
from contracts.records.prescriptions import (
    DispensingFacts,
    ExtendRequest,
    Prescription,
    PrescriptionQuery,
    PrescriptionRequest,
    ReviewRequest,
)
from services.records.codes.rules import FORMULARY, ICD10
from services.records.codes.store import CodeStore
from services.records.encounters.store import EncounterStore
from services.records.encounters.usecases import ClinicalContext
from services.records.prescriptions import usecases
from services.records.prescriptions.store import PrescriptionStore
from wenzhen.crypto import keyring
from wenzhen.service import ServiceRpc, call, rpc
from wenzhen.timez import utcnow


class PrescriptionEntrypoints:
    identity = ServiceRpc("identity")
    intake = ServiceRpc("intake")

    @property
    def prescriptions(self) -> PrescriptionStore:
        return PrescriptionStore(self.store, keyring())

    @property
    def clinical(self) -> ClinicalContext:
        return ClinicalContext(EncounterStore(self.store, keyring()))

    def _outside(self) -> usecases.Outside:
        codes = CodeStore(self.store)

        def patient(patient_id: str) -> tuple[bool, date]:
            facts = PrescribingFacts.model_validate(call(self.intake.prescribing_facts, patient_id))
            return facts.verified, facts.birth_date

        return usecases.Outside(
            prescriber=lambda account_id: Prescriber.model_validate(call(self.identity.prescriber, account_id)),
            patient=patient, drugs=lambda wanted: codes.entries(FORMULARY, wanted),
            diagnoses=lambda wanted: codes.entries(ICD10, wanted))

    @rpc
    def sign_prescription(self, encounter_id: str, request: PrescriptionRequest) -> Prescription:
        return usecases.sign(self.prescriptions, self.clinical, self._outside(), self.caller, encounter_id, request,
                             utcnow())

    @rpc
    def review_prescription(self, prescription_id: str, request: ReviewRequest) -> Prescription:
        return usecases.review(self.prescriptions, self.clinical, self.caller, prescription_id, request, utcnow())

    @rpc
    def extend_prescription(self, prescription_id: str, request: ExtendRequest) -> Prescription:
        return usecases.extend(self.prescriptions, self.clinical, self.caller, prescription_id, request, utcnow())

    @rpc
    def dispensing_facts(self, prescription_id: str) -> DispensingFacts:
        return usecases.dispensing_facts(self.prescriptions, self.caller, prescription_id)

    @rpc
    def get_prescription(self, prescription_id: str) -> Prescription:
        return usecases.get(self.prescriptions, self.clinical, self.caller, prescription_id, utcnow())

    @rpc
    def list_prescriptions(self, query: PrescriptionQuery) -> list[Prescription]:
        return usecases.list_prescriptions(self.prescriptions, self.clinical, self.caller, query, utcnow())
