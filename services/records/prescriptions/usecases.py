"""The prescriptions' operations (authorize → check the rules → store → emit → audit): the doctor signs, a pharmacist
reviews, only an approved prescription takes effect, and one nobody approved in time lapses."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta

from contracts.identity.schemas import Prescriber
from contracts.records.codes import DiagnosisCodeEntry, DrugEntry
from contracts.records.events import (
    PrescriptionLapsed,
    PrescriptionRejected,
    PrescriptionReviewed,
    PrescriptionSigned,
    PrescriptionTookEffect,
)
from contracts.records.prescriptions import (
    CodedDiagnosis,
    DispensingFacts,
    ExtendRequest,
    Prescription,
    PrescriptionQuery,
    PrescriptionRequest,
    PrescriptionStatus,
    Retention,
    ReviewOutcome,
    ReviewRequest,
)
from services.records import scope
from services.records.encounters.usecases import ClinicalContext
from services.records.prescriptions import rules
from services.records.prescriptions.rules import ENTITY, EncounterFacts, PatientFacts, PrescriptionRecord
from services.records.prescriptions.store import PrescriptionStore
from services.records.signing import content_hash
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, ServiceError
from wenzhen.storage import Tx
from wenzhen.timez import hospital_zone, to_local_iso, to_utc_iso

SWEEP_BATCH = 200


class Outside:
    """What signing asks other services and records' code lists, at that moment (each an audited RPC or a read)."""

    def __init__(self, prescriber: Callable[[str], Prescriber], patient: Callable[[str], tuple[bool, date]],
                 drugs: Callable[[Iterable[str]], Mapping[str, DrugEntry]],
                 diagnoses: Callable[[Iterable[str]], Mapping[str, DiagnosisCodeEntry]]) -> None:
        self.prescriber, self.patient, self.drugs, self.diagnoses = prescriber, patient, drugs, diagnoses


def view(rx: PrescriptionRecord) -> Prescription:
    return Prescription(
        id=rx.id, encounter_id=rx.encounter_id, patient_id=rx.patient_id, doctor_id=rx.doctor_id, status=rx.status,
        kind=rx.kind, items=list(rx.items), diagnoses=[CodedDiagnosis(code=c, name=n) for c, n in rx.diagnoses],
        longer_supply_reason=rx.longer_supply_reason, stable_chronic=rx.stable_chronic, guardian=rx.guardian,
        note=rx.note, content_hash=rx.content_hash, signed_at=to_local_iso(rx.signed_at),
        valid_until=to_local_iso(rx.valid_until), validity_days=rx.validity_days,
        supply_days=max(i.days for i in rx.items), total_fen=rx.total_fen, cold_chain=rx.cold_chain,
        retention=Retention(years=rx.retention_years, until=to_local_iso(rx.retain_until)), review=rx.review)


def _ids(rx: PrescriptionRecord) -> dict:
    return dict(prescription_id=rx.id, encounter_id=rx.encounter_id, patient_id=rx.patient_id, doctor_id=rx.doctor_id)


def authorized(store: PrescriptionStore, clinical: ClinicalContext, caller: Caller, prescription_id: str,
               action: str, subtype: str, now: datetime) -> PrescriptionRecord:
    rx = store.prescription(prescription_id)
    p = caller.principal
    if rx is None or not (rules.sees(p, rx) or clinical.cares_for(p, rx.patient_id, now)):
        audit.record(store, caller, action, subtype, ENTITY, prescription_id,
                     patient_id=rx.patient_id if rx else None, outcome=Outcome.denied)
        raise rules.not_found(prescription_id)
    return rx


# signing -------------------------------------------------------------------------------------------------------------
def sign(store: PrescriptionStore, clinical: ClinicalContext, outside: Outside, caller: Caller, encounter_id: str,
         request: PrescriptionRequest, now: datetime) -> Prescription:
    """The doctor of an open encounter writes and signs it in one step (nothing is generated for them); every rule
    it breaks is named, and then nothing is stored (the refusal is audited)."""
    p = caller.principal
    found = clinical.encounter(encounter_id)
    try:
        encounter = rules.require_prescriber(p, _facts(found), encounter_id)
    except ServiceError:
        audit.record(store, caller, CREATE, "prescribe", ENTITY, None, patient_id=found.patient_id if found else None,
                     outcome=Outcome.denied, detail=f"encounter {encounter_id}")
        raise
    verified, birth_date = outside.patient(encounter.patient_id)
    patient = PatientFacts(patient_id=encounter.patient_id, verified=verified, birth_date=birth_date,
                           allergies=clinical.allergies(encounter.patient_id),
                           current=store.current_items(encounter.patient_id, now))
    zone = hospital_zone()
    formulary = outside.drugs(i.drug_code for i in request.items)
    diagnoses = outside.diagnoses(request.diagnoses)
    refusals = rules.check(request, formulary, diagnoses, outside.prescriber(p.sub), patient, encounter,
                           now.astimezone(zone).date())
    if refusals:
        audit.record(store, caller, CREATE, "prescribe", ENTITY, None, patient_id=encounter.patient_id,
                     outcome=Outcome.denied, detail=",".join(sorted({r.rule for r in refusals})))
        raise rules.refused(refusals)
    rx, signed = _signed(ids.new_id("rx"), request, formulary, diagnoses, encounter, p.sub, now, zone)

    def body(tx: Tx) -> None:
        if clinical.count_prescription(tx, encounter_id) is None:
            raise Conflict(f"Encounter {encounter_id} was closed meanwhile.")
        store.insert(tx, rx, signed)
        tx.emit(PrescriptionSigned(**_ids(rx), items=len(rx.items), content_hash=rx.content_hash,
                                   valid_until=to_utc_iso(rx.valid_until)), subject=rx.id, version=1)
        audit.record(tx, caller, CREATE, "prescribe", ENTITY, rx.id, patient_id=rx.patient_id, detail=rx.content_hash)

    store.transact(body)
    return view(rx)


