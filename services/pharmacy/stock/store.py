"""Every MongoDB query of pharmacies and their stock.

``stock``: one document per pharmacy and product, ``_id`` ``<location>:<drug code>``, with ``on_hand``, ``reserved``
and ``available`` (= on_hand − reserved). Each change is one conditional ``update_one`` by ``_id`` whose filter holds
the precondition (``available >= n`` to reserve, ``reserved >= n`` to release): under any concurrency the counts never
go negative and the last units go to exactly as many orders as they cover. ``lots``: one per received batch,
``remaining`` taken by the same kind of update when dispensing.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from contracts.pharmacy.dispensing import Pharmacy
from services.pharmacy.stock.rules import Lot, Product
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import CapabilityStore, Index, Tx

PHARMACIES = "pharmacies"
STOCK = "stock"
LOTS = "lots"
DATA = Path(__file__).resolve().parent.parent / "data" / "pharmacies.json"

INDEXES = [Index(LOTS, [("location", ASCENDING), ("drug_code", ASCENDING), ("expiry", ASCENDING)], name="fefo"),
           Index(STOCK, [("location", ASCENDING), ("drug_code", ASCENDING)], name="by_location")]


def load_pharmacies(db: Database) -> None:
    """Insert the shipped pharmacies that are missing (an upgrade: idempotent; a hospital's changes stay)."""
    for raw in json.loads(DATA.read_text("utf-8")):
        pharmacy = Pharmacy.model_validate(raw)
        db[PHARMACIES].update_one({"_id": pharmacy.code},
                                  {"$setOnInsert": pharmacy.model_dump(mode="json", exclude={"code"})}, upsert=True)


UPGRADES = {f"pharmacies {hashlib.sha256(DATA.read_bytes()).hexdigest()[:16]}": load_pharmacies}


def stock_id(location: str, drug_code: str) -> str:
    return f"{location}:{drug_code}"


def _lot(doc: dict) -> Lot:
    return Lot(location=doc["location"], drug_code=doc["drug_code"], lot_no=doc["lot_no"],
               expiry=date.fromisoformat(doc["expiry"]), received=doc["received"], remaining=doc["remaining"])


class StockStore(CapabilityStore):
    # pharmacies (a handful: the hospital's, not a history) ----------------------------------------------------------
    def pharmacies(self) -> list[Pharmacy]:
        return [Pharmacy.model_validate({**d, "code": d["_id"]})
                for d in self.db[PHARMACIES].find({}).sort("_id", ASCENDING)]

    def pharmacy(self, code: str) -> Pharmacy | None:
        doc = self.db[PHARMACIES].find_one({"_id": code})
        return Pharmacy.model_validate({**doc, "code": doc["_id"]}) if doc else None

    # lots --------------------------------------------------------------------------------------------------------
    def receive(self, tx: Tx, lot: Lot, product: Product, now: datetime) -> dict:
        """A new lot and its units on hand (and free); the stock line after it."""
        try:
            tx[LOTS].insert_one({"_id": f"{lot.location}:{lot.drug_code}:{lot.lot_no}", "location": lot.location,
                                 "drug_code": lot.drug_code, "lot_no": lot.lot_no,
                                 "expiry": lot.expiry.isoformat(), "received": lot.received,
                                 "remaining": lot.remaining, "received_at": now})
        except DuplicateKeyError:
            raise Conflict(f"Lot {lot.lot_no} of {lot.drug_code} was received here already.",
                           [field_error("lot_no", "was received already", "duplicate")]) from None
        sid = stock_id(lot.location, lot.drug_code)
        tx[STOCK].update_one({"_id": sid}, {
            "$inc": {"on_hand": lot.received, "available": lot.received},
            "$setOnInsert": {"location": lot.location, "drug_code": lot.drug_code, "reserved": 0,
                             "ingredient": product.ingredient, "strength": product.strength, "form": product.form}},
            upsert=True)
        return tx[STOCK].find_one({"_id": sid})

    def lots(self, location: str, drug_code: str, tx: Tx | None = None) -> list[Lot]:
        """The lots of one product at one pharmacy that still hold units (the ``fefo`` index)."""
        return [_lot(d) for d in self._on(tx)[LOTS].find(
            {"location": location, "drug_code": drug_code, "remaining": {"$gt": 0}}).sort("expiry", ASCENDING)]

    def take_from_lot(self, tx: Tx, location: str, drug_code: str, lot_no: str, quantity: int,
                      today: date) -> Lot | None:
        """Take units from an unexpired lot; None when it does not hold them (or is expired, or unknown)."""
        lot_id = f"{location}:{drug_code}:{lot_no}"
        done = tx[LOTS].update_one({"_id": lot_id, "remaining": {"$gte": quantity},
                                    "expiry": {"$gte": today.isoformat()}}, {"$inc": {"remaining": -quantity}})
        return _lot(tx[LOTS].find_one({"_id": lot_id})) if done.matched_count else None

    # counts ------------------------------------------------------------------------------------------------------
    def line(self, location: str, drug_code: str, tx: Tx | None = None) -> dict | None:
        return self._on(tx)[STOCK].find_one({"_id": stock_id(location, drug_code)})

    def lines(self, location: str) -> list[dict]:
        return list(self.db[STOCK].find({"location": location}).sort("drug_code", ASCENDING))

    def product(self, location: str, drug_code: str, tx: Tx | None = None) -> Product | None:
        doc = self.line(location, drug_code, tx)
        return Product(drug_code, doc["ingredient"], doc["strength"], doc["form"]) if doc else None

    def reserve(self, tx: Tx, location: str, drug_code: str, quantity: int) -> dict | None:
        """Hold units for an order; None when fewer are free. The line as it is after."""
        sid = stock_id(location, drug_code)
        done = tx[STOCK].update_one({"_id": sid, "available": {"$gte": quantity}},
                                    {"$inc": {"available": -quantity, "reserved": quantity}})
        return tx[STOCK].find_one({"_id": sid}) if done.matched_count else None

    def release(self, tx: Tx, location: str, drug_code: str, quantity: int) -> bool:
        """Free units held for an order (cancelled, expired, or dispensed as a substitute)."""
        done = tx[STOCK].update_one({"_id": stock_id(location, drug_code), "reserved": {"$gte": quantity}},
                                    {"$inc": {"available": quantity, "reserved": -quantity}})
        return bool(done.matched_count)

    def dispense_reserved(self, tx: Tx, location: str, drug_code: str, quantity: int) -> bool:
        """Units held for the order leave the pharmacy."""
        done = tx[STOCK].update_one({"_id": stock_id(location, drug_code), "reserved": {"$gte": quantity},
                                     "on_hand": {"$gte": quantity}},
                                    {"$inc": {"on_hand": -quantity, "reserved": -quantity}})
        return bool(done.matched_count)

    def dispense_free(self, tx: Tx, location: str, drug_code: str, quantity: int) -> dict | None:
        """Free units leave the pharmacy (a substitute product); the line after, or None when too few are free."""
        sid = stock_id(location, drug_code)
        done = tx[STOCK].update_one({"_id": sid, "available": {"$gte": quantity}, "on_hand": {"$gte": quantity}},
                                    {"$inc": {"on_hand": -quantity, "available": -quantity}})
        return tx[STOCK].find_one({"_id": sid}) if done.matched_count else None
