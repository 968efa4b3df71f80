"""Messages' use cases over an in-memory store: the message each fact deserves, recorded and audited in its
transaction; sending after the commit, in order and at least once; who reads a patient's messages."""
from datetime import UTC, datetime, timedelta

import pytest

from contracts.identity.schemas import OtpDelivery
from services.notify.messages import usecases
from services.notify.messages.rules import Contact
from tests.unit.notify.messages.fakes import FakeChannel, FakeMessageStore
from wenzhen.auth import Caller, Principal, PurposeOfUse, Role
from wenzhen.errors import NotFound

NOW = datetime(2026, 3, 8, 2, 15, tzinfo=UTC)
NOTIFY = Caller.service("notify")
CONTACT = Contact(name="王芳", phone="13912345678")
PATIENT = Caller(principal=Principal.user("acc_p1", Role.patient, sid="s", patients=("pat_1", "pat_child")),
                 purpose=PurposeOfUse.PATRQT, origin_ip="203.0.113.9", request_id="req_1")


@pytest.fixture
def store() -> FakeMessageStore:
    return FakeMessageStore()


def welcome(store, patient_id="pat_1", relationship="self", contact=CONTACT, at=NOW, looked_up=None):
    def look_up() -> Contact:
        if looked_up is not None:
            looked_up.append(patient_id)
        return contact

    return store.transact(lambda tx: usecases.welcome(store, tx, NOTIFY, patient_id, relationship, look_up,
                                                      f"evt_{patient_id}_{at.isoformat()}", at))


def test_a_welcome_is_recorded_for_the_patient_and_its_writing_audited(store):
    notification_id = welcome(store)
    sms = store.notifications[notification_id]
    assert (sms["patient_id"], sms["channel"], sms["template"], sms["status"], sms["to"]) == (
        "pat_1", "sms", "welcome", "queued", "13912345678")
    assert sms["text"].startswith("王芳") and sms["cause"].startswith("evt_pat_1")
    (entry,) = store.audited
    assert (entry["action"], entry["entity_type"], entry["entity_id"], entry["patient_id"], entry["agent_id"],
            entry["detail"]) == ("C", "Notification", notification_id, "pat_1", "notify", "welcome")


def test_a_relative_s_record_gets_no_welcome_and_no_booking_message_later(store):
    looked_up: list[str] = []
    assert welcome(store, "pat_child", "child", looked_up=looked_up) is None
    assert looked_up == [] and store.notifications == {}  # not even looked up
    skipped = store.transact(lambda tx: usecases.patient_sms(store, tx, NOTIFY, "pat_child", lambda: CONTACT,
                                                             "提醒", "follow_up_due", "evt_2", NOW))
    assert skipped is None and store.notifications == {}
    sent = store.transact(lambda tx: usecases.patient_sms(store, tx, NOTIFY, "pat_1", lambda: CONTACT, "提醒",
                                                          "follow_up_due", "evt_3", NOW))
    assert store.notifications[sent]["template"] == "follow_up_due"


def test_the_answered_sms_says_there_is_an_answer_and_never_what_it_is(store):
    notification_id = store.transact(lambda tx: usecases.complaint_answered(
        store, tx, NOTIFY, "pat_1", lambda: Contact(name="王秀英", phone="13812345678"), "evt_answered", NOW))
    sms = store.notifications[notification_id]
    assert (sms["template"], sms["patient_id"], sms["cause"], sms["text"]) == (
        "complaint_answered", "pat_1", "evt_answered", "您的投诉已有答复，请登录查看。")
    assert store.audited[0]["entity_type"] == "Notification" and store.audited[0]["patient_id"] == "pat_1"
    assert store.transact(lambda tx: usecases.complaint_answered(store, tx, NOTIFY, None, lambda: CONTACT, "e",
                                                                 NOW)) is None  # a complaint about no record


def test_a_code_goes_to_its_number_belonging_to_no_patient(store):
    delivery = OtpDelivery(phone="13912345678", code="042917", kind="code", purpose="register", valid_minutes=5)
    notification_id = store.transact(lambda tx: usecases.otp(store, tx, NOTIFY, delivery, "evt_otp", NOW))
    sms = store.notifications[notification_id]
    assert sms["template"] == "otp_register" and sms["patient_id"] is None and "042917" in sms["text"]


def test_a_message_is_kept_only_with_its_transaction(store):
    def failing(tx):
        usecases.welcome(store, tx, NOTIFY, "pat_1", "self", lambda: CONTACT, "evt_1", NOW)
        raise RuntimeError("the handler failed after writing")

    with pytest.raises(RuntimeError):
        store.transact(failing)
    assert store.notifications == {} and store.audited == []


def test_dispatch_sends_queued_messages_in_order_once_and_marks_them_sent(store):
    first, second = welcome(store, "pat_1"), welcome(store, "pat_2", contact=Contact("乙", "13900000002"))
    channel = FakeChannel()
    assert usecases.dispatch(store, channel, NOW) == 2
    assert [m for m, _, _ in channel.sent] == sorted([first, second])  # id (creation) order
    assert {(to, text[:1]) for _, to, text in channel.sent} == {("13912345678", "王"), ("13900000002", "乙")}
    for sms in store.notifications.values():
        assert (sms["status"], sms["via"], sms["sent_at"]) == ("sent", "test", NOW)
    assert usecases.dispatch(store, channel, NOW) == 0 and len(channel.sent) == 2  # sent once


def test_a_failed_send_stops_the_round_and_leaves_the_rest_queued(store):
    for n in range(3):
        welcome(store, f"pat_{n}")
    with pytest.raises(ConnectionError):
        usecases.dispatch(store, FakeChannel(fail_on=1), NOW)
    assert sorted(s["status"] for s in store.notifications.values()) == ["queued", "queued", "sent"]
    assert usecases.dispatch(store, FakeChannel(), NOW) == 2


def test_a_patient_reads_their_notifications_newest_first_and_it_is_audited(store):
    welcome(store, "pat_1", contact=Contact("旧", "13912345678"), at=NOW - timedelta(hours=1))
    welcome(store, "pat_1", contact=Contact("新", "13912345678"))
    welcome(store, "pat_2", contact=Contact("别", "13912345678"))
    items = usecases.list_for_patient(store, PATIENT, "pat_1")
    assert [item.text[:1] for item in items] == ["新", "旧"]
    assert set(items[0].model_dump()) == {"id", "channel", "template", "text", "status", "created_at"}
    read = [e for e in store.audited if e["action"] == "R"]
    assert [(e["subtype"], e["entity_type"], e["patient_id"], e["outcome"]) for e in read] == [
        ("search", "Notification", "pat_1", "success")]
    assert usecases.list_for_patient(store, PATIENT, "pat_child") == []  # a relative's: none yet


@pytest.mark.parametrize("caller", [
    Caller(principal=Principal.user("acc_p2", Role.patient, patients=("pat_2",))),
    Caller(principal=Principal.user("acc_d1", Role.doctor)),
    Caller(principal=Principal.user("acc_a1", Role.admin)),
    Caller(),
], ids=["other patient", "doctor", "admin", "anonymous"])
def test_nobody_else_reads_a_patients_notifications(store, caller):
    welcome(store)
    with pytest.raises(NotFound):
        usecases.list_for_patient(store, caller, "pat_1")
    (entry,) = [e for e in store.audited if e["action"] == "R"]
    assert entry["outcome"] == "denied" and entry["patient_id"] == "pat_1"
