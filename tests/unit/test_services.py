"""Unit tests per service: domain rules with an in-memory store, entrypoints with Nameko's worker_factory."""
from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory

from contracts.intake.events import PatientRegistered
from contracts.intake.patients import PatientRegistration
from services import service_class
from services.notify import domain as notify
from tests.fakes import FakeStore, FakeTx
from wenzhen.auth import Caller, Principal, PurposeOfUse, Role
from wenzhen.config import SERVICES
from wenzhen.crypto import Keyring, keyring, new_key_settings
from wenzhen.errors import Forbidden, InvalidInput
from wenzhen.storage import AUDIT_LOG

REG = PatientRegistration(name="张三", sex="male", birth_date="1985-04-12", phone="13812345678")


def registration(**changes) -> PatientRegistration:
    return PatientRegistration.model_validate({**REG.model_dump(), **changes})
KEYS = Keyring.from_env(new_key_settings())
CONSULTANT = Caller(principal=Principal.user("acc_cons1", Role.consultant, sid="ses_c", department="urology"),
                    purpose=PurposeOfUse.HOPERAT, origin_ip="198.51.100.4", request_id="req_1")


def patient_caller(sub: str = "acc_pat1", patients: tuple[str, ...] = ()) -> Caller:
    return Caller(principal=Principal.user(sub, Role.patient, sid="ses_p", patients=patients),
                  purpose=PurposeOfUse.PATRQT, origin_ip="203.0.113.9", request_id="req_2")


@pytest.fixture(autouse=True)
def keys_in_env(monkeypatch):
    for name, value in new_key_settings().items():
        monkeypatch.setenv(name, value)
    keyring.cache_clear()
    yield
    keyring.cache_clear()


def test_there_are_eight_services_identity_among_them():
    assert len(SERVICES) == 8 and "identity" in SERVICES and len(set(SERVICES)) == 8


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_answers_health(name):
    service = worker_factory(service_class(name), store=FakeStore())
    health = service.health()
    assert health.pop("db_ms") >= 0 and health == {"service": name, "status": "up", "database": "up"}


def test_notify_queues_a_welcome_addressed_to_the_patient():
    store = FakeStore()
    contact = {"name": "李四", "phone": "13912345678"}
    store.transact(lambda tx: notify.queue_welcome(tx, KEYS, "pat_1", contact, "evt_1"))
    (doc,) = store[notify.NOTIFICATIONS].docs.values()
    assert doc["patient_id"] == "pat_1" and doc["channel"] == "sms" and doc["cause"] == "evt_1"
    assert doc["status"] == "queued" and doc["template"] == "welcome"
    assert "13912345678" not in str(doc) and "李四" not in str(doc)
    assert KEYS.decrypt(doc["to"], field="to", record=doc["_id"]) == "13912345678"
    text = KEYS.decrypt(doc["text"], field="text", record=doc["_id"])
    assert text.startswith("李四") and "120" in text


def test_audit_events_rpc_refuses_everyone_but_admins_and_the_patient_asking_who_else_looked():
    store = FakeStore()
    service = worker_factory(service_class("intake"), store=store, caller=patient_caller(patients=("pat_1",)))
    with pytest.raises(Forbidden):  # a patient must leave out their own entries
        service.audit_events({"patient_id": "pat_1"})
    with pytest.raises(Forbidden):  # and may only ask about records they act for
        service.audit_events({"patient_id": "pat_2", "exclude_agent_id": "acc_pat1"})
    with pytest.raises(InvalidInput):
        service.audit_events({"limit": 1000})
    doctor = Caller(principal=Principal.user("acc_doc", Role.doctor, sid="s"), purpose=PurposeOfUse.TREAT)
    with pytest.raises(Forbidden):
        worker_factory(service_class("intake"), store=store, caller=doctor).audit_events({})
    outcomes = [(e["agent_id"], e["patient_id"], e["outcome"]) for e in store[AUDIT_LOG].docs.values()]
    assert outcomes == [("acc_pat1", "pat_1", "denied"), ("acc_pat1", "pat_2", "denied"), ("acc_doc", None, "denied")]


def test_reports_archives_events_of_every_service():
    cls = service_class("reports")
    assert {f"archive_{name}" for name in SERVICES} <= set(dir(cls))
    tx = FakeTx({}, [])
    from wenzhen.events import Envelope

    env = Envelope.wrap(PatientRegistered(patient_id="pat_1", sex="male", birth_year=1990), "pat_1")
    service = worker_factory(cls, store=FakeStore())
    unwrapped = cls.archive_intake.__wrapped__
    unwrapped(service, tx, None, env)
    assert tx["event_log"].docs[env.id]["type"] == "patient_registered"


def test_a_route_without_roles_does_not_mount():
    import falcon

    from gateway.api import Api

    api = Api()
    api.route("GET", "/v1/nobody", summary="x", tags=["x"], allow=set())(lambda call: {})
    with pytest.raises(RuntimeError, match="declares no role"):
        api.mount(falcon.App())
