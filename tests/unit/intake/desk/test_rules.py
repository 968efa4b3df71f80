"""The desk's pure parts: what a chat message may contain, how files are recognised, when a structured
history is complete and who may read a chat."""
from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from contracts.intake import history as history_contract
from contracts.intake.consultations import ConsultationOpen, MessageInput, Transfer
from services.intake.desk import rules
from services.intake.desk.rules import Chat
from wenzhen import files as attachments
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import InvalidInput

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
JPEG = b"\xff\xd8\xff\xe0" + bytes(32)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(32)
MOV = b"\x00\x00\x00\x14ftypqt  " + bytes(32)
PDF = b"%PDF-1.7\n" + bytes(32)


@pytest.mark.parametrize("data, content_type, kind", [
    (PNG, "image/png", "image"), (JPEG, "image/jpeg", "image"), (b"GIF89a" + bytes(10), "image/gif", "image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", "image"), (MP4, "video/mp4", "video"),
    (MOV, "video/quicktime", "video"), (PDF, "application/pdf", "file")])
def test_a_file_is_known_by_its_first_bytes(data, content_type, kind):
    assert attachments.sniff(data) == (content_type, kind)


@pytest.mark.parametrize("data", [b"MZ\x90\x00" + bytes(20), b"<html><script>", b"PK\x03\x04zip", b"#!/bin/sh\n"])
def test_other_files_are_refused_naming_the_file(data):
    with pytest.raises(InvalidInput) as refused:
        attachments.check(data, 10_000_000)
    assert refused.value.errors[0]["field"] == "file"


def test_each_kind_has_its_size_limit_and_the_overall_cap_applies():
    attachments.check(PNG + bytes(1000), 10_000_000)
    with pytest.raises(InvalidInput, match="too large"):
        attachments.check(PNG + bytes(2000), 1000)
    with pytest.raises(InvalidInput, match="too large"):
        attachments.check(PDF + bytes(attachments.LIMITS["file"]), 10 ** 9)
    with pytest.raises(InvalidInput, match="empty"):
        attachments.check(b"", 1000)


def test_file_names_are_cleaned_and_never_empty():
    assert attachments.clean_name("../../etc/passwd", "image/png") == "_.._etc_passwd"
    assert attachments.clean_name("诊断书 (1).pdf", "application/pdf") == "诊断书 (1).pdf"
    assert attachments.clean_name(None, "image/png") == "attachment.png"
    assert attachments.clean_name("\x00\x01", "video/mp4") == "__"


def test_chat_text_keeps_line_breaks_but_no_control_or_format_characters():
    assert ConsultationOpen(message="第一行\n第二行\t好").message == "第一行\n第二行\t好"
    for bad in ("a\x1bb", "evil\u202eoverride", "zero\u200bwidth"):
        with pytest.raises(ValidationError):
            MessageInput(text=bad)
    with pytest.raises(ValidationError, match="exactly one of text or template_id"):
        MessageInput(text="hi", template_id="kb_1")
    with pytest.raises(ValidationError):
        MessageInput()
    with pytest.raises(ValidationError):
        Transfer(reason="because")


def test_history_sections_say_when_they_are_complete():
    assert not history_contract.Subject(relationship="relative", sex="female", age=70).complete()  # which relative?
    assert history_contract.Subject(relationship="relative", relation="母亲", sex="female", age=70).complete()
    assert not history_contract.PresentIllness(chief_complaint="头痛").complete()
    assert history_contract.PresentIllness(chief_complaint="头痛", duration="两天", severity="mild").complete()
    assert history_contract.PastHistory(happened_before=False).complete()
    assert not history_contract.PastHistory(happened_before=True).complete()  # cured or not?
    assert history_contract.Allergies(none_known=True).complete() and not history_contract.Allergies().complete()
    assert history_contract.Medications(items=["布洛芬"]).complete() and not history_contract.Medications().complete()


def test_follow_up_eligibility_needs_a_prior_diagnosis_and_evidence():
    assert history_contract.FollowUp(prior_in_person_diagnosis=False).complete()
    assert not history_contract.FollowUp(prior_in_person_diagnosis=False).eligible()
    no_evidence = history_contract.FollowUp(prior_in_person_diagnosis=True, diagnosis="慢性鼻炎")
    assert not no_evidence.complete() and not no_evidence.eligible()
    assert history_contract.FollowUp(prior_in_person_diagnosis=True, diagnosis="慢性鼻炎",
                                     record_reference="MZ1").eligible()
    assert history_contract.FollowUp(prior_in_person_diagnosis=True, diagnosis="慢性鼻炎",
                            evidence_attachment_id="att_1").eligible()


