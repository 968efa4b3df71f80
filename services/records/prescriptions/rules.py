"""China's prescribing rules, pure: what a prescription must satisfy when its doctor signs it, how long it is valid
and kept, who reads it and who reviews it. Each rule has a stable code (the ``type`` of the field error that names
it) and one function here; ``check`` applies them all and returns every refusal, so the doctor sees everything
wrong at once and nothing that breaks a rule is ever signed.

Sources: 处方管理办法 (2007) arts. 6, 19, 50; 互联网诊疗管理办法（试行）2018 arts. 16–19;
互联网诊疗监管细则（试行）2022; 长期处方管理规范（试行）2021. The numbers are the law's, not the hospital's
settings: a hospital may be stricter in its formulary (withdraw a drug), not looser here.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from contracts.identity.schemas import Prescriber
from contracts.records.codes import DiagnosisCodeEntry, DrugCategory, DrugEntry
from contracts.records.prescriptions import (
    Guardian,
    ItemRequest,
    PrescribedItem,
    PrescriptionKind,
    PrescriptionRequest,
    PrescriptionStatus,
    Review,
    ReviewOutcome,
    ReviewRequest,
)
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error

ENTITY = "MedicationRequest"

ORDINARY_DAYS = 7  # 处方管理办法 art. 19: 一般不得超过7日用量
EMERGENCY_DAYS = 3  # 急诊处方一般不得超过3日用量
EXTENDED_DAYS = 30  # an ordinary prescription with the doctor's stated reason (慢性病、老年病或特殊情况)
LONG_TERM_DAYS = 84  # 长期处方: at most 12 weeks
ONLINE_EXPERIENCE_YEARS = 3  # 互联网诊疗: 3 years of independent practice
GUARDIAN_UNDER_YEARS = 6  # 互联网诊疗管理办法 art. 18: a child under 6 only with a guardian present
MAX_VALIDITY_DAYS = 3  # art. 18 处方管理办法: valid on the day of issue, extendable to at most 3 days
CONTROLLED = frozenset({DrugCategory.narcotic, DrugCategory.psychotropic_1, DrugCategory.psychotropic_2})
NOT_LONG_TERM = CONTROLLED | {DrugCategory.toxic, DrugCategory.radioactive, DrugCategory.antimicrobial}


@dataclass(frozen=True)
class EncounterFacts:
    """What the rules need of the encounter a prescription is written in."""

    encounter_id: str
    patient_id: str
    doctor_id: str
    online: bool
    follow_up: bool
    prior_in_person_diagnosis: bool
    open: bool


@dataclass(frozen=True)
class PatientFacts:
    patient_id: str
    verified: bool  # real-name identity verified (intake)
    birth_date: date
    allergies: tuple[str, ...] = ()  # ingredients or ATC classes the signed reports recorded
    current: tuple[PrescribedItem, ...] = ()  # items of prescriptions that are, or may yet be, in effect


@dataclass(frozen=True)
class Refusal:
    rule: str
    field: str
    message: str


@dataclass(frozen=True)
class PrescriptionRecord:
    id: str
    encounter_id: str
    patient_id: str
    doctor_id: str
    status: PrescriptionStatus
    kind: PrescriptionKind
    items: tuple[PrescribedItem, ...]
    diagnoses: tuple[tuple[str, str], ...]  # (code, name) as signed
    longer_supply_reason: str | None
    stable_chronic: bool
    guardian: Guardian | None
    note: str | None
    content_hash: str
    signed_at: datetime
    valid_until: datetime
    validity_days: int
    total_fen: int
    cold_chain: bool
    retention_years: int
    retain_until: datetime
    supply_until: datetime
    review: Review | None = None
    version: int = 1  # its events so far


# the prescribing rules -----------------------------------------------------------------------------------------------
def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _item(i: int, name: str) -> str:
    return f"items[{i}].{name}"


def formulary_refusals(items: list[ItemRequest], formulary: Mapping[str, DrugEntry]) -> list[Refusal]:
    found = []
    for i, item in enumerate(items):
        drug = formulary.get(item.drug_code)
        if drug is None or not drug.active:
            found.append(Refusal("formulary", _item(i, "drug_code"), "is not in the hospital's formulary"
                                 if drug is None else "is withdrawn from the formulary"))
        elif item.route not in drug.routes:
            found.append(Refusal("route", _item(i, "route"),
                                 f"{drug.name} is given {', '.join(r.value for r in drug.routes)}"))
    return found


def diagnosis_refusals(codes: list[str], known: Mapping[str, DiagnosisCodeEntry]) -> list[Refusal]:
    return [Refusal("diagnosis_code", f"diagnoses[{i}]", "is not an active code of the hospital's ICD-10 list")
            for i, code in enumerate(codes) if code not in known or not known[code].active]


def online_refusals(encounter: EncounterFacts, prescriber: Prescriber, items: list[ItemRequest],
                    formulary: Mapping[str, DrugEntry], today: date) -> list[Refusal]:
    """Online prescribing: only a follow-up (复诊) of a condition diagnosed in person, by a doctor with 3 years of
    independent practice, and never a narcotic or psychotropic drug."""
    if not encounter.online:
        return []
    found = []
    if not (encounter.follow_up and encounter.prior_in_person_diagnosis):
        found.append(Refusal("online_follow_up", "encounter_id",
                             "online prescribing is only for a follow-up visit (复诊) of a condition already diagnosed "
                             "in person; a first visit online is a consultation"))
    since = prescriber.practising_since
    if since is None or since > years_after(today, -ONLINE_EXPERIENCE_YEARS):
        found.append(Refusal("online_experience", "doctor",
                             f"online practice needs at least {ONLINE_EXPERIENCE_YEARS} years of independent clinical "
                             "practice on record (identity's practising_since)"))
    for i, item in enumerate(items):
        drug = formulary.get(item.drug_code)
        if drug is not None and CONTROLLED & set(drug.categories):
            found.append(Refusal("online_controlled_drug", _item(i, "drug_code"),
                                 "narcotic and psychotropic drugs are not prescribed online"))
    return found


def prescriber_refusals(prescriber: Prescriber) -> list[Refusal]:
    if prescriber.role != Role.doctor or not prescriber.active or not prescriber.licence_number:
        return [Refusal("licensed_prescriber", "doctor",
                        "only an active doctor account with a practising licence number on record prescribes")]
    return []


def patient_refusals(patient: PatientFacts, guardian: Guardian | None, today: date) -> list[Refusal]:
    found = []
    if not patient.verified:
        found.append(Refusal("real_name", "patient_id",
                             "the patient's real-name identity is not verified (a staff member verifies the "
                             "identity document first)"))
    if age_on(patient.birth_date, today) < GUARDIAN_UNDER_YEARS and guardian is None:
        found.append(Refusal("guardian", "guardian",
                             f"a child under {GUARDIAN_UNDER_YEARS} is prescribed for only with a guardian recorded"))
    return found


def _allergic(drug: DrugEntry, allergies: Collection[str]) -> str | None:
    for allergy in allergies:
        if allergy == drug.ingredient or (allergy[:1].isupper() and drug.atc.startswith(allergy)):
            return allergy
    return None


def _class(atc: str) -> str:
    """ATC level 4 (chemical subgroup, e.g. C08CA: dihydropyridines): two drugs of one are duplicate therapy."""
    return atc[:5]


def safety_refusals(items: list[ItemRequest], formulary: Mapping[str, DrugEntry],
                    patient: PatientFacts) -> list[Refusal]:
    """Allergies on record, and duplicate therapy within the prescription or with what the patient takes now."""
    found = []
    seen: dict[str, int] = {}
    current = {_class(c.atc): c for c in patient.current}
    current_ingredients = {c.ingredient: c for c in patient.current}
    for i, item in enumerate(items):
        drug = formulary.get(item.drug_code)
        if drug is None:
            continue
        allergy = _allergic(drug, patient.allergies)
        if allergy:
            found.append(Refusal("allergy", _item(i, "drug_code"), f"the patient's record has an allergy to {allergy}"))
        group = _class(drug.atc)
        if group in seen:
            found.append(Refusal("duplicate_therapy", _item(i, "drug_code"),
                                 f"duplicates items[{seen[group]}] (same ingredient or class {group})"))
        else:
            seen[group] = i
            other = current_ingredients.get(drug.ingredient) or current.get(group)
            if other is not None:
                found.append(Refusal("duplicate_therapy", _item(i, "drug_code"),
                                     f"duplicates {other.name}, which the patient takes now (class {group})"))
    return found


def supply_refusals(request: PrescriptionRequest, formulary: Mapping[str, DrugEntry],
                    diagnoses: Mapping[str, DiagnosisCodeEntry]) -> list[Refusal]:
    """Days' supply by kind of prescription, and what a long-term one needs."""
    found = []
    kind = request.kind
    if kind == PrescriptionKind.long_term:
        if not request.stable_chronic:
            found.append(Refusal("long_term", "stable_chronic",
                                 "a long-term prescription is for a stable chronic condition: the doctor states it"))
        acute = [code for code in request.diagnoses if code in diagnoses and not diagnoses[code].chronic]
        if acute:
            found.append(Refusal("long_term", "diagnoses", f"{', '.join(acute)} is not a chronic condition"))
    limit = {PrescriptionKind.ordinary: EXTENDED_DAYS if request.longer_supply_reason else ORDINARY_DAYS,
             PrescriptionKind.emergency: EMERGENCY_DAYS, PrescriptionKind.long_term: LONG_TERM_DAYS}[kind]
    for i, item in enumerate(request.items):
        drug = formulary.get(item.drug_code)
        if kind == PrescriptionKind.long_term and drug is not None and NOT_LONG_TERM & set(drug.categories):
            found.append(Refusal("long_term", _item(i, "drug_code"),
                                 "narcotic, psychotropic, toxic, radioactive and antimicrobial drugs are never on a "
                                 "long-term prescription"))
        if item.days > limit:
            found.append(Refusal("days_supply", _item(i, "days"), _supply_message(kind, limit, request)))
    return found


