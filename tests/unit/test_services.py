"""What every service is made of, through Nameko's worker_factory: the health RPC, the @rpc contract from type hints,
the audit_events RPC's refusals, and the routes' roles. (Each capability's rules and use cases are tested in
``tests/unit/<service>/<capability>/``.)"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory

from services import service_class
from tests.fakes import FakeCapabilityStore
from wenzhen.auth import Caller, Principal, PurposeOfUse, Role
from wenzhen.config import SERVICES
from wenzhen.errors import Forbidden, InvalidInput


def patient_caller(sub: str = "acc_pat1", patients: tuple[str, ...] = ()) -> Caller:
    return Caller(principal=Principal.user(sub, Role.patient, sid="ses_p", patients=patients),
                  purpose=PurposeOfUse.PATRQT, origin_ip="203.0.113.9", request_id="req_2")


def test_there_are_eight_services_identity_among_them():
    assert len(SERVICES) == 8 and "identity" in SERVICES and len(set(SERVICES)) == 8


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_answers_health(name):
    service = worker_factory(service_class(name), store=SimpleNamespace(ping=lambda: True))
    health = service.health()
    assert health.pop("db_ms") >= 0 and health == {"service": name, "status": "up", "database": "up"}


def test_an_rpc_validates_its_arguments_from_its_type_hints_and_names_the_field():
    service = worker_factory(service_class("identity"), caller=Caller())
    with pytest.raises(InvalidInput) as info:
        service.request_otp({"phone": "1", "purpose": "register"})
    assert [e["field"] for e in info.value.errors] == ["phone"]
    with pytest.raises(InvalidInput) as info:
        service.get_staff(["not", "a", "string"])
    assert [e["field"] for e in info.value.errors] == ["account_id"]
    records = worker_factory(service_class("records"), caller=Caller())
    with pytest.raises(InvalidInput) as info:  # an Annotated hint's constraints hold too (here: an ICD-10 pattern)
        records.put_diagnosis_code("not-a-code", {"name": "x", "name_en": "y"})
    assert [(e["field"], e["type"]) for e in info.value.errors] == [("code", "string_pattern_mismatch")]


def test_audit_events_rpc_refuses_everyone_but_admins_and_the_patient_asking_who_else_looked():
    store = FakeCapabilityStore()
    service = worker_factory(service_class("notify"), store=store, caller=patient_caller(patients=("pat_1",)))
    with pytest.raises(Forbidden):  # a patient must leave out their own entries
        service.audit_events({"patient_id": "pat_1"})
    with pytest.raises(Forbidden):  # and may only ask about records they act for
        service.audit_events({"patient_id": "pat_2", "exclude_agent_id": "acc_pat1"})
    with pytest.raises(InvalidInput):
        service.audit_events({"limit": 1000})
    doctor = Caller(principal=Principal.user("acc_doc", Role.doctor, sid="s"), purpose=PurposeOfUse.TREAT)
    with pytest.raises(Forbidden):
        worker_factory(service_class("notify"), store=store, caller=doctor).audit_events({})
    outcomes = [(e["agent_id"], e["patient_id"], e["outcome"]) for e in store.audited]
    assert outcomes == [("acc_pat1", "pat_1", "denied"), ("acc_pat1", "pat_2", "denied"), ("acc_doc", None, "denied")]


def test_a_route_without_roles_does_not_mount():
    import falcon

    from gateway.api import Api

    api = Api()
    api.route("GET", "/v1/nobody", summary="x", tags=["x"], allow=set())(lambda call: {})
    with pytest.raises(RuntimeError, match="declares no role"):
        api.mount(falcon.App())
