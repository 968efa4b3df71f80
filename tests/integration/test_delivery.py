"""Events are facts: delivered at least once, applied once, never lost.

Each test swaps a real service process for a variant with a fault injected at
a fixed point (``wenzhen.faults``), against the real broker and database.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pika
import pytest

from contracts.intake.events import PatientRegistered
from deploy.stack import ROOT
from tests.integration.conftest import consultant_context, new_phone, wait_until
from wenzhen.faults import CRASH_EXIT_CODE

pytestmark = pytest.mark.integration


def publish_raw(stack, envelope: dict, times: int) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.cfg.amqp_uri))
    channel = connection.channel()
    channel.confirm_delivery()
    for _ in range(times):
        channel.basic_publish("intake.events", envelope["type"], json.dumps(envelope).encode(),
                              pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                   message_id=envelope["id"]), mandatory=True)
    connection.close()


def test_the_same_event_delivered_twice_gives_one_notification(stack):
    patient = stack.register()
    wait_until(lambda: stack.notifications(patient["id"]), what="the first delivery")
    envelope = stack.db("intake")["outbox"].find_one({"subject": patient["id"]})["envelope"]
    publish_raw(stack, envelope, times=2)  # the relay delivered it once already: two more copies
    wait_until(lambda: stack.log_text("notify").count(f"event {envelope['id']} already applied") >= 2,
               what="both copies to be recognised")
    assert len(stack.notifications(patient["id"])) == 1


def rpc_register(stack, phone: str) -> None:
    """Register through intake's RPC; the reply may be lost if intake dies right after its commit."""
    try:
        stack.rpc.call("intake", "register_patient",
                       {"name": "赵六", "sex": "female", "birth_date": "1975-05-05", "phone": phone}, timeout=5,
                       context=consultant_context())
    except Exception:  # noqa: BLE001 - the crash may beat the reply; the database tells what happened
        pass


@pytest.mark.parametrize("point", ["relay.before_publish", "relay.after_publish"])
def test_a_relay_killed_around_publish_still_delivers_after_restart(stack, point):
    label = f"intake-crash-{point}"
    # only at the registration's event: intake publishes others too (e.g. its audit chain's checkpoints)
    proc = stack.replace_service("intake", {"WENZHEN_FAULTS": f"{point}:patient_registered=crash"}, label)
    try:
        phone = new_phone()
        rpc_register(stack, phone)
        assert proc.wait(timeout=20) == CRASH_EXIT_CODE  # died at that very line
        patient = stack.patient_by_phone(phone)
        assert patient is not None, "the registration was committed before the crash"
        entry = stack.db("intake")["outbox"].find_one({"subject": patient["_id"]})
        assert entry["status"] == "pending"  # committed, not (known to be) published
        if point == "relay.before_publish":
            assert stack.notifications(patient["_id"]) == []
    finally:
        stack.restore_service("intake", label)
    wait_until(lambda: stack.db("intake")["outbox"].find_one({"subject": patient["_id"], "status": "sent"}),
               what="the restarted relay to publish")
    wait_until(lambda: stack.notifications(patient["_id"]), what="the welcome notification")
    if point == "relay.after_publish":  # published twice; applied once
        wait_until(lambda: "already applied by notify.welcome_patient" in stack.log_text("notify"),
                   what="the duplicate to be recognised")
    assert len(stack.notifications(patient["_id"])) == 1


def test_a_handler_failing_twice_then_succeeding_gives_one_notification(stack):
    label = "notify-fail-twice"
    stack.replace_service("notify", {"WENZHEN_FAULTS": "handler:notify.welcome_patient=fail:2"}, label)
    try:
        patient = stack.register()
        wait_until(lambda: stack.notifications(patient["id"]), what="the welcome notification")
        log = stack.log_text(label)
        assert log.count("handler notify.welcome_patient failed") >= 2
    finally:
        stack.restore_service("notify", label)
    assert len(stack.notifications(patient["id"])) == 1
    assert stack.db("notify")["dead_letters"].count_documents({"body.subject": patient["id"]}) == 0


def deadletters_cli(stack, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "wenzhen.deadletters", *args], cwd=ROOT, env=stack.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_an_always_failing_handler_parks_the_event_and_replay_delivers_it(stack):
    label = "notify-always-fails"
    stack.replace_service("notify", {"WENZHEN_FAULTS": "handler:notify.welcome_patient=fail:always",
                                     "HANDLER_MAX_ATTEMPTS": "3"}, label)
    try:
        patient = stack.register()
        letters = stack.db("notify")["dead_letters"]
        letter = wait_until(lambda: letters.find_one({"body.subject": patient["id"], "status": "parked"}),
                            what="the event to be parked")
        assert letter["attempts"] == 3 and letter["error_type"] == "InjectedFault"
        assert stack.notifications(patient["id"]) == []
    finally:
        stack.restore_service("notify", label)

    listed = [json.loads(line) for line in deadletters_cli(stack, "list", "--service", "notify").splitlines()]
    assert letter["_id"] in [row["id"] for row in listed]
    assert "1" in deadletters_cli(stack, "replay", letter["_id"])
    wait_until(lambda: stack.notifications(patient["id"]), what="the replayed event's notification")
    assert len(stack.notifications(patient["id"])) == 1
    assert letters.find_one({"_id": letter["_id"]})["status"] == "replayed"


def test_consumer_queues_are_durable_and_bound_before_publishing(stack):
    connection = pika.BlockingConnection(pika.URLParameters(stack.cfg.amqp_uri))
    channel = connection.channel()
    # passive declares fail if the queue is missing; a durable queue survives a broker restart
    for queue in ("evt-intake-patient_registered--notify.welcome_patient", "evt-intake-#--reports.archive_intake"):
        channel.queue_declare(queue, passive=True)
        channel.queue_declare(queue, durable=True)  # same arguments as declared: no PRECONDITION_FAILED
    connection.close()


def test_events_of_one_subject_are_numbered_and_published_in_order(stack):
    from wenzhen.storage import Store

    store = Store(stack.db("intake"))
    subject = stack.register()["id"]  # its registration is event 1
    for _ in range(5):
        event = PatientRegistered(patient_id=subject, sex="other", birth_year=2000)
        store.transact(lambda tx, event=event: tx.emit(event, subject=subject))
    outbox = stack.db("intake")["outbox"]
    wait_until(lambda: outbox.count_documents({"subject": subject, "status": "sent"}) == 6,
               what="the relay to publish all six")  # the running intake's relay, woken by its poll
    entries = list(outbox.find({"subject": subject}).sort("sequence", 1))
    assert [e["sequence"] for e in entries] == [1, 2, 3, 4, 5, 6]
    sent = [e["sent_at"] for e in entries]
    assert sent == sorted(sent)
    log = stack.db("reports")["event_log"]
    wait_until(lambda: log.count_documents({"subject": subject}) == 6, what="reports to archive all six")
