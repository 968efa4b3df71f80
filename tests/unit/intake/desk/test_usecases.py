"""The chat's use cases over in-memory stores, with an explicit clock: opening (visitor, patient, a logged call),
messages (an idempotent client_id, the red-flag reply, the out-of-hours reply, templates), accepting, picking (only
from one's own queue), transferring (the care relationship ends), closing, rating, renaming the visitor, the history,
the triage advice, files and booking from the chat."""
from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.intake.consultations import (
    Close,
    DepartmentChoice,
    ExampleMark,
    MessageInput,
    Rating,
    Shift,
    Transfer,
)
from contracts.intake.events import (
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationClosed,
    ConsultationIntakeCompleted,
    ConsultationMessagePosted,
    ConsultationOpened,
    ConsultationPatientLinked,
    ConsultationRated,
    ConsultationRead,
    ConsultationTransferred,
    RedFlagRaised,
    TriageRecommended,
)
from contracts.intake.history import HistoryPatch
from services.intake.desk import staffing, usecases
from services.intake.desk.rules import CHAT_CARE, Incident
from services.intake.triage.advice import DoctorProfile
from tests.unit.intake.desk.conftest import (
    COLLEAGUE,
    CONSULTANT,
    DOCTOR,
    LEAD,
    MONDAY_10,
    NIGHT,
    PATIENT,
    POLICY,
    visitor,
)
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = MONDAY_10
LATER = NOW + timedelta(minutes=5)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def post(world, caller, cid, text=None, at=NOW, render=None, **fields):
    return usecases.post_message(world.desk, caller, cid, MessageInput(text=text, **fields), at, render=render)


def offered(world, cid, who=CONSULTANT, at=NOW):
    """The router's offer, as the desk loop makes it."""
    assert staffing.offer(world.desk, cid, who.principal.sub, "router", at) == 1


def taken(world, cid, who=CONSULTANT, at=NOW):
    offered(world, cid, who, at)
    return usecases.accept(world.desk, who, cid, at)


# opening -----------------------------------------------------------------------------------------------------------
def test_a_visitor_opens_a_chat_that_waits_in_the_queue_for_the_department_triage_guessed(world):
    world.on_desk(CONSULTANT)
    opened = world.open(visitor(), "最近尿频尿急，有点担心")
    chat = opened.consultation
    assert chat.status == "queued" and chat.department == "urology" and chat.department_source == "triage"
    assert chat.visitor and chat.in_service_hours and chat.queue.position == 1 and chat.queue.expected_wait_seconds == 0
    assert [(m.seq, m.author, m.kind) for m in opened.messages] == [(1, "visitor", "text")]
    (event,) = world.events(ConsultationOpened)
    assert event.visitor and event.department == "urology" and event.in_service_hours
    assert [e.seq for e in world.events(ConsultationMessagePosted)] == [1]
    assert world.audited(action="C", entity_type="Consultation", entity_id=chat.id, outcome="success")


def test_the_patients_own_choice_of_department_stands(world):
    chat = world.open(visitor(), "最近尿频尿急", department="ent").consultation
    assert (chat.department, chat.department_source) == ("ent", "patient")
    assert world.open(visitor(), "你好").consultation.department is None  # nothing to guess from


def test_out_of_hours_the_reply_says_when_the_desk_opens_at_most_once_an_hour(world):
    opened = world.open(visitor(), "请问明天能挂号吗", at=NIGHT)
    cid = opened.consultation.id
    assert not opened.consultation.in_service_hours and opened.consultation.queue.next_opening.endswith("+08:00")
    assert [m.kind for m in opened.messages] == ["text", "auto_reply"] and "08:00" in opened.messages[1].text
    assert [m.kind for m in post(world, visitor(), cid, "还在吗", at=NIGHT + timedelta(minutes=30))] == ["text"]
    again = post(world, visitor(), cid, "有人吗", at=NIGHT + timedelta(minutes=61))
    assert [m.kind for m in again] == ["text", "auto_reply"]


