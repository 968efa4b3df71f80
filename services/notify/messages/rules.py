"""Messages' decisions, pure: which message a fact deserves and what it says (time, department and place; nothing
clinical: an SMS is not a private channel), who may read a patient's messages.

Booking's reminders (an appointment soon, a waitlist place offered, a follow-up due) go to the number of the
patient's record, except a relative's record registered by an account holder (its number was typed by someone else
and never confirmed, the reason it gets no welcome SMS either)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from contracts.identity.schemas import OtpDelivery
from wenzhen.auth import Principal
from wenzhen.timez import hospital_zone

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
# records' facts: that something is ready, never what (no result, drug or diagnosis in an SMS)
RESULT_RELEASED_TEXT = "【问诊】您的检查结果已出，请登录查看；如有疑问请咨询您的医生。"
PRESCRIPTION_EFFECTIVE_TEXT = "【问诊】您的电子处方已经药师审核通过，请登录选择配送或到院取药。"
DISPATCH_BATCH = 50
LIST_LIMIT = 100


@dataclass(frozen=True)
class Contact:
    """How to reach a patient (from intake's audited ``get_contact``)."""

    name: str = field(repr=False)
    phone: str = field(repr=False)

    @classmethod
    def of(cls, contact: dict) -> Contact:
        return cls(name=contact["name"], phone=contact["phone"])


@dataclass(frozen=True)
class QueuedSms:
    """An SMS recorded and waiting for the dispatcher (decrypted for the channel only)."""

    id: str
    to: str = field(repr=False)
    text: str = field(repr=False)


def deserves_welcome(relationship: str | None) -> bool:
    """A patient who registered themself, or whom staff registered (the number came from the patient), gets a
    welcome SMS; a relative's record does not: its number was typed by someone else and never confirmed."""
    return relationship in (None, "self")


def welcome_text(contact: Contact) -> str:
    return WELCOME_TEXT.format(name=contact.name)


def otp_text(delivery: OtpDelivery) -> str:
    return OTP_TEXTS[(str(delivery.purpose), delivery.kind)].format(code=delivery.code, minutes=delivery.valid_minutes)


def otp_template(delivery: OtpDelivery) -> str:
    return f"otp_{delivery.purpose}"


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


def reminder_template(hours_before: int) -> str:
    return f"appointment_reminder_{hours_before}h"


def follow_up_text(department: str, due: date) -> str:
    return FOLLOW_UP_TEXT.format(department=department, due=day_text(due))


def may_read(principal: Principal, patient_id: str) -> bool:
    """A patient account whose token lists the record (``pat``, kept current by the gateway)."""
    return principal.acts_for(patient_id)
