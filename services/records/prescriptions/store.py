"""Every MongoDB query of the prescriptions. A prescription is inserted once, signed; afterwards only its status,
its review and its validity change, each by a conditional update naming the state it changes from (a review only of
one pending review, an extension only to more days while it can still be dispensed, a lapse only of one still
pending after its validity). What was signed is kept encrypted exactly as it was hashed, so the stored hash can be
checked against it.

Of the encounters this store reads what the prescribing rules need (through the encounters' store) and counts a
prescription in its open encounter (the condition is the filter)."""
from __future__ import annotations

import json
from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from contracts.records.prescriptions import Guardian, PrescribedItem, PrescriptionStatus, Review
from services.records.prescriptions.rules import PrescriptionRecord
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read
from wenzhen.timez import to_local_iso

PRESCRIPTIONS = "prescriptions"
LIVE = [PrescriptionStatus.pending_review.value, PrescriptionStatus.took_effect.value]

INDEXES = [
    Index(PRESCRIPTIONS, [("status", ASCENDING), ("signed_at", ASCENDING)], name="review_queue"),
    Index(PRESCRIPTIONS, [("status", ASCENDING), ("valid_until", ASCENDING)], name="lapsing"),
    Index(PRESCRIPTIONS, [("patient_id", ASCENDING), ("supply_until", DESCENDING)], name="by_patient_supply"),
    Index(PRESCRIPTIONS, [("patient_id", ASCENDING), ("signed_at", DESCENDING)], name="by_patient"),
    Index(PRESCRIPTIONS, [("encounter_id", ASCENDING), ("signed_at", DESCENDING)], name="by_encounter"),
    Index(PRESCRIPTIONS, [("doctor_id", ASCENDING), ("signed_at", DESCENDING)], name="by_doctor"),
    Index(PRESCRIPTIONS, [("review.reviewer_id", ASCENDING), ("signed_at", DESCENDING)], name="by_reviewer"),
]


