"""Legal holds and retention: Nameko entrypoints."""
from __future__ import annotations

from contracts.records.retention import HoldRequest, LegalHold, RecordRetention
from services.records.encounters.store import EncounterStore
from services.records.holds import usecases
from services.records.holds.store import HoldStore
from services.records.prescriptions.store import PrescriptionStore
from wenzhen.crypto import keyring
from wenzhen.fields import PatientId
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class HoldEntrypoints:
    @property
    def holds(self) -> HoldStore:
        return HoldStore(self.store, keyring())

    @rpc
    def place_legal_hold(self, patient_id: PatientId, request: HoldRequest) -> LegalHold:
        return usecases.place(self.holds, self.caller, patient_id, request, utcnow())

    @rpc
    def release_legal_hold(self, patient_id: PatientId, request: HoldRequest) -> LegalHold:
        return usecases.release(self.holds, self.caller, patient_id, request, utcnow())

    @rpc
    def retention(self, patient_id: PatientId) -> RecordRetention:
        keys = keyring()
        return usecases.retention(self.holds, self.caller, patient_id, EncounterStore(self.store, keys).span,
                                  PrescriptionStore(self.store, keys).retention_span)
