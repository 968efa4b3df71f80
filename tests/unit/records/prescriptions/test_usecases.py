"""The prescriptions' use cases over an in-memory store: signing (a refusal stores nothing and is audited as
denied), the pharmacist's review (only an approval within validity takes effect, once), the lapse of what nobody
approved, the doctor's extension, who reads — and the property that nothing breaking a rule is ever signed."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from contracts.records.encounters import EncounterMode, EncounterStatus
from contracts.records.events import (
    PrescriptionLapsed,
    PrescriptionRejected,
    PrescriptionReviewed,
    PrescriptionSigned,
    PrescriptionTookEffect,
)
from contracts.records.prescriptions import ExtendRequest, PrescriptionQuery, PrescriptionStatus, ReviewRequest
from services.records.encounters.rules import EncounterRecord
from services.records.prescriptions import usecases
from services.records.signing import content_hash
from tests.people import user
from tests.unit.records.data import FORMULARY, ICD10
from tests.unit.records.prescriptions.fakes import FakeClinical, FakePrescriptionStore
from tests.unit.records.prescriptions.test_rules import DOCTOR as PRESCRIBER
from tests.unit.records.prescriptions.test_rules import breaks, encounters, patients, prescribers, requests
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DOCTOR = user(Role.doctor, "acc_doc")
OTHER_DOCTOR = user(Role.doctor, "acc_doc2")
PHARMACIST = user(Role.pharmacist, "acc_ph")
PATIENT = user(Role.patient, "acc_p", patients=("pat_1",))
STRANGER = user(Role.patient, "acc_q", patients=("pat_2",))
ENCOUNTER = EncounterRecord(
    id="enc_1", patient_id="pat_1", doctor_id="acc_doc", appointment_id="apt_1", department="cardiology",
    mode=EncounterMode.video, online=True, follow_up=True, prior_in_person_diagnosis=True,
    status=EncounterStatus.open, opened_at=NOW)
BODY = {"items": [{"drug_code": "AML-5-TAB", "dose": "5 mg", "route": "oral", "frequency": "qd", "days": 7,
                   "quantity": 1}], "diagnoses": ["I10"]}


def outside(verified=True, birth=date(1980, 5, 1), prescriber=PRESCRIBER) -> usecases.Outside:
    return usecases.Outside(prescriber=lambda _id: prescriber, patient=lambda _id: (verified, birth),
                            drugs=lambda codes: {c: FORMULARY[c] for c in codes if c in FORMULARY},
                            diagnoses=lambda codes: {c: ICD10[c] for c in codes if c in ICD10})


@pytest.fixture
def store():
    return FakePrescriptionStore()


@pytest.fixture
def clinical():
    return FakeClinical(ENCOUNTER)


def sign(store, clinical, body=None, caller=DOCTOR, now=NOW, **facts):
    from contracts.records.prescriptions import PrescriptionRequest

    return usecases.sign(store, clinical, outside(**facts), caller, "enc_1",
                         PrescriptionRequest.model_validate(body or BODY), now)


def test_signing_stores_what_was_signed_with_its_hash_and_waits_for_review(store, clinical):
    rx = sign(store, clinical)
    assert rx.status == PrescriptionStatus.pending_review and rx.validity_days == 1
    assert rx.valid_until == "2026-12-06T00:00:00.000+08:00" and rx.total_fen == 2960 and not rx.cold_chain
    assert rx.items[0].name == "苯磺酸氨氯地平片" and rx.diagnoses[0].name == "原发性高血压"
    assert rx.content_hash == content_hash(store.signed_document(rx.id))
    assert rx.retention.years == 1 and rx.retention.until.startswith("2027-12-05")
    [(subject, event)] = store.emitted
    assert subject == rx.id and isinstance(event, PrescriptionSigned) and event.items == 1
    assert store.sequences == [(rx.id, 1)]
    assert store.audited[-1]["subtype"] == "prescribe" and store.audited[-1]["outcome"] == "success"
    assert clinical.encounters["enc_1"].prescriptions == 1


def test_a_refused_prescription_stores_nothing_names_every_rule_and_is_audited_as_denied(store, clinical):
    body = {**BODY, "items": [{**BODY["items"][0], "drug_code": "ZOL-10-TAB", "days": 10}]}
    with pytest.raises(InvalidInput) as refused:
        sign(store, clinical, body, verified=False)
    assert {e["type"] for e in refused.value.errors} == {"online_controlled_drug", "real_name", "days_supply"}
    assert store.rxs == {} and store.emitted == [] and clinical.encounters["enc_1"].prescriptions == 0
    assert store.audited[-1]["outcome"] == "denied" and store.audited[-1]["detail"] == (
        "days_supply,online_controlled_drug,real_name")


def test_only_the_encounters_doctor_prescribes_in_it_while_it_is_open(store, clinical):
    with pytest.raises(NotFound):
        sign(store, clinical, caller=OTHER_DOCTOR)
    with pytest.raises(Forbidden):
        sign(store, clinical, caller=PHARMACIST)
    clinical.encounters["enc_1"] = ENCOUNTER.__class__(**{**vars(ENCOUNTER), "status": EncounterStatus.closed})
    with pytest.raises(Conflict):
        sign(store, clinical)
    assert store.rxs == {} and [a["outcome"] for a in store.audited] == ["denied"] * 3


def test_duplicate_therapy_counts_what_the_patient_already_has_in_effect(store, clinical):
    sign(store, clinical)
    with pytest.raises(InvalidInput) as twice:
        sign(store, clinical)
    assert twice.value.errors[0]["type"] == "duplicate_therapy"
    clinical.allergies_["pat_1"] = ("amlodipine",)  # a report signed since recorded it
    with pytest.raises(InvalidInput) as allergic:
        sign(store, clinical)
    assert {e["type"] for e in allergic.value.errors} == {"allergy", "duplicate_therapy"}


def test_an_approval_makes_it_take_effect_once(store, clinical):
    rx = sign(store, clinical)
    approved = usecases.review(store, clinical, PHARMACIST, rx.id, ReviewRequest(outcome="approve"), NOW)
    assert approved.status == PrescriptionStatus.took_effect and approved.review.reviewer_id == "acc_ph"
    reviewed, took_effect = store.events(PrescriptionReviewed)[0], store.events(PrescriptionTookEffect)[0]
    assert reviewed.outcome == "approved" and took_effect.total_fen == 2960 and took_effect.reviewer_id == "acc_ph"
    assert store.sequences[1:] == [(rx.id, 2), (rx.id, 3)]  # signed 1, reviewed 2, took effect 3
    with pytest.raises(Conflict):  # reviewed already (the same pharmacist still sees it)
        usecases.review(store, clinical, PHARMACIST, rx.id, ReviewRequest(outcome="reject", reason="dose"), NOW)
    with pytest.raises(NotFound):  # out of the queue: another pharmacist no longer sees it
        usecases.review(store, clinical, user(Role.pharmacist, "acc_ph2"), rx.id, ReviewRequest(outcome="reject",
                                                                                                reason="dose"), NOW)


def test_a_rejected_or_changed_prescription_never_takes_effect(store, clinical):
    rejected = sign(store, clinical)
    note = "与患者正在服用的药物相互作用"
    done = usecases.review(store, clinical, PHARMACIST, rejected.id,
                           ReviewRequest(outcome="reject", reason="interaction", note=note), NOW)
    assert done.status == PrescriptionStatus.rejected and done.review.note == note
    assert store.events(PrescriptionRejected)[0].reason == "interaction"
    with pytest.raises(Conflict):
        usecases.review(store, clinical, PHARMACIST, rejected.id, ReviewRequest(outcome="approve"), NOW)
    changed = sign(store, clinical)  # a rejected one is no current medication: a new one is no duplicate
    usecases.review(store, clinical, PHARMACIST, changed.id, ReviewRequest(outcome="request_change", reason="dose"),
                    NOW)
    assert store.events(PrescriptionReviewed)[-1].outcome == "changes_requested"
    assert store.events(PrescriptionTookEffect) == []


def test_nobody_reviews_their_own_and_a_lapsed_one_cannot_be_approved(store, clinical):
    rx = sign(store, clinical)
    with pytest.raises(Forbidden):
        usecases.review(store, clinical, DOCTOR, rx.id, ReviewRequest(outcome="approve"), NOW)
    later = NOW + timedelta(days=1)
    with pytest.raises(Conflict):
        usecases.review(store, clinical, PHARMACIST, rx.id, ReviewRequest(outcome="approve"), later)
    assert usecases.lapse_due(store, Caller.service("records"), later) == 1
    assert store.rxs[rx.id].status == PrescriptionStatus.lapsed and store.events(PrescriptionLapsed)[0].prescription_id
    assert usecases.lapse_due(store, Caller.service("records"), later) == 0
    assert store.events(PrescriptionTookEffect) == []


def test_the_doctor_extends_validity_to_three_days_at_most_and_only_longer(store, clinical):
    rx = sign(store, clinical)
    extended = usecases.extend(store, clinical, DOCTOR, rx.id, ExtendRequest(validity_days=3, reason="患者明日取药"),
                               NOW)
    assert extended.valid_until == "2026-12-08T00:00:00.000+08:00" and extended.validity_days == 3
    with pytest.raises(Conflict):
        usecases.extend(store, clinical, DOCTOR, rx.id, ExtendRequest(validity_days=2, reason="患者明日取药"), NOW)
    with pytest.raises(NotFound):  # another doctor who does not care for the patient does not see it
        usecases.extend(store, clinical, OTHER_DOCTOR, rx.id, ExtendRequest(validity_days=3, reason="x" * 3), NOW)
    usecases.review(store, clinical, PHARMACIST, rx.id, ReviewRequest(outcome="approve"), NOW + timedelta(days=2))


def test_who_reads_and_lists_prescriptions(store, clinical):
    rx = sign(store, clinical)
    assert usecases.get(store, clinical, PATIENT, rx.id, NOW).id == rx.id
    for caller in (STRANGER, OTHER_DOCTOR, user(Role.consultant, "acc_c")):
        with pytest.raises(NotFound):
            usecases.get(store, clinical, caller, rx.id, NOW)
    assert store.audited[-1]["outcome"] == "denied"
    clinical.caring.add(("acc_doc2", "pat_1"))
    assert usecases.get(store, clinical, OTHER_DOCTOR, rx.id, NOW).id == rx.id
    queue = usecases.list_prescriptions(store, clinical, PHARMACIST, PrescriptionQuery(status="pending_review"), NOW)
    assert [r.id for r in queue] == [rx.id]
    assert usecases.list_prescriptions(store, clinical, PHARMACIST, PrescriptionQuery(), NOW) == []  # none reviewed
    assert [r.id for r in usecases.list_prescriptions(store, clinical, PATIENT, PrescriptionQuery(patient_id="pat_1"),
                                                      NOW)] == [rx.id]
    with pytest.raises(Forbidden):
        usecases.list_prescriptions(store, clinical, STRANGER, PrescriptionQuery(patient_id="pat_1"), NOW)
    with pytest.raises(Forbidden):
        usecases.list_prescriptions(store, clinical, user(Role.doctor, "acc_doc3"),
                                    PrescriptionQuery(patient_id="pat_1"), NOW)
    assert [r.id for r in usecases.list_prescriptions(store, clinical, DOCTOR, PrescriptionQuery(), NOW)] == [rx.id]


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(requests, prescribers, patients, encounters)
def test_nothing_that_breaks_a_rule_is_ever_signed(req, prescriber, patient, encounter):
    """Over random prescriptions, patients, prescribers and encounters: signed exactly when no rule is broken."""
    store, clinical = FakePrescriptionStore(), FakeClinical(EncounterRecord(
        id="enc_1", patient_id="pat_1", doctor_id="acc_doc", appointment_id="apt_1", department="cardiology",
        mode=EncounterMode.video if encounter.online else EncounterMode.in_person, online=encounter.online,
        follow_up=encounter.follow_up, prior_in_person_diagnosis=encounter.prior_in_person_diagnosis,
        status=EncounterStatus.open, opened_at=NOW))
    clinical.allergies_["pat_1"] = patient.allergies
    for n, current in enumerate(patient.current):  # what the patient takes now, as prescriptions in effect
        store.rxs[f"rx_old{n}"] = _in_effect(f"rx_old{n}", current)
    facts = dict(verified=patient.verified, birth=patient.birth_date, prescriber=prescriber)
    broken = breaks(req, prescriber, patient, encounter, date(2026, 12, 5))
    try:
        usecases.sign(store, clinical, outside(**facts), DOCTOR, "enc_1", req, NOW)
        signed = True
    except InvalidInput:
        signed = False
    assert signed != broken
    assert (len(store.rxs) - len(patient.current)) == (1 if signed else 0)
    assert len(store.events(PrescriptionSigned)) == (1 if signed else 0)


def _in_effect(rx_id: str, current):
    from dataclasses import replace

    from tests.unit.records.prescriptions.test_rules import RX

    return replace(RX, id=rx_id, status=PrescriptionStatus.took_effect, items=(current,),
                   supply_until=NOW + timedelta(days=20))
