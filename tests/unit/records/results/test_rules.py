"""Results' and the patient logs' pure rules: the abnormal flag from the range, who records, reads and releases a
result, what a measurement may be; and the code lists' maintainers and search."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.records.results import Category, Flag, LogEntryInput, LogKind, OrderStatus, Range, ResultStatus
from services.records.codes import rules as codes
from services.records.logs import rules as logs
from services.records.results import rules
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
DOCTOR, OTHER = Principal.user("acc_doc", Role.doctor), Principal.user("acc_doc2", Role.doctor)
LAB, PATIENT = Principal.user("acc_lab", Role.lab), Principal.user("acc_p", Role.patient, patients=("pat_1",))
ORDER = rules.OrderRecord(id="ord_1", encounter_id="enc_1", patient_id="pat_1", doctor_id="acc_doc",
                          category=Category.laboratory, tests=("血常规",), note=None, status=OrderStatus.active,
                          ordered_at=NOW)
RESULT = rules.ResultRecord(id="res_1", order_id="ord_1", encounter_id="enc_1", patient_id="pat_1",
                            doctor_id="acc_doc", category=Category.laboratory, status=ResultStatus.final,
                            conclusion=None, observations=(), issued=NOW, recorded_by="acc_lab", source="lab")


def test_the_flag_as_reported_or_from_the_range():
    band = Range(low=3.5, high=5.5)
    assert [rules.flag_of(v, band, None) for v in (3.4, 3.5, 5.5, 5.6)] == [Flag.low, Flag.normal, Flag.normal,
                                                                            Flag.high]
    assert rules.flag_of(9.9, band, Flag.critical_high) == Flag.critical_high
    assert rules.flag_of(None, band, None) is None and rules.flag_of(4.0, None, None) is None
    assert rules.flag_of(4.0, Range(text="阴性"), None) is None and rules.flag_of(0.9, Range(low=1), None) == Flag.low


def test_who_records_reads_and_releases_a_result():
    assert rules.may_record(LAB, ORDER, False) and rules.may_record(DOCTOR, ORDER, False)
    assert rules.may_record(OTHER, ORDER, True) and not rules.may_record(OTHER, ORDER, False)
    assert not rules.may_record(PATIENT, ORDER, False)
    assert not rules.sees_result(PATIENT, RESULT, False)  # not released yet
    released = rules.ResultRecord(**{**vars(RESULT), "status": ResultStatus.released})
    assert rules.sees_result(PATIENT, released, False) and rules.sees_result(LAB, RESULT, False)
    assert not rules.sees_result(Principal.user("acc_lab2", Role.lab), RESULT, False)
    assert rules.sees_result(OTHER, RESULT, True) and not rules.sees_result(OTHER, RESULT, False)
    rules.require_releaser(DOCTOR, RESULT, False)
    with pytest.raises(Forbidden):
        rules.require_releaser(LAB, RESULT, False)
    with pytest.raises(Conflict):
        rules.require_releaser(DOCTOR, released, False)
    with pytest.raises(InvalidInput) as other_patient:
        rules.require_patient(ORDER, "pat_2")
    assert other_patient.value.errors[0]["field"] == "subject"
    with pytest.raises(Conflict):
        rules.require_open_order(rules.OrderRecord(**{**vars(ORDER), "status": OrderStatus.completed}))


def test_a_measurement_fits_its_kind_is_plausible_and_not_in_the_future():
    when = "2026-12-05T07:30:00+08:00"
    LogEntryInput(kind="blood_pressure", measured_at=when, systolic=140, diastolic=90)
    for bad in ({"kind": "blood_pressure", "systolic": 90, "diastolic": 95}, {"kind": "glucose"},
                {"kind": "symptom", "value": 3}, {"kind": "weight", "value": 60, "timing": "fasting"}):
        with pytest.raises(ValueError):
            LogEntryInput(measured_at=when, **bad)
    logs.require_plausible(LogKind.weight, 65.0, NOW, NOW)
    with pytest.raises(InvalidInput) as typo:
        logs.require_plausible(LogKind.weight, 650.0, NOW, NOW)
    assert typo.value.errors[0]["field"] == "value"
    with pytest.raises(InvalidInput) as future:
        logs.require_plausible(LogKind.glucose, 6.1, NOW + timedelta(hours=1), NOW)
    assert future.value.errors[0]["field"] == "measured_at"
    assert logs.may_read(PATIENT, "pat_1", False) and logs.may_read(DOCTOR, "pat_1", True)
    assert not logs.may_read(DOCTOR, "pat_1", False) and not logs.may_read(LAB, "pat_1", True)
    with pytest.raises(Forbidden):
        logs.require_writer(DOCTOR, "pat_1")


def test_the_code_lists_maintainers_and_search():
    codes.require_maintainer(Principal.user("acc_m", Role.manager), codes.ICD10)
    codes.require_maintainer(Principal.user("acc_ph", Role.pharmacist), codes.FORMULARY)
    for principal, code_list in ((DOCTOR, codes.ICD10), (Principal.user("acc_m", Role.manager), codes.FORMULARY)):
        with pytest.raises(Forbidden):
            codes.require_maintainer(principal, code_list)
    entry = {"code": "I10", "name": "原发性高血压", "name_en": "Essential (primary) hypertension"}
    assert all(codes.matches(entry, q) for q in (None, "i1", "高血压", "HYPERTENSION"))
    assert not codes.matches(entry, "E11")
