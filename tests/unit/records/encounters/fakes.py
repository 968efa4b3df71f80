"""The encounters' store, in memory: the same named methods as ``EncounterStore`` over dicts, with the conditions of
the real conditional updates (a draft only while open and unsigned, a version only after the one before)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from contracts.records.encounters import EncounterStatus, ReportContent
from services.records.encounters.rules import (
    APPOINTMENT_CARE,
    ENDED_APPOINTMENT,
    EncounterRecord,
    KnownAppointment,
    SignedVersion,
)
from services.records.encounters.store import EncounterExists
from tests.fakes import FakeCapabilityStore


class FakeEncounterStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.encounters_: dict[str, EncounterRecord] = {}
        self.versions_: dict[str, list[SignedVersion]] = {}
        self.appointments: dict[str, KnownAppointment] = {}
        self.allergies_: dict[str, tuple[str, ...]] = {}
        self.blobs: dict[str, bytes] = {}
        self.files: dict[str, dict] = {}

    def insert_encounter(self, tx, e: EncounterRecord) -> None:
        if any(x.appointment_id == e.appointment_id for x in self.encounters_.values()):
            raise EncounterExists()
        self.encounters_[e.id] = e

    def encounter(self, encounter_id: str, tx=None) -> EncounterRecord | None:
        return self.encounters_.get(encounter_id)

    def appointment(self, appointment_id: str, tx=None) -> KnownAppointment | None:
        return self.appointments.get(appointment_id)

    def cares_for(self, doctor_id: str, patient_id: str, now: datetime) -> bool:
        return any(a.doctor_id == doctor_id and a.patient_id == patient_id and a.status not in ENDED_APPOINTMENT
                   and a.start is not None and a.start >= now - APPOINTMENT_CARE
                   for a in self.appointments.values()) or any(
            e.doctor_id == doctor_id and e.patient_id == patient_id and e.status == EncounterStatus.open
            for e in self.encounters_.values())

    def encounters(self, *, patient_id=None, doctor_id=None, status=None, limit=50) -> list[EncounterRecord]:
        found = [e for e in self.encounters_.values()
                 if all(want is None or have == want for have, want in (
                     (e.patient_id, patient_id), (e.doctor_id, doctor_id), (e.status.value, status)))]
        return sorted(found, key=lambda e: e.opened_at, reverse=True)[:limit]

    def save_draft(self, tx, encounter_id: str, content: ReportContent, now) -> EncounterRecord | None:
        e = self.encounters_.get(encounter_id)
        if e is None or e.status != EncounterStatus.open or e.signed_versions:
            return None
        self.encounters_[encounter_id] = replace(e, draft=content)
        return self.encounters_[encounter_id]

    def add_version(self, tx, encounter_id: str, signed: SignedVersion, *, close_draft: bool) -> EncounterRecord | None:
        e = self.encounters_.get(encounter_id)
        if e is None or e.signed_versions != signed.version - 1 or (close_draft and e.status != EncounterStatus.open):
            return None
        self.encounters_[encounter_id] = replace(e, signed_versions=signed.version, version=e.version + 1,
                                                 draft=None if close_draft else e.draft)
        self.versions_.setdefault(encounter_id, []).append(signed)
        return self.encounters_[encounter_id]

    def close(self, tx, encounter_id: str, now) -> EncounterRecord | None:
        e = self.encounters_.get(encounter_id)
        if e is None or e.status != EncounterStatus.open:
            return None
        self.encounters_[encounter_id] = replace(e, status=EncounterStatus.closed, closed_at=now, version=e.version + 1)
        return self.encounters_[encounter_id]

    def versions(self, encounter_id: str) -> list[SignedVersion]:
        return list(self.versions_.get(encounter_id, []))

    def put_attachment(self, attachment_id: str, data: bytes):
        self.blobs[attachment_id] = data
        return "k1", attachment_id

    def insert_attachment(self, tx, encounter_id: str, attachment, kid, blob_id, added_at) -> None:
        self.files[attachment.id] = {"_id": attachment.id, "encounter_id": encounter_id, "name": attachment.name,
                                     "content_type": attachment.content_type, "size": attachment.size,
                                     "added_by": attachment.added_by, "added_at": added_at, "blob_id": blob_id,
                                     "from_consultation": attachment.from_consultation}

    def attachments(self, encounter_id: str):
        return [(d, d["added_at"]) for d in self.files.values() if d["encounter_id"] == encounter_id]

    def read_attachment(self, encounter_id: str, attachment_id: str):
        doc = self.files.get(attachment_id)
        if doc is None or doc["encounter_id"] != encounter_id:
            return None
        return doc, self.blobs[doc["blob_id"]]

    def allergies(self, patient_id: str, tx=None) -> tuple[str, ...]:
        return self.allergies_.get(patient_id, ())

    def add_allergies(self, tx, patient_id: str, substances: list[str], now) -> None:
        self.allergies_[patient_id] = tuple(sorted({*self.allergies(patient_id), *substances}))
