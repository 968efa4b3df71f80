import pytest

from contracts.intake.events import PatientRegistered
from wenzhen import context
from wenzhen.events import REGISTRY, Envelope

EVENT = PatientRegistered(patient_id="pat_1", sex="male", birth_year=1985)


def test_envelope_carries_cloudevents_attributes_and_context():
    context.bind("req-1", causation="evt_cause")
    env = Envelope.wrap(EVENT, subject="pat_1")
    context.bind(None)
    assert env.specversion == "1.0"
    assert env.source == "/wenzhen/intake" and env.type == "patient_registered" and env.subject == "pat_1"
    assert env.id.startswith("evt_") and env.time.endswith("Z")
    assert env.correlationid == "req-1" and env.causationid == "evt_cause"
    assert env.dataschema == "urn:wenzhen:events:intake:patient_registered:v1"
    assert env.data == {"patient_id": "pat_1", "sex": "male", "birth_year": 1985, "relationship": None}


def test_envelope_round_trips_to_typed_data():
    env = Envelope.model_validate(Envelope.wrap(EVENT, "pat_1").model_dump(mode="json"))
    assert env.parsed() == EVENT


def test_data_that_breaks_its_schema_is_refused():
    body = Envelope.wrap(EVENT, "pat_1").model_dump(mode="json")
    body["data"].pop("patient_id")
    with pytest.raises(ValueError):
        Envelope.model_validate(body).parsed()


def test_an_event_type_cannot_be_declared_twice():
    assert REGISTRY[("intake", "patient_registered")] is PatientRegistered
    with pytest.raises(TypeError):
        class Again(PatientRegistered.__base__):  # noqa: F811 - deliberately clashing declaration
            source = "intake"
            type = "patient_registered"


def test_readers_tolerate_fields_added_by_a_newer_publisher():
    body = Envelope.wrap(EVENT, "pat_1").model_dump(mode="json")
    body["data"]["added_later"] = "x"
    assert Envelope.model_validate(body).parsed() == EVENT