def _facts(encounter) -> EncounterFacts | None:
    if encounter is None:
        return None
    return EncounterFacts(encounter_id=encounter.id, patient_id=encounter.patient_id, doctor_id=encounter.doctor_id,
                          online=encounter.online, follow_up=encounter.follow_up,
                          prior_in_person_diagnosis=encounter.prior_in_person_diagnosis,
                          open=encounter.status.value == "open")


def _signed(prescription_id: str, request: PrescriptionRequest, formulary: Mapping[str, DrugEntry],
            diagnoses: Mapping[str, DiagnosisCodeEntry], encounter: EncounterFacts, doctor_id: str, now: datetime,
            zone) -> tuple[PrescriptionRecord, dict]:
    """What is signed (the items with the formulary's entries as they are now), its hash, and the record."""
    items = tuple(rules.prescribed(item, formulary[item.drug_code]) for item in request.items)
    coded = tuple((code, diagnoses[code].name) for code in request.diagnoses)
    signed = {"prescription_id": prescription_id, "encounter_id": encounter.encounter_id,
              "patient_id": encounter.patient_id, "doctor_id": doctor_id, "signed_at": to_utc_iso(now),
              "kind": request.kind.value, "items": [i.model_dump(mode="json") for i in items],
              "diagnoses": [{"code": c, "name": n} for c, n in coded],
              "longer_supply_reason": request.longer_supply_reason, "stable_chronic": request.stable_chronic,
              "guardian": request.guardian.model_dump(mode="json") if request.guardian else None,
              "note": request.note}
    categories = {c for i in items for c in i.categories}
    years = rules.retention_years(categories)
    rx = PrescriptionRecord(
        id=prescription_id, encounter_id=encounter.encounter_id, patient_id=encounter.patient_id, doctor_id=doctor_id,
        status=PrescriptionStatus.pending_review, kind=request.kind, items=items, diagnoses=coded,
        longer_supply_reason=request.longer_supply_reason, stable_chronic=request.stable_chronic,
        guardian=request.guardian, note=request.note, content_hash=content_hash(signed), signed_at=now,
        valid_until=rules.valid_until(now, 1, zone), validity_days=1,
        total_fen=sum(i.price_fen * i.quantity for i in items), cold_chain="cold_chain" in categories,
        retention_years=years, retain_until=rules.years_after(now, years),
        supply_until=now + timedelta(days=max(i.days for i in items)))
    return rx, signed


# reviewing, extending, lapsing -------------------------------------------------------------------------------------
def review(store: PrescriptionStore, clinical: ClinicalContext, caller: Caller, prescription_id: str,
           request: ReviewRequest, now: datetime) -> Prescription:
    """A pharmacist approves (it takes effect at once), rejects, or asks for a change; once."""
    if not caller.principal.has_role(Role.pharmacist):
        raise Forbidden("Only a pharmacist reviews prescriptions.")
    rx = authorized(store, clinical, caller, prescription_id, UPDATE, "review", now)
    rules.require_review(caller.principal, rx, request, now)
    approve = request.outcome == ReviewOutcome.approve
    decided = {"reviewer_id": caller.principal.sub, "outcome": request.outcome.value,
               "reason": request.reason.value if request.reason else None, "note": request.note, "at": now}

    def body(tx: Tx) -> PrescriptionRecord:
        done = store.review(tx, prescription_id, rules.status_after(request.outcome), decided,
                            events=2 if approve else 1)
        if done is None:
            raise Conflict(f"Prescription {prescription_id} was reviewed meanwhile.")
        reviewer = caller.principal.sub
        if request.outcome == ReviewOutcome.reject:
            tx.emit(PrescriptionRejected(**_ids(done), reviewer_id=reviewer, reason=request.reason.value),
                    subject=done.id, version=done.version)
        else:
            tx.emit(PrescriptionReviewed(**_ids(done), reviewer_id=reviewer,
                                         outcome="approved" if approve else "changes_requested",
                                         reason=request.reason.value if request.reason else None),
                    subject=done.id, version=done.version - (1 if approve else 0))
        if approve:
            tx.emit(PrescriptionTookEffect(**_ids(done), reviewer_id=reviewer, items=len(done.items),
                                           total_fen=done.total_fen, valid_until=to_utc_iso(done.valid_until),
                                           cold_chain=done.cold_chain), subject=done.id, version=done.version)
        audit.record(tx, caller, UPDATE, "review", ENTITY, done.id, patient_id=done.patient_id,
                     detail=request.outcome.value)
        return done

    return view(store.transact(body))


