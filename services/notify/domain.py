"""notify's rules: which message a fact deserves, what it says, and who may read the messages.

Booking's reminders (an appointment soon, a waitlist place offered, a follow-up due) say when, which department and
where — never the doctor, a diagnosis or a note: an SMS is not a private channel. They go to the number of the
patient's record, except a relative's record registered by an account holder (its number was typed by someone else
and never confirmed, the reason it gets no welcome SMS either): notify remembers those records from
``patient_registered`` and sends them nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from pymongo import ASCENDING, DESCENDING

from services.notify.channels import SmsChannel
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, Outcome
from wenzhen.auth import Caller, current_caller
from wenzhen.crypto import Keyring
from wenzhen.errors import NotFound
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import hospital_zone, to_local_iso, utcnow

NOTIFICATIONS = "notifications"
UNCONFIRMED = "unconfirmed_contacts"  # records whose number nobody confirmed (relatives'): no SMS about them
ENCRYPTED = ("to", "text")  # the address and the text name the person

INDEXES = [
    Index(NOTIFICATIONS, [("patient_id", ASCENDING), ("created_at", DESCENDING)]),
    Index(NOTIFICATIONS, [("status", ASCENDING), ("_id", ASCENDING)], name="queued"),
]

WELCOME_TEXT = (
    "{name}，您好！您已成功注册问诊在线服务。如有不适可随时在线咨询；"
    "紧急情况请拨打120或前往最近的急诊。"
)
OTP_TEXTS = {
    ("register", "code"): "【问诊】您的注册验证码是{code}，{minutes}分钟内有效。请勿告诉他人；如非本人操作请忽略。",
    ("reset_password", "code"): "【问诊】您正在重置密码，验证码是{code}，{minutes}分钟内有效。请勿告诉他人；"
                                "如非本人操作请忽略。",
    ("register", "already_registered"): "【问诊】此号码已注册问诊账户，请直接登录；忘记密码可用“找回密码”重置。"
                                        "如非本人操作请忽略。",
}
COMPLAINT_ANSWERED_TEXT = "您的投诉已有答复，请登录查看。"  # never the answer itself: an SMS is not a private channel
WAITLIST_OFFER_TEXT = ("【问诊】您候补的号源有空位：{department} {when}。请在 {until} 前登录确认，"
                       "逾期将顺延给下一位候补患者。")
REMINDER_TEXT = "【问诊】就诊提醒：您预约的{department}号将于{when}开始，地点：{place}。{advice}"
REMINDER_ADVICE = {False: "请提前15分钟到达，凭预约二维码签到；如不能就诊请提前取消。",
                   True: "请准时登录参加视频问诊；如不能参加请提前取消。"}
ONLINE_PLACE = "线上视频问诊"
NO_ROOM_PLACE = "门诊楼，请到服务台问询诊室"
FOLLOW_UP_TEXT = "【问诊】复诊提醒：医生建议您于{due}前后到{department}复诊，请登录预约。"


def queue_sms(tx: Tx, keys: Keyring, *, to: str, text: str, template: str, cause: str,
              patient_id: str | None = None, caller: Caller | None = None) -> dict:
    """Record an SMS in this transaction (and, in the audit trail, that it was written); the dispatcher sends it
    after the commit."""
    notification_id = ids.new_id("ntf")
    doc = {
        "_id": notification_id, "patient_id": patient_id, "channel": "sms", "template": template,
        "status": "queued", "cause": cause, "created_at": utcnow(),
        **{name: keys.encrypt(value, field=name, record=notification_id)
           for name, value in (("to", to), ("text", text))},
    }
    tx[NOTIFICATIONS].insert_one(doc)
    audit.record(tx, caller or current_caller(), CREATE, "create", "Notification", notification_id,
                 patient_id=patient_id, detail=template)
    return doc


def note_unconfirmed(tx: Tx, patient_id: str) -> None:
    """A record whose number was typed by someone else (a relative's): booking's messages skip it."""
    tx[UNCONFIRMED].update_one({"_id": patient_id}, {"$setOnInsert": {"seen_at": utcnow()}}, upsert=True)


def reachable(tx: Tx | Store, patient_id: str) -> bool:
    return tx[UNCONFIRMED].find_one({"_id": patient_id}) is None


def deserves_welcome(event) -> bool:
    """A patient who registered themself, or whom staff registered (the number came from the patient), gets a
    welcome SMS; a relative's record does not: its number was typed by someone else and never confirmed."""
    return event.relationship in (None, "self")


def queue_welcome(tx: Tx, keys: Keyring, patient_id: str, contact: dict, event_id: str) -> dict:
    return queue_sms(tx, keys, to=contact["phone"], text=WELCOME_TEXT.format(name=contact["name"]),
                     template="welcome", cause=event_id, patient_id=patient_id)


def queue_complaint_answered(tx: Tx, keys: Keyring, patient_id: str, contact: dict, event_id: str) -> dict:
    return queue_sms(tx, keys, to=contact["phone"], text=COMPLAINT_ANSWERED_TEXT, template="complaint_answered",
                     cause=event_id, patient_id=patient_id)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(hospital_zone())


def day_text(day: date) -> str:
    return f"{day.month}月{day.day}日"


def when_text(moment: datetime) -> str:
    """``3月2日 08:00`` in the hospital's zone."""
    local = _local(moment)
    return f"{day_text(local.date())} {local:%H:%M}"


def waitlist_offer_text(department: str, start: datetime, until: datetime, now: datetime) -> str:
    """The offer's end as HH:MM, with the day when it is not today's."""
    end = _local(until)
    clock = f"{end:%H:%M}" if end.date() == _local(now).date() else when_text(until)
    return WAITLIST_OFFER_TEXT.format(department=department, when=when_text(start), until=clock)


def reminder_text(department: str, start: datetime, place: str | None, online: bool) -> str:
    where = ONLINE_PLACE if online else (place or NO_ROOM_PLACE)
    return REMINDER_TEXT.format(department=department, when=when_text(start), place=where,
                                advice=REMINDER_ADVICE[online])


def follow_up_text(department: str, due: date) -> str:
    return FOLLOW_UP_TEXT.format(department=department, due=day_text(due))


def queue_booking_sms(tx: Tx, keys: Keyring, patient_id: str, contact: Callable[[], dict], text: str, template: str,
                      event_id: str) -> dict | None:
    """A message about a booking to the patient's number (``contact`` looks it up); nothing, and no look-up, for a
    record whose number nobody confirmed."""
    if not reachable(tx, patient_id):
        return None
    return queue_sms(tx, keys, to=contact()["phone"], text=text, template=template, cause=event_id,
                     patient_id=patient_id)


def queue_otp(tx: Tx, keys: Keyring, delivery: dict, event_id: str) -> dict:
    text = OTP_TEXTS[(delivery["purpose"], delivery["kind"])].format(code=delivery["code"],
                                                                     minutes=delivery["valid_minutes"])
    return queue_sms(tx, keys, to=delivery["phone"], text=text, template=f"otp_{delivery['purpose']}",
                     cause=event_id)


def dispatch(store: Store, keys: Keyring, channel: SmsChannel, limit: int = 50) -> int:
    """Send queued SMS in order; a failure stops the round (the message stays queued and is retried)."""
    sent = 0
    for doc in store[NOTIFICATIONS].find({"status": "queued", "channel": "sms"}).sort("_id", ASCENDING).limit(limit):
        plain = {name: keys.decrypt(doc[name], field=name, record=doc["_id"]) for name in ENCRYPTED}
        channel.send(doc["_id"], plain["to"], plain["text"])
        store[NOTIFICATIONS].update_one({"_id": doc["_id"], "status": "queued"},
                                        {"$set": {"status": "sent", "sent_at": utcnow(), "via": channel.name}})
        sent += 1
    return sent


def list_for_patient(store: Store, keys: Keyring, caller: Caller, patient_id: str, limit: int = 100) -> list[dict]:
    """A patient's notifications, for the patient (or their representative)."""
    if not caller.principal.acts_for(patient_id):
        audit.record(store, caller, READ, "search", "Notification", None, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise NotFound(f"No patient with id {patient_id}.")
    audit.record(store, caller, READ, "search", "Notification", None, patient_id=patient_id)
    cursor = store[NOTIFICATIONS].find({"patient_id": patient_id}).sort("created_at", DESCENDING).limit(limit)
    return [
        {
            "id": doc["_id"],
            "channel": doc["channel"],
            "template": doc["template"],
            "text": keys.decrypt(doc["text"], field="text", record=doc["_id"]),
            "status": doc["status"],
            "created_at": to_local_iso(doc["created_at"]),
        }
        for doc in cursor
    ]
