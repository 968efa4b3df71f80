"""The encounters' pure rules: who opens one, what an appointment makes of it, who reads and writes, what signing
needs."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from contracts.records.encounters import Diagnosis, EncounterMode, ReportContent
from services.records.encounters import rules
from services.records.encounters.rules import KnownAppointment
from services.records.signing import content_hash
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DOCTOR = Principal.user("acc_doc", Role.doctor)
OTHER_DOCTOR = Principal.user("acc_doc2", Role.doctor)
PATIENT = Principal.user("acc_pat", Role.patient, patients=("pat_1",))
RELATIVE = Principal.user("acc_rel", Role.patient, patients=("pat_2",))
PHARMACIST = Principal.user("acc_ph", Role.pharmacist)
VISIT = KnownAppointment(id="apt_1", patient_id="pat_1", doctor_id="acc_doc", department="urology",
                         service="first_visit", kind="visit", online=False, status="confirmed")
ONLINE_FOLLOW_UP = replace(VISIT, service="online_video", kind="online_diagnosis", online=True)
CONSULTATION = replace(VISIT, service="online_video", kind="consultation_only", online=True)
CODES = {"N41.1", "I10"}


def test_only_the_appointments_doctor_opens_its_encounter():
    assert rules.may_open(DOCTOR, VISIT, "apt_1") == VISIT
    with pytest.raises(NotFound) as other:
        rules.may_open(OTHER_DOCTOR, VISIT, "apt_1")
    assert other.value.errors[0]["field"] == "appointment_id"
    with pytest.raises(NotFound):
        rules.may_open(DOCTOR, None, "apt_1")
    with pytest.raises(Forbidden):
        rules.require_doctor(PATIENT)


@pytest.mark.parametrize("status", sorted(rules.ENDED_APPOINTMENT))
def test_no_encounter_for_a_visit_that_will_not_take_place(status):
    with pytest.raises(Conflict):
        rules.may_open(DOCTOR, replace(VISIT, status=status), "apt_1")


def test_the_mode_follows_the_booking():
    assert rules.visit_mode(VISIT, None) == EncounterMode.in_person
    assert rules.visit_mode(ONLINE_FOLLOW_UP, None) == EncounterMode.video
    assert rules.visit_mode(ONLINE_FOLLOW_UP, EncounterMode.images) == EncounterMode.images
    for appointment, mode in ((VISIT, EncounterMode.video), (ONLINE_FOLLOW_UP, EncounterMode.in_person)):
        with pytest.raises(InvalidInput) as refused:
            rules.visit_mode(appointment, mode)
        assert refused.value.errors[0]["field"] == "mode"


def test_a_follow_up_and_a_prior_in_person_diagnosis_come_from_bookings_kind_of_visit():
    first = rules.new_encounter("enc_1", VISIT, EncounterMode.in_person, NOW)
    assert not first.follow_up and not first.prior_in_person_diagnosis and first.status == "open"
    online = rules.new_encounter("enc_2", ONLINE_FOLLOW_UP, EncounterMode.video, NOW)
    assert online.follow_up and online.prior_in_person_diagnosis and online.online
    consult = rules.new_encounter("enc_3", CONSULTATION, EncounterMode.video, NOW)
    assert not consult.follow_up and not consult.prior_in_person_diagnosis
    in_person_follow_up = rules.new_encounter("enc_4", replace(VISIT, service="follow_up"), EncounterMode.in_person,
                                              NOW)
    assert in_person_follow_up.follow_up and in_person_follow_up.prior_in_person_diagnosis


def test_who_reads_and_who_writes():
    encounter = rules.new_encounter("enc_1", VISIT, EncounterMode.in_person, NOW)
    assert rules.sees(DOCTOR, encounter) and rules.sees(PATIENT, encounter)
    assert not rules.sees(RELATIVE, encounter) and not rules.sees(OTHER_DOCTOR, encounter)
    assert rules.sees(OTHER_DOCTOR, encounter, cares=True)  # a doctor caring for the patient
    assert not rules.sees(PHARMACIST, encounter, cares=True)
    assert not rules.sees(PATIENT, encounter, links=())  # live links decide, not the token's list
    rules.require_author(DOCTOR, encounter)
    for reader in (PATIENT, OTHER_DOCTOR):
        with pytest.raises(Forbidden):
            rules.require_author(reader, encounter)


def test_signing_needs_the_analysis_a_diagnosis_and_known_codes():
    assert [p["field"] for p in rules.signing_problems(None, CODES)] == ["draft"]
    assert {p["field"] for p in rules.signing_problems(ReportContent(), CODES)} == {"condition_analysis",
                                                                                   "diagnoses"}
    content = ReportContent(condition_analysis="…", diagnoses=[Diagnosis(code="N41.1", text="慢性前列腺炎"),
                                                               Diagnosis(code="Z99.8", text="?")])
    assert [p["field"] for p in rules.signing_problems(content, CODES)] == ["diagnoses[1].code"]
    fine = ReportContent(condition_analysis="…", diagnoses=[Diagnosis(code="I10", text="高血压")])
    assert rules.require_signable(fine, CODES) is fine


def test_a_signed_or_closed_encounter_refuses_drafts():
    encounter = rules.new_encounter("enc_1", VISIT, EncounterMode.in_person, NOW)
    rules.require_open(encounter)
    rules.require_unsigned(encounter)
    with pytest.raises(Conflict):
        rules.require_signed(encounter)
    with pytest.raises(Conflict):
        rules.require_unsigned(replace(encounter, signed_versions=1))
    with pytest.raises(Conflict):
        rules.require_open(replace(encounter, status="closed"))


def test_an_older_appointment_event_does_not_overwrite_a_newer_one():
    assert rules.is_newer(None, 3) and rules.is_newer(replace(VISIT, sequence=2), 3)
    assert not rules.is_newer(replace(VISIT, sequence=3), 2)


def test_the_content_hash_is_of_the_content_not_its_spelling():
    a = {"b": 1, "a": ["x", {"d": "病", "c": None}]}
    b = {"a": ["x", {"c": None, "d": "病"}], "b": 1}
    assert content_hash(a) == content_hash(b) and len(content_hash(a)) == 64
    assert content_hash(a) != content_hash({**a, "b": 2})
