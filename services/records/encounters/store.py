"""Every MongoDB query of the encounters: the encounters, their signed report versions (inserted, never updated),
their attachments (in GridFS), and what records keeps of booking's appointments. The draft, every version's content
and every attachment's bytes are encrypted here, on the way in, and decrypted on the way out."""
from __future__ import annotations

import json
from datetime import datetime

import gridfs
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.records.encounters import EncounterAttachment, EncounterMode, EncounterStatus, ReportContent
from services.records.encounters.rules import (
    APPOINTMENT_CARE,
    ENDED_APPOINTMENT,
    EncounterRecord,
    KnownAppointment,
    SignedVersion,
)
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read

ENCOUNTERS = "encounters"
VERSIONS = "report_versions"  # _id "<encounter id>:<version>": one document per signed version, never changed
APPOINTMENTS = "appointments"  # records' copy of booking's appointments
ALLERGIES = "allergies"  # _id patient id: every drug allergy a signed report of the patient recorded (encrypted)
FILES = "encounter_files"  # an attachment's description; its bytes, encrypted, in the GridFS bucket below
BUCKET = "encounter_file_blobs"

INDEXES = [
    Index(ENCOUNTERS, [("appointment_id", ASCENDING)], unique=True, name="one_per_appointment",
          options={"partialFilterExpression": {"appointment_id": {"$type": "string"}}}),
    Index(ENCOUNTERS, [("patient_id", ASCENDING), ("opened_at", DESCENDING)], name="by_patient"),
    Index(ENCOUNTERS, [("doctor_id", ASCENDING), ("opened_at", DESCENDING)], name="by_doctor"),
    Index(ENCOUNTERS, [("patient_id", ASCENDING), ("doctor_id", ASCENDING)], name="care"),
    Index(VERSIONS, [("encounter_id", ASCENDING), ("version", ASCENDING)], unique=True, name="by_encounter"),
    Index(APPOINTMENTS, [("patient_id", ASCENDING), ("doctor_id", ASCENDING), ("start", DESCENDING)], name="care"),
    Index(FILES, [("encounter_id", ASCENDING), ("added_at", ASCENDING)], name="by_encounter"),
]


class EncounterExists(Exception):
    """The appointment has an encounter already."""


