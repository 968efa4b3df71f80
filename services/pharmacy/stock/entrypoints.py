"""Pharmacies and stock: Nameko adapters over ``usecases``; receiving a lot asks records' formulary for the product
(its ingredient, strength and form decide what may substitute for it)."""
from __future__ import annotations

from contracts.pharmacy.dispensing import LotInput, Pharmacy, PharmacyCode, StockLine
from contracts.records.codes import DrugEntry
from services.pharmacy.stock import usecases
from services.pharmacy.stock.store import StockStore
from wenzhen.service import ServiceRpc, call, rpc
from wenzhen.timez import utcnow


class StockEntrypoints:
    records = ServiceRpc("records")

    @property
    def stock_store(self) -> StockStore:
        return StockStore(self.store)

    @rpc
    def list_pharmacies(self) -> list[Pharmacy]:
        return usecases.pharmacies(self.stock_store)

    @rpc
    def receive_lot(self, location: PharmacyCode, request: LotInput) -> StockLine:
        return usecases.receive_lot(self.stock_store, self.caller, location, request,
                                    lambda code: DrugEntry.model_validate(call(self.records.get_drug, code)),
                                    self.settings.low_stock_units, utcnow())

    @rpc
    def list_stock(self, location: PharmacyCode) -> list[StockLine]:
        return usecases.stock(self.stock_store, self.caller, location, self.settings.low_stock_units)
