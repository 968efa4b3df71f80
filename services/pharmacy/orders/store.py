"""Every MongoDB query of dispensing orders and the prescriptions' trace.

``dispensing_orders``: one per prescription (a unique index on ``prescription_id``: a redelivered
``prescription_took_effect`` cannot make a second). The status moves only by ``transition``, one conditional
``update_one`` whose filter is the transition's source states: the database, not a read before the write, decides
who wins a race. Items, picks, the delivery address and the pickup code are encrypted at rest.

``prescription_trace``: the steps of each prescription's path, appended in the transaction of the change they record
and read by one indexed query.
"""
from __future__ import annotations

import json
from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.pharmacy.dispensing import Delivery, DispensingStatus, FulfilmentMethod, OrderItem, Pick
from services.pharmacy.orders.rules import TRANSITIONS, OrderRecord, TraceEntry
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read

ORDERS = "dispensing_orders"
TRACE = "prescription_trace"

INDEXES = [Index(ORDERS, [("prescription_id", ASCENDING)], unique=True, name="one_per_prescription"),
           Index(ORDERS, [("patient_id", ASCENDING), ("created_at", DESCENDING)], name="by_patient"),
           Index(ORDERS, [("status", ASCENDING), ("location", ASCENDING), ("created_at", ASCENDING)], name="queue"),
           Index(ORDERS, [("status", ASCENDING), ("valid_until", ASCENDING)], name="due"),
           Index(ORDERS, [("waybill", ASCENDING)], name="by_waybill", options={"sparse": True}),
           Index(TRACE, [("prescription_id", ASCENDING), ("at", ASCENDING)], name="by_prescription")]

SEALED = ("items", "picks", "delivery", "pickup_code")


