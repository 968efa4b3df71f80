"""The patients' use cases over an in-memory store: registration, who may see a record (a refusal looks like a missing
record and is audited), changes, real-name identity, links, the contact for notify, the prescribing facts for records,
care from booking's facts."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.intake.events import (
    PatientIdentityDocumentRecorded,
    PatientIdentityVerified,
    PatientLinkCreated,
    PatientLinkRemoved,
    PatientRegistered,
)
from contracts.intake.patients import IdentityDocumentInput, IdentityVerification, PatientChange, PatientRegistration
from services.intake.patients import rules, usecases
from tests.people import user
from tests.unit.intake.fakes import KEYS
from tests.unit.intake.patients.fakes import FakePatientStore
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
TODAY = date(2026, 3, 2)
RESIDENT_ID = "11010519491231002X"  # born 1949-12-31, female
GRANDMOTHER = {"name": "王秀英", "sex": "female", "birth_date": "1949-12-31", "phone": "13812345678"}

PATIENT = user(Role.patient, "acc_p1")
OTHER_PATIENT = user(Role.patient, "acc_p2")
CONSULTANT = user(Role.consultant, "acc_c1")
TEAM_LEAD = user(Role.team_lead, "acc_t1")
DOCTOR = user(Role.doctor, "acc_d1")
MANAGER = user(Role.manager, "acc_m1")
ADMIN = user(Role.admin, "acc_a1")


def reg(**changes) -> PatientRegistration:
    return PatientRegistration.model_validate({**GRANDMOTHER, **changes})


@pytest.fixture
def store() -> FakePatientStore:
    return FakePatientStore()


def register(store, caller=PATIENT, now=NOW, **changes):
    return usecases.register_patient(store, caller, reg(**changes), now)


def entries(store: FakePatientStore, **match) -> list[dict]:
    return [e for e in store.audited if all(e.get(k) == v for k, v in match.items())]


def document(number: str = RESIDENT_ID, kind: str = "resident_id") -> IdentityDocumentInput:
    return IdentityDocumentInput(document_type=kind, number=number)


# registering -------------------------------------------------------------------------------------------------------
def test_a_registration_stores_the_record_and_emits_the_fact_with_it(store):
    patient = register(store, CONSULTANT)
    assert patient.name == "王秀英" and patient.registered_at.endswith("+08:00")
    ((subject, event),) = store.emitted
    assert subject == patient.id and event == PatientRegistered(patient_id=patient.id, sex="female", birth_year=1949)
    assert entries(store, action="C", entity_type="Patient", entity_id=patient.id, outcome="success")
    assert usecases.get_patient(store, CONSULTANT, patient.id, NOW) == patient


def test_a_patient_must_say_who_the_patient_is_to_them(store):
    with pytest.raises(InvalidInput) as info:
        register(store)
    assert info.value.errors[0]["field"] == "relationship"
    assert store.records == {} and store.emitted == []


def test_staff_register_without_a_relationship(store):
    with pytest.raises(InvalidInput) as info:
        register(store, CONSULTANT, relationship="child")
    assert info.value.errors[0]["field"] == "relationship"
    assert register(store, TEAM_LEAD).name == "王秀英"


@pytest.mark.parametrize("caller", [DOCTOR, MANAGER, ADMIN, Caller(), Caller.service("notify")],
                         ids=["doctor", "manager", "admin", "anonymous", "service"])
def test_only_patients_consultants_and_team_leads_register(store, caller):
    with pytest.raises(Forbidden):
        register(store, caller)
    assert store.records == {} and store.emitted == []


def test_a_patient_account_is_linked_to_the_records_it_registers(store):
    own = register(store, relationship="self")
    mother = register(store, name="李梅", relationship="parent")
    links = {link["patient_id"]: link for link in store.links.values()}
    assert links[own.id]["is_self"] is True and links[mother.id]["is_self"] is False
    assert links[mother.id]["relationship"] == "parent" and links[mother.id]["account_id"] == "acc_p1"
    assert store.linked_patients("acc_p1") == {own.id, mother.id}
    assert store.care == []  # a patient account gets links, not care relations
    created = store.events(PatientLinkCreated)
    assert [(e.patient_id, e.relationship) for e in created] == [(own.id, "self"), (mother.id, "parent")]
    listed = usecases.linked(store, PATIENT)
    assert sorted((p.patient_id, p.relationship, p.name) for p in listed) == sorted(
        [(own.id, "self", "王秀英"), (mother.id, "parent", "李梅")])
    assert len(entries(store, detail="linked list")) == 2  # each record shown is a read in the audit trail


def test_relatives_share_a_phone_number(store):
    own = register(store, relationship="self")
    child = register(store, name="小明", birth_date="2015-01-01", relationship="child")
    assert store.records[own.id]["phone_index"] == store.records[child.id]["phone_index"]


def test_a_second_own_record_is_refused_and_nothing_of_it_is_kept(store):
    register(store, relationship="self")
    emitted, audited = len(store.emitted), len(store.audited)
    with pytest.raises(Conflict) as info:
        register(store, relationship="self")
    assert info.value.errors[0]["field"] == "relationship"
    assert len(store.records) == 1 and len(store.links) == 1  # the transaction left nothing
    assert len(store.emitted) == emitted and len(store.audited) == audited


def test_an_account_registers_a_few_records_a_day(store):
    register(store, relationship="self")
    for n in range(rules.RECORDS_PER_ACCOUNT_DAY.max - 1):
        register(store, name=f"亲属{n}", relationship="child")
    with pytest.raises(TooManyRequests):
        register(store, name="再一个", relationship="child")
    register(store, CONSULTANT)  # staff are not the account's limit


def test_the_token_is_not_needed_intake_checks_its_own_links(store):
    patient = register(store, relationship="self")
    assert PATIENT.principal.patients == ()  # the token was issued before the record existed
    assert usecases.get_patient(store, PATIENT, patient.id, NOW).id == patient.id
    stale = Caller(principal=Principal.user("acc_p2", Role.patient, patients=(patient.id,)))
    with pytest.raises(NotFound):  # a token claiming a record intake has no link for
        usecases.get_patient(store, stale, patient.id, NOW)


def test_registration_events_carry_no_personal_data(store):
    register(store, relationship="self")
    for _, event in store.emitted:
        dumped = str(event.model_dump())
        assert "王秀英" not in dumped and "13812345678" not in dumped and "1949-12-31" not in dumped
    assert isinstance(store.emitted[0][1], PatientRegistered) and store.emitted[0][1].birth_year == 1949


# who may see a record ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", [OTHER_PATIENT, DOCTOR, user(Role.consultant, "acc_c2"), MANAGER, ADMIN,
                                    Caller(), Caller.service("reports")],
                         ids=["other patient", "doctor", "other consultant", "manager", "admin", "anonymous",
                              "service"])
def test_a_refused_read_looks_like_a_missing_record_and_is_audited(store, caller):
    patient = register(store, CONSULTANT)
    with pytest.raises(NotFound) as refused:
        usecases.get_patient(store, caller, patient.id, NOW)
    with pytest.raises(NotFound) as missing:
        usecases.get_patient(store, caller, "pat_missing", NOW)
    assert refused.value.detail.replace(patient.id, "ID") == missing.value.detail.replace("pat_missing", "ID")
    (denied,) = entries(store, entity_id=patient.id, outcome="denied")
    assert denied["action"] == "R" and denied["agent_id"] == (caller.principal.sub or None)
    assert entries(store, entity_id=patient.id, action="R", outcome="success") == []


def test_the_registering_consultants_care_relation_lasts_thirty_days(store):
    patient = register(store, CONSULTANT)
    (care,) = store.care
    assert care["staff_id"] == "acc_c1" and care["kind"] == "registration"
    assert care["until"] - NOW == rules.REGISTRATION_CARE
    assert usecases.get_patient(store, CONSULTANT, patient.id, NOW + timedelta(days=29)).id == patient.id
    with pytest.raises(NotFound):
        usecases.get_patient(store, CONSULTANT, patient.id, NOW + timedelta(days=30))


def test_a_care_relation_without_an_end_lets_a_doctor_read_but_not_change_contact_details(store):
    patient = register(store, CONSULTANT)
    store.grant_care(None, "acc_d1", patient.id, "encounter", "enc_1", NOW, None)
    assert usecases.get_patient(store, DOCTOR, patient.id, NOW + timedelta(days=400)).id == patient.id
    with pytest.raises(NotFound):
        usecases.change_patient(store, DOCTOR, patient.id, PatientChange(address="北京市"), NOW)
    assert entries(store, agent_id="acc_d1", action="U", outcome="denied")


def test_the_narrow_access_the_other_capabilities_get(store):
    patient = register(store, relationship="self")
    access = usecases.PatientAccess(store)
    assert access.exists(patient.id) and not access.exists("pat_missing")
    assert access.linked("acc_p1") == {patient.id} and access.surname(patient.id) == "王"
    assert access.may_see(PATIENT, patient.id, NOW) and not access.may_see(CONSULTANT, patient.id, NOW)
    assert access.may_see(PATIENT, patient.id, NOW, staff_roles=())  # a patient account by its links, always
    access.grant_care(None, "acc_c1", patient.id, "consultation", "con_1", NOW, NOW + timedelta(days=1))
    assert access.may_see(CONSULTANT, patient.id, NOW)
    assert not access.may_see(CONSULTANT, patient.id, NOW, staff_roles=())  # complaints: no staff role reads
    assert access.end_care(None, "consultation", "con_1", NOW) == 1
    assert not access.may_see(CONSULTANT, patient.id, NOW)


# changing ----------------------------------------------------------------------------------------------------------
def test_a_patient_changes_their_contact_details(store):
    patient = register(store, relationship="self")
    changed = usecases.change_patient(store, PATIENT, patient.id,
                                      PatientChange(phone="+86 139 0000 1111", address="上海市徐汇区漕溪北路1号"), NOW)
    assert changed.phone == "13900001111" and changed.address == "上海市徐汇区漕溪北路1号"
    doc = store.records[patient.id]
    assert doc["phone_index"] == KEYS.blind_index("phone", "13900001111") and "漕溪" not in str(doc)
    (update,) = entries(store, action="U")
    assert update["detail"] == "address,phone" and update["outcome"] == "success"  # which fields, not the values


def test_an_empty_change_is_refused(store):
    patient = register(store, relationship="self")
    with pytest.raises(InvalidInput):
        usecases.change_patient(store, PATIENT, patient.id, PatientChange(), NOW)


def test_another_account_cannot_change_a_record(store):
    patient = register(store, relationship="self")
    with pytest.raises(NotFound):
        usecases.change_patient(store, OTHER_PATIENT, patient.id, PatientChange(phone="13900001111"), NOW)
    assert usecases.get_patient(store, PATIENT, patient.id, NOW).phone == "13812345678"


# real-name identity ------------------------------------------------------------------------------------------------
def test_a_resident_id_is_recorded_encrypted_and_shown_masked(store):
    patient = register(store, relationship="self")
    shown = usecases.record_identity_document(store, PATIENT, patient.id, document(RESIDENT_ID.lower()), NOW, TODAY)
    assert shown.identity.number == "110***********002X" and shown.identity.status == "unverified"
    doc = store.records[patient.id]
    assert RESIDENT_ID not in str(doc) and doc["identity"]["recorded_by"] == "acc_p1"
    assert doc["document_index"] == KEYS.blind_index("document", f"resident_id:{RESIDENT_ID}")
    assert store.emitted[-1] == (patient.id, PatientIdentityDocumentRecorded(patient_id=patient.id,
                                                                             document_type="resident_id"))
    assert entries(store, subtype="identity-document", outcome="success")


def test_a_resident_id_must_match_the_records_birth_date_and_sex(store):
    patient = register(store, CONSULTANT, sex="male", birth_date="1950-01-01")
    with pytest.raises(InvalidInput) as info:
        usecases.record_identity_document(store, CONSULTANT, patient.id, document(), NOW, TODAY)
    assert [e["message"] for e in info.value.errors] == ["its birth date differs from the patient's",
                                                         "its sex digit differs from the patient's"]
    assert "identity" not in store.records[patient.id]


def test_a_mistyped_resident_id_is_refused_without_echoing_it(store):
    patient = register(store, CONSULTANT)
    with pytest.raises(InvalidInput) as info:
        usecases.record_identity_document(store, CONSULTANT, patient.id, document("11010519491231003X"), NOW, TODAY)
    assert info.value.errors[0]["field"] == "number" and "110105" not in str(info.value.payload)


def test_a_document_belongs_to_one_patient_record_only(store):
    first = register(store, CONSULTANT)
    second = register(store, CONSULTANT)  # a duplicate record
    usecases.record_identity_document(store, CONSULTANT, first.id, document("E12345678", "passport"), NOW, TODAY)
    emitted = len(store.emitted)
    with pytest.raises(Conflict) as info:
        usecases.record_identity_document(store, CONSULTANT, second.id, document("e1234 5678", "passport"), NOW,
                                          TODAY)
    assert info.value.errors[0]["field"] == "number"
    assert "identity" not in store.records[second.id] and len(store.emitted) == emitted
    # the same number as another kind of document is another document
    usecases.record_identity_document(store, CONSULTANT, second.id, document("H12345678", "hk_macao_permit"), NOW,
                                      TODAY)


def test_staff_who_saw_the_document_verify_it_once(store):
    patient = register(store, CONSULTANT)
    with pytest.raises(Conflict):  # nothing to verify yet
        usecases.verify_identity(store, CONSULTANT, patient.id, IdentityVerification(method="in_person"), NOW)
    usecases.record_identity_document(store, CONSULTANT, patient.id, document(), NOW, TODAY)
    verified = usecases.verify_identity(store, CONSULTANT, patient.id, IdentityVerification(method="video"), NOW)
    assert verified.identity.status == "verified" and verified.identity.method == "video"
    assert verified.identity.verified_at is not None
    assert store.records[patient.id]["identity"]["verified_by"] == "acc_c1"
    assert store.emitted[-1][1] == PatientIdentityVerified(patient_id=patient.id, document_type="resident_id",
                                                           method="video", verified_by="acc_c1")
    with pytest.raises(Conflict):
        usecases.verify_identity(store, CONSULTANT, patient.id, IdentityVerification(method="in_person"), NOW)
    (entry,) = entries(store, subtype="verify-identity", outcome="success")
    assert entry["detail"] == "video"


def test_patients_cannot_verify_their_own_documents(store):
    patient = register(store, relationship="self")
    usecases.record_identity_document(store, PATIENT, patient.id, document(), NOW, TODAY)
    with pytest.raises(Forbidden):
        usecases.verify_identity(store, PATIENT, patient.id, IdentityVerification(method="in_person"), NOW)
    with pytest.raises(NotFound):  # a verifier role is not enough: it needs a care relation
        usecases.verify_identity(store, DOCTOR, patient.id, IdentityVerification(method="in_person"), NOW)
    assert store.records[patient.id]["identity"]["status"] == "unverified"


# links -------------------------------------------------------------------------------------------------------------
def test_a_patient_stops_acting_for_a_relative(store):
    own = register(store, relationship="self")
    mother = register(store, name="李梅", relationship="parent")
    usecases.remove_link(store, PATIENT, mother.id, NOW)
    assert store.linked_patients("acc_p1") == {own.id}
    subject, event = store.emitted[-1]
    assert subject == mother.id and isinstance(event, PatientLinkRemoved) and event.account_id == "acc_p1"
    (entry,) = entries(store, action="D")
    assert entry["entity_type"] == "PatientLink" and entry["patient_id"] == mother.id
    with pytest.raises(NotFound):
        usecases.get_patient(store, PATIENT, mother.id, NOW)
    with pytest.raises(NotFound):  # once
        usecases.remove_link(store, PATIENT, mother.id, NOW)
    with pytest.raises(NotFound):  # one's own record stays one's own
        usecases.remove_link(store, PATIENT, own.id, NOW)
    with pytest.raises(Forbidden):
        usecases.remove_link(store, CONSULTANT, own.id, NOW)
    assert usecases.removed_links(store, NOW) == [{"account_id": "acc_p1", "patient_id": mother.id,
                                                   "removed_at": "2026-03-02T08:00:00.000Z"}]
    assert usecases.removed_links(store, NOW + timedelta(seconds=1)) == []
    register(store, name="李梅", relationship="parent")  # a removed link is inactive: a new one may be made


def test_only_identity_asks_which_records_an_account_acts_for(store):
    own = register(store, relationship="self")
    assert usecases.linked_ids(store, Caller.service("identity"), "acc_p1") == [own.id]
    assert usecases.linked_ids(store, Caller.service("identity"), "acc_nobody") == []
    for caller in (PATIENT, ADMIN, Caller.service("notify")):
        with pytest.raises(Forbidden):
            usecases.linked_ids(store, caller, "acc_p1")
    with pytest.raises(Forbidden):
        usecases.linked(store, CONSULTANT)


def test_only_notify_reads_contact_details_and_that_is_audited(store):
    patient = register(store, CONSULTANT)
    assert usecases.get_contact(store, Caller.service("notify"), patient.id) == {"name": "王秀英",
                                                                                 "phone": "13812345678"}
    (entry,) = entries(store, detail="contact")
    assert entry["agent_kind"] == "service" and entry["agent_id"] == "notify" and entry["action"] == "R"
    for caller in (CONSULTANT, PATIENT, Caller.service("reports")):
        with pytest.raises(Forbidden):
            usecases.get_contact(store, caller, patient.id)
    with pytest.raises(NotFound):
        usecases.get_contact(store, Caller.service("notify"), "pat_missing")


def test_only_records_reads_the_prescribing_facts_and_that_is_audited(store):
    records = Caller.service("records")
    patient = register(store, CONSULTANT)
    facts = usecases.prescribing_facts(store, records, patient.id)
    assert facts.model_dump() == {"patient_id": patient.id, "verified": False, "birth_date": date(1949, 12, 31)}
    (entry,) = entries(store, detail="prescribing facts")
    assert (entry["action"], entry["subtype"], entry["entity_type"], entry["entity_id"], entry["patient_id"],
            entry["agent_kind"], entry["agent_id"], entry["outcome"]) == (
        "R", "read", "Patient", patient.id, patient.id, "service", "records", "success")
    usecases.record_identity_document(store, CONSULTANT, patient.id, document(), NOW, TODAY)
    assert not usecases.prescribing_facts(store, records, patient.id).verified  # recorded, not yet verified
    usecases.verify_identity(store, CONSULTANT, patient.id, IdentityVerification(method="in_person"), NOW)
    assert usecases.prescribing_facts(store, records, patient.id).verified
    audited = len(store.audited)
    for caller in (DOCTOR, CONSULTANT, PATIENT, ADMIN, Caller.service("notify"), Caller.service("pharmacy"),
                   Caller()):
        with pytest.raises(Forbidden):
            usecases.prescribing_facts(store, caller, patient.id)
    with pytest.raises(NotFound):
        usecases.prescribing_facts(store, records, "pat_missing")
    assert len(store.audited) == audited


# care relationships from booking's facts ---------------------------------------------------------------------------
def test_an_appointment_gives_its_doctor_care_until_thirty_days_after_the_visit_and_a_cancellation_ends_it(store):
    patient = register(store, CONSULTANT)
    end = NOW + timedelta(days=3)
    usecases.care_for_appointment(store, None, "acc_d1", patient.id, "apt_1", end, NOW)
    assert usecases.get_patient(store, DOCTOR, patient.id, end + timedelta(days=29)).id == patient.id
    with pytest.raises(NotFound):
        usecases.get_patient(store, DOCTOR, patient.id, end + timedelta(days=30))
    start = NOW + timedelta(days=10)
    usecases.appointment_rescheduled(store, None, "apt_1", start)
    assert usecases.get_patient(store, DOCTOR, patient.id, start + timedelta(days=30, hours=3)).id == patient.id
    usecases.appointment_cancelled(store, None, "apt_1", NOW + timedelta(hours=1))
    with pytest.raises(NotFound):
        usecases.get_patient(store, DOCTOR, patient.id, NOW + timedelta(hours=1))
