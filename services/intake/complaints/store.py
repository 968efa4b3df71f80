"""Every MongoDB query of complaints (``complaints``). The text, the hoped-for outcome, the answer and each history
note are encrypted here, each bound to its complaint and field (a history note to its position)."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from services.intake.complaints.rules import OPEN, ComplaintRecord, HistoryItem
from wenzhen import ratelimit
from wenzhen.crypto import Keyring
from wenzhen.ratelimit import Limit
from wenzhen.storage import CapabilityStore, Index, Tx, find_and_modify

COMPLAINTS = "complaints"

INDEXES = [
    Index(COMPLAINTS, [("status", ASCENDING), ("due_at", ASCENDING)], name="by_status_due"),  # queue and sweep
    Index(COMPLAINTS, [("patient_id", ASCENDING), ("filed_at", DESCENDING)], name="by_patient"),
    Index(COMPLAINTS, [("account_id", ASCENDING), ("filed_at", DESCENDING)], name="by_account"),
]  # the per-account limit's collection is indexed by the patients' store (ratelimit.INDEXES)


# the stored documents (pure: unit-tested for what is encrypted and bound) -------------------------------------------
def complaint_document(keys: Keyring, record: ComplaintRecord) -> dict:
    cid = record.id
    return {
        "_id": cid, "patient_id": record.patient_id, "account_id": record.account_id, "filed_by": record.filed_by,
        "channel": record.channel, "about": record.about, "reference": record.reference,
        "consultation_id": record.consultation_id, "text": keys.encrypt(record.text, field="text", record=cid),
        "desired_outcome": (keys.encrypt(record.desired_outcome, field="desired_outcome", record=cid)
                            if record.desired_outcome else None),
        "status": record.status, "filed_at": record.filed_at, "acknowledge_by": record.acknowledge_by,
        "due_at": record.due_at, "escalation_level": 0, "escalations": {}, "assignee": None,
        "history": [history_entry(keys, cid, index, item) for index, item in enumerate(record.history)],
    }


def history_entry(keys: Keyring, complaint_id: str, index: int, item: HistoryItem) -> dict:
    """One move of the history; its note encrypted, bound to the complaint and its position."""
    return {"at": item.at, "by": item.by, "role": item.role, "previous": item.previous, "status": item.status,
            "note": keys.encrypt(item.note, field=f"history.{index}.note", record=complaint_id) if item.note else None}


def sealed_values(keys: Keyring, complaint_id: str, values: dict) -> dict:
    """A move's ``$set``, its ``answer`` encrypted."""
    if values.get("answer") is None:
        return dict(values)
    return {**values, "answer": keys.encrypt(values["answer"], field="answer", record=complaint_id)}


def to_record(keys: Keyring, doc: dict, texts: bool = True) -> ComplaintRecord:
    """The record, its texts decrypted (``texts=False``: without them, for a listing)."""
    cid = doc["_id"]

    def plain(name: str) -> str | None:
        return keys.decrypt(doc[name], field=name, record=cid) if texts and doc.get(name) else None

    history = tuple(HistoryItem(at=item["at"], by=item["by"], role=item["role"], previous=item["previous"],
                                status=item["status"],
                                note=keys.decrypt(item["note"], field=f"history.{index}.note", record=cid)
                                if texts and item.get("note") else None)
                    for index, item in enumerate(doc.get("history", ())))
    return ComplaintRecord(
        id=cid, patient_id=doc["patient_id"], account_id=doc.get("account_id"), filed_by=doc["filed_by"],
        channel=doc["channel"], about=doc["about"], reference=doc.get("reference"),
        consultation_id=doc.get("consultation_id"), status=doc["status"], filed_at=doc["filed_at"],
        acknowledge_by=doc["acknowledge_by"], due_at=doc["due_at"], text=plain("text"),
        desired_outcome=plain("desired_outcome"), escalation_level=doc.get("escalation_level", 0),
        assignee=doc.get("assignee"), answer=plain("answer"), answered_at=doc.get("answered_at"),
        on_time=doc.get("on_time"), closed_at=doc.get("closed_at"), close_reason=doc.get("close_reason"),
        history=history)


