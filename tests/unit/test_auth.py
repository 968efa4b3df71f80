"""Who is calling: the principal, how it travels in context data, and the caller an audit entry names."""
import json

import pytest

from contracts.intake.events import PatientRegistered
from wenzhen.auth import (
    ALLOWED_PURPOSES,
    ANONYMOUS,
    DEFAULT_PURPOSE,
    ORIGIN_IP_KEY,
    PRINCIPAL_KEY,
    PURPOSE_KEY,
    STAFF_ROLES,
    Caller,
    Principal,
    PurposeOfUse,
    Role,
    bind_caller,
    current_caller,
)
from wenzhen.events import Envelope

PATIENT = Principal.user("acc_p", Role.patient, sid="ses_1", patients=("pat_self", "pat_child"))
DOCTOR = Principal.user("acc_d", Role.doctor, sid="ses_2", department="urology")


@pytest.mark.parametrize("principal", [PATIENT, DOCTOR, Principal.service("notify"), ANONYMOUS,
                                       Principal.user("acc_a", Role.admin)])
def test_a_principal_survives_the_trip_through_context_data(principal):
    travelled = principal.to_context()
    assert isinstance(travelled, str) and Principal.from_context(travelled) == principal
    assert Principal.from_context(travelled.encode()) == principal
    assert Principal.from_context(json.loads(travelled)) == principal  # already decoded by the transport


def test_context_data_is_compact_and_carries_no_defaults():
    assert json.loads(Principal.service("notify").to_context()) == {"kind": "service", "sub": "notify"}
    assert json.loads(PATIENT.to_context()) == {"kind": "user", "sub": "acc_p", "role": "patient", "sid": "ses_1",
                                                "patients": ["pat_self", "pat_child"]}


@pytest.mark.parametrize("value", [None, "", b"", "not json", "{", "[]", "42", '"user"', "null",
                                   '{"kind": "root"}', '{"kind": "user", "role": "superuser"}',
                                   '{"kind": "user", "patients": 5}', {"kind": 1}, ["user"], 3.5])
def test_a_missing_or_malformed_principal_is_anonymous(value):
    principal = Principal.from_context(value)
    assert principal is ANONYMOUS and not principal.authenticated and not principal.is_staff


def test_unknown_fields_in_context_data_are_ignored_not_trusted():
    principal = Principal.from_context('{"kind": "user", "sub": "acc_p", "role": "patient", "admin": true}')
    assert principal == Principal.user("acc_p", Role.patient) and not principal.has_role(Role.admin)


def test_a_principal_cannot_be_changed_after_it_is_made():
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        PATIENT.role = Role.admin  # type: ignore[misc]


def test_a_patient_acts_for_the_records_in_its_token():
    assert PATIENT.acts_for("pat_self") and PATIENT.acts_for("pat_child")
    assert not PATIENT.acts_for("pat_other") and not PATIENT.acts_for("")


def test_explicit_links_replace_the_token_claims():
    # intake passes its own, fresher links: a link removed since the token was issued no longer counts…
    assert not PATIENT.acts_for("pat_child", links={"pat_self"})
    # …and one added since does
    assert PATIENT.acts_for("pat_new", links=["pat_self", "pat_new"])
    assert not PATIENT.acts_for("pat_self", links=())  # empty links are links too, not "use the token"


def test_only_patient_accounts_act_for_patients():
    doctor_with_claims = Principal.user("acc_d", Role.doctor, patients=("pat_1",))
    assert not doctor_with_claims.acts_for("pat_1") and not doctor_with_claims.acts_for("pat_1", links=["pat_1"])
    service = Principal(kind="service", sub="notify", patients=("pat_1",))
    assert not service.acts_for("pat_1") and not ANONYMOUS.acts_for("pat_1", links=["pat_1"])


def test_roles_and_kinds():
    assert DOCTOR.is_staff and not PATIENT.is_staff and STAFF_ROLES == frozenset(Role) - {Role.patient, Role.visitor}
    assert DOCTOR.has_role(Role.doctor, Role.pharmacist) and not DOCTOR.has_role(Role.admin)
    notify = Principal.service("notify")
    assert notify.is_service() and notify.is_service("notify", "intake") and not notify.is_service("intake")
    assert not notify.has_role(Role.admin) and not notify.is_staff and notify.authenticated
    assert not DOCTOR.is_service() and not Principal(kind="service", sub="admin").has_role(Role.admin)


def test_labels_name_no_person():
    assert PATIENT.label() == "patient:acc_p" and Principal.service("notify").label() == "service:notify"
    assert ANONYMOUS.label() == "anonymous"


@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_a_default_purpose_it_may_also_state(role):
    principal = Principal.user("acc", role)
    assert principal.default_purpose == DEFAULT_PURPOSE[role] and DEFAULT_PURPOSE[role] in ALLOWED_PURPOSES[role]


def test_callers_from_context_data_get_their_roles_default_purpose():
    expected = {Role.patient: "PATRQT", Role.doctor: "TREAT", Role.pharmacist: "TREAT", Role.consultant: "HOPERAT",
                Role.team_lead: "HOPERAT", Role.lab: "TREAT", Role.finance: "HPAYMT", Role.manager: "HOPERAT",
                Role.admin: "HSYSADMIN"}
    for role, purpose in expected.items():
        caller = Caller.from_context_data({PRINCIPAL_KEY: Principal.user("acc", role).to_context()})
        assert caller.purpose == PurposeOfUse(purpose), role
    assert Caller.from_context_data({}).purpose == PurposeOfUse.HOPERAT
    assert Caller.from_context_data({PRINCIPAL_KEY: Principal.service("notify").to_context()}).purpose == "HOPERAT"


def test_a_caller_carries_the_stated_purpose_origin_and_request():
    caller = Caller.from_context_data({PRINCIPAL_KEY: DOCTOR.to_context(), PURPOSE_KEY: "ETREAT",
                                       ORIGIN_IP_KEY: "203.0.113.5", "request_id": "req_9"})
    assert caller == Caller(principal=DOCTOR, purpose=PurposeOfUse.ETREAT, origin_ip="203.0.113.5",
                            request_id="req_9")


@pytest.mark.parametrize("stated", ["FRAUD", "treat", 7, ["TREAT"]])
def test_an_invalid_purpose_falls_back_to_the_roles_default(stated):
    caller = Caller.from_context_data({PRINCIPAL_KEY: DOCTOR.to_context(), PURPOSE_KEY: stated})
    assert caller.purpose == PurposeOfUse.TREAT


def test_a_service_caller():
    caller = Caller.service("notify", request_id="req_1")
    assert caller.principal == Principal.service("notify") and caller.request_id == "req_1"
    assert caller.purpose == PurposeOfUse.HOPERAT and caller.origin_ip is None


def test_the_bound_caller_stamps_events_with_the_actor():
    try:
        assert current_caller() == Caller() and current_caller().principal is ANONYMOUS
        event = PatientRegistered(patient_id="pat_1", sex="male", birth_year=1990)
        assert (Envelope.wrap(event, "pat_1").actorid, Envelope.wrap(event, "pat_1").actorrole) == (None, None)
        bind_caller(Caller(principal=DOCTOR))
        assert current_caller().principal == DOCTOR
        envelope = Envelope.wrap(event, "pat_1")
        assert (envelope.actorid, envelope.actorrole) == ("acc_d", "doctor")
        bind_caller(Caller.service("notify"))
        envelope = Envelope.wrap(event, "pat_1")
        assert (envelope.actorid, envelope.actorrole) == ("notify", "service")
    finally:
        bind_caller(None)
    assert current_caller().principal is ANONYMOUS
