"""intake's access rules and real-name identity, with an in-memory store (uniqueness from the declared indexes)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from contracts.intake.events import (
    PatientIdentityDocumentRecorded,
    PatientIdentityVerified,
    PatientLinkRemoved,
    PatientRegistered,
)
from contracts.intake.patients import IdentityDocumentInput, IdentityVerification, PatientChange, PatientRegistration
from services.intake import access
from services.intake import domain as intake
from tests.fakes import FakeStore
from tests.people import user
from wenzhen import ids
from wenzhen.auth import Caller, Principal, Role
from wenzhen.crypto import Keyring, new_key_settings
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound
from wenzhen.storage import AUDIT_LOG
from wenzhen.timez import utcnow

KEYS = Keyring.from_env(new_key_settings())
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
def store() -> FakeStore:
    return FakeStore(indexes=intake.INDEXES)


def entries(store: FakeStore, **match) -> list[dict]:
    return [e for e in store[AUDIT_LOG].docs.values() if all(e.get(k) == v for k, v in match.items())]


# registering -------------------------------------------------------------------------------------------------------
def test_a_patient_must_say_who_the_patient_is_to_them(store):
    with pytest.raises(InvalidInput) as info:
        intake.register_patient(store, KEYS, PATIENT, reg())
    assert info.value.errors[0]["field"] == "relationship"
    assert store[intake.PATIENTS].docs == {} and store.emitted == []


def test_staff_register_without_a_relationship(store):
    with pytest.raises(InvalidInput) as info:
        intake.register_patient(store, KEYS, CONSULTANT, reg(relationship="child"))
    assert info.value.errors[0]["field"] == "relationship"
    assert intake.register_patient(store, KEYS, TEAM_LEAD, reg()).name == "王秀英"


@pytest.mark.parametrize("caller", [DOCTOR, MANAGER, ADMIN, Caller(), Caller.service("notify")],
                         ids=["doctor", "manager", "admin", "anonymous", "service"])
def test_only_patients_consultants_and_team_leads_register(store, caller):
    with pytest.raises(Forbidden):
        intake.register_patient(store, KEYS, caller, reg())
    assert store[intake.PATIENTS].docs == {} and store.emitted == []


def test_a_patient_account_is_linked_to_the_records_it_registers(store):
    own = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    mother = intake.register_patient(store, KEYS, PATIENT, reg(name="李梅", relationship="parent"))
    links = {link["patient_id"]: link for link in store[access.LINKS].docs.values()}
    assert links[own.id]["is_self"] is True and links[mother.id]["is_self"] is False
    assert links[mother.id]["relationship"] == "parent" and links[mother.id]["account_id"] == "acc_p1"
    assert access.linked_patients(store, "acc_p1") == {own.id, mother.id}
    assert store[access.CARE].docs == {}  # a patient account gets links, not care relations
    listed = intake.linked(store, KEYS, PATIENT)
    assert sorted((p.patient_id, p.relationship, p.name) for p in listed) == sorted(
        [(own.id, "self", "王秀英"), (mother.id, "parent", "李梅")])
    assert len(entries(store, detail="linked list")) == 2  # each record shown is a read in the audit trail


def test_the_token_is_not_needed_intake_checks_its_own_links(store):
    patient = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    assert PATIENT.principal.patients == ()  # the token was issued before the record existed
    assert intake.get_patient(store, KEYS, PATIENT, patient.id).id == patient.id
    stale = Caller(principal=Principal.user("acc_p2", Role.patient, patients=(patient.id,)))
    with pytest.raises(NotFound):  # a token claiming a record intake has no link for
        intake.get_patient(store, KEYS, stale, patient.id)


# who may see a record ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", [OTHER_PATIENT, DOCTOR, user(Role.consultant, "acc_c2"), MANAGER, ADMIN,
                                    Caller(), Caller.service("reports")],
                         ids=["other patient", "doctor", "other consultant", "manager", "admin", "anonymous",
                              "service"])
def test_a_refused_read_looks_like_a_missing_record_and_is_audited(store, caller):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg())
    with pytest.raises(NotFound) as refused:
        intake.get_patient(store, KEYS, caller, patient.id)
    with pytest.raises(NotFound) as missing:
        intake.get_patient(store, KEYS, caller, "pat_missing")
    assert refused.value.detail.replace(patient.id, "ID") == missing.value.detail.replace("pat_missing", "ID")
    (denied,) = entries(store, entity_id=patient.id, outcome="denied")
    assert denied["action"] == "R" and denied["agent_id"] == (caller.principal.sub or None)
    assert entries(store, entity_id=patient.id, action="R", outcome="success") == []


def test_the_registering_consultants_care_relation_lasts_thirty_days(store):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg())
    (care,) = store[access.CARE].docs.values()
    assert care["staff_id"] == "acc_c1" and care["kind"] == "registration"
    assert timedelta(days=29, hours=23) < care["until"] - utcnow() <= access.REGISTRATION_CARE
    assert intake.get_patient(store, KEYS, CONSULTANT, patient.id).id == patient.id
    store[access.CARE].docs[care["_id"]]["until"] = utcnow() - timedelta(seconds=1)
    with pytest.raises(NotFound):
        intake.get_patient(store, KEYS, CONSULTANT, patient.id)


def test_a_care_relation_without_an_end_lets_a_doctor_read_but_not_change_contact_details(store):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg())
    store.transact(lambda tx: access.grant_care(tx, "acc_d1", patient.id, "encounter", ref="enc_1"))
    assert intake.get_patient(store, KEYS, DOCTOR, patient.id).id == patient.id
    with pytest.raises(NotFound):
        intake.change_patient(store, KEYS, DOCTOR, patient.id, PatientChange(address="北京市"))
    assert entries(store, agent_id="acc_d1", action="U", outcome="denied")


# changing ----------------------------------------------------------------------------------------------------------
def test_a_patient_changes_their_contact_details(store):
    patient = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    changed = intake.change_patient(store, KEYS, PATIENT, patient.id,
                                    PatientChange(phone="+86 139 0000 1111", address="上海市徐汇区漕溪北路1号"))
    assert changed.phone == "13900001111" and changed.address == "上海市徐汇区漕溪北路1号"
    doc = store[intake.PATIENTS].docs[patient.id]
    assert doc["phone_index"] == KEYS.blind_index("phone", "13900001111") and "漕溪" not in str(doc)
    (update,) = entries(store, action="U")
    assert update["detail"] == "address,phone" and update["outcome"] == "success"  # which fields, not the values


def test_an_empty_change_is_refused(store):
    patient = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    with pytest.raises(InvalidInput):
        intake.change_patient(store, KEYS, PATIENT, patient.id, PatientChange())


def test_another_account_cannot_change_a_record(store):
    patient = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    with pytest.raises(NotFound):
        intake.change_patient(store, KEYS, OTHER_PATIENT, patient.id, PatientChange(phone="13900001111"))
    assert intake.get_patient(store, KEYS, PATIENT, patient.id).phone == "13812345678"


# real-name identity ------------------------------------------------------------------------------------------------
def test_a_resident_id_is_recorded_encrypted_and_shown_masked(store):
    patient = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    shown = intake.record_identity_document(store, KEYS, PATIENT, patient.id,
                                            IdentityDocumentInput(document_type="resident_id",
                                                                  number=RESIDENT_ID.lower()))
    assert shown.identity.number == "110***********002X" and shown.identity.status == "unverified"
    doc = store[intake.PATIENTS].docs[patient.id]
    assert RESIDENT_ID not in str(doc) and doc["identity"]["recorded_by"] == "acc_p1"
    assert doc["document_index"] == KEYS.blind_index("document", f"resident_id:{RESIDENT_ID}")
    assert store.emitted[-1] == (patient.id, PatientIdentityDocumentRecorded(patient_id=patient.id,
                                                                             document_type="resident_id"))
    assert entries(store, subtype="identity-document", outcome="success")


def test_a_resident_id_must_match_the_records_birth_date_and_sex(store):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg(sex="male", birth_date="1950-01-01"))
    with pytest.raises(InvalidInput) as info:
        intake.record_identity_document(store, KEYS, CONSULTANT, patient.id,
                                        IdentityDocumentInput(document_type="resident_id", number=RESIDENT_ID))
    assert [e["message"] for e in info.value.errors] == ["its birth date differs from the patient's",
                                                         "its sex digit differs from the patient's"]
    assert "identity" not in store[intake.PATIENTS].docs[patient.id]


def test_a_mistyped_resident_id_is_refused_without_echoing_it(store):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg())
    with pytest.raises(InvalidInput) as info:
        intake.record_identity_document(store, KEYS, CONSULTANT, patient.id,
                                        IdentityDocumentInput(document_type="resident_id",
                                                              number="11010519491231003X"))
    assert info.value.errors[0]["field"] == "number" and "110105" not in str(info.value.payload)


def test_a_document_belongs_to_one_patient_record_only(store):
    first = intake.register_patient(store, KEYS, CONSULTANT, reg())
    second = intake.register_patient(store, KEYS, CONSULTANT, reg(name="王秀英"))  # a duplicate record
    document = IdentityDocumentInput(document_type="passport", number="E12345678")
    intake.record_identity_document(store, KEYS, CONSULTANT, first.id, document)
    emitted = len(store.emitted)
    with pytest.raises(Conflict) as info:
        intake.record_identity_document(store, KEYS, CONSULTANT, second.id,
                                        IdentityDocumentInput(document_type="passport", number="e1234 5678"))
    assert info.value.errors[0]["field"] == "number"
    assert "identity" not in store[intake.PATIENTS].docs[second.id] and len(store.emitted) == emitted
    # the same number as another kind of document is another document
    intake.record_identity_document(store, KEYS, CONSULTANT, second.id,
                                    IdentityDocumentInput(document_type="hk_macao_permit", number="H12345678"))


def test_staff_who_saw_the_document_verify_it_once(store):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg())
    with pytest.raises(Conflict):  # nothing to verify yet
        intake.verify_identity(store, KEYS, CONSULTANT, patient.id, IdentityVerification(method="in_person"))
    intake.record_identity_document(store, KEYS, CONSULTANT, patient.id,
                                    IdentityDocumentInput(document_type="resident_id", number=RESIDENT_ID))
    verified = intake.verify_identity(store, KEYS, CONSULTANT, patient.id, IdentityVerification(method="video"))
    assert verified.identity.status == "verified" and verified.identity.method == "video"
    assert verified.identity.verified_at is not None
    assert store[intake.PATIENTS].docs[patient.id]["identity"]["verified_by"] == "acc_c1"
    assert store.emitted[-1][1] == PatientIdentityVerified(patient_id=patient.id, document_type="resident_id",
                                                           method="video", verified_by="acc_c1")
    with pytest.raises(Conflict):
        intake.verify_identity(store, KEYS, CONSULTANT, patient.id, IdentityVerification(method="in_person"))
    (entry,) = entries(store, subtype="verify-identity", outcome="success")
    assert entry["detail"] == "video"


def test_patients_cannot_verify_their_own_documents(store):
    patient = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    intake.record_identity_document(store, KEYS, PATIENT, patient.id,
                                    IdentityDocumentInput(document_type="resident_id", number=RESIDENT_ID))
    with pytest.raises(Forbidden):
        intake.verify_identity(store, KEYS, PATIENT, patient.id, IdentityVerification(method="in_person"))
    with pytest.raises(NotFound):  # a verifier role is not enough: it needs a care relation
        intake.verify_identity(store, KEYS, DOCTOR, patient.id, IdentityVerification(method="in_person"))
    assert store[intake.PATIENTS].docs[patient.id]["identity"]["status"] == "unverified"


# links -------------------------------------------------------------------------------------------------------------
def test_a_patient_stops_acting_for_a_relative(store):
    own = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    mother = intake.register_patient(store, KEYS, PATIENT, reg(name="李梅", relationship="parent"))
    intake.remove_link(store, PATIENT, mother.id)
    assert access.linked_patients(store, "acc_p1") == {own.id}
    subject, event = store.emitted[-1]
    assert subject == mother.id and isinstance(event, PatientLinkRemoved) and event.account_id == "acc_p1"
    (entry,) = entries(store, action="D")
    assert entry["entity_type"] == "PatientLink" and entry["patient_id"] == mother.id
    with pytest.raises(NotFound):
        intake.get_patient(store, KEYS, PATIENT, mother.id)
    with pytest.raises(NotFound):  # once
        intake.remove_link(store, PATIENT, mother.id)
    with pytest.raises(NotFound):  # one's own record stays one's own
        intake.remove_link(store, PATIENT, own.id)
    with pytest.raises(Forbidden):
        intake.remove_link(store, CONSULTANT, own.id)


def test_the_declared_link_indexes_allow_one_active_link_per_relative_and_one_self(store):
    mother = intake.register_patient(store, KEYS, PATIENT, reg(name="李梅", relationship="parent"))
    intake.remove_link(store, PATIENT, mother.id)

    def link(patient_id: str, is_self: bool = False, active: bool = True) -> None:
        store[access.LINKS].insert_one({"_id": ids.new_id("lnk"), "account_id": "acc_p1", "patient_id": patient_id,
                                        "relationship": "self" if is_self else "parent", "is_self": is_self,
                                        "active": active})

    link(mother.id)  # the removed link is inactive: a new one may be made
    with pytest.raises(DuplicateKeyError, match="one_active_link"):
        link(mother.id)
    link("pat_a", is_self=True)
    link("pat_b", is_self=True, active=False)
    with pytest.raises(DuplicateKeyError, match="one_self"):
        link("pat_c", is_self=True)


def test_only_identity_asks_which_records_an_account_acts_for(store):
    own = intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    assert intake.linked_ids(store, Caller.service("identity"), "acc_p1") == [own.id]
    assert intake.linked_ids(store, Caller.service("identity"), "acc_nobody") == []
    for caller in (PATIENT, ADMIN, Caller.service("notify")):
        with pytest.raises(Forbidden):
            intake.linked_ids(store, caller, "acc_p1")
    with pytest.raises(Forbidden):
        intake.linked(store, KEYS, CONSULTANT)


def test_only_notify_reads_contact_details_and_that_is_audited(store):
    patient = intake.register_patient(store, KEYS, CONSULTANT, reg())
    assert intake.get_contact(store, KEYS, Caller.service("notify"), patient.id) == {"name": "王秀英",
                                                                                     "phone": "13812345678"}
    (entry,) = entries(store, detail="contact")
    assert entry["agent_kind"] == "service" and entry["agent_id"] == "notify" and entry["action"] == "R"
    for caller in (CONSULTANT, PATIENT, Caller.service("reports")):
        with pytest.raises(Forbidden):
            intake.get_contact(store, KEYS, caller, patient.id)
    with pytest.raises(NotFound):
        intake.get_contact(store, KEYS, Caller.service("notify"), "pat_missing")


def test_registration_events_carry_no_personal_data(store):
    intake.register_patient(store, KEYS, PATIENT, reg(relationship="self"))
    for _, event in store.emitted:
        dumped = str(event.model_dump())
        assert "王秀英" not in dumped and "13812345678" not in dumped and "1949-12-31" not in dumped
    assert isinstance(store.emitted[0][1], PatientRegistered) and store.emitted[0][1].birth_year == 1949
