"""Every MongoDB query of orders and results. An order is inserted once and completed by its result (a conditional
update from ``active``); a result is inserted once (unique per order) and released once (from ``final``). What is
clinical — the tests ordered, the conclusion, the observations — is encrypted here; ids, status and times stay plain
for the indexes."""
from __future__ import annotations

import json
from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.records.results import Category, ObservationView, OrderStatus, ResultStatus
from services.records.results.rules import OrderRecord, ResultRecord
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read

ORDERS = "orders"
RESULTS = "results"

INDEXES = [
    Index(ORDERS, [("encounter_id", ASCENDING), ("ordered_at", DESCENDING)], name="by_encounter"),
    Index(ORDERS, [("patient_id", ASCENDING), ("ordered_at", DESCENDING)], name="by_patient"),
    Index(ORDERS, [("status", ASCENDING), ("ordered_at", ASCENDING)], name="work_list"),
    Index(RESULTS, [("order_id", ASCENDING)], unique=True, name="one_per_order"),
    Index(RESULTS, [("patient_id", ASCENDING), ("issued", DESCENDING)], name="by_patient"),
    Index(RESULTS, [("encounter_id", ASCENDING), ("issued", DESCENDING)], name="by_encounter"),
]


class ResultExists(Exception):
    """The order has a result already."""


class ResultStore(CapabilityStore):
    def _seal(self, value, field: str, record: str) -> dict:
        return self.keys.encrypt(json.dumps(value, ensure_ascii=False), field=field, record=record)

    def _open(self, sealed: dict, field: str, record: str):
        return json.loads(self.keys.decrypt(sealed, field=field, record=record))

    # orders ----------------------------------------------------------------------------------------------------------
    def _order(self, doc: dict | None) -> OrderRecord | None:
        if doc is None:
            return None
        body = self._open(doc["body"], "order", doc["_id"])
        return OrderRecord(id=doc["_id"], encounter_id=doc["encounter_id"], patient_id=doc["patient_id"],
                           doctor_id=doc["doctor_id"], category=Category(doc["category"]), tests=tuple(body["tests"]),
                           note=body.get("note"), status=OrderStatus(doc["status"]), ordered_at=doc["ordered_at"])

    def insert_order(self, tx: Tx, order: OrderRecord) -> None:
        tx[ORDERS].insert_one({
            "_id": order.id, "encounter_id": order.encounter_id, "patient_id": order.patient_id,
            "doctor_id": order.doctor_id, "category": order.category.value, "status": order.status.value,
            "ordered_at": order.ordered_at,
            "body": self._seal({"tests": list(order.tests), "note": order.note}, "order", order.id)})

    def order(self, order_id: str) -> OrderRecord | None:
        return self._order(self.db[ORDERS].find_one({"_id": order_id}))

    def orders(self, *, patient_id: str | None = None, encounter_id: str | None = None,
               status: str | None = None, limit: int = 50) -> list[OrderRecord]:
        query = {k: v for k, v in (("patient_id", patient_id), ("encounter_id", encounter_id), ("status", status))
                 if v is not None}
        order = ASCENDING if status == OrderStatus.active.value and not (patient_id or encounter_id) else DESCENDING
        return [self._order(d) for d in self.db[ORDERS].find(query).sort("ordered_at", order).limit(limit)]

    def complete_order(self, tx: Tx, order_id: str) -> bool:
        return tx[ORDERS].update_one({"_id": order_id, "status": OrderStatus.active.value},
                                     {"$set": {"status": OrderStatus.completed.value}}).modified_count == 1

    # results ---------------------------------------------------------------------------------------------------------
    def _result(self, doc: dict | None) -> ResultRecord | None:
        if doc is None:
            return None
        body = self._open(doc["body"], "result", doc["_id"])
        return ResultRecord(
            id=doc["_id"], order_id=doc["order_id"], encounter_id=doc["encounter_id"], patient_id=doc["patient_id"],
            doctor_id=doc["doctor_id"], category=Category(doc["category"]), status=ResultStatus(doc["status"]),
            conclusion=body.get("conclusion"),
            observations=tuple(ObservationView.model_validate(o) for o in body["observations"]),
            issued=doc["issued"], recorded_by=doc["recorded_by"], source=doc["source"],
            identifier=doc.get("identifier"), released_at=doc.get("released_at"), version=doc["version"])

    def insert_result(self, tx: Tx, result: ResultRecord) -> None:
        body = {"conclusion": result.conclusion,
                "observations": [o.model_dump(mode="json") for o in result.observations]}
        try:
            tx[RESULTS].insert_one({
                "_id": result.id, "order_id": result.order_id, "encounter_id": result.encounter_id,
                "patient_id": result.patient_id, "doctor_id": result.doctor_id, "category": result.category.value,
                "status": result.status.value, "issued": result.issued, "recorded_by": result.recorded_by,
                "source": result.source, "identifier": result.identifier, "released_at": None,
                "version": result.version, "body": self._seal(body, "result", result.id)})
        except DuplicateKeyError:
            raise ResultExists() from None

    def result(self, result_id: str) -> ResultRecord | None:
        return self._result(self.db[RESULTS].find_one({"_id": result_id}))

    def result_of_order(self, order_id: str) -> ResultRecord | None:
        return self._result(self.db[RESULTS].find_one({"order_id": order_id}))

    def results(self, *, patient_id: str | None = None, encounter_id: str | None = None,
                limit: int = 50) -> list[ResultRecord]:
        query = {k: v for k, v in (("patient_id", patient_id), ("encounter_id", encounter_id)) if v is not None}
        return [self._result(d) for d in self.db[RESULTS].find(query).sort("issued", DESCENDING).limit(limit)]

    def release(self, tx: Tx, result_id: str, now: datetime) -> ResultRecord | None:
        return self._result(update_and_read(
            tx[RESULTS], {"_id": result_id, "status": ResultStatus.final.value},
            {"$set": {"status": ResultStatus.released.value, "released_at": now}, "$inc": {"version": 1}}))