def extend(store: PrescriptionStore, clinical: ClinicalContext, caller: Caller, prescription_id: str,
           request: ExtendRequest, now: datetime) -> Prescription:
    """The prescribing doctor lengthens its validity, at most to the end of the third day from issue."""
    rx = authorized(store, clinical, caller, prescription_id, UPDATE, "extend", now)
    rules.require_extension(caller.principal, rx, request.validity_days, now)
    until = rules.valid_until(rx.signed_at, request.validity_days, hospital_zone())

    def body(tx: Tx) -> PrescriptionRecord:
        done = store.extend(tx, prescription_id, request.validity_days, until, now)
        if done is None:
            raise Conflict(f"Prescription {prescription_id} changed meanwhile (reviewed, lapsed or extended).")
        audit.record(tx, caller, UPDATE, "extend", ENTITY, rx.id, patient_id=rx.patient_id,
                     detail=f"valid {request.validity_days} days")
        return done

    return view(store.transact(body))


def lapse_due(store: PrescriptionStore, caller: Caller, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Prescriptions still waiting for review after their validity lapse (an event each); returns how many."""
    lapsed = 0
    for prescription_id in store.lapsing(now, limit):
        def body(tx: Tx, pid: str = prescription_id) -> int:
            done = store.lapse(tx, pid, now)
            if done is None:
                return 0
            tx.emit(PrescriptionLapsed(**_ids(done), valid_until=to_utc_iso(done.valid_until)), subject=done.id,
                    version=done.version)
            audit.record(tx, caller, UPDATE, "lapse", ENTITY, done.id, patient_id=done.patient_id)
            return 1

        lapsed += store.transact(body)
    return lapsed


# reading -------------------------------------------------------------------------------------------------------------
def get(store: PrescriptionStore, clinical: ClinicalContext, caller: Caller, prescription_id: str,
        now: datetime) -> Prescription:
    rx = authorized(store, clinical, caller, prescription_id, READ, "read", now)
    audit.record(store, caller, READ, "read", ENTITY, rx.id, patient_id=rx.patient_id)
    return view(rx)


def dispensing_facts(store: PrescriptionStore, caller: Caller, prescription_id: str) -> DispensingFacts:
    """For pharmacy only (it makes the dispensing order of a prescription that took effect): the items as signed and
    the status now; audited as pharmacy's read."""
    if not caller.principal.is_service("pharmacy"):
        raise Forbidden("Only the pharmacy service asks for a prescription's dispensing facts.")
    rx = store.prescription(prescription_id)
    if rx is None:
        raise rules.not_found(prescription_id)
    audit.record(store, caller, READ, "read", ENTITY, rx.id, patient_id=rx.patient_id, detail="dispensing facts")
    review = rx.review
    return DispensingFacts(**_ids(rx), status=rx.status, items=list(rx.items), total_fen=rx.total_fen,
                           cold_chain=rx.cold_chain, signed_at=to_utc_iso(rx.signed_at),
                           valid_until=to_utc_iso(rx.valid_until), reviewer_id=review.reviewer_id if review else None,
                           reviewed_at=review.at if review else None)


def list_prescriptions(store: PrescriptionStore, clinical: ClinicalContext, caller: Caller, query: PrescriptionQuery,
                       now: datetime) -> list[Prescription]:
    """Pharmacists: the review queue (``pending_review``, oldest first) or what they reviewed. Patients: a record
    they act for. Doctors: a patient they care for, or what they wrote. Every prescription listed is audited."""
    p = caller.principal
    status = query.status.value if query.status else None
    filters = dict(patient_id=query.patient_id, encounter_id=query.encounter_id, status=status, limit=query.limit)

    def refuse(message: str):
        audit.record(store, caller, READ, "list", ENTITY, None, patient_id=query.patient_id, outcome=Outcome.denied)
        raise Forbidden(message)

    if p.has_role(Role.pharmacist):
        if query.status == PrescriptionStatus.pending_review:
            found = store.prescriptions(**filters, oldest_first=True)
        else:
            found = store.prescriptions(**filters, reviewer_id=p.sub)
    else:
        why = scope.listing_refusal(p, query.patient_id, lambda: clinical.cares_for(p, query.patient_id, now),
                                    "prescriptions")
        if why:
            refuse(why)
        own = p.has_role(Role.doctor) and query.patient_id is None
        found = store.prescriptions(**filters, doctor_id=p.sub if own else None)
    for rx in found:
        audit.record(store, caller, READ, "read", ENTITY, rx.id, patient_id=rx.patient_id, detail="list")
    return [view(rx) for rx in found]
