"""Every MongoDB query of shipping.

``shipment_requests`` is the courier's outbox: a request is written in the transaction that dispenses the order and
sent by the shipping loop until the courier answers (``due`` index on status and the next attempt): nothing depends
on memory, so a restart or a courier down for an hour delays a shipment and loses none. ``route_events`` keeps each
route step once (its ``_id`` is the courier's route id: a duplicate push is a duplicate key). ``push_checks`` holds
the waybills of pushes that could not be verified, until a query to the courier confirms what happened.
"""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contracts.pharmacy.courier import RouteEvent
from wenzhen.storage import CapabilityStore, Index, Tx

REQUESTS = "shipment_requests"
ROUTES = "route_events"
CHECKS = "push_checks"

INDEXES = [Index(REQUESTS, [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
           Index(CHECKS, [("due_at", ASCENDING)], name="due")]


class ShippingStore(CapabilityStore):
    def request(self, tx: Tx, order_id: str, now: datetime) -> None:
        tx[REQUESTS].update_one({"_id": order_id}, {"$setOnInsert": {
            "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}}, upsert=True)

    def due_requests(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db[REQUESTS].find({"status": "pending", "next_attempt_at": {"$lte": now}})
                    .sort("next_attempt_at", ASCENDING).limit(limit))

    def sent(self, tx: Tx, order_id: str, waybill: str, attempts: int, now: datetime) -> bool:
        done = tx[REQUESTS].update_one({"_id": order_id, "status": "pending"}, {"$set": {
            "status": "sent", "waybill": waybill, "attempts": attempts, "sent_at": now}})
        return bool(done.matched_count)

    def retry_later(self, order_id: str, attempts: int, at: datetime, error: str) -> None:
        self.db[REQUESTS].update_one({"_id": order_id, "status": "pending"}, {"$set": {
            "attempts": attempts, "next_attempt_at": at, "last_error": error}})

    def refused(self, tx: Tx, order_id: str, attempts: int, error: str) -> None:
        tx[REQUESTS].update_one({"_id": order_id, "status": "pending"}, {"$set": {
            "status": "refused", "attempts": attempts, "last_error": error}})

    def retry_refused(self, tx: Tx, order_id: str, now: datetime) -> bool:
        done = tx[REQUESTS].update_one({"_id": order_id, "status": "refused"}, {"$set": {
            "status": "pending", "next_attempt_at": now}})
        return bool(done.matched_count)

    def keep_route_event(self, tx: Tx, order_id: str, event: RouteEvent, verified_by: str, now: datetime) -> bool:
        """False when this step was kept before (a duplicate push, or a query repeating a push)."""
        try:
            tx[ROUTES].insert_one({"_id": event.id, "order_id": order_id, "waybill": event.mailno,
                                   "op_code": event.op_code.value, "at": event.accept_time,
                                   "verified_by": verified_by, "received_at": now})
        except DuplicateKeyError:
            return False
        return True

    def check_later(self, waybill: str, now: datetime) -> None:
        self.db[CHECKS].update_one({"_id": waybill}, {"$setOnInsert": {"due_at": now, "attempts": 0}}, upsert=True)

    def due_checks(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db[CHECKS].find({"due_at": {"$lte": now}}).sort("due_at", ASCENDING).limit(limit))

    def check_again(self, waybill: str, attempts: int, at: datetime) -> None:
        self.db[CHECKS].update_one({"_id": waybill}, {"$set": {"attempts": attempts, "due_at": at}})

    def checked(self, waybill: str) -> None:
        self.db[CHECKS].delete_one({"_id": waybill})