def _supply_message(kind: PrescriptionKind, limit: int, request: PrescriptionRequest) -> str:
    if kind == PrescriptionKind.ordinary and not request.longer_supply_reason:
        return (f"an ordinary prescription supplies at most {ORDINARY_DAYS} days; longer (up to {EXTENDED_DAYS}) "
                "only with a recorded reason (longer_supply_reason)")
    return f"a{'n' if kind == PrescriptionKind.emergency else ''} {kind.value.replace('_', '-')} prescription " \
           f"supplies at most {limit} days"


def check(request: PrescriptionRequest, formulary: Mapping[str, DrugEntry],
          diagnoses: Mapping[str, DiagnosisCodeEntry], prescriber: Prescriber, patient: PatientFacts,
          encounter: EncounterFacts, today: date) -> list[Refusal]:
    """Every rule the prescription breaks (empty: it may be signed)."""
    return [*prescriber_refusals(prescriber), *online_refusals(encounter, prescriber, request.items, formulary, today),
            *patient_refusals(patient, request.guardian, today), *formulary_refusals(request.items, formulary),
            *diagnosis_refusals(request.diagnoses, diagnoses), *safety_refusals(request.items, formulary, patient),
            *supply_refusals(request, formulary, diagnoses)]


def refused(refusals: list[Refusal]) -> InvalidInput:
    rules_broken = sorted({r.rule for r in refusals})
    return InvalidInput(f"The prescription cannot be signed: it breaks {', '.join(rules_broken)}.",
                        [field_error(r.field, r.message, r.rule) for r in refusals])


