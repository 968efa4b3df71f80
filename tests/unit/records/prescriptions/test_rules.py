"""China's prescribing rules, one test per rule (each names its rule and field), validity and retention, who reads
and who reviews — and a property: over random prescriptions, ``check`` refuses exactly those that break a rule as an
independent statement of the rules below (``breaks``) says."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.identity.schemas import Prescriber
from contracts.records.prescriptions import (
    Guardian,
    ItemRequest,
    PrescriptionKind,
    PrescriptionRequest,
    PrescriptionStatus,
    Review,
    ReviewOutcome,
    ReviewRequest,
)
from services.records.prescriptions import rules
from services.records.prescriptions.rules import EncounterFacts, PatientFacts, PrescriptionRecord
from tests.unit.records.data import FORMULARY, ICD10
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 5)
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DOCTOR = Prescriber(account_id="acc_doc", role=Role.doctor, active=True, licence_number="110440000012345",
                    practising_since=date(2015, 7, 1))
ONLINE = EncounterFacts(encounter_id="enc_1", patient_id="pat_1", doctor_id="acc_doc", online=True, follow_up=True,
                        prior_in_person_diagnosis=True, open=True)
IN_PERSON = replace(ONLINE, online=False, follow_up=False, prior_in_person_diagnosis=False)
ADULT = PatientFacts(patient_id="pat_1", verified=True, birth_date=date(1980, 5, 1))


def item(code: str = "AML-5-TAB", **over) -> ItemRequest:
    route = FORMULARY[code].routes[0] if code in FORMULARY else "oral"
    return ItemRequest(**{"drug_code": code, "dose": "5 mg", "route": route, "frequency": "qd", "days": 7,
                          "quantity": 1, **over})


def request(*items: ItemRequest, diagnoses=("I10",), **over) -> PrescriptionRequest:
    return PrescriptionRequest(items=list(items or [item()]), diagnoses=list(diagnoses), **over)


def check(req: PrescriptionRequest, *, prescriber=DOCTOR, patient=ADULT, encounter=ONLINE):
    return [(r.rule, r.field) for r in rules.check(req, FORMULARY, ICD10, prescriber, patient, encounter, TODAY)]


def test_a_prescription_that_keeps_every_rule_is_not_refused():
    assert check(request()) == []
    assert check(request(item("AMX-250-CAP", dose="0.5 g", frequency="tid", days=5, quantity=2),
                         diagnoses=["J02.9"]), encounter=IN_PERSON) == []


# one rule each --------------------------------------------------------------------------------------------------------
def test_online_prescribing_is_only_for_a_follow_up_of_a_condition_diagnosed_in_person():
    for encounter in (replace(ONLINE, follow_up=False), replace(ONLINE, prior_in_person_diagnosis=False)):
        assert check(request(), encounter=encounter) == [("online_follow_up", "encounter_id")]
    assert check(request(), encounter=IN_PERSON) == []  # in person: a first visit may prescribe


def test_online_practice_needs_three_years_of_independent_practice_on_record():
    for since in (None, date(2024, 1, 1), date(2023, 12, 6)):
        assert check(request(), prescriber=DOCTOR.model_copy(update={"practising_since": since})) == [
            ("online_experience", "doctor")]
    assert check(request(), prescriber=DOCTOR.model_copy(update={"practising_since": date(2023, 12, 5)})) == []
    assert check(request(), prescriber=DOCTOR.model_copy(update={"practising_since": None}),
                 encounter=IN_PERSON) == []


def test_no_narcotic_or_psychotropic_drug_online():
    for code in ("MOR-10-TAB", "MPH-18-TAB", "ALP-04-TAB", "ZOL-10-TAB"):
        assert check(request(item(code, days=3), diagnoses=["G47.0"])) == [
            ("online_controlled_drug", "items[0].drug_code")]
    assert check(request(item("ZOL-10-TAB", days=3), diagnoses=["G47.0"]), encounter=IN_PERSON) == []


def test_only_an_active_licensed_doctor_prescribes():
    for change in ({"licence_number": None}, {"active": False}, {"role": Role.pharmacist}):
        assert ("licensed_prescriber", "doctor") in check(request(), prescriber=DOCTOR.model_copy(update=change))


def test_the_patient_must_be_real_name_verified():
    assert check(request(), patient=replace(ADULT, verified=False)) == [("real_name", "patient_id")]


def test_a_child_under_six_only_with_a_guardian_recorded():
    child = replace(ADULT, birth_date=date(2020, 12, 6))  # 5 until tomorrow
    assert check(request(), patient=child) == [("guardian", "guardian")]
    assert check(request(guardian=Guardian(name="王芳", relationship="parent")), patient=child) == []
    assert check(request(), patient=replace(ADULT, birth_date=date(2020, 12, 5))) == []  # six today


def test_an_allergy_on_record_refuses_the_drug_by_ingredient_or_class():
    req = request(item("AMX-250-CAP", dose="0.5 g", frequency="tid", days=5), diagnoses=["J02.9"])
    for allergy in ("amoxicillin", "J01C", "J01"):
        assert check(req, patient=replace(ADULT, allergies=(allergy,))) == [("allergy", "items[0].drug_code")]
    assert check(req, patient=replace(ADULT, allergies=("J01D", "cefuroxime"))) == []


def test_duplicate_therapy_within_the_prescription_and_with_what_the_patient_takes():
    twice = request(item("AML-5-TAB"), item("NIF-30-TAB"))  # both dihydropyridines (C08CA)
    assert check(twice) == [("duplicate_therapy", "items[1].drug_code")]
    taking = replace(ADULT, current=(rules.prescribed(item("NIF-30-TAB"), FORMULARY["NIF-30-TAB"]),))
    assert check(request(), patient=taking) == [("duplicate_therapy", "items[0].drug_code")]
    assert check(request(item("LOS-50-TAB")), patient=taking) == []  # another class


def test_days_supply_by_kind_and_longer_only_with_a_reason():
    assert check(request(item(days=8))) == [("days_supply", "items[0].days")]
    reason = "老年慢性病，行动不便"
    assert check(request(item(days=30), longer_supply_reason=reason)) == []
    assert check(request(item(days=31), longer_supply_reason=reason)) == [("days_supply", "items[0].days")]
    emergency = request(item("IBU-300-CAP", dose="0.3 g", frequency="bid", days=4), diagnoses=["R50.9"],
                        kind="emergency")
    assert check(emergency, encounter=IN_PERSON) == [("days_supply", "items[0].days")]


def test_a_long_term_prescription_is_for_a_stable_chronic_condition_and_never_the_excluded_categories():
    long_term = request(item(days=84), kind="long_term", stable_chronic=True)
    assert check(long_term) == []
    with pytest.raises(ValueError):  # beyond 12 weeks no prescription is even well-formed (the contract: a 422)
        item(days=85)
    assert check(request(item(days=28), kind="long_term")) == [("long_term", "stable_chronic")]
    assert check(request(item(days=28), kind="long_term", stable_chronic=True, diagnoses=["J06.9"])) == [
        ("long_term", "diagnoses")]
    antibiotic = request(item("AMX-250-CAP", dose="0.5 g", days=28), kind="long_term", stable_chronic=True,
                         diagnoses=["N41.1"])
    assert check(antibiotic, encounter=IN_PERSON) == [("long_term", "items[0].drug_code")]


def test_drugs_come_from_the_formulary_by_their_routes_and_diagnoses_from_the_icd_list():
    assert check(request(item("NOPE-1"))) == [("formulary", "items[0].drug_code")]
    withdrawn = {**FORMULARY, "AML-5-TAB": FORMULARY["AML-5-TAB"].model_copy(update={"active": False})}
    assert [(r.rule, r.field) for r in rules.check(request(), withdrawn, ICD10, DOCTOR, ADULT, ONLINE, TODAY)] == [
        ("formulary", "items[0].drug_code")]
    assert check(request(item(route="topical"))) == [("route", "items[0].route")]
    assert check(request(diagnoses=["Z99.9"])) == [("diagnosis_code", "diagnoses[0]")]


def test_every_broken_rule_is_named_at_once():
    req = request(item("MOR-10-TAB", days=9), item("MOR-10-TAB", days=3), diagnoses=["C61"])
    found = check(req, patient=replace(ADULT, verified=False), encounter=replace(ONLINE, follow_up=False))
    assert {rule for rule, _ in found} == {"online_follow_up", "real_name", "online_controlled_drug",
                                          "duplicate_therapy", "days_supply"}
    error = rules.refused(rules.check(req, FORMULARY, ICD10, DOCTOR, ADULT, ONLINE, TODAY))
    assert isinstance(error, InvalidInput) and "online_controlled_drug" in error.detail
    assert {e["type"] for e in error.errors} >= {"online_controlled_drug", "duplicate_therapy", "days_supply"}


# validity and retention ---------------------------------------------------------------------------------------------
def test_valid_on_the_day_of_issue_and_at_most_three_days():
    signed = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)  # 23:30 local
    assert rules.valid_until(signed, 1, ZONE) == datetime(2026, 12, 6, 0, 0, tzinfo=ZONE)
    assert rules.valid_until(signed, 3, ZONE) == datetime(2026, 12, 8, 0, 0, tzinfo=ZONE)
    with pytest.raises(ValueError):
        rules.valid_until(signed, 4, ZONE)


def test_kept_one_two_or_three_years_by_category():
    assert rules.retention_years([]) == 1
    assert rules.retention_years(["antimicrobial", "cold_chain"]) == 1
    assert rules.retention_years(["toxic"]) == rules.retention_years(["psychotropic_2"]) == 2
    assert rules.retention_years(["narcotic"]) == rules.retention_years(["psychotropic_1", "toxic"]) == 3
    assert rules.years_after(datetime(2028, 2, 29, tzinfo=UTC), 1) == datetime(2029, 2, 28, tzinfo=UTC)


# who reads, who reviews ---------------------------------------------------------------------------------------------
RX = PrescriptionRecord(
    id="rx_1", encounter_id="enc_1", patient_id="pat_1", doctor_id="acc_doc", status=PrescriptionStatus.pending_review,
    kind=PrescriptionKind.ordinary, items=(rules.prescribed(item(), FORMULARY["AML-5-TAB"]),),
    diagnoses=(("I10", "原发性高血压"),), longer_supply_reason=None, stable_chronic=False, guardian=None, note=None,
    content_hash="0" * 64, signed_at=NOW, valid_until=rules.valid_until(NOW, 1, ZONE), validity_days=1,
    total_fen=2960, cold_chain=False, retention_years=1, retain_until=rules.years_after(NOW, 1),
    supply_until=NOW)
PHARMACIST = Principal.user("acc_ph", Role.pharmacist)


def test_who_reads_a_prescription():
    assert rules.sees(Principal.user("acc_p", Role.patient, patients=("pat_1",)), RX)
    assert not rules.sees(Principal.user("acc_q", Role.patient, patients=("pat_2",)), RX)
    assert rules.sees(Principal.user("acc_doc", Role.doctor), RX)
    assert not rules.sees(Principal.user("acc_doc2", Role.doctor), RX)  # unless caring (asked beside)
    assert rules.sees(PHARMACIST, RX)  # the review queue
    reviewed = replace(RX, status=PrescriptionStatus.took_effect,
                       review=Review(reviewer_id="acc_ph", outcome="approve", at="2026-12-05T10:05:00.000+08:00"))
    assert rules.sees(PHARMACIST, reviewed) and not rules.sees(Principal.user("acc_ph2", Role.pharmacist), reviewed)
    assert not rules.sees(Principal.user("acc_c", Role.consultant), RX)


def test_a_review_is_a_pharmacists_once_within_validity_never_their_own_and_says_why_it_refuses():
    approve = ReviewRequest(outcome="approve")
    rules.require_review(PHARMACIST, RX, approve, NOW)
    with pytest.raises(Forbidden):
        rules.require_review(Principal.user("acc_doc2", Role.doctor), RX, approve, NOW)
    with pytest.raises(Forbidden):
        rules.require_review(Principal.user("acc_doc", Role.pharmacist), RX, approve, NOW)  # wrote it
    with pytest.raises(Conflict):
        rules.require_review(PHARMACIST, replace(RX, status=PrescriptionStatus.rejected), approve, NOW)
    with pytest.raises(Conflict) as lapsed:
        rules.require_review(PHARMACIST, RX, approve, RX.valid_until)
    assert lapsed.value.errors[0]["type"] == "lapsed"
    with pytest.raises(InvalidInput) as why:
        rules.require_review(PHARMACIST, RX, ReviewRequest(outcome="reject"), NOW)
    assert why.value.errors[0]["field"] == "reason"
    rules.require_review(PHARMACIST, RX, ReviewRequest(outcome="reject", reason="dose"), RX.valid_until)
    assert [rules.status_after(o) for o in ReviewOutcome] == [
        PrescriptionStatus.took_effect, PrescriptionStatus.rejected, PrescriptionStatus.changes_requested]


def test_only_the_prescriber_extends_only_longer_only_while_it_may_be_dispensed():
    doctor = Principal.user("acc_doc", Role.doctor)
    rules.require_extension(doctor, RX, 3, NOW)
    with pytest.raises(Forbidden):
        rules.require_extension(Principal.user("acc_doc2", Role.doctor), RX, 3, NOW)
    with pytest.raises(Conflict):
        rules.require_extension(doctor, replace(RX, validity_days=3), 3, NOW)
    for lapsed in (replace(RX, status=PrescriptionStatus.rejected), RX):
        with pytest.raises(Conflict):
            rules.require_extension(doctor, lapsed, 3, RX.valid_until if lapsed is RX else NOW)


def test_the_prescriber_is_the_encounters_own_doctor_in_an_open_encounter():
    doctor = Principal.user("acc_doc", Role.doctor)
    assert rules.require_prescriber(doctor, ONLINE, "enc_1") == ONLINE
    with pytest.raises(NotFound):
        rules.require_prescriber(Principal.user("acc_doc2", Role.doctor), ONLINE, "enc_1")
    with pytest.raises(NotFound):
        rules.require_prescriber(doctor, None, "enc_1")
    with pytest.raises(Forbidden):
        rules.require_prescriber(Principal.service("records"), ONLINE, "enc_1")
    with pytest.raises(Conflict):
        rules.require_prescriber(doctor, replace(ONLINE, open=False), "enc_1")


# the property ---------------------------------------------------------------------------------------------------------
CODES = sorted(FORMULARY)
CONTROLLED = {"narcotic", "psychotropic_1", "psychotropic_2"}
EXCLUDED = CONTROLLED | {"toxic", "radioactive", "antimicrobial"}


def breaks(req: PrescriptionRequest, prescriber: Prescriber, patient: PatientFacts, encounter: EncounterFacts,
           today: date) -> bool:
    """The rules as the law states them, written apart from ``rules.check``."""
    drugs = [FORMULARY.get(i.drug_code) for i in req.items]
    if any(d is None or not d.active for d in drugs):
        return True
    if any(i.route not in d.routes for i, d in zip(req.items, drugs, strict=True)):
        return True
    if any(c not in ICD10 for c in req.diagnoses):
        return True
    if prescriber.role != Role.doctor or not prescriber.active or not prescriber.licence_number:
        return True
    if not patient.verified:
        return True
    age = today.year - patient.birth_date.year - ((today.month, today.day) < (patient.birth_date.month,
                                                                            patient.birth_date.day))
    if age < 6 and req.guardian is None:
        return True
    if encounter.online:
        if not (encounter.follow_up and encounter.prior_in_person_diagnosis):
            return True
        since = prescriber.practising_since
        if since is None or (today.year - since.year - ((today.month, today.day) < (since.month, since.day))) < 3:
            return True
        if any(CONTROLLED & set(d.categories) for d in drugs):
            return True
    for d in drugs:
        if d.ingredient in patient.allergies or any(a[0].isupper() and d.atc.startswith(a) for a in patient.allergies):
            return True
    classes = [d.atc[:5] for d in drugs]
    if len(set(classes)) < len(classes):
        return True
    current = {c.atc[:5] for c in patient.current} | {c.ingredient for c in patient.current}
    if any(d.atc[:5] in current or d.ingredient in current for d in drugs):
        return True
    longest = max(i.days for i in req.items)
    if req.kind == PrescriptionKind.emergency and longest > 3:
        return True
    if req.kind == PrescriptionKind.ordinary and longest > (30 if req.longer_supply_reason else 7):
        return True
    if req.kind == PrescriptionKind.long_term:
        if longest > 84 or not req.stable_chronic or any(not ICD10[c].chronic for c in req.diagnoses):
            return True
        if any(EXCLUDED & set(d.categories) for d in drugs):
            return True
    return False


def usually(value, other):
    """Mostly ``value`` (a prescription that keeps the rules must be common enough to test both sides)."""
    return st.one_of(st.just(value), st.just(value), st.just(value), other)


items = st.builds(lambda code, right_route, route, days: item(
    code, route=FORMULARY[code].routes[0] if right_route and code in FORMULARY else route, days=days),
    st.sampled_from(CODES + ["NOPE-1"]), usually(True, st.just(False)),
    st.sampled_from(["oral", "topical", "subcutaneous", "nasal"]), st.one_of(st.integers(1, 7), st.integers(1, 84)))
requests = st.builds(
    lambda its, dx, kind, reason, stable, guardian: PrescriptionRequest(
        items=its, diagnoses=dx, kind=kind, longer_supply_reason=reason, stable_chronic=stable,
        guardian=Guardian(name="王芳", relationship="parent") if guardian else None),
    st.lists(items, min_size=1, max_size=3),
    st.lists(usually("I10", st.sampled_from(sorted(ICD10) + ["Z99.9"])), min_size=1, max_size=2),
    usually(PrescriptionKind.ordinary, st.sampled_from(list(PrescriptionKind))),
    st.sampled_from([None, "老年慢性病，行动不便"]), st.booleans(), st.booleans())
patients = st.builds(
    lambda verified, birth, allergies, current: PatientFacts(
        patient_id="pat_1", verified=verified, birth_date=birth, allergies=tuple(allergies),
        current=tuple(rules.prescribed(item(c), FORMULARY[c]) for c in current)),
    usually(True, st.just(False)), usually(date(1980, 5, 1), st.dates(date(1930, 1, 1), TODAY)),
    usually([], st.lists(st.sampled_from(["amoxicillin", "J01", "C08C", "metformin", "N05"]), max_size=2)),
    usually([], st.lists(st.sampled_from(["NIF-30-TAB", "MET-500-TAB", "OME-20-CAP"]), max_size=2)))
encounters = usually(IN_PERSON, st.builds(lambda online, follow_up, prior: EncounterFacts(
    encounter_id="enc_1", patient_id="pat_1", doctor_id="acc_doc", online=online, follow_up=follow_up,
    prior_in_person_diagnosis=prior, open=True), st.booleans(), st.booleans(), st.booleans()))
prescribers = usually(DOCTOR, st.builds(lambda active, licence, since: DOCTOR.model_copy(update={
    "active": active, "licence_number": licence, "practising_since": since}),
    st.booleans(), st.sampled_from([None, "110440000012345"]), st.one_of(st.none(), st.dates(date(2000, 1, 1), TODAY))))


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(requests, prescribers, patients, encounters)
def test_nothing_that_breaks_a_rule_passes_the_check_and_nothing_that_keeps_them_is_refused(req, prescriber, patient,
                                                                                           encounter):
    refusals = rules.check(req, FORMULARY, ICD10, prescriber, patient, encounter, TODAY)
    assert bool(refusals) == breaks(req, prescriber, patient, encounter, TODAY), refusals