def test_a_history_patch_names_the_bad_field_and_needs_a_section():
    with pytest.raises(ValidationError) as bad:
        history_contract.HistoryPatch.model_validate({"subject": {"age": 300}})
    assert bad.value.errors()[0]["loc"] == ("subject", "age")
    with pytest.raises(ValidationError, match="at least one section"):
        history_contract.HistoryPatch.model_validate({})
    assert rules.history_texts({"a": {"x": "胸痛", "n": 3, "items": ["出汗", 4]}}) == ["胸痛", "出汗"]


def test_the_history_view_shows_each_sections_completion_and_eligibility():
    empty = rules.history_view("con_1", {})
    assert not empty.complete and set(empty.completion) == set(history_contract.SECTIONS)
    assert not any(empty.completion.values()) and not empty.follow_up_eligible
    full = rules.history_view("con_1", {
        "subject": {"relationship": "self", "sex": "female", "age": 40},
        "present_illness": {"chief_complaint": "鼻塞", "duration": "两周", "severity": "mild"},
        "past_history": {"happened_before": False}, "allergies": {"none_known": True}, "medications": {"none": True},
        "follow_up": {"prior_in_person_diagnosis": True, "diagnosis": "慢性鼻炎", "record_reference": "MZ1"}})
    assert full.complete and full.follow_up_eligible and full.sections["subject"]["age"] == 40


def _caller(role: Role, sub: str) -> Caller:
    return Caller(principal=Principal.user(sub, role))


CHAT = Chat(id="con_1", channel="web", status="active", opened_at=None, visitor_id="vis_1",
            consultant_id="acc_c1", staff_ids=("acc_c0", "acc_c1"))


def nobody() -> set[str]:
    return set()


@pytest.mark.parametrize("caller, read, act", [
    (_caller(Role.visitor, "vis_1"), True, True),
    (_caller(Role.visitor, "vis_2"), False, False),
    (_caller(Role.patient, "acc_p9"), False, False),
    (_caller(Role.consultant, "acc_c1"), True, True),  # on the chat
    (_caller(Role.consultant, "acc_c0"), True, False),  # was on it before a transfer
    (_caller(Role.consultant, "acc_c7"), False, False),
    (_caller(Role.team_lead, "acc_t1"), True, True),
    (_caller(Role.doctor, "acc_d1"), False, False),
    (_caller(Role.manager, "acc_m1"), False, False),
])
def test_who_may_read_and_act_on_a_chat(caller, read, act):
    assert rules.may_read(caller.principal, CHAT, nobody) is read
    assert rules.may_act(caller.principal, CHAT, nobody) is act


def test_any_consultant_may_read_a_waiting_chat_to_pick_it_and_a_patient_reads_chats_of_linked_records():
    waiting = replace(CHAT, status="queued", consultant_id=None, staff_ids=())
    assert rules.may_read(_caller(Role.consultant, "acc_c7").principal, waiting, nobody)
    assert not rules.may_act(_caller(Role.consultant, "acc_c7").principal, waiting, nobody)
    links = {"acc_p1": {"pat_1"}}
    theirs = replace(CHAT, visitor_id=None, patient_id="pat_1")
    asked = []

    def linked_of(account: str):
        def linked() -> set[str]:
            asked.append(account)
            return links.get(account, set())
        return linked

    assert rules.may_read(_caller(Role.patient, "acc_p1").principal, theirs, linked_of("acc_p1"))
    assert rules.may_act(_caller(Role.patient, "acc_p1").principal, theirs, linked_of("acc_p1"))
    assert not rules.may_read(_caller(Role.patient, "acc_p2").principal, theirs, linked_of("acc_p2"))
    opened = replace(theirs, account_id="acc_p3")
    assert rules.may_read(_caller(Role.patient, "acc_p3").principal, opened, linked_of("acc_p3"))
    assert asked == ["acc_p1", "acc_p1", "acc_p2"]  # the account that opened it: no need to ask for links


def test_the_files_intake_recognises_are_the_contract_s():
    from contracts.intake.consultations import FILE_TYPES, MAX_FILE_BYTES

    assert {kind for kind, _, _ in attachments._SIGNATURES} == set(FILE_TYPES)
    assert max(attachments.LIMITS.values()) == MAX_FILE_BYTES
