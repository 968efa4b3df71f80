"""notify's rules: the messages facts deserve, sending them after the commit, and who may read them."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.notify import domain as notify
from tests.fakes import FakeStore
from wenzhen.auth import Caller, Principal, PurposeOfUse, Role
from wenzhen.crypto import Keyring, new_key_settings
from wenzhen.errors import NotFound
from wenzhen.storage import AUDIT_LOG

KEYS = Keyring.from_env(new_key_settings())
PATIENT = Caller(principal=Principal.user("acc_p1", Role.patient, sid="s", patients=("pat_1", "pat_child")),
                 purpose=PurposeOfUse.PATRQT, origin_ip="203.0.113.9", request_id="req_1")


class Channel:
    name = "test"

    def __init__(self, fail_on: int | None = None):
        self.sent: list[tuple[str, str, str]] = []
        self.fail_on = fail_on

    def send(self, message_id: str, to: str, text: str) -> None:
        if self.fail_on is not None and len(self.sent) == self.fail_on:
            raise ConnectionError("SMS gateway down")
        self.sent.append((message_id, to, text))


def queue(store: FakeStore, patient_id: str, name: str, minutes_ago: int = 0) -> dict:
    doc = store.transact(lambda tx: notify.queue_welcome(tx, KEYS, patient_id, {"name": name, "phone": "13912345678"},
                                                         f"evt_{name}"))
    if minutes_ago:
        stored = store[notify.NOTIFICATIONS].docs[doc["_id"]]
        stored["created_at"] -= timedelta(minutes=minutes_ago)
    return doc


def test_otp_texts_carry_the_code_and_its_validity():
    store = FakeStore()
    delivery = {"purpose": "register", "kind": "code", "code": "042917", "valid_minutes": 5, "phone": "13912345678"}
    doc = store.transact(lambda tx: notify.queue_otp(tx, KEYS, delivery, "evt_otp"))
    assert doc["template"] == "otp_register" and doc["patient_id"] is None and "042917" not in str(doc)
    text = KEYS.decrypt(doc["text"], field="text", record=doc["_id"])
    assert "042917" in text and "5分钟" in text
    notice = {**delivery, "kind": "already_registered", "code": None}
    doc = store.transact(lambda tx: notify.queue_otp(tx, KEYS, notice, "evt_otp2"))
    assert "已注册" in KEYS.decrypt(doc["text"], field="text", record=doc["_id"])


def test_dispatch_sends_queued_messages_in_order_and_marks_them_sent():
    store = FakeStore()
    first, second = queue(store, "pat_1", "甲"), queue(store, "pat_2", "乙")
    channel = Channel()
    assert notify.dispatch(store, KEYS, channel) == 2
    assert [m for m, _, _ in channel.sent] == sorted([first["_id"], second["_id"]])  # id (creation) order
    assert {to for _, to, _ in channel.sent} == {"13912345678"}  # decrypted for the channel only
    assert {text[:1] for _, _, text in channel.sent} == {"甲", "乙"}
    for doc in store[notify.NOTIFICATIONS].docs.values():
        assert doc["status"] == "sent" and doc["via"] == "test" and doc["sent_at"]
    assert notify.dispatch(store, KEYS, channel) == 0 and len(channel.sent) == 2  # sent once


def test_a_failed_send_stops_the_round_and_leaves_the_rest_queued():
    store = FakeStore()
    for name in ("甲", "乙", "丙"):
        queue(store, "pat_1", name)
    with pytest.raises(ConnectionError):
        notify.dispatch(store, KEYS, Channel(fail_on=1))
    statuses = sorted(d["status"] for d in store[notify.NOTIFICATIONS].docs.values())
    assert statuses == ["queued", "queued", "sent"]
    assert notify.dispatch(store, KEYS, Channel()) == 2


def test_a_patient_reads_their_notifications_newest_first_and_it_is_audited():
    store = FakeStore()
    queue(store, "pat_1", "旧", minutes_ago=60)
    queue(store, "pat_1", "新")
    queue(store, "pat_2", "别人")
    items = notify.list_for_patient(store, KEYS, PATIENT, "pat_1")
    assert [item["text"][:1] for item in items] == ["新", "旧"]
    assert set(items[0]) == {"id", "channel", "template", "text", "status", "created_at"}
    assert "to" not in items[0]  # the number is not shown back
    (entry,) = [d for d in store[AUDIT_LOG].docs.values() if d["action"] == "R"]
    assert (entry["action"], entry["subtype"], entry["entity_type"], entry["patient_id"], entry["outcome"]) == (
        "R", "search", "Notification", "pat_1", "success")
    # writing each message is on the trail too
    created = [d for d in store[AUDIT_LOG].docs.values() if d["action"] == "C"]
    assert len(created) == 3 and {d["entity_type"] for d in created} == {"Notification"}
    assert notify.list_for_patient(store, KEYS, PATIENT, "pat_child") == []  # a relative's: none yet


@pytest.mark.parametrize("caller", [
    Caller(principal=Principal.user("acc_p2", Role.patient, patients=("pat_2",))),
    Caller(principal=Principal.user("acc_d1", Role.doctor)),
    Caller(principal=Principal.user("acc_a1", Role.admin)),
    Caller(),
], ids=["other patient", "doctor", "admin", "anonymous"])
def test_nobody_else_reads_a_patients_notifications(caller):
    store = FakeStore()
    queue(store, "pat_1", "甲")
    with pytest.raises(NotFound):
        notify.list_for_patient(store, KEYS, caller, "pat_1")
    (entry,) = [d for d in store[AUDIT_LOG].docs.values() if d["action"] == "R"]
    assert entry["outcome"] == "denied" and entry["patient_id"] == "pat_1"