def test_a_consultant_logs_a_phone_call_the_chat_is_theirs_at_once_with_care_for_its_patient(world):
    patient_id = world.patient()
    opened = world.open(CONSULTANT, "来电咨询复诊", channel="phone", patient_id=patient_id)
    chat = opened.consultation
    assert chat.status == "active" and chat.consultant_id == CONSULTANT.principal.sub and chat.patient_id == patient_id
    care = [c for c in world.people.care if c["kind"] == "consultation"]
    assert care == [{"staff_id": CONSULTANT.principal.sub, "patient_id": patient_id, "kind": "consultation",
                     "ref": chat.id, "since": NOW, "until": NOW + CHAT_CARE}]
    with pytest.raises(InvalidInput) as info:
        world.open(CONSULTANT, "来电", channel="web")
    assert info.value.errors[0]["field"] == "channel"


def test_who_may_open_and_for_which_record(world):
    own = world.patient(PATIENT, relationship="self")
    assert world.open(PATIENT, "你好", patient_id=own).consultation.patient_id == own
    with pytest.raises(InvalidInput) as info:
        world.open(visitor(), "你好", patient_id=own)
    assert info.value.errors[0]["field"] == "patient_id"
    stranger = world.patient(COLLEAGUE)  # registered by someone else: PATIENT does not act for it
    with pytest.raises(NotFound):
        world.open(PATIENT, "你好", patient_id=stranger)
    with pytest.raises(Forbidden):
        world.open(DOCTOR, "你好")


# the conversation --------------------------------------------------------------------------------------------------
def test_a_retried_message_with_the_same_client_id_is_stored_once(world):
    cid = world.open(visitor(), "你好").consultation.id
    first = post(world, visitor(), cid, "我想问问", client_id="client-0001")
    again = post(world, visitor(), cid, "我想问问", client_id="client-0001", at=LATER)
    assert again == first[:1] and len(world.store.messages_) == 2
    assert [e.seq for e in world.events(ConsultationMessagePosted)] == [1, 2]


def test_a_client_id_racing_itself_gets_the_other_attempts_message(world, monkeypatch):
    cid = world.open(visitor(), "你好").consultation.id
    post(world, visitor(), cid, "第一次", client_id="client-0002")
    lookups = iter([None])  # the retry's first look finds nothing: the other attempt had not committed yet
    real = world.store.message_by_client_id
    monkeypatch.setattr(world.store, "message_by_client_id",
                        lambda c, k: next(lookups, None) or real(c, k))
    (earlier,) = post(world, visitor(), cid, "第一次", client_id="client-0002")
    assert earlier.text == "第一次" and earlier.seq == 2 and len(world.store.messages_) == 2


def test_a_red_flag_brings_the_emergency_advice_in_the_same_answer_once(world):
    cid = world.open(visitor(), "你好").consultation.id
    posted = post(world, visitor(), cid, "我爸胸口疼得厉害，喘不上气")
    assert [m.kind for m in posted] == ["text", "emergency"] and "120" in posted[1].text
    chat = world.store.chat(cid)
    assert chat.urgent and chat.red_flags == ("chest_pain", "breathing")
    (alert,) = world.events(RedFlagRaised)
    assert alert.codes == ["chest_pain", "breathing"] and alert.found_in == "message" and alert.rules_version == 0
    assert [m.kind for m in post(world, visitor(), cid, "还是胸口疼")] == ["text"]  # raised in this chat already
    assert len(world.events(RedFlagRaised)) == 1


