"""The patients' pure rules: who registers whom, who verifies, whether a resident ID belongs to a record, how long a
care relationship lasts."""
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.intake.documents import ResidentId
from contracts.intake.patients import PatientRegistration
from services.intake.patients import rules
from services.intake.patients.rules import PatientFacts
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput

GRANDMOTHER = {"name": "王秀英", "sex": "female", "birth_date": "1949-12-31", "phone": "13812345678"}
RESIDENT = ResidentId.parse("11010519491231002X", date(2026, 3, 2))  # born 1949-12-31, female


def reg(**changes) -> PatientRegistration:
    return PatientRegistration.model_validate({**GRANDMOTHER, **changes})


def test_a_patient_says_who_the_patient_is_to_them_and_staff_say_nothing_of_the_kind():
    rules.check_registrar(user(Role.patient, "acc_p1").principal, reg(relationship="self"))
    rules.check_registrar(user(Role.consultant, "acc_c1").principal, reg())
    with pytest.raises(InvalidInput) as missing:
        rules.check_registrar(user(Role.patient, "acc_p1").principal, reg())
    with pytest.raises(InvalidInput) as extra:
        rules.check_registrar(user(Role.team_lead, "acc_t1").principal, reg(relationship="child"))
    assert [missing.value.errors[0]["field"], extra.value.errors[0]["field"]] == ["relationship", "relationship"]


@pytest.mark.parametrize("caller", [user(Role.doctor, "acc_d1"), user(Role.manager, "acc_m1"),
                                    user(Role.admin, "acc_a1"), Caller(), Caller.service("notify")],
                         ids=["doctor", "manager", "admin", "anonymous", "service"])
def test_only_patients_consultants_and_team_leads_register(caller):
    with pytest.raises(Forbidden):
        rules.check_registrar(caller.principal, reg())


def test_a_resident_id_must_carry_the_records_birth_date_and_sex():
    assert rules.resident_mismatches(RESIDENT, PatientFacts("pat_1", "female", "1949-12-31", False)) == []
    assert rules.resident_mismatches(None, PatientFacts("pat_1", "male", "1950-01-01", False)) == []
    wrong = rules.resident_mismatches(RESIDENT, PatientFacts("pat_1", "male", "1950-01-01", False))
    assert [e["message"] for e in wrong] == ["its birth date differs from the patient's",
                                             "its sex digit differs from the patient's"]
    assert rules.resident_mismatches(RESIDENT, PatientFacts("pat_1", "unknown", "1949-12-31", False)) == []


def test_verifiers_and_patient_accounts():
    for role in rules.VERIFIERS:
        rules.require_verifier(user(role, "acc_x").principal)
    for role in (Role.patient, Role.pharmacist, Role.manager, Role.admin):
        with pytest.raises(Forbidden):
            rules.require_verifier(user(role, "acc_x").principal)
    rules.require_patient_account(user(Role.patient, "acc_p1").principal)
    with pytest.raises(Forbidden):
        rules.require_patient_account(user(Role.consultant, "acc_c1").principal)


def test_care_relationships_last_thirty_days_and_a_rescheduled_visit_is_bounded():
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert rules.REGISTRATION_CARE == rules.APPOINTMENT_CARE == timedelta(days=30)
    assert rules.appointment_care_until(start + timedelta(minutes=15)) == start + timedelta(days=30, minutes=15)
    assert rules.rescheduled_care_until(start) == start + timedelta(days=30, hours=4)


def test_a_second_own_record_is_a_conflict_naming_the_relationship():
    taken = rules.self_taken()
    assert isinstance(taken, Conflict) and taken.errors[0]["field"] == "relationship"
    with pytest.raises(InvalidInput):
        rules.require_changes({})