class EncounterStore(CapabilityStore):
    def _seal(self, content: ReportContent, field: str, record: str) -> dict:
        return self.keys.encrypt(content.model_dump_json(), field=field, record=record)

    def _open(self, sealed: dict, field: str, record: str) -> ReportContent:
        return ReportContent.model_validate(json.loads(self.keys.decrypt(sealed, field=field, record=record)))

    def _record(self, doc: dict | None) -> EncounterRecord | None:
        if doc is None:
            return None
        draft = self._open(doc["draft"], "draft", doc["_id"]) if doc.get("draft") else None
        return EncounterRecord(
            id=doc["_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"],
            appointment_id=doc.get("appointment_id"), department=doc["department"], mode=EncounterMode(doc["mode"]),
            online=doc["online"], follow_up=doc["follow_up"], prior_in_person_diagnosis=doc["prior_in_person"],
            status=EncounterStatus(doc["status"]), opened_at=doc["opened_at"], closed_at=doc.get("closed_at"),
            draft=draft, signed_versions=doc.get("signed_versions", 0), prescriptions=doc.get("prescriptions", 0),
            version=doc.get("version", 1), consultation_id=doc.get("consultation_id"))

    # encounters ----------------------------------------------------------------------------------------------------
    def insert_encounter(self, tx: Tx, e: EncounterRecord) -> None:
        try:
            tx[ENCOUNTERS].insert_one({
                "_id": e.id, "patient_id": e.patient_id, "doctor_id": e.doctor_id, "appointment_id": e.appointment_id,
                "department": e.department, "mode": e.mode.value, "online": e.online, "follow_up": e.follow_up,
                "prior_in_person": e.prior_in_person_diagnosis, "status": e.status.value, "opened_at": e.opened_at,
                "closed_at": None, "draft": None, "signed_versions": 0, "prescriptions": 0, "version": e.version,
                "consultation_id": e.consultation_id})
        except DuplicateKeyError:
            raise EncounterExists() from None

    def encounter(self, encounter_id: str, tx: Tx | None = None) -> EncounterRecord | None:
        return self._record(self._on(tx)[ENCOUNTERS].find_one({"_id": encounter_id}))

    def encounter_of_appointment(self, appointment_id: str) -> EncounterRecord | None:
        return self._record(self.db[ENCOUNTERS].find_one({"appointment_id": appointment_id}))

    def cares_for(self, doctor_id: str, patient_id: str, now: datetime) -> bool:
        return cares_for(self.db, doctor_id, patient_id, now)

    def encounters(self, *, patient_id: str | None = None, doctor_id: str | None = None, status: str | None = None,
                   limit: int = 50) -> list[EncounterRecord]:
        query: dict = {}
        if patient_id is not None:
            query["patient_id"] = patient_id
        if doctor_id is not None:
            query["doctor_id"] = doctor_id
        if status is not None:
            query["status"] = status
        return [self._record(d) for d in self.db[ENCOUNTERS].find(query).sort("opened_at", DESCENDING).limit(limit)]

    def span(self, patient_id: str) -> tuple[int, datetime | None]:
        """How many encounters the patient has, and when the newest opened (index ``by_patient``)."""
        newest = self.db[ENCOUNTERS].find_one({"patient_id": patient_id}, {"opened_at": 1},
                                              sort=[("opened_at", DESCENDING)])
        return self.db[ENCOUNTERS].count_documents({"patient_id": patient_id}), newest["opened_at"] if newest else None

    def save_draft(self, tx: Tx, encounter_id: str, content: ReportContent, now: datetime) -> EncounterRecord | None:
        """Only while open and unsigned (the condition is the filter)."""
        return self._record(update_and_read(
            tx[ENCOUNTERS], {"_id": encounter_id, "status": EncounterStatus.open.value, "signed_versions": 0},
            {"$set": {"draft": self._seal(content, "draft", encounter_id), "draft_at": now}}))

    def add_version(self, tx: Tx, encounter_id: str, signed: SignedVersion, *, close_draft: bool) -> \
            EncounterRecord | None:
        """Move ``signed_versions`` from the version before to this one (a conditional update: a concurrent signature
        or amendment loses), then insert the version. Signing also drops the draft and needs the encounter open."""
        match: dict = {"_id": encounter_id, "signed_versions": signed.version - 1}
        update: dict = {"$set": {"signed_versions": signed.version}, "$inc": {"version": 1}}
        if close_draft:
            match["status"] = EncounterStatus.open.value
            update["$set"]["draft"] = None
        after = self._record(update_and_read(tx[ENCOUNTERS], match, update))
        if after is None:
            return None
        record = f"{encounter_id}:{signed.version}"
        tx[VERSIONS].insert_one({
            "_id": record, "encounter_id": encounter_id, "version": signed.version,
            "content": self._seal(signed.content, "content", record), "content_hash": signed.content_hash,
            "signed_by": signed.signed_by, "signed_at": signed.signed_at, "reason": signed.reason})
        return after

    def close(self, tx: Tx, encounter_id: str, now: datetime) -> EncounterRecord | None:
        return self._record(update_and_read(
            tx[ENCOUNTERS], {"_id": encounter_id, "status": EncounterStatus.open.value},
            {"$set": {"status": EncounterStatus.closed.value, "closed_at": now}, "$inc": {"version": 1}}))

    def count_prescription(self, tx: Tx, encounter_id: str) -> EncounterRecord | None:
        """A prescription is signed in an open encounter only (the condition is the filter); None when it closed."""
        return self._record(update_and_read(tx[ENCOUNTERS], {"_id": encounter_id, "status": EncounterStatus.open.value},
                                            {"$inc": {"prescriptions": 1}}))

    def versions(self, encounter_id: str) -> list[SignedVersion]:
        return [SignedVersion(encounter_id=d["encounter_id"], version=d["version"],
                              content=self._open(d["content"], "content", d["_id"]), content_hash=d["content_hash"],
                              signed_by=d["signed_by"], signed_at=d["signed_at"], reason=d.get("reason"))
                for d in self.db[VERSIONS].find({"encounter_id": encounter_id}).sort("version", ASCENDING)]

    # attachments: inserted once, never changed or deleted ------------------------------------------------------
    def _bucket(self) -> gridfs.GridFSBucket:
        return gridfs.GridFSBucket(self.db.db, bucket_name=BUCKET)

    def put_attachment(self, attachment_id: str, data: bytes) -> tuple[str, object]:
        """The encrypted bytes (before the description is written in the transaction: an upload the transaction
        then refuses leaves an orphan blob nobody can reach, never a description without its bytes)."""
        kid, blob = self.keys.encrypt_bytes(data, field="attachment", record=attachment_id)
        return kid, self._bucket().upload_from_stream(attachment_id, blob)

    def insert_attachment(self, tx: Tx, encounter_id: str, attachment: EncounterAttachment, kid: str, blob_id,
                          added_at: datetime) -> None:
        tx[FILES].insert_one({"_id": attachment.id, "encounter_id": encounter_id, "name": attachment.name,
                              "content_type": attachment.content_type, "size": attachment.size, "kid": kid,
                              "blob_id": blob_id, "added_by": attachment.added_by, "added_at": added_at,
                              "from_consultation": attachment.from_consultation})

    def attachments(self, encounter_id: str) -> list[tuple[dict, datetime]]:
        return [(d, d["added_at"]) for d in self.db[FILES].find({"encounter_id": encounter_id}).sort("added_at",
                                                                                                   ASCENDING)]

    def read_attachment(self, encounter_id: str, attachment_id: str) -> tuple[dict, bytes] | None:
        doc = self.db[FILES].find_one({"_id": attachment_id, "encounter_id": encounter_id})
        if doc is None:
            return None
        blob = self._bucket().open_download_stream(doc["blob_id"]).read()
        return doc, self.keys.decrypt_bytes(doc["kid"], blob, field="attachment", record=attachment_id)

    # the patient's allergies -------------------------------------------------------------------------------------
    def allergies(self, patient_id: str, tx: Tx | None = None) -> tuple[str, ...]:
        return allergies_of(self._on(tx), self.keys, patient_id)

    def add_allergies(self, tx: Tx, patient_id: str, substances: list[str], now: datetime) -> None:
        """Read and written in the signing transaction: a concurrent addition is a write conflict (retried), so
        none is lost; an allergy once recorded stays (a correction of the report does not unlearn it)."""
        known = self.allergies(patient_id, tx)
        merged = sorted({*known, *substances})
        if len(merged) == len(known):
            return
        sealed = self.keys.encrypt(json.dumps(merged), field="substances", record=patient_id)
        tx[ALLERGIES].update_one({"_id": patient_id}, {"$set": {"substances": sealed, "updated_at": now}},
                                 upsert=True)

    # booking's appointments ----------------------------------------------------------------------------------------
    def appointment(self, appointment_id: str, tx: Tx | None = None) -> KnownAppointment | None:
        """None until booking's ``appointment_booked`` has been heard (a status heard first waits for it)."""
        doc = self._on(tx)[APPOINTMENTS].find_one({"_id": appointment_id})
        if doc is None or "kind" not in doc:
            return None
        return KnownAppointment(id=doc["_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"],
                                department=doc["department"], service=doc["service"], kind=doc["kind"],
                                online=doc["online"], status=doc.get("status", "held"), start=doc.get("start"),
                                consultation_id=doc.get("consultation_id"), sequence=doc.get("sequence"))

    def save_appointment_facts(self, tx: Tx, a: KnownAppointment, now: datetime) -> None:
        """Who, with whom, what kind of visit: the same in every event of the appointment."""
        tx[APPOINTMENTS].update_one({"_id": a.id}, {"$set": {
            "patient_id": a.patient_id, "doctor_id": a.doctor_id, "department": a.department, "service": a.service,
            "kind": a.kind, "online": a.online, "consultation_id": a.consultation_id, "updated_at": now}},
            upsert=True)

    def save_appointment_state(self, tx: Tx, appointment_id: str, patient_id: str, doctor_id: str, status: str,
                               start: datetime, sequence: int | None) -> None:
        """The status and start of the newest event heard (events may arrive out of order: an older one loses).
        Read and written in the consumer's transaction, so a concurrent write to the same appointment is a conflict
        (retried), never a lost update."""
        known = tx[APPOINTMENTS].find_one({"_id": appointment_id}, {"sequence": 1})
        if known is not None and sequence is not None and (known.get("sequence") or 0) >= sequence:
            return
        tx[APPOINTMENTS].update_one({"_id": appointment_id}, {"$set": {
            "patient_id": patient_id, "doctor_id": doctor_id, "status": status, "start": start,
            "sequence": sequence}}, upsert=True)