class ComplaintStore(CapabilityStore):
    def hit_limit(self, limit: Limit, key: str) -> None:
        ratelimit.hit(self.db, limit, key)

    # filing and moving -------------------------------------------------------------------------------------------
    def insert(self, tx: Tx, record: ComplaintRecord) -> None:
        tx[COMPLAINTS].insert_one(complaint_document(self.keys, record))

    def move(self, tx: Tx, complaint_id: str, current: str, values: dict, entry: HistoryItem, position: int
             ) -> ComplaintRecord | None:
        """Set ``values`` (an ``answer`` encrypted here) and append ``entry`` at ``position`` when the complaint is
        still ``current``; None when someone moved it first."""
        doc = find_and_modify(tx[COMPLAINTS],
                              {"_id": complaint_id, "status": current},
                              {"$set": sealed_values(self.keys, complaint_id, values),
                               "$push": {"history": history_entry(self.keys, complaint_id, position, entry)}})
        return to_record(self.keys, doc) if doc else None

    def status(self, complaint_id: str, tx: Tx | None = None) -> str | None:
        doc = (tx if tx is not None else self.db)[COMPLAINTS].find_one({"_id": complaint_id}, {"status": 1})
        return doc["status"] if doc else None

    # reading -----------------------------------------------------------------------------------------------------
    def complaint(self, complaint_id: str) -> ComplaintRecord | None:
        doc = self.db[COMPLAINTS].find_one({"_id": complaint_id})
        return to_record(self.keys, doc) if doc else None

    def listing(self, *, account_id: str | None, patient_ids: list[str] | None, about: str | None,
                status: str | None, overdue_at: datetime | None, newest_first: bool, limit: int
                ) -> list[ComplaintRecord]:
        """Without texts. ``account_id``/``patient_ids``: those filed by the account or about those patients (a
        patient's list); ``overdue_at``: only open ones past their deadline then."""
        wanted: dict = {}
        if account_id is not None:
            wanted["$or"] = [{"account_id": account_id}, {"patient_id": {"$in": sorted(patient_ids or ())}}]
        if about is not None:
            wanted["about"] = about
        if status is not None:
            wanted["status"] = status
        if overdue_at is not None:
            wanted.setdefault("status", {"$in": list(OPEN)})
            wanted["due_at"] = {"$lt": overdue_at}
        order = ([("filed_at", DESCENDING), ("_id", DESCENDING)] if newest_first
                 else [("due_at", ASCENDING), ("_id", ASCENDING)])
        found = self.db[COMPLAINTS].find(wanted).sort(order).limit(limit)
        return [to_record(self.keys, doc, texts=False) for doc in found]

    # escalation --------------------------------------------------------------------------------------------------
    def overdue_at_level(self, current_level: int, threshold: datetime, batch: int) -> list[str]:
        """Open complaints due at or before ``threshold`` still at ``current_level``, the earliest first."""
        return [c["_id"] for c in self.db[COMPLAINTS].find(
            {"status": {"$in": list(OPEN)}, "due_at": {"$lte": threshold}, "escalation_level": current_level},
            {"_id": 1}).sort("due_at", ASCENDING).limit(batch)]

    def escalate(self, tx: Tx, complaint_id: str, level: int, threshold: datetime, now: datetime
                 ) -> ComplaintRecord | None:
        """Raise the complaint to ``level`` when it is still open, due by ``threshold`` and one level below;
        None when it was answered, closed or escalated by another process meanwhile."""
        doc = find_and_modify(tx[COMPLAINTS],
                              {"_id": complaint_id, "status": {"$in": list(OPEN)}, "due_at": {"$lte": threshold},
                               "escalation_level": level - 1},
                              {"$set": {"escalation_level": level, f"escalations.{level}": now}})
        return to_record(self.keys, doc, texts=False) if doc else None