class OrderStore(CapabilityStore):
    def _seal(self, order_id: str, name: str, value) -> dict | None:
        return None if value is None else self.keys.encrypt(json.dumps(value, ensure_ascii=False), field=name,
                                                            record=order_id)

    def _open(self, doc: dict, name: str):
        sealed = doc.get(name)
        return None if sealed is None else json.loads(self.keys.decrypt(sealed, field=name, record=doc["_id"]))

    def _record(self, doc: dict) -> OrderRecord:
        delivery = self._open(doc, "delivery")
        return OrderRecord(
            id=doc["_id"], prescription_id=doc["prescription_id"], patient_id=doc["patient_id"],
            status=DispensingStatus(doc["status"]),
            items=tuple(OrderItem.model_validate(i) for i in self._open(doc, "items")),
            total_fen=doc["total_fen"], delivery_allowed=doc["delivery_allowed"], valid_until=doc["valid_until"],
            created_at=doc["created_at"], version=doc["version"],
            method=FulfilmentMethod(doc["method"]) if doc.get("method") else None, location=doc.get("location"),
            delivery=Delivery.model_validate(delivery) if delivery else None,
            delivery_fee_fen=doc.get("delivery_fee_fen", 0), choice=doc.get("choice", 0),
            reserved=doc.get("reserved", False), invoice_id=doc.get("invoice_id"), paid_fen=doc.get("paid_fen", 0),
            waybill=doc.get("waybill"), shipment_problem=doc.get("shipment_problem"),
            pickup_code=self._open(doc, "pickup_code"), pickup_attempts=doc.get("pickup_attempts", 0),
            picks=tuple(Pick.model_validate(p) for p in self._open(doc, "picks") or ()),
            history=tuple(doc.get("history", ())), route=tuple(doc.get("route", ())))

    # writing ------------------------------------------------------------------------------------------------------
    def insert(self, tx: Tx, order: OrderRecord) -> bool:
        """False when the prescription has its order already."""
        try:
            tx[ORDERS].insert_one({
                "_id": order.id, "prescription_id": order.prescription_id, "patient_id": order.patient_id,
                "status": order.status.value,
                "items": self._seal(order.id, "items", [i.model_dump(mode="json") for i in order.items]),
                "total_fen": order.total_fen, "delivery_allowed": order.delivery_allowed,
                "valid_until": order.valid_until, "created_at": order.created_at, "version": order.version,
                "choice": 0, "reserved": False, "delivery_fee_fen": 0, "history": list(order.history)})
        except DuplicateKeyError:
            return False
        return True

    def choose(self, tx: Tx, order_id: str, method: FulfilmentMethod, location: str, delivery: Delivery | None,
               fee_fen: int) -> OrderRecord | None:
        """Record the patient's choice while the order waits for payment; None once it is paid (or ended)."""
        doc = update_and_read(tx[ORDERS], {"_id": order_id, "status": DispensingStatus.awaiting_payment.value}, {
            "$set": {"method": method.value, "location": location, "delivery_fee_fen": fee_fen,
                     "delivery": self._seal(order_id, "delivery",
                                            delivery.model_dump(mode="json") if delivery else None)},
            "$inc": {"choice": 1, "version": 1}})
        return self._record(doc) if doc else None

    def transition(self, tx: Tx, order_id: str, action: str, by: str, now: datetime, *, when: dict | None = None,
                   set_: dict | None = None, sealed: dict | None = None) -> OrderRecord | None:
        """Apply ``TRANSITIONS[action]`` if the order is in one of its source states (and ``when`` holds); the order
        after, or None when it was not."""
        t = TRANSITIONS[action]
        changes = {"status": t.target.value, **self._changes(order_id, set_, sealed)}
        doc = update_and_read(tx[ORDERS], {"_id": order_id, "status": {"$in": sorted(s.value for s in t.sources)},
                                           **(when or {})},
                              {"$set": changes, "$inc": {"version": 1},
                               "$push": {"history": {"status": t.target.value, "at": now, "by": by}}})
        return self._record(doc) if doc else None

    def set_fields(self, tx: Tx, order_id: str, when: dict, values: dict,
                   sealed: dict | None = None) -> OrderRecord | None:
        """A change that is not a transition (reserved, a shipment problem, the picks of a delivery), under ``when``;
        ``sealed`` values are encrypted first."""
        doc = update_and_read(tx[ORDERS], {"_id": order_id, **when},
                              {"$set": self._changes(order_id, values, sealed)})
        return self._record(doc) if doc else None

    def _changes(self, order_id: str, values: dict | None, sealed: dict | None) -> dict:
        return {**(values or {}), **{name: self._seal(order_id, name, value) for name, value in (sealed or {}).items()}}

    def count_pickup_attempt(self, tx: Tx, order_id: str, limit: int) -> bool:
        """One wrong pickup code more; False when the limit was reached already."""
        done = tx[ORDERS].update_one({"_id": order_id, "pickup_attempts": {"$not": {"$gte": limit}}},
                                     {"$inc": {"pickup_attempts": 1}})
        return bool(done.matched_count)

    def add_route_step(self, tx: Tx, order_id: str, step: dict) -> None:
        """Keep the route in the courier's time order (steps within one second by their rank)."""
        tx[ORDERS].update_one({"_id": order_id}, {"$push": {"route": {"$each": [step], "$sort": {"at": 1, "rank": 1}}}})

    # reading ------------------------------------------------------------------------------------------------------
    def order(self, order_id: str, tx: Tx | None = None) -> OrderRecord | None:
        doc = self._on(tx)[ORDERS].find_one({"_id": order_id})
        return self._record(doc) if doc else None

    def by_prescription(self, prescription_id: str, tx: Tx | None = None) -> OrderRecord | None:
        doc = self._on(tx)[ORDERS].find_one({"prescription_id": prescription_id})
        return self._record(doc) if doc else None

    def by_waybill(self, waybill: str, tx: Tx | None = None) -> OrderRecord | None:
        doc = self._on(tx)[ORDERS].find_one({"waybill": waybill})
        return self._record(doc) if doc else None

    def orders(self, *, patient_id: str | None, status: str | None, location: str | None,
               limit: int) -> list[OrderRecord]:
        """A patient's newest first (``by_patient``); a status queue oldest first (``queue``)."""
        if patient_id is not None:
            query: dict = {"patient_id": patient_id}
            if status is not None:
                query["status"] = status
            cursor = self.db[ORDERS].find(query).sort("created_at", DESCENDING)
        else:
            query = {"status": status}
            if location is not None:
                query["location"] = location
            cursor = self.db[ORDERS].find(query).sort([("location", ASCENDING), ("created_at", ASCENDING)])
        return [self._record(d) for d in cursor.limit(limit)]

    def due_to_expire(self, now: datetime, limit: int) -> list[str]:
        """Orders not dispensed whose prescription's validity ended (the ``due`` index)."""
        found = []
        for status in (DispensingStatus.awaiting_payment.value, DispensingStatus.paid.value):
            found += [d["_id"] for d in self.db[ORDERS].find({"status": status, "valid_until": {"$lte": now}},
                                                             {"_id": 1}).sort("valid_until", ASCENDING).limit(limit)]
        return found[:limit]

    # the trace ----------------------------------------------------------------------------------------------------
    def trace(self, tx: Tx, entry: TraceEntry) -> None:
        doc = {k: v for k, v in vars(entry).items() if v not in (None, [])}
        if entry.lots:
            doc["lots"] = self.keys.encrypt(json.dumps(entry.lots, ensure_ascii=False, default=str), field="lots",
                                            record=entry.prescription_id)
        tx[TRACE].insert_one(doc)

    def trace_of(self, prescription_id: str) -> list[TraceEntry]:
        found = []
        for doc in self.db[TRACE].find({"prescription_id": prescription_id}).sort("at", ASCENDING):
            doc.pop("_id")
            if "lots" in doc:
                doc["lots"] = json.loads(self.keys.decrypt(doc["lots"], field="lots", record=prescription_id))
            found.append(TraceEntry(**doc))
        return found
