"""Messages' pure rules: what the texts say (time, department, place; nothing clinical) and who deserves one."""
from datetime import UTC, date, datetime

from contracts.identity.schemas import OtpDelivery
from services.notify.messages import rules
from services.notify.messages.rules import Contact
from wenzhen.auth import Principal, Role

START = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai


def test_a_welcome_goes_to_self_registered_and_staff_registered_records_only():
    assert rules.deserves_welcome("self") and rules.deserves_welcome(None)
    assert not rules.deserves_welcome("child") and not rules.deserves_welcome("parent")
    text = rules.welcome_text(Contact(name="李四", phone="13912345678"))
    assert text.startswith("李四") and "120" in text


def test_code_texts_carry_the_code_and_its_validity_and_a_notice_none():
    code = OtpDelivery(phone="13912345678", code="042917", kind="code", purpose="register", valid_minutes=5)
    assert "042917" in rules.otp_text(code) and "5分钟" in rules.otp_text(code)
    assert rules.otp_template(code) == "otp_register"
    reset = code.model_copy(update={"purpose": "reset_password"})
    assert "重置密码" in rules.otp_text(reset) and rules.otp_template(reset) == "otp_reset_password"
    notice = code.model_copy(update={"kind": "already_registered", "code": None})
    assert "已注册" in rules.otp_text(notice) and "None" not in rules.otp_text(notice)


def test_the_waitlist_offer_says_until_when_to_confirm():
    text = rules.waitlist_offer_text("泌尿外科", START, datetime(2026, 3, 8, 2, 45, tzinfo=UTC),
                                     now=datetime(2026, 3, 8, 2, 15, tzinfo=UTC))
    assert text.startswith("【问诊】您候补的号源有空位：泌尿外科 3月9日 08:30。")
    assert "请在 10:45 前登录确认" in text
    overnight = rules.waitlist_offer_text("泌尿外科", START, datetime(2026, 3, 8, 16, 10, tzinfo=UTC),
                                          now=datetime(2026, 3, 8, 15, 50, tzinfo=UTC))
    assert "请在 3月9日 00:10 前" in overnight  # the offer ends on another day: the day is named


def test_reminders_name_time_department_and_place_only():
    in_person = rules.reminder_text("泌尿外科", START, "门诊楼3层12诊室", online=False)
    assert "泌尿外科" in in_person and "3月9日 08:30" in in_person and "门诊楼3层12诊室" in in_person
    assert "二维码" in in_person
    online = rules.reminder_text("泌尿外科", START, None, online=True)
    assert rules.ONLINE_PLACE in online and "视频" in online
    assert rules.NO_ROOM_PLACE in rules.reminder_text("泌尿外科", START, None, online=False)
    assert rules.reminder_template(24) == "appointment_reminder_24h"
    assert rules.follow_up_text("泌尿外科", date(2026, 3, 9)) == ("【问诊】复诊提醒：医生建议您于3月9日前后到泌尿外科"
                                                                "复诊，请登录预约。")


def test_a_complaint_answered_text_never_holds_the_answer():
    assert rules.COMPLAINT_ANSWERED_TEXT == "您的投诉已有答复，请登录查看。"


def test_only_a_patient_acting_for_the_record_reads_its_messages():
    assert rules.may_read(Principal.user("acc_p1", Role.patient, patients=("pat_1",)), "pat_1")
    assert not rules.may_read(Principal.user("acc_p1", Role.patient, patients=("pat_1",)), "pat_2")
    assert not rules.may_read(Principal.user("acc_a1", Role.admin), "pat_1")
    assert not rules.may_read(Principal.service("intake"), "pat_1")
