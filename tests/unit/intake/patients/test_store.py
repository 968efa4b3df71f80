"""What the patients' store writes: personal fields encrypted and bound to their record, lookups by keyed blind
index, and the indexes that make a second own record or a shared document a 409 (the store's pure builders; the
queries themselves run in the integration tests)."""
from datetime import UTC, date, datetime

import pytest
from cryptography.exceptions import InvalidTag

from contracts.intake.documents import DocumentType
from contracts.intake.patients import PatientRegistration
from services.intake.patients import store
from tests.unit.intake.fakes import KEYS

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
RESIDENT_ID = "11010519491231002X"
REG = PatientRegistration.model_validate({"name": "王秀英", "sex": "female", "birth_date": "1949-12-31",
                                         "phone": "13812345678", "address": "上海市徐汇区漕溪北路1号"})


def test_a_record_is_stored_encrypted_bound_to_itself_and_found_by_its_phones_blind_index():
    doc = store.new_patient(KEYS, "pat_1", REG, "acc_c1", NOW)
    for plain in ("王秀英", "13812345678", "漕溪"):
        assert plain not in str(doc)
    assert doc["phone_index"] == KEYS.blind_index("phone", "13812345678") and doc["birth_date"] == "1949-12-31"
    shown = store.to_patient(KEYS, doc)
    assert (shown.name, shown.phone, shown.address) == ("王秀英", "13812345678", "上海市徐汇区漕溪北路1号")
    with pytest.raises(InvalidTag):  # bound to its record: a copied ciphertext does not open elsewhere
        KEYS.decrypt(doc["name"], field="name", record="pat_2")


def test_a_contact_change_is_encrypted_and_a_new_phone_reindexed():
    update = store.contact_change(KEYS, "pat_1", {"phone": "13900001111", "address": "北京市"})
    assert update["phone_index"] == KEYS.blind_index("phone", "13900001111") and "北京" not in str(update)
    assert "phone_index" not in store.contact_change(KEYS, "pat_1", {"address": "北京市"})


def test_a_document_number_is_encrypted_unverified_and_shown_masked():
    fields = store.identity_fields(KEYS, "pat_1", DocumentType.resident_id, RESIDENT_ID, "acc_p1", NOW)
    assert RESIDENT_ID not in str(fields) and fields["identity"]["recorded_by"] == "acc_p1"
    assert fields["identity"]["status"] == "unverified"
    assert fields["document_index"] == KEYS.blind_index("document", f"resident_id:{RESIDENT_ID}")
    shown = store.to_patient(KEYS, {**store.new_patient(KEYS, "pat_1", REG, "acc_c1", NOW), **fields})
    assert shown.identity.number == "110***********002X" and shown.identity.status == "unverified"
    # the same number as another kind of document is another document
    other = store.identity_fields(KEYS, "pat_1", DocumentType.hk_macao_permit, RESIDENT_ID, "acc_p1", NOW)
    assert other["document_index"] != fields["document_index"]


def test_the_prescribing_facts_are_the_verified_status_and_the_birth_date_without_decrypting():
    doc = store.new_patient(KEYS, "pat_1", REG, "acc_c1", NOW)
    assert store.to_prescribing_facts(doc).model_dump() == {"patient_id": "pat_1", "verified": False,
                                                            "birth_date": date(1949, 12, 31)}
    fields = store.identity_fields(KEYS, "pat_1", DocumentType.resident_id, RESIDENT_ID, "acc_p1", NOW)
    assert not store.to_prescribing_facts({**doc, **fields}).verified
    fields["identity"]["status"] = "verified"
    assert store.to_prescribing_facts({"_id": "pat_1", "birth_date": doc["birth_date"], **fields}).verified


def test_the_declared_indexes_keep_one_active_link_per_relative_one_self_and_a_document_per_record():
    declared = {index.name: index for index in store.INDEXES}
    assert declared["one_active_link"].unique and declared["one_active_link"].keys == [("account_id", 1),
                                                                                      ("patient_id", 1)]
    assert declared["one_active_link"].options == {"partialFilterExpression": {"active": True}}
    assert declared["one_self"].unique and declared["one_self"].options == {
        "partialFilterExpression": {"is_self": True, "active": True}}
    assert declared["unique_document"].unique and declared["unique_document"].options == {"sparse": True}
    assert not declared["by_phone"].unique  # relatives may share a number
    assert store.RETIRED_INDEXES == [("patients", "unique_phone")]
