"""The encounters' operations (authorize → store → emit → audit), the facts records keeps of booking's appointments,
and what the other capabilities of records may ask of encounters (:class:`ClinicalContext`)."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from contracts.records.encounters import (
    MAX_ATTACHMENT_BYTES,
    AmendmentRequest,
    ChatAttachmentRequest,
    Encounter,
    EncounterAttachment,
    EncounterQuery,
    EncounterRequest,
    ReportContent,
    ReportVersion,
)
from contracts.records.events import EncounterClosed, EncounterOpened, RecordAmended, ReportSigned
from services.records import scope
from services.records.encounters import rules
from services.records.encounters.rules import ENTITY, EncounterRecord, KnownAppointment, SignedVersion
from services.records.encounters.store import EncounterExists, EncounterStore, encounter_exists
from services.records.signing import content_hash
from wenzhen import audit, files, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import to_local_iso

ActiveCodes = Callable[[Iterable[str]], Collection[str]]  # which of these ICD-10 codes are active in the list
AskBooking = Callable[[str], KnownAppointment | None]  # booking's answer about an appointment records has not heard of


# facts records keeps of booking's appointments ----------------------------------------------------------------------
def record_appointment(store: EncounterStore, tx: Tx, appointment: KnownAppointment, now: datetime) -> None:
    """From ``appointment_booked``: who, with whom, what kind of visit (never changes), and its state."""
    store.save_appointment_facts(tx, appointment, now)
    record_state(store, tx, appointment, appointment.status)


def record_state(store: EncounterStore, tx: Tx, appointment: KnownAppointment, status: str) -> None:
    """From any later event of the appointment: its status and start, if newer than what records has."""
    store.save_appointment_state(tx, appointment.id, appointment.patient_id, appointment.doctor_id, status,
                                 appointment.start, appointment.sequence)


# what other capabilities ask of encounters --------------------------------------------------------------------------
class ClinicalContext:
    """The narrow interface prescriptions, results and patient logs use: an encounter as the prescribing rules see
    it, whether a doctor cares for a patient now, the allergies on record, and a prescription counted in its open
    encounter."""

    def __init__(self, store: EncounterStore) -> None:
        self._store = store

    def encounter(self, encounter_id: str) -> EncounterRecord | None:
        return self._store.encounter(encounter_id)

    def cares_for(self, principal: Principal, patient_id: str, now: datetime) -> bool:
        return principal.has_role(Role.doctor) and self._store.cares_for(principal.sub, patient_id, now)

    def allergies(self, patient_id: str) -> tuple[str, ...]:
        return self._store.allergies(patient_id)

    def count_prescription(self, tx: Tx, encounter_id: str) -> EncounterRecord | None:
        return self._store.count_prescription(tx, encounter_id)


# reading -------------------------------------------------------------------------------------------------------------
def view(store: EncounterStore, encounter: EncounterRecord, caller: Caller) -> Encounter:
    """The encounter with its signed versions; the draft only for its doctor (a patient sees what was signed)."""
    author = caller.principal.sub == encounter.doctor_id
    versions = store.versions(encounter.id) if encounter.signed_versions else []
    return Encounter(
        id=encounter.id, patient_id=encounter.patient_id, doctor_id=encounter.doctor_id,
        appointment_id=encounter.appointment_id, consultation_id=encounter.consultation_id,
        department=encounter.department, mode=encounter.mode, online=encounter.online, follow_up=encounter.follow_up,
        prior_in_person_diagnosis=encounter.prior_in_person_diagnosis, status=encounter.status,
        opened_at=to_local_iso(encounter.opened_at),
        closed_at=to_local_iso(encounter.closed_at) if encounter.closed_at else None,
        draft=encounter.draft if author else None,
        report=[ReportVersion(version=v.version, content=v.content, content_hash=v.content_hash,
                              signed_by=v.signed_by, signed_at=to_local_iso(v.signed_at), reason=v.reason)
                for v in versions],
        attachments=[_attachment(doc) for doc, _at in store.attachments(encounter.id)])


def _attachment(doc: dict) -> EncounterAttachment:
    return EncounterAttachment(id=doc["_id"], name=doc["name"], content_type=doc["content_type"], size=doc["size"],
                               added_by=doc["added_by"], added_at=to_local_iso(doc["added_at"]),
                               from_consultation=doc.get("from_consultation"))


def _may_see(store: EncounterStore, caller: Caller, encounter: EncounterRecord, now: datetime) -> bool:
    p = caller.principal
    if rules.sees(p, encounter):
        return True
    return p.has_role(Role.doctor) and store.cares_for(p.sub, encounter.patient_id, now)


def authorized(store: EncounterStore, caller: Caller, encounter_id: str, action: str, subtype: str,
               now: datetime) -> EncounterRecord:
    """The encounter when the caller may see it; otherwise the refusal is audited and a 404 raised (a missing one
    and another's are not told apart)."""
    encounter = store.encounter(encounter_id)
    if encounter is None or not _may_see(store, caller, encounter, now):
        audit.record(store, caller, action, subtype, ENTITY, encounter_id,
                     patient_id=encounter.patient_id if encounter else None, outcome=Outcome.denied)
        raise rules.not_found(encounter_id)
    return encounter


def get_encounter(store: EncounterStore, caller: Caller, encounter_id: str, now: datetime) -> Encounter:
    encounter = authorized(store, caller, encounter_id, READ, "read", now)
    audit.record(store, caller, READ, "read", ENTITY, encounter_id, patient_id=encounter.patient_id)
    return view(store, encounter, caller)


def list_encounters(store: EncounterStore, caller: Caller, query: EncounterQuery, now: datetime) -> list[Encounter]:
    """A patient: a record they act for. A doctor: their own encounters, or one patient's while they care for the
    patient. Each listing is one audit entry naming the patient (or the doctor's own list)."""
    p = caller.principal
    status = query.status.value if query.status else None

    def refuse(message: str):
        audit.record(store, caller, READ, "list", ENTITY, None, patient_id=query.patient_id, outcome=Outcome.denied)
        raise Forbidden(message)

    why = scope.listing_refusal(p, query.patient_id, lambda: store.cares_for(p.sub, query.patient_id, now),
                                "encounters")
    if why:
        refuse(why)
    own = p.has_role(Role.doctor) and query.patient_id is None
    found = store.encounters(patient_id=query.patient_id, doctor_id=p.sub if own else None, status=status,
                             limit=query.limit)
    audit.record(store, caller, READ, "list", ENTITY, None, patient_id=query.patient_id, detail=f"{len(found)} found")
    return [view(store, e, caller) for e in found]


# writing -------------------------------------------------------------------------------------------------------------
def open_encounter(store: EncounterStore, caller: Caller, request: EncounterRequest, ask_booking: AskBooking,
                   now: datetime) -> Encounter:
    """The appointment's doctor, once per appointment. An appointment records has not heard of yet (its event is on
    the way) is asked of booking."""
    rules.require_doctor(caller.principal)
    known = store.appointment(request.appointment_id) or ask_booking(request.appointment_id)
    appointment = rules.may_open(caller.principal, known, request.appointment_id)
    encounter = rules.new_encounter(ids.new_id("enc"), appointment, rules.visit_mode(appointment, request.mode), now)

    def body(tx: Tx) -> None:
        store.insert_encounter(tx, encounter)
        tx.emit(EncounterOpened(encounter_id=encounter.id, patient_id=encounter.patient_id,
                                doctor_id=encounter.doctor_id, appointment_id=encounter.appointment_id,
                                mode=encounter.mode.value, follow_up=encounter.follow_up,
                                department=encounter.department), subject=encounter.id, version=1)
        audit.record(tx, caller, CREATE, "open", ENTITY, encounter.id, patient_id=encounter.patient_id,
                     detail=f"appointment {appointment.id}")

    try:
        store.transact(body)
    except EncounterExists:
        raise encounter_exists(request.appointment_id) from None
    return view(store, encounter, caller)


def _writable(store: EncounterStore, caller: Caller, encounter_id: str, subtype: str,
              now: datetime) -> EncounterRecord:
    encounter = authorized(store, caller, encounter_id, UPDATE, subtype, now)
    rules.require_author(caller.principal, encounter)
    return encounter


def save_draft(store: EncounterStore, caller: Caller, encounter_id: str, content: ReportContent,
               now: datetime) -> Encounter:
    encounter = _writable(store, caller, encounter_id, "draft", now)
    rules.require_open(encounter)
    rules.require_unsigned(encounter)

    def body(tx: Tx) -> EncounterRecord:
        saved = store.save_draft(tx, encounter_id, content, now)
        if saved is None:
            raise Conflict(f"Encounter {encounter_id} was signed or closed meanwhile.")
        audit.record(tx, caller, UPDATE, "draft", ENTITY, encounter_id, patient_id=encounter.patient_id)
        return saved

    return view(store, store.transact(body), caller)


ChatFile = Callable[[str, str, str], tuple[str, bytes]]  # (consultation, file, patient) -> intake's (name, bytes)


def add_attachment(store: EncounterStore, caller: Caller, encounter_id: str, data: bytes, name: str | None,
                   now: datetime) -> EncounterAttachment:
    """An image or a PDF the encounter's doctor keeps with it while it is open (the kind read from its bytes);
    encrypted at rest, never deleted."""
    encounter = _writable(store, caller, encounter_id, "attach", now)
    rules.require_open(encounter)
    return _keep(store, caller, encounter, data, name, None, now)


def attach_from_chat(store: EncounterStore, caller: Caller, encounter_id: str, request: ChatAttachmentRequest,
                     chat_file: ChatFile, now: datetime) -> EncounterAttachment:
    """A photo or a PDF the patient shared in a consultation, kept in the record (intake answers for the same
    patient's chat only); a chat's video is not kept here (422)."""
    encounter = _writable(store, caller, encounter_id, "attach", now)
    rules.require_open(encounter)
    name, data = chat_file(request.consultation_id, request.attachment_id, encounter.patient_id)
    return _keep(store, caller, encounter, data, name, request.consultation_id, now)


def _keep(store: EncounterStore, caller: Caller, encounter: EncounterRecord, data: bytes, name: str | None,
          consultation_id: str | None, now: datetime) -> EncounterAttachment:
    content_type, _kind = files.check(data, MAX_ATTACHMENT_BYTES, kinds=("image", "file"))
    attachment = EncounterAttachment(id=ids.new_id("doc"), name=files.clean_name(name, content_type),
                                     content_type=content_type, size=len(data), added_by=caller.principal.sub,
                                     added_at=to_local_iso(now), from_consultation=consultation_id)
    kid, blob_id = store.put_attachment(attachment.id, data)
    source = f" from {consultation_id}" if consultation_id else ""

    def body(tx: Tx) -> None:
        store.insert_attachment(tx, encounter.id, attachment, kid, blob_id, now)
        audit.record(tx, caller, CREATE, "attach", ENTITY, encounter.id, patient_id=encounter.patient_id,
                     detail=f"{attachment.id} {content_type}{source}")

    store.transact(body)
    return attachment


def read_attachment(store: EncounterStore, caller: Caller, encounter_id: str, attachment_id: str,
                    now: datetime) -> tuple[EncounterAttachment, bytes]:
    """Whoever may read the encounter; each download audited."""
    encounter = authorized(store, caller, encounter_id, READ, "download", now)
    found = store.read_attachment(encounter_id, attachment_id)
    if found is None:
        raise NotFound(f"No attachment {attachment_id} in encounter {encounter_id}.")
    doc, data = found
    audit.record(store, caller, READ, "download", ENTITY, encounter_id, patient_id=encounter.patient_id,
                 detail=attachment_id)
    return _attachment(doc), data


def _codes_of(content: ReportContent | None) -> list[str]:
    return [d.code for d in content.diagnoses] if content else []


def sign(store: EncounterStore, caller: Caller, encounter_id: str, active_codes: ActiveCodes,
         now: datetime) -> Encounter:
    """The draft becomes version 1, hashed and immutable; the event tells booking of any follow-up advised."""
    encounter = _writable(store, caller, encounter_id, "sign", now)
    rules.require_open(encounter)
    rules.require_unsigned(encounter)
    content = rules.require_signable(encounter.draft, active_codes(_codes_of(encounter.draft)))
    signed = SignedVersion(encounter_id=encounter_id, version=1, content=content,
                           content_hash=content_hash(content.model_dump(mode="json")), signed_by=caller.principal.sub,
                           signed_at=now)

    def body(tx: Tx) -> EncounterRecord:
        after = store.add_version(tx, encounter_id, signed, close_draft=True)
        if after is None:
            raise Conflict(f"Encounter {encounter_id} was signed or closed meanwhile.")
        store.add_allergies(tx, after.patient_id, content.allergies, now)
        tx.emit(ReportSigned(encounter_id=encounter_id, patient_id=after.patient_id, doctor_id=after.doctor_id,
                             report_version=1, content_hash=signed.content_hash, diagnoses=len(content.diagnoses),
                             follow_up_in_days=content.follow_up_in_days, appointment_id=after.appointment_id),
                subject=encounter_id, version=after.version)
        audit.record(tx, caller, UPDATE, "sign", ENTITY, encounter_id, patient_id=after.patient_id,
                     detail=signed.content_hash)
        return after

    return view(store, store.transact(body), caller)


def amend(store: EncounterStore, caller: Caller, encounter_id: str, request: AmendmentRequest,
          active_codes: ActiveCodes, now: datetime) -> Encounter:
    """A new signed version beside the earlier ones (open or closed encounter alike)."""
    encounter = _writable(store, caller, encounter_id, "amend", now)
    rules.require_signed(encounter)
    problems = [{**p, "field": f"content.{p['field']}"}
                for p in rules.signing_problems(request.content, active_codes(_codes_of(request.content)))]
    if problems:
        raise InvalidInput("The amended report cannot be signed.", problems)
    digest = content_hash(request.content.model_dump(mode="json"))
    if digest == store.versions(encounter_id)[-1].content_hash:
        raise InvalidInput("The amendment changes nothing.",
                           [field_error("content", "is the current version", "unchanged")])
    signed = SignedVersion(encounter_id=encounter_id, version=encounter.signed_versions + 1, content=request.content,
                           content_hash=digest, signed_by=caller.principal.sub, signed_at=now, reason=request.reason)

    def body(tx: Tx) -> EncounterRecord:
        after = store.add_version(tx, encounter_id, signed, close_draft=False)
        if after is None:
            raise Conflict(f"Encounter {encounter_id} was amended meanwhile: read it and amend the newest version.")
        store.add_allergies(tx, after.patient_id, request.content.allergies, now)
        tx.emit(RecordAmended(encounter_id=encounter_id, patient_id=after.patient_id, doctor_id=after.doctor_id,
                              report_version=signed.version, content_hash=digest, author_id=caller.principal.sub),
                subject=encounter_id, version=after.version)
        audit.record(tx, caller, UPDATE, "amend", ENTITY, encounter_id, patient_id=after.patient_id,
                     detail=f"version {signed.version}")
        return after

    return view(store, store.transact(body), caller)


def close(store: EncounterStore, caller: Caller, encounter_id: str, now: datetime) -> Encounter:
    encounter = _writable(store, caller, encounter_id, "close", now)
    rules.require_open(encounter)
    rules.require_signed(encounter)

    def body(tx: Tx) -> EncounterRecord:
        after = store.close(tx, encounter_id, now)
        if after is None:
            raise Conflict(f"Encounter {encounter_id} was closed meanwhile.")
        tx.emit(EncounterClosed(encounter_id=encounter_id, patient_id=after.patient_id, doctor_id=after.doctor_id,
                                report_signed=after.signed_versions > 0, prescriptions=after.prescriptions),
                subject=encounter_id, version=after.version)
        audit.record(tx, caller, UPDATE, "close", ENTITY, encounter_id, patient_id=after.patient_id)
        return after

    return view(store, store.transact(body), caller)
