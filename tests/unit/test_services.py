"""Unit tests per service: domain rules with an in-memory store, entrypoints with Nameko's worker_factory."""
from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory

from services import service_class
from services.intake import domain as intake
from services.intake.events import PatientRegistered
from services.intake.schemas import PatientRegistration
from services.notify import domain as notify
from tests.fakes import FakeStore, FakeTx
from wenzhen.config import SERVICES
from wenzhen.crypto import Keyring, keyring, new_key_settings
from wenzhen.errors import Conflict, InvalidInput, NotFound

REG = PatientRegistration(name="张三", sex="male", birth_date="1985-04-12", phone="13812345678")
KEYS = Keyring.from_env(new_key_settings())


@pytest.fixture(autouse=True)
def keys_in_env(monkeypatch):
    for name, value in new_key_settings().items():
        monkeypatch.setenv(name, value)
    keyring.cache_clear()
    yield
    keyring.cache_clear()


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_answers_health(name):
    service = worker_factory(service_class(name), store=FakeStore())
    assert service.health() == {"service": name, "status": "up", "database": "up", "db_ms": service.health()["db_ms"]}


def intake_store() -> FakeStore:
    return FakeStore(unique={intake.PATIENTS: ("phone_index",)})


def test_intake_registers_a_patient_and_emits_the_fact_with_it():
    store = intake_store()
    patient = intake.register_patient(store, KEYS, REG)
    doc = store[intake.PATIENTS].docs[patient.id]
    assert "13812345678" not in str(doc) and "张三" not in str(doc)  # encrypted at rest
    assert doc["phone_index"] == KEYS.blind_index("phone", "13812345678")
    ((subject, event),) = store.emitted
    assert subject == patient.id and event == PatientRegistered(patient_id=patient.id, sex="male", birth_year=1985)
    assert intake.get_patient(store, KEYS, patient.id) == patient
    assert patient.phone == "13812345678" and patient.name == "张三"


def test_intake_refuses_a_second_patient_with_the_same_phone_and_emits_nothing():
    store = intake_store()
    intake.register_patient(store, KEYS, REG)
    with pytest.raises(Conflict) as info:
        intake.register_patient(store, KEYS, REG)
    assert info.value.errors[0]["field"] == "phone"
    assert len(store[intake.PATIENTS].docs) == 1 and len(store.emitted) == 1


def test_intake_rpc_validates_its_input_and_names_fields():
    service = worker_factory(service_class("intake"), store=intake_store())
    with pytest.raises(InvalidInput) as info:
        service.register_patient({"name": "x", "sex": "male", "birth_date": "1985-04-12", "phone": "1"})
    assert [e["field"] for e in info.value.errors] == ["phone"]
    with pytest.raises(NotFound):
        service.get_patient("pat_missing")


def test_notify_records_a_welcome_addressed_to_the_patient():
    store = FakeStore()
    contact = {"name": "李四", "phone": "13912345678"}
    store.transact(lambda tx: notify.record_welcome(tx, KEYS, "pat_1", contact, "evt_1"))
    (doc,) = store[notify.NOTIFICATIONS].docs.values()
    assert doc["patient_id"] == "pat_1" and doc["channel"] == "sms" and doc["cause"] == "evt_1"
    assert "13912345678" not in str(doc) and "李四" not in str(doc)
    assert KEYS.decrypt(doc["to"], field="to", record=doc["_id"]) == "13912345678"
    text = KEYS.decrypt(doc["text"], field="text", record=doc["_id"])
    assert text.startswith("李四") and "120" in text


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
