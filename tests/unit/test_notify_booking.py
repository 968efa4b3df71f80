"""notify's messages about bookings: what they say (time, department, place; nothing clinical) and who gets them
(never a relative's record whose number nobody confirmed)."""
from __future__ import annotations

from datetime import UTC, date, datetime

from services.notify import domain as notify
from tests.fakes import FakeStore
from wenzhen.crypto import Keyring, new_key_settings

KEYS = Keyring.from_env(new_key_settings())
START = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
CONTACT = {"name": "王芳", "phone": "13912345678"}


def test_the_waitlist_offer_says_until_when_to_confirm():
    text = notify.waitlist_offer_text("泌尿外科", START, datetime(2026, 3, 8, 2, 45, tzinfo=UTC),
                                      now=datetime(2026, 3, 8, 2, 15, tzinfo=UTC))
    assert text.startswith("【问诊】您候补的号源有空位：泌尿外科 3月9日 08:30。")
    assert "请在 10:45 前登录确认" in text
    overnight = notify.waitlist_offer_text("泌尿外科", START, datetime(2026, 3, 8, 16, 10, tzinfo=UTC),
                                           now=datetime(2026, 3, 8, 15, 50, tzinfo=UTC))
    assert "请在 3月9日 00:10 前" in overnight  # the offer ends on another day: the day is named


def test_reminders_name_time_department_and_place_only():
    in_person = notify.reminder_text("泌尿外科", START, "门诊楼3层12诊室", online=False)
    assert "泌尿外科" in in_person and "3月9日 08:30" in in_person and "门诊楼3层12诊室" in in_person
    assert "二维码" in in_person
    online = notify.reminder_text("泌尿外科", START, None, online=True)
    assert notify.ONLINE_PLACE in online and "视频" in online
    assert notify.NO_ROOM_PLACE in notify.reminder_text("泌尿外科", START, None, online=False)
    assert notify.follow_up_text("泌尿外科", date(2026, 3, 9)) == ("【问诊】复诊提醒：医生建议您于3月9日前后到泌尿外科"
                                                                 "复诊，请登录预约。")


def test_booking_messages_go_to_confirmed_numbers_only():
    store = FakeStore()
    looked_up: list[str] = []

    def contact() -> dict:
        looked_up.append("pat_1")
        return CONTACT

    doc = store.transact(lambda tx: notify.queue_booking_sms(tx, KEYS, "pat_1", contact, "提醒", "follow_up_due",
                                                             "evt_1"))
    assert doc["template"] == "follow_up_due" and doc["patient_id"] == "pat_1" and "13912345678" not in str(doc)
    assert KEYS.decrypt(doc["to"], field="to", record=doc["_id"]) == "13912345678"
    store.transact(lambda tx: notify.note_unconfirmed(tx, "pat_relative"))
    skipped = store.transact(lambda tx: notify.queue_booking_sms(tx, KEYS, "pat_relative", contact, "提醒",
                                                                 "follow_up_due", "evt_2"))
    assert skipped is None and looked_up == ["pat_1"]  # not even looked up
    assert len(store[notify.NOTIFICATIONS].docs) == 1