# what is signed, how long it is valid and kept -------------------------------------------------------------------
def prescribed(item: ItemRequest, drug: DrugEntry) -> PrescribedItem:
    return PrescribedItem(**item.model_dump(), name=drug.name, ingredient=drug.ingredient, atc=drug.atc,
                          strength=drug.strength, form=drug.form, unit=drug.unit, price_fen=drug.price_fen,
                          categories=list(drug.categories))


def valid_until(signed_at: datetime, days: int, zone) -> datetime:
    """The end of the ``days``-th day counting the day of issue as the first, in the hospital's zone."""
    if not 1 <= days <= MAX_VALIDITY_DAYS:
        raise ValueError(f"a prescription is valid 1 to {MAX_VALIDITY_DAYS} days")
    issued = signed_at.astimezone(zone).date()
    return datetime.combine(issued + timedelta(days=days), time(0), tzinfo=zone)


def retention_years(categories: Collection[DrugCategory]) -> int:
    """处方管理办法 art. 50: ordinary, emergency and paediatric 1 year; toxic and class II psychotropic 2; narcotic
    and class I psychotropic 3."""
    if {DrugCategory.narcotic, DrugCategory.psychotropic_1} & set(categories):
        return 3
    if {DrugCategory.toxic, DrugCategory.psychotropic_2} & set(categories):
        return 2
    return 1