def test_staff_write_only_on_an_accepted_chat_and_nobody_writes_in_a_closed_one(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    offered(world, cid)
    with pytest.raises(Conflict):
        post(world, CONSULTANT, cid, "您好")
    usecases.accept(world.desk, CONSULTANT, cid, NOW)
    (reply,) = post(world, CONSULTANT, cid, "您好，请讲")
    assert reply.author == "consultant" and reply.author_id == CONSULTANT.principal.sub
    usecases.close(world.desk, CONSULTANT, cid, Close(outcome="information_only"), LATER)
    with pytest.raises(Conflict):
        post(world, visitor(), cid, "还有一个问题")
    with pytest.raises(NotFound):  # someone else's chat: as if it did not exist
        post(world, visitor("vis_2"), cid, "hi")


def test_a_template_is_filled_with_the_patients_surname_and_the_department_for_staff_only(world):
    patient_id = world.patient()
    cid = world.open(CONSULTANT, "来电", channel="phone", patient_id=patient_id, department="urology").consultation.id
    asked = []

    def render(article_id, values):
        asked.append((article_id, values))
        return f"{values['surname']}女士，可能与{values['department']}相关"

    (message,) = post(world, CONSULTANT, cid, None, template_id="kb_1", values={"doctor": "李明"}, render=render)
    assert message.text == "王女士，可能与泌尿外科相关"
    assert asked == [("kb_1", {"surname": "王", "department": "泌尿外科", "doctor": "李明"})]
    own = world.open(visitor(), "你好").consultation.id
    with pytest.raises(Forbidden):
        post(world, visitor(), own, None, template_id="kb_1", render=render)


def test_messages_are_read_in_order_with_receipts_and_an_audit_entry(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    taken(world, cid)
    post(world, CONSULTANT, cid, "您好")
    page = usecases.messages(world.desk, visitor(), cid, after=1)
    assert [m.seq for m in page.items] == [2, 3] and page.last_seq == 3 and page.read == {"patient": 1, "staff": 3}
    assert usecases.get(world.desk, visitor(), cid, NOW).unread == 2
    assert usecases.mark_read(world.desk, visitor(), cid, 3) == {"patient": 3, "staff": 3}
    assert usecases.mark_read(world.desk, visitor(), cid, 2) == {"patient": 3, "staff": 3}  # never back
    assert [(e.side, e.seq) for e in world.events(ConsultationRead)] == [("patient", 3)]
    with pytest.raises(InvalidInput):
        usecases.mark_read(world.desk, visitor(), cid, 9)
    assert world.audited(entity_type="Communication", detail="seq>1")


# taking a chat on --------------------------------------------------------------------------------------------------
def test_the_consultant_accepts_the_chat_offered_to_them_and_the_answer_clock_starts(world):
    world.on_desk(CONSULTANT)
    patient_id = world.patient(PATIENT, relationship="self")
    cid = world.open(PATIENT, "你好", patient_id=patient_id).consultation.id
    world.store.open_incident(None, Incident("inc_1", cid, NOW, "day", None, 130))
    offered(world, cid)
    with pytest.raises(NotFound):  # offered to someone else: not even theirs to see
        usecases.accept(world.desk, COLLEAGUE, cid, NOW)
    accepted = usecases.accept(world.desk, CONSULTANT, cid, LATER)
    assert accepted.status == "active" and accepted.accepted_at is not None
    chat = world.store.chat(cid)
    assert chat.awaiting_since == LATER and chat.awaiting_seq == 1  # the patient wrote last: waiting from now
    assert world.people.has_care(CONSULTANT.principal.sub, patient_id, LATER)
    assert world.store.open_incidents() == []  # taking it resolves the incident
    (event,) = world.events(ConsultationAccepted)
    assert event.waited_ms == 300_000 and event.consultant_id == CONSULTANT.principal.sub
    assert world.store.messages(cid, 1, 10)[-1].kind == "status"
    with pytest.raises(Conflict):  # not offered any more
        usecases.accept(world.desk, CONSULTANT, cid, LATER)


def test_a_consultant_picks_only_from_their_own_queue(world):
    cid = world.open(visitor(), "鼻塞流涕两周了", department="ent").consultation.id
    with pytest.raises(Conflict) as off:  # not on the desk
        usecases.pick(world.desk, CONSULTANT, cid, NOW)
    assert off.value.errors[0]["field"] == "consultation_id" and "roster" in off.value.detail
    world.on_desk(CONSULTANT, skills=["urology"])
    with pytest.raises(Conflict) as skill:  # an ENT chat waits for an ENT consultant or a generalist for now
        usecases.pick(world.desk, CONSULTANT, cid, NOW + timedelta(seconds=5))
    assert "skilled in ent" in skill.value.detail
    assert world.audited(subtype="pick", outcome="denied") and world.store.chat(cid).status == "queued"
    picked = usecases.pick(world.desk, CONSULTANT, cid, NOW + timedelta(seconds=POLICY.skill_wait_seconds))
    assert picked.status == "active" and picked.consultant_id == CONSULTANT.principal.sub
    assert [e.by for e in world.events(ConsultationAssigned)] == ["pick"]
    with pytest.raises(Conflict, match="no longer waiting"):
        usecases.pick(world.desk, LEAD, cid, NOW)


def test_a_chat_handed_to_the_team_lead_is_picked_by_a_team_lead(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    taken(world, cid)
    usecases.transfer(world.desk, CONSULTANT, cid, Transfer(reason="team_lead"), NOW)  # no team lead named: queued
    assert world.store.chat(cid).status == "queued" and world.store.chat(cid).escalated
    world.on_desk(COLLEAGUE)
    with pytest.raises(Conflict) as refused:
        usecases.pick(world.desk, COLLEAGUE, cid, LATER)
    assert "team lead" in refused.value.detail
    assert usecases.pick(world.desk, LEAD, cid, LATER).consultant_id == LEAD.principal.sub


# handing over ------------------------------------------------------------------------------------------------------
def test_a_transfer_to_a_colleague_ends_the_care_the_chat_gave_and_keeps_the_note_for_staff(world):
    world.on_desk(CONSULTANT)
    world.on_desk(COLLEAGUE)
    patient_id = world.patient(PATIENT, relationship="self")
    cid = world.open(PATIENT, "你好", patient_id=patient_id).consultation.id
    taken(world, cid)
    assert world.people.has_care(CONSULTANT.principal.sub, patient_id, NOW)
    moved = usecases.transfer(world.desk, CONSULTANT, cid,
                              Transfer(to=COLLEAGUE.principal.sub, note="患者想约周六"), LATER)
    assert moved.status == "assigned" and moved.consultant_id == COLLEAGUE.principal.sub
    assert not world.people.has_care(CONSULTANT.principal.sub, patient_id, LATER)  # handed on: theirs no more
    assert CONSULTANT.principal.sub in world.store.chat(cid).excluded
    (event,) = world.events(ConsultationTransferred)
    assert (event.from_consultant_id, event.to_consultant_id, event.reason) == (
        CONSULTANT.principal.sub, COLLEAGUE.principal.sub, "colleague")
    assert usecases.accept(world.desk, COLLEAGUE, cid, LATER).status == "active"
    (note,) = usecases.handover_notes(world.desk, COLLEAGUE, cid)
    assert note["note"] == "患者想约周六" and note["from"] == CONSULTANT.principal.sub
    with pytest.raises(Forbidden):
        usecases.handover_notes(world.desk, PATIENT, cid)


def test_a_transfer_goes_to_the_team_lead_on_duty_and_only_to_someone_on_the_desk(world):
    world.store.shift_table = [Shift(code="day", name_zh="白班", name_en="Day", start="08:00", end="17:00",
                                     team_lead_id=LEAD.principal.sub)]
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    taken(world, cid)
    with pytest.raises(InvalidInput) as nobody:
        usecases.transfer(world.desk, CONSULTANT, cid, Transfer(to="acc_unknown"), NOW)
    with pytest.raises(InvalidInput) as same:
        usecases.transfer(world.desk, CONSULTANT, cid, Transfer(to=CONSULTANT.principal.sub), NOW)
    assert [nobody.value.errors[0]["field"], same.value.errors[0]["field"]] == ["to", "to"]
    moved = usecases.transfer(world.desk, CONSULTANT, cid, Transfer(reason="abusive"), NOW)
    assert moved.consultant_id == LEAD.principal.sub and world.store.chat(cid).escalated


def test_renaming_the_visitor_links_their_other_chats_to_a_patient_the_consultant_may_see(world):
    world.on_desk(CONSULTANT)
    earlier = world.open(visitor(), "上周问过").consultation.id
    cid = world.open(visitor(), "你好").consultation.id
    theirs = world.open(visitor("vis_2"), "别人的").consultation.id
    taken(world, cid)
    patient_id = world.patient(CONSULTANT)  # just registered by the consultant: in their care
    linked = usecases.link_patient(world.desk, CONSULTANT, cid, patient_id, NOW)
    assert linked.patient_id == patient_id and not linked.visitor
    assert {e.consultation_id for e in world.events(ConsultationPatientLinked)} == {cid, earlier}
    assert world.store.chat(theirs).patient_id is None
    other = world.patient(COLLEAGUE, name="李雷")
    with pytest.raises(Conflict):
        usecases.link_patient(world.desk, CONSULTANT, cid, other, NOW)
    fresh = world.open(visitor("vis_3"), "你好").consultation.id
    taken(world, fresh)
    with pytest.raises(InvalidInput) as info:  # not a patient this consultant may see
        usecases.link_patient(world.desk, CONSULTANT, fresh, other, NOW)
    assert info.value.errors[0]["field"] == "patient_id"


# closing -----------------------------------------------------------------------------------------------------------
def test_closing_marks_the_chat_keeps_the_transcript_and_ends_the_care_a_day_later(world):
    world.on_desk(CONSULTANT)
    patient_id = world.patient(PATIENT, relationship="self")
    cid = world.open(PATIENT, "鼻塞", patient_id=patient_id).consultation.id
    taken(world, cid)
    world.store.open_incident(None, Incident("inc_2", cid, NOW, "day", None, 130))
    closed = usecases.close(world.desk, CONSULTANT, cid, Close(outcome="booked", disease_category="鼻炎",
                                                                tags=["复诊"]), LATER)
    assert closed.status == "closed" and closed.outcome == "booked" and closed.tags == ["复诊"]
    assert world.store.extra[cid]["keep_until"] == LATER + POLICY.transcript_retention
    assert world.people.has_care(CONSULTANT.principal.sub, patient_id, LATER + timedelta(hours=23))
    assert not world.people.has_care(CONSULTANT.principal.sub, patient_id, LATER + timedelta(days=1))
    assert world.store.open_incidents() == []
    (event,) = world.events(ConsultationClosed)
    assert event.messages == 3 and event.duration_seconds == 300 and event.patient_id == patient_id
    with pytest.raises(Conflict, match="closed already"):
        usecases.close(world.desk, CONSULTANT, cid, Close(outcome="booked"), LATER)
    with pytest.raises(Forbidden):
        usecases.close(world.desk, PATIENT, cid, Close(outcome="dropped"), LATER)


def test_the_patient_side_rates_a_closed_chat_once(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    taken(world, cid)
    with pytest.raises(Conflict):
        usecases.rate(world.desk, visitor(), cid, Rating(rating=5), NOW)
    usecases.close(world.desk, CONSULTANT, cid, Close(outcome="information_only"), NOW)
    with pytest.raises(Forbidden):
        usecases.rate(world.desk, CONSULTANT, cid, Rating(rating=5), NOW)
    assert usecases.rate(world.desk, visitor(), cid, Rating(rating=4, comment="很耐心"), NOW).rating == 4
    with pytest.raises(Conflict):
        usecases.rate(world.desk, visitor(), cid, Rating(rating=1), NOW)
    assert [e.rating for e in world.events(ConsultationRated)] == [4]


def test_training_examples_are_the_handlers_own(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    taken(world, cid)
    mark = ExampleMark(example="satisfied", title="鼻炎 — 复诊预约")
    with pytest.raises(NotFound):  # not a chat they were on
        usecases.mark_example(world.desk, COLLEAGUE, cid, mark, NOW)
    usecases.mark_example(world.desk, CONSULTANT, cid, mark, NOW)
    assert [e["title"] for e in usecases.examples(world.desk, CONSULTANT)] == ["鼻炎 — 复诊预约"]
    assert usecases.examples(world.desk, COLLEAGUE) == [] and len(usecases.examples(world.desk, LEAD)) == 1


# the structured history and the triage advice ----------------------------------------------------------------------
HISTORY = {"subject": {"relationship": "self", "sex": "female", "age": 40},
           "present_illness": {"chief_complaint": "尿频", "duration": "两周", "severity": "mild"},
           "past_history": {"happened_before": False}, "allergies": {"none_known": True},
           "medications": {"none": True}, "follow_up": {"prior_in_person_diagnosis": False}}


def test_the_history_completes_once_and_its_red_flags_raise_the_alert(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    taken(world, cid)
    half = usecases.save_history(world.desk, CONSULTANT, cid, HistoryPatch.model_validate(
        {"subject": HISTORY["subject"]}), NOW)
    assert half.completion["subject"] and not half.complete
    done = usecases.save_history(world.desk, CONSULTANT, cid, HistoryPatch.model_validate(
        {name: value for name, value in HISTORY.items() if name != "subject"}), NOW)
    assert done.complete and not done.follow_up_eligible
    usecases.save_history(world.desk, CONSULTANT, cid, HistoryPatch.model_validate(
        {"present_illness": {**HISTORY["present_illness"], "chief_complaint": "胸口疼得厉害，喘不上气"}}), LATER)
    assert len(world.events(ConsultationIntakeCompleted)) == 1
    (alert,) = world.events(RedFlagRaised)
    assert alert.found_in == "intake"
    assert usecases.read_history(world.desk, visitor(), cid).sections["subject"]["age"] == 40
    with pytest.raises(InvalidInput) as info:
        usecases.save_history(world.desk, CONSULTANT, cid, HistoryPatch.model_validate(
            {"follow_up": {"prior_in_person_diagnosis": True, "diagnosis": "x", "evidence_attachment_id": "att_x"}}),
            NOW)
    assert info.value.errors[0]["field"] == "follow_up.evidence_attachment_id"


def test_the_triage_advice_and_the_consultants_choice_beside_it(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "前列腺炎又犯了，尿频").consultation.id
    taken(world, cid)
    doctors = [DoctorProfile(doctor_id="acc_d1", department="urology", title="主任医师", expertise=["前列腺炎"])]
    advice = usecases.triage_advice(world.desk, CONSULTANT, cid, lambda department: (doctors, {"acc_d1": 3}))
    assert advice.departments[0]["department"] == "urology" and advice.doctors[0]["doctor_id"] == "acc_d1"
    assert world.audited(entity_type="ConsultationTriage")
    with pytest.raises(Forbidden):
        usecases.triage_advice(world.desk, visitor(), cid, lambda department: ([], None))
    chosen = usecases.choose_department(world.desk, CONSULTANT, cid, DepartmentChoice(department="andrology"),
                                        lambda department: (doctors, None))
    assert chosen.current_department == "andrology" and world.store.chat(cid).department_source == "consultant"
    (event,) = world.events(TriageRecommended)
    assert event.recommended[0] == "urology" and event.chosen_department == "andrology" and not event.followed


# files and booking -------------------------------------------------------------------------------------------------
def test_a_file_is_shared_as_a_message_and_read_back_with_an_audit_entry(world):
    cid = world.open(visitor(), "你好").consultation.id
    (message,) = usecases.post_attachment(world.desk, visitor(), cid, PNG, "../报告.png", NOW)
    assert message.kind == "image" and message.attachment.name == "_报告.png"
    stored, data = usecases.attachment(world.desk, visitor(), cid, message.attachment.id)
    assert data == PNG and stored.content_type == "image/png" and world.audited(entity_type="Media")
    with pytest.raises(InvalidInput):
        usecases.post_attachment(world.desk, visitor(), cid, b"MZ\x90\x00" + bytes(20), "x.exe", NOW)


def test_a_file_whose_message_fails_is_not_kept(world, monkeypatch):
    cid = world.open(visitor(), "你好").consultation.id

    def refused(*args, **kwargs):
        raise Conflict("The consultation is closed; open a new one.")

    monkeypatch.setattr(world.store, "append_message", refused)
    with pytest.raises(Conflict):
        usecases.post_attachment(world.desk, visitor(), cid, PNG, "a.png", NOW)
    assert world.store.files == {}


def test_booking_from_the_chat_posts_the_confirmation_once_per_client_id(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "想挂号").consultation.id
    taken(world, cid)
    calls = []

    def book(consultation_id, request, key):
        calls.append((consultation_id, request, key))
        return {"id": "apt_1", "department": "ent", "department_zh": "耳鼻喉科", "start": "2026-03-03T10:00:00+08:00",
                "online": False, "room_name": "一诊室", "prepayment": False}

    with pytest.raises(Conflict, match="Link the chat"):
        usecases.book_from_chat(world.desk, CONSULTANT, cid, {"slot_id": "s1"}, book, NOW)
    patient_id = world.patient(CONSULTANT)
    usecases.link_patient(world.desk, CONSULTANT, cid, patient_id, NOW)
    booked = usecases.book_from_chat(world.desk, CONSULTANT, cid, {"slot_id": "s1", "client_id": "retry-001"},
                                     book, NOW)
    assert booked["message"]["text"] == "已为您预约：耳鼻喉科，2026-03-03 10:00，一诊室。"
    again = usecases.book_from_chat(world.desk, CONSULTANT, cid, {"slot_id": "s1", "client_id": "retry-001"},
                                    book, LATER)
    assert again["message"] == booked["message"] and len([m for m in world.store.messages_
                                                          if m["kind"] == "booking"]) == 1
    assert calls[0] == (cid, {"slot_id": "s1", "patient_id": patient_id}, f"chat-{cid}-retry-001")
    assert world.store.extra[cid]["appointment_ids"] == ["apt_1"] and len(calls) == 2
    assert world.audited(action="C", entity_type="Appointment")
