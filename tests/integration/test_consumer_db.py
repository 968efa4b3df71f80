"""The idempotent consumer against the real database: once per handler and event, retried, parked, typed."""
import pytest

from contracts.intake.events import PatientRegistered
from tests.integration.conftest import by_id
from wenzhen import consumer
from wenzhen.events import Envelope
from wenzhen.storage import DEAD_LETTERS, PROCESSED

pytestmark = pytest.mark.integration

EVENT = PatientRegistered(patient_id="pat_1", sex="male", birth_year=1985)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv("HANDLER_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("HANDLER_RETRY_BASE_SECONDS", "0")


def body():
    return Envelope.wrap(EVENT, "pat_1").model_dump(mode="json")


def recorder(fail_times: int = 0):
    calls = []

    def apply(tx, event, envelope):
        calls.append(envelope.id)
        tx["effects"].insert_one({"_id": f"effect-{len(calls)}", "patient": event.patient_id})
        if len(calls) <= fail_times:
            raise RuntimeError("boom")

    return apply, calls


def test_a_second_delivery_applies_nothing(db_store):
    store, (apply, calls), message = db_store, recorder(), body()
    assert consumer.consume(store, "notify.h", "q", message, apply, event=PatientRegistered) == "applied"
    assert consumer.consume(store, "notify.h", "q", message, apply, event=PatientRegistered) == "duplicate"
    assert len(calls) == 1 and len(by_id(store["effects"])) == 1
    assert f"notify.h:{message['id']}" in by_id(store[PROCESSED])


def test_each_handler_applies_the_event_once_on_its_own(db_store):
    store, (apply, _), message = db_store, recorder(), body()
    assert consumer.consume(store, "notify.a", "q", message, apply, event=PatientRegistered) == "applied"
    assert consumer.consume(store, "notify.b", "q", message, apply, event=PatientRegistered) == "applied"


def test_failures_roll_back_and_retry_until_success(db_store):
    store, (apply, calls) = db_store, recorder(fail_times=2)
    assert consumer.consume(store, "notify.h", "q", body(), apply, event=PatientRegistered) == "applied"
    assert len(calls) == 3
    assert len(by_id(store["effects"])) == 1  # the two failed attempts left nothing
    assert by_id(store[DEAD_LETTERS]) == {}


def test_a_handler_that_always_fails_is_parked_with_its_message(db_store):
    store, (apply, calls), message = db_store, recorder(fail_times=99), body()
    assert consumer.consume(store, "notify.h", "evt-q", message, apply, event=PatientRegistered) == "parked"
    assert len(calls) == 3 and by_id(store["effects"]) == {}
    (letter,) = by_id(store[DEAD_LETTERS]).values()
    assert letter["status"] == "parked" and letter["queue"] == "evt-q" and letter["attempts"] == 3
    assert letter["body"] == message and letter["error_type"] == "RuntimeError"
    assert by_id(store[PROCESSED]) == {}  # so a replay will apply it


def test_a_malformed_message_is_parked_at_once(db_store):
    store, (apply, calls) = db_store, recorder()
    malformed = {"id": "x", "type": "?"}
    assert consumer.consume(store, "notify.h", "q", malformed, apply, event=PatientRegistered) == "parked"
    assert calls == [] and len(by_id(store[DEAD_LETTERS])) == 1


def test_consumes_takes_an_event_class_of_the_contracts():
    with pytest.raises(TypeError):
        consumer.consumes("intake")
    with pytest.raises(TypeError):
        consumer.consumes(PatientRegistered.__mro__[1])  # EventData itself names no event


def test_an_event_is_parsed_only_as_its_own_class():
    from contracts.intake.events import PatientLinkRemoved

    envelope = Envelope.model_validate(body())
    assert envelope.parsed_as(PatientRegistered).patient_id == "pat_1"
    with pytest.raises(LookupError):
        envelope.parsed_as(PatientLinkRemoved)


def test_an_archive_keeps_each_event_once_by_one_insert(db_store):
    from types import SimpleNamespace

    @consumer.archives("intake", "kept")
    def archive(self, envelope):
        return {"type": envelope.type, "subject": envelope.subject}

    service = SimpleNamespace(name="reports", store=db_store)
    message = body()
    outcomes = [archive(service, message), archive(service, message)]
    assert outcomes == ["applied", "duplicate"]
    assert by_id(db_store["kept"]) == {message["id"]: {"_id": message["id"], "type": "patient_registered",
                                                      "subject": "pat_1"}}
    assert by_id(db_store[PROCESSED]) == {}  # the insert itself is the record
    assert archive(service, {"id": "x"}) == "parked"