def cares_for(db, doctor_id: str, patient_id: str, now: datetime) -> bool:
    """The care relationship that lets a doctor read a patient's record: an appointment with the patient from its
    booking until ``APPOINTMENT_CARE`` after its start (not one that was cancelled or missed), or an open encounter
    of their own with the patient. Two indexed lookups (``care`` on each collection)."""
    if db[APPOINTMENTS].find_one({"patient_id": patient_id, "doctor_id": doctor_id,
                                  "start": {"$gte": now - APPOINTMENT_CARE},
                                  "status": {"$nin": sorted(ENDED_APPOINTMENT)}}, {"_id": 1}) is not None:
        return True
    return db[ENCOUNTERS].find_one({"patient_id": patient_id, "doctor_id": doctor_id, "status": "open"},
                                   {"_id": 1}) is not None


def allergies_of(db, keys: Keyring, patient_id: str) -> tuple[str, ...]:
    """The patient's recorded drug allergies (``db``: the database or a transaction)."""
    doc = db[ALLERGIES].find_one({"_id": patient_id})
    if doc is None:
        return ()
    return tuple(json.loads(keys.decrypt(doc["substances"], field="substances", record=patient_id)))


def encounter_exists(appointment_id: str) -> Conflict:
    return Conflict(f"Appointment {appointment_id} has an encounter already.",
                    [field_error("appointment_id", "has an encounter already", "duplicate")])
