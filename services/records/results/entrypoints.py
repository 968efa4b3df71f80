"""Orders and results: Nameko entrypoints (thin adapters over ``usecases``)."""
from __future__ import annotations

from typing import Any

from contracts.records.results import Order, OrderRequest, Result, ResultInput, ResultQuery
from services.records.encounters.store import EncounterStore
from services.records.encounters.usecases import ClinicalContext
from services.records.results import usecases
from services.records.results.store import ResultStore
from wenzhen.crypto import keyring
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class ResultEntrypoints:
    @property
    def results(self) -> ResultStore:
        return ResultStore(self.store, keyring())

    @property
    def _clinical(self) -> ClinicalContext:
        return ClinicalContext(EncounterStore(self.store, keyring()))

    @rpc
    def place_order(self, encounter_id: str, request: OrderRequest) -> Order:
        return usecases.place_order(self.results, self._clinical, self.caller, encounter_id, request, utcnow())

    @rpc
    def get_order(self, order_id: str) -> Order:
        return usecases.get_order(self.results, self._clinical, self.caller, order_id, utcnow())

    @rpc
    def list_orders(self, query: ResultQuery) -> list[Order]:
        return usecases.list_orders(self.results, self._clinical, self.caller, query, utcnow())

    @rpc
    def record_result(self, request: ResultInput) -> Result:
        return usecases.record_result(self.results, self._clinical, self.caller, request, utcnow())

    @rpc
    def record_lab_bundle(self, bundle: dict[str, Any]) -> dict:
        """A laboratory's FHIR transaction Bundle; answers the result and whether it was created now."""
        result, created = usecases.record_lab_bundle(self.results, self._clinical, self.caller, bundle, utcnow())
        return {"result": result.model_dump(mode="json"), "created": created}

    @rpc
    def release_result(self, result_id: str) -> Result:
        return usecases.release(self.results, self._clinical, self.caller, result_id, utcnow())

    @rpc
    def get_result(self, result_id: str) -> Result:
        return usecases.get_result(self.results, self._clinical, self.caller, result_id, utcnow())

    @rpc
    def list_results(self, query: ResultQuery) -> list[Result]:
        return usecases.list_results(self.results, self._clinical, self.caller, query, utcnow())
