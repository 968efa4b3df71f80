"""Complaints' store, in memory: the same named methods as ``ComplaintStore`` over a dict of documents (as the real
store builds them: ``store.complaint_document``, read back by ``store.to_record``, so the texts are encrypted).
``interleave`` runs once just before the next transaction: another process's write between a read and a write."""
from __future__ import annotations

from datetime import datetime

from services.intake.complaints import store as real
from services.intake.complaints.rules import OPEN, ComplaintRecord, HistoryItem
from tests.fakes import FakeCapabilityStore
from tests.unit.intake.fakes import KEYS, CountedLimits
from wenzhen.crypto import Keyring
from wenzhen.timez import as_utc


class FakeComplaintStore(CountedLimits, FakeCapabilityStore):
    _RECORDS = (*FakeCapabilityStore._RECORDS, "patients", "interleave")  # not the complaints' own state

    def __init__(self, keys: Keyring = KEYS) -> None:
        FakeCapabilityStore.__init__(self)
        CountedLimits.__init__(self)
        self.keys = keys
        self.docs: dict[str, dict] = {}
        self.interleave = None

    def transact(self, body):
        if self.interleave is not None:
            other, self.interleave = self.interleave, None
            other()
        return super().transact(body)

    def insert(self, tx, record: ComplaintRecord) -> None:
        self.docs[record.id] = real.complaint_document(self.keys, record)

    def move(self, tx, complaint_id, current, values, entry: HistoryItem, position) -> ComplaintRecord | None:
        doc = self.docs.get(complaint_id)
        if doc is None or doc["status"] != current:
            return None
        doc.update(real.sealed_values(self.keys, complaint_id, values))
        doc["history"].append(real.history_entry(self.keys, complaint_id, position, entry))
        return real.to_record(self.keys, doc)

    def status(self, complaint_id, tx=None) -> str | None:
        return self.docs[complaint_id]["status"] if complaint_id in self.docs else None

    def complaint(self, complaint_id) -> ComplaintRecord | None:
        return real.to_record(self.keys, self.docs[complaint_id]) if complaint_id in self.docs else None

    def listing(self, *, account_id, patient_ids, about, status, overdue_at, newest_first, limit):
        found = [d for d in self.docs.values()
                 if (account_id is None or d["account_id"] == account_id or d["patient_id"] in (patient_ids or ()))
                 and about in (None, d["about"]) and (status is None or d["status"] == status)
                 and (overdue_at is None or (d["status"] in OPEN and as_utc(d["due_at"]) < as_utc(overdue_at)))]
        if newest_first:
            found.sort(key=lambda d: (d["filed_at"], d["_id"]), reverse=True)
        else:
            found.sort(key=lambda d: (d["due_at"], d["_id"]))
        return [real.to_record(self.keys, d, texts=False) for d in found[:limit]]

    def overdue_at_level(self, current_level, threshold: datetime, batch) -> list[str]:
        found = [d for d in self.docs.values() if d["status"] in OPEN and as_utc(d["due_at"]) <= as_utc(threshold)
                 and d["escalation_level"] == current_level]
        return [d["_id"] for d in sorted(found, key=lambda d: d["due_at"])[:batch]]

    def escalate(self, tx, complaint_id, level, threshold, now) -> ComplaintRecord | None:
        doc = self.docs.get(complaint_id)
        if doc is None or doc["status"] not in OPEN or as_utc(doc["due_at"]) > as_utc(threshold) \
                or doc["escalation_level"] != level - 1:
            return None
        doc["escalation_level"] = level
        doc["escalations"][str(level)] = now
        return real.to_record(self.keys, doc, texts=False)