def years_after(moment, years: int):
    """The same day ``years`` later (earlier when negative); 29 February becomes the 28th."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


# who reads, who reviews --------------------------------------------------------------------------------------------
def not_found(prescription_id: str) -> NotFound:
    return NotFound(f"No prescription {prescription_id}, or not one the caller may see.")


def sees(principal: Principal, rx: PrescriptionRecord) -> bool:
    """The patient (an account acting for the record); the prescribing doctor (a doctor caring for the patient too:
    the encounters' care relationship, asked beside this); a pharmacist while it waits for review (the review queue),
    and the pharmacist who reviewed it."""
    if principal.acts_for(rx.patient_id):
        return True
    if principal.has_role(Role.doctor):
        return principal.sub == rx.doctor_id
    if principal.has_role(Role.pharmacist):
        return rx.status == PrescriptionStatus.pending_review or (
            rx.review is not None and rx.review.reviewer_id == principal.sub)
    return False


def require_prescriber(principal: Principal, encounter: EncounterFacts | None, encounter_id: str) -> EncounterFacts:
    """The encounter's own doctor, personally (a service or anyone else never writes a prescription)."""
    if not principal.has_role(Role.doctor):
        raise Forbidden("Only a doctor prescribes, personally.")
    if encounter is None or encounter.doctor_id != principal.sub:
        raise NotFound(f"No encounter {encounter_id} of this doctor.",
                       [field_error("encounter_id", "is not an encounter of this doctor", "not_found")])
    if not encounter.open:
        raise Conflict(f"Encounter {encounter_id} is closed: prescriptions are written in an open encounter.")
    return encounter


def require_review(principal: Principal, rx: PrescriptionRecord, request: ReviewRequest, now: datetime) -> None:
    """A pharmacist, not the prescriber, once, within validity; a refusal or a change request says why."""
    if not principal.has_role(Role.pharmacist):
        raise Forbidden("Only a pharmacist reviews prescriptions.")
    if rx.doctor_id == principal.sub:
        raise Forbidden("Nobody reviews a prescription they wrote.")
    if rx.status != PrescriptionStatus.pending_review:
        raise Conflict(f"Prescription {rx.id} is {rx.status.value}: it was reviewed, or lapsed, already.",
                       [field_error("status", f"is {rx.status.value}", "state")])
    if request.outcome != ReviewOutcome.approve and request.reason is None:
        raise InvalidInput("Say why (reason) when rejecting or asking for a change.",
                           [field_error("reason", "is needed to reject or to ask for a change", "missing")])
    if request.outcome == ReviewOutcome.approve and now >= rx.valid_until:
        raise Conflict(f"Prescription {rx.id} lapsed at the end of its validity; the doctor may extend it (at most "
                       f"{MAX_VALIDITY_DAYS} days from issue) or write a new one.",
                       [field_error("valid_until", "has passed", "lapsed")])


def status_after(outcome: ReviewOutcome) -> PrescriptionStatus:
    return {ReviewOutcome.approve: PrescriptionStatus.took_effect, ReviewOutcome.reject: PrescriptionStatus.rejected,
            ReviewOutcome.request_change: PrescriptionStatus.changes_requested}[outcome]


def require_extension(principal: Principal, rx: PrescriptionRecord, days: int, now: datetime) -> None:
    if not (principal.has_role(Role.doctor) and principal.sub == rx.doctor_id):
        raise Forbidden("Only the prescribing doctor extends a prescription.")
    if rx.status not in (PrescriptionStatus.pending_review, PrescriptionStatus.took_effect) or now >= rx.valid_until:
        raise Conflict(f"Prescription {rx.id} can no longer be extended ({rx.status.value}, valid until its last "
                       "day).", [field_error("status", f"is {rx.status.value}", "state")])
    if days <= rx.validity_days:
        raise Conflict(f"Prescription {rx.id} is valid {rx.validity_days} day(s) already.",
                       [field_error("validity_days", f"must be more than {rx.validity_days}", "state")])
