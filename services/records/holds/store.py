"""Every MongoDB query of legal holds."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.records.retention import LegalHold
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read
from wenzhen.timez import to_local_iso

HOLDS = "legal_holds"
INDEXES = [Index(HOLDS, [("patient_id", ASCENDING)], unique=True, name="one_active_hold",
                 options={"partialFilterExpression": {"active": True}}),
           Index(HOLDS, [("patient_id", ASCENDING), ("placed_at", DESCENDING)], name="by_patient")]


class HoldExists(Exception):
    """The patient's record is held already."""


class HoldStore(CapabilityStore):
    def _hold(self, doc: dict | None) -> LegalHold | None:
        if doc is None:
            return None
        opened = {k: self.keys.decrypt(doc[k], field=k, record=doc["_id"]) if doc.get(k) else None
                  for k in ("reason", "release_reason")}
        return LegalHold(id=doc["_id"], patient_id=doc["patient_id"], active=doc["active"],
                         placed_by=doc["placed_by"], placed_at=to_local_iso(doc["placed_at"]),
                         reason=opened["reason"], released_by=doc.get("released_by"),
                         released_at=to_local_iso(doc["released_at"]) if doc.get("released_at") else None,
                         release_reason=opened["release_reason"])

    def place(self, tx: Tx, hold_id: str, patient_id: str, reason: str, by: str, now: datetime) -> LegalHold:
        try:
            tx[HOLDS].insert_one({"_id": hold_id, "patient_id": patient_id, "active": True, "placed_by": by,
                                  "placed_at": now,
                                  "reason": self.keys.encrypt(reason, field="reason", record=hold_id)})
        except DuplicateKeyError:
            raise HoldExists() from None
        return self._hold(tx[HOLDS].find_one({"_id": hold_id}))

    def active(self, patient_id: str, tx: Tx | None = None) -> LegalHold | None:
        on = tx if tx is not None else self.db
        return self._hold(on[HOLDS].find_one({"patient_id": patient_id, "active": True}))

    def release(self, tx: Tx, hold_id: str, reason: str, by: str, now: datetime) -> LegalHold | None:
        return self._hold(update_and_read(tx[HOLDS], {"_id": hold_id, "active": True}, {"$set": {
            "active": False, "released_by": by, "released_at": now,
            "release_reason": self.keys.encrypt(reason, field="release_reason", record=hold_id)}}))
