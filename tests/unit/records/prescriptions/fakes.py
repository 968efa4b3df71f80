"""The prescriptions' store and their clinical context, in memory: the same named methods as ``PrescriptionStore`` and
``ClinicalContext`` over dicts, with the conditions of the real conditional updates."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from contracts.records.prescriptions import PrescriptionStatus, Review
from services.records.encounters.rules import EncounterRecord
from services.records.prescriptions.rules import PrescriptionRecord
from tests.fakes import FakeCapabilityStore
from wenzhen.timez import to_local_iso

LIVE = (PrescriptionStatus.pending_review, PrescriptionStatus.took_effect)


class FakePrescriptionStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.rxs: dict[str, PrescriptionRecord] = {}
        self.signed: dict[str, dict] = {}

    def insert(self, tx, rx: PrescriptionRecord, signed: dict) -> None:
        assert rx.id not in self.rxs
        self.rxs[rx.id], self.signed[rx.id] = rx, signed

    def prescription(self, prescription_id: str, tx=None) -> PrescriptionRecord | None:
        return self.rxs.get(prescription_id)

    def signed_document(self, prescription_id: str) -> dict | None:
        return self.signed.get(prescription_id)

    def prescriptions(self, *, patient_id=None, encounter_id=None, doctor_id=None, reviewer_id=None, status=None,
                      oldest_first=False, limit=50) -> list[PrescriptionRecord]:
        found = [rx for rx in self.rxs.values()
                 if all(want is None or have == want for have, want in (
                     (rx.patient_id, patient_id), (rx.encounter_id, encounter_id), (rx.doctor_id, doctor_id),
                     (rx.review.reviewer_id if rx.review else None, reviewer_id), (rx.status.value, status)))]
        return sorted(found, key=lambda rx: (rx.signed_at, rx.id), reverse=not oldest_first)[:limit]

    def current_items(self, patient_id: str, now: datetime):
        return tuple(i for rx in self.rxs.values() if rx.patient_id == patient_id and rx.supply_until > now
                     and rx.status in LIVE for i in rx.items)

    def review(self, tx, prescription_id, status, review: dict, events: int) -> PrescriptionRecord | None:
        rx = self.rxs.get(prescription_id)
        if rx is None or rx.status != PrescriptionStatus.pending_review:
            return None
        self.rxs[rx.id] = replace(rx, status=status, version=rx.version + events, review=Review(
            **{**review, "at": to_local_iso(review["at"])}))
        return self.rxs[rx.id]

    def extend(self, tx, prescription_id, days, valid_until, now) -> PrescriptionRecord | None:
        rx = self.rxs.get(prescription_id)
        if rx is None or rx.validity_days >= days or rx.valid_until <= now or rx.status not in LIVE:
            return None
        self.rxs[rx.id] = replace(rx, validity_days=days, valid_until=valid_until)
        return self.rxs[rx.id]

    def lapsing(self, now: datetime, limit: int) -> list[str]:
        return [rx.id for rx in self.rxs.values()
                if rx.status == PrescriptionStatus.pending_review and rx.valid_until <= now][:limit]

    def lapse(self, tx, prescription_id, now) -> PrescriptionRecord | None:
        rx = self.rxs.get(prescription_id)
        if rx is None or rx.status != PrescriptionStatus.pending_review or rx.valid_until > now:
            return None
        self.rxs[rx.id] = replace(rx, status=PrescriptionStatus.lapsed, version=rx.version + 1)
        return self.rxs[rx.id]


class FakeClinical:
    """``ClinicalContext``: encounters by id, who cares for whom, allergies on record."""

    def __init__(self, *encounters: EncounterRecord) -> None:
        self.encounters = {e.id: e for e in encounters}
        self.caring: set[tuple[str, str]] = set()  # (doctor, patient)
        self.allergies_: dict[str, tuple[str, ...]] = {}

    def encounter(self, encounter_id: str) -> EncounterRecord | None:
        return self.encounters.get(encounter_id)

    def cares_for(self, principal, patient_id: str, now) -> bool:
        return (principal.sub, patient_id) in self.caring and principal.role == "doctor"

    def allergies(self, patient_id: str) -> tuple[str, ...]:
        return self.allergies_.get(patient_id, ())

    def count_prescription(self, tx, encounter_id: str) -> EncounterRecord | None:
        encounter = self.encounters.get(encounter_id)
        if encounter is None or encounter.status != "open":
            return None
        self.encounters[encounter_id] = replace(encounter, prescriptions=encounter.prescriptions + 1)
        return self.encounters[encounter_id]