class PrescriptionStore(CapabilityStore):
    def _record(self, doc: dict | None) -> PrescriptionRecord | None:
        if doc is None:
            return None
        signed = json.loads(self.keys.decrypt(doc["signed"], field="signed", record=doc["_id"]))
        review = doc.get("review")
        if review:
            note = review.get("note")
            review = Review(reviewer_id=review["reviewer_id"], outcome=review["outcome"], reason=review.get("reason"),
                            note=self.keys.decrypt(note, field="review_note", record=doc["_id"]) if note else None,
                            at=to_local_iso(review["at"]))
        return PrescriptionRecord(
            id=doc["_id"], encounter_id=doc["encounter_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"],
            status=PrescriptionStatus(doc["status"]), kind=signed["kind"],
            items=tuple(PrescribedItem.model_validate(i) for i in signed["items"]),
            diagnoses=tuple((d["code"], d["name"]) for d in signed["diagnoses"]),
            longer_supply_reason=signed.get("longer_supply_reason"), stable_chronic=signed.get("stable_chronic", False),
            guardian=Guardian.model_validate(signed["guardian"]) if signed.get("guardian") else None,
            note=signed.get("note"), content_hash=doc["content_hash"], signed_at=doc["signed_at"],
            valid_until=doc["valid_until"], validity_days=doc["validity_days"], total_fen=doc["total_fen"],
            cold_chain=doc["cold_chain"], retention_years=doc["retention_years"], retain_until=doc["retain_until"],
            supply_until=doc["supply_until"], review=review, version=doc["version"])

    def insert(self, tx: Tx, rx: PrescriptionRecord, signed: dict) -> None:
        """``signed``: the document the hash was taken of, kept (encrypted) as it is."""
        tx[PRESCRIPTIONS].insert_one({
            "_id": rx.id, "encounter_id": rx.encounter_id, "patient_id": rx.patient_id, "doctor_id": rx.doctor_id,
            "status": rx.status.value,
            "signed": self.keys.encrypt(json.dumps(signed, ensure_ascii=False), field="signed", record=rx.id),
            "content_hash": rx.content_hash, "signed_at": rx.signed_at, "valid_until": rx.valid_until,
            "validity_days": rx.validity_days, "total_fen": rx.total_fen, "cold_chain": rx.cold_chain,
            "retention_years": rx.retention_years, "retain_until": rx.retain_until, "supply_until": rx.supply_until,
            "review": None, "version": rx.version})

    def prescription(self, prescription_id: str, tx: Tx | None = None) -> PrescriptionRecord | None:
        on = tx if tx is not None else self.db
        return self._record(on[PRESCRIPTIONS].find_one({"_id": prescription_id}))

    def signed_document(self, prescription_id: str) -> dict | None:
        """What was signed, as it was hashed (to check the stored hash)."""
        doc = self.db[PRESCRIPTIONS].find_one({"_id": prescription_id}, {"signed": 1})
        return json.loads(self.keys.decrypt(doc["signed"], field="signed", record=prescription_id)) if doc else None

    def prescriptions(self, *, patient_id: str | None = None, encounter_id: str | None = None,
                      doctor_id: str | None = None, reviewer_id: str | None = None, status: str | None = None,
                      oldest_first: bool = False, limit: int = 50) -> list[PrescriptionRecord]:
        query: dict = {}
        for field, value in (("patient_id", patient_id), ("encounter_id", encounter_id), ("doctor_id", doctor_id),
                             ("review.reviewer_id", reviewer_id), ("status", status)):
            if value is not None:
                query[field] = value
        order = ASCENDING if oldest_first else DESCENDING
        return [self._record(d) for d in self.db[PRESCRIPTIONS].find(query).sort("signed_at", order).limit(limit)]

    def retention_span(self, patient_id: str) -> tuple[int, datetime | None]:
        """How many prescriptions the patient has, and the latest end of their retention (index ``by_patient``)."""
        latest = self.db[PRESCRIPTIONS].find_one({"patient_id": patient_id}, {"retain_until": 1},
                                                 sort=[("retain_until", DESCENDING)])
        return (self.db[PRESCRIPTIONS].count_documents({"patient_id": patient_id}),
                latest["retain_until"] if latest else None)

    def current_items(self, patient_id: str, now: datetime) -> tuple[PrescribedItem, ...]:
        """Items of the patient's prescriptions that are, or may yet be, in effect and whose supply lasts (the
        index ``by_patient_supply``: a handful, however long the patient's history)."""
        docs = self.db[PRESCRIPTIONS].find({"patient_id": patient_id, "supply_until": {"$gt": now},
                                            "status": {"$in": LIVE}})
        return tuple(item for doc in docs for item in self._record(doc).items)

    def review(self, tx: Tx, prescription_id: str, status: PrescriptionStatus, review: dict,
               events: int) -> PrescriptionRecord | None:
        """Only one waiting for review (the condition is the filter: a second review loses)."""
        note = review.get("note")
        stored = {**review, "note": self.keys.encrypt(note, field="review_note", record=prescription_id)
                  if note else None}
        return self._record(update_and_read(
            tx[PRESCRIPTIONS], {"_id": prescription_id, "status": PrescriptionStatus.pending_review.value},
            {"$set": {"status": status.value, "review": stored}, "$inc": {"version": events}}))

    def extend(self, tx: Tx, prescription_id: str, days: int, valid_until: datetime,
               now: datetime) -> PrescriptionRecord | None:
        """Longer, never shorter, and only while it can still be dispensed."""
        return self._record(update_and_read(
            tx[PRESCRIPTIONS], {"_id": prescription_id, "validity_days": {"$lt": days}, "valid_until": {"$gt": now},
                                "status": {"$in": LIVE}},
            {"$set": {"validity_days": days, "valid_until": valid_until}}))

    def lapsing(self, now: datetime, limit: int) -> list[str]:
        """Ids of prescriptions still waiting for review after their validity (index ``lapsing``)."""
        return [d["_id"] for d in self.db[PRESCRIPTIONS].find(
            {"status": PrescriptionStatus.pending_review.value, "valid_until": {"$lte": now}}, {"_id": 1}).limit(limit)]

    def lapse(self, tx: Tx, prescription_id: str, now: datetime) -> PrescriptionRecord | None:
        return self._record(update_and_read(
            tx[PRESCRIPTIONS], {"_id": prescription_id, "status": PrescriptionStatus.pending_review.value,
                                "valid_until": {"$lte": now}},
            {"$set": {"status": PrescriptionStatus.lapsed.value}, "$inc": {"version": 1}}))
