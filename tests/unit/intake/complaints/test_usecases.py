"""Complaints' use cases over an in-memory store: filing, who reads them, the workflow and its conflicts, encryption
at rest, the audit trail and the overdue escalation, with an explicit clock. The patients capability is asked through
its narrow interface, over its own fake."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidTag

from contracts.intake.complaints import Complaint, ComplaintFiling, ComplaintQuery, ComplaintStatusChange
from contracts.intake.events import ComplaintAnswered, ComplaintEscalated, ComplaintFiled, ComplaintStatusChanged
from contracts.intake.patients import PatientRegistration
from services.intake.complaints import rules, usecases
from services.intake.patients import usecases as patients
from services.intake.patients.usecases import PatientAccess
from tests.people import user
from tests.unit.intake.complaints.fakes import FakeComplaintStore
from tests.unit.intake.fakes import KEYS
from tests.unit.intake.patients.fakes import FakePatientStore
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, validated
from wenzhen.timez import as_utc

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
TEXT = "医生回复很慢，等了半小时没有人回答我的问题。"
ANSWER = "非常抱歉，当天咨询量过大。我们已调整排班，并安排专人回访您。"



PATIENT = user(Role.patient, "acc_p1")
OTHER_PATIENT = user(Role.patient, "acc_p2")
CONSULTANT = user(Role.consultant, "acc_c1")
TEAM_LEAD = user(Role.team_lead, "acc_t1")
MANAGER = user(Role.manager, "acc_m1")
DOCTOR = user(Role.doctor, "acc_d1")
PHARMACIST = user(Role.pharmacist, "acc_ph1")
ADMIN = user(Role.admin, "acc_a1")


@pytest.fixture
def people() -> FakePatientStore:
    return FakePatientStore()


@pytest.fixture
def store(people) -> FakeComplaintStore:
    fake = FakeComplaintStore()
    fake.patients = PatientAccess(people)  # the patients capability, as complaints ask it
    return fake


def register(people, caller, name: str, phone: str, birth_date: str, relationship: str = "self") -> str:
    registration = {"name": name, "sex": "female", "birth_date": birth_date, "phone": phone,
                    "relationship": relationship}
    return patients.register_patient(people, caller, PatientRegistration.model_validate(registration), NOW).id


@pytest.fixture
def own(people) -> str:
    """PATIENT's own record."""
    return register(people, PATIENT, "王秀英", "13812345678", "1960-01-02")


@pytest.fixture
def others(people) -> str:
    """OTHER_PATIENT's own record."""
    return register(people, OTHER_PATIENT, "李雷", "13912345678", "1980-05-06")


def filing(patient_id: str, **changes) -> ComplaintFiling:
    return ComplaintFiling.model_validate({"patient_id": patient_id, "about": "appointment", "reference": "apt_1",
                                           "text": TEXT, **changes})


def change(**fields) -> ComplaintStatusChange:
    return ComplaintStatusChange.model_validate(fields)


def file(store, patient_id: str, caller: Caller = PATIENT, **changes) -> Complaint:
    return usecases.file_complaint(store, store.patients, caller, filing(patient_id, **changes), NOW)


def move(store, cid: str, caller: Caller = TEAM_LEAD, **fields) -> Complaint:
    return usecases.change_status(store, store.patients, caller, cid, change(**fields), NOW)


def read(store, caller: Caller, cid: str) -> Complaint:
    return usecases.get_complaint(store, store.patients, caller, cid, NOW)


def list_of(store, caller: Caller, query: ComplaintQuery) -> list:
    return usecases.list_complaints(store, store.patients, caller, query, NOW)


def entries(store, **match) -> list[dict]:
    return [e for e in store.audited if all(e.get(k) == v for k, v in match.items())]


def events(store, kind) -> list:
    return store.events(kind)


def raw(store, cid: str) -> dict:
    return store.docs[cid]


def age(store, cid: str, **delta) -> None:
    """Move a complaint's filing (and so its deadlines) into the past."""
    for name in ("filed_at", "acknowledge_by", "due_at"):
        raw(store, cid)[name] -= timedelta(**delta)


# filing ------------------------------------------------------------------------------------------------------------
def test_a_patient_files_a_complaint_with_deadlines_an_event_and_an_audit_entry(store, own):
    complaint = file(store, own, desired_outcome="希望医院改进")
    doc = raw(store, complaint.id)
    assert complaint.status == "received" and complaint.channel == "online" and complaint.text == TEXT
    assert complaint.desired_outcome == "希望医院改进" and complaint.escalation_level == 0 and not complaint.overdue
    assert as_utc(doc["due_at"]) - as_utc(doc["filed_at"]) == timedelta(days=5)
    assert as_utc(doc["acknowledge_by"]) - as_utc(doc["filed_at"]) == timedelta(days=1)
    assert doc["account_id"] == "acc_p1" and doc["consultation_id"] is None and complaint.transcript is None
    assert complaint.due_at.endswith("+08:00")  # shown in the hospital's zone
    (subject, event), = [(s, e) for s, e in store.emitted if isinstance(e, ComplaintFiled)]
    assert subject == complaint.id and event.patient_id == own and event.about == "appointment"
    assert event.reference == "apt_1" and event.due_at.endswith("Z")
    (created,) = entries(store, entity_type="Complaint", action="C")
    assert created["entity_id"] == complaint.id and created["patient_id"] == own and created["outcome"] == "success"
    assert [(h.previous, h.status, h.role) for h in complaint.history] == [(None, "received", "patient")]


def test_the_text_is_encrypted_at_rest(store, own):
    complaint = file(store, own, desired_outcome="希望医院道歉")
    move(store, complaint.id, status="investigating", note="已联系当班咨询员了解情况")
    move(store, complaint.id, status="answered", answer=ANSWER)
    doc = raw(store, complaint.id)
    stored = str(doc)
    for plain in (TEXT, "希望医院道歉", "已联系当班咨询员", ANSWER):
        assert plain not in stored
    assert KEYS.decrypt(doc["text"], field="text", record=complaint.id) == TEXT
    assert KEYS.decrypt(doc["answer"], field="answer", record=complaint.id) == ANSWER
    with pytest.raises(InvalidTag):  # bound to its record: a copied ciphertext does not open elsewhere
        KEYS.decrypt(doc["text"], field="text", record="cmp_other")


def test_a_consultation_complaint_needs_its_reference_and_links_the_transcript(store, own):
    with pytest.raises(InvalidInput) as info:
        file(store, own, about="consultation", reference=None)
    assert [e["field"] for e in info.value.errors] == ["reference"]
    complaint = file(store, own, about="consultation", reference="con_01ABC")
    assert complaint.consultation_id == "con_01ABC" and complaint.transcript == "/v1/consultations/con_01ABC"
    assert file(store, own, about="bill", reference=None).reference is None  # optional for the others


@pytest.mark.parametrize(("changes", "field"), [
    ({"text": "太短了"}, "text"), ({"text": "字" * 2001}, "text"), ({"about": "parking"}, "about"),
    ({"reference": "no spaces please"}, "reference"), ({"text": "有控制字符\x07在这里的投诉内容"}, "text"),
    ({"colour": "red"}, "colour"),
])
def test_bad_fields_are_named(changes, field):
    with pytest.raises(InvalidInput) as info:
        validated(ComplaintFiling, {"patient_id": "pat_1", "about": "bill", "text": TEXT, **changes})
    assert [e["field"] for e in info.value.errors] == [field]


def test_a_patient_files_only_for_records_their_account_acts_for(store, own, others):
    for patient_id in (others, "pat_missing"):
        with pytest.raises(NotFound):
            file(store, patient_id)
    denied = entries(store, entity_type="Complaint", outcome="denied")
    assert [e["patient_id"] for e in denied] == [others, "pat_missing"] and all(e["action"] == "C" for e in denied)
    assert store.docs == {} and events(store, ComplaintFiled) == []


@pytest.mark.parametrize("caller", [CONSULTANT, TEAM_LEAD], ids=["consultant", "team lead"])
def test_consultants_and_team_leads_log_phone_complaints_for_any_patient(store, own, caller):
    complaint = file(store, own, caller=caller)
    assert complaint.channel == "phone" and complaint.filed_by == caller.principal.sub
    assert raw(store, complaint.id)["account_id"] is None
    with pytest.raises(NotFound):
        file(store, "pat_missing", caller=caller)
    # the patient's own account sees what was logged for them
    assert read(store, PATIENT, complaint.id).text == TEXT


@pytest.mark.parametrize("caller", [DOCTOR, PHARMACIST, MANAGER, ADMIN, Caller(), Caller.service("notify")],
                         ids=["doctor", "pharmacist", "manager", "admin", "anonymous", "service"])
def test_nobody_else_files(store, own, caller):
    with pytest.raises(Forbidden):
        file(store, own, caller=caller)
    assert store.docs == {}


def test_an_account_files_a_few_complaints_a_day(store, own):
    for _ in range(rules.COMPLAINTS_PER_ACCOUNT_DAY.max):
        file(store, own)
    with pytest.raises(TooManyRequests) as info:
        file(store, own)
    assert info.value.retry_after > 0
    assert len(store.docs) == rules.COMPLAINTS_PER_ACCOUNT_DAY.max
    file(store, own, caller=CONSULTANT)  # a phone complaint is not the account's


# the workflow ------------------------------------------------------------------------------------------------------
def test_received_investigating_answered_closed(store, own):
    cid = file(store, own).id
    investigating = move(store, cid, TEAM_LEAD, status="investigating", note="调取聊天记录")
    assert investigating.status == "investigating" and investigating.assignee == "acc_t1"
    answered = move(store, cid, MANAGER, status="answered", answer=ANSWER)
    assert answered.answer == ANSWER and answered.on_time is True and answered.answered_at
    closed = move(store, cid, TEAM_LEAD, status="closed")
    assert closed.status == "closed" and closed.closed_at and closed.close_reason is None
    assert [(h.previous, h.status, h.by, h.note) for h in closed.history] == [
        (None, "received", "acc_p1", None), ("received", "investigating", "acc_t1", "调取聊天记录"),
        ("investigating", "answered", "acc_m1", None), ("answered", "closed", "acc_t1", None)]
    changed = events(store, ComplaintStatusChanged)
    assert [(e.previous, e.status, e.by) for e in changed] == [
        ("received", "investigating", "acc_t1"), ("investigating", "answered", "acc_m1"),
        ("answered", "closed", "acc_t1")]
    (answered_event,) = events(store, ComplaintAnswered)
    assert answered_event == ComplaintAnswered(complaint_id=cid, patient_id=own, answered_by="acc_m1", on_time=True)
    assert {subject for subject, e in store.emitted if type(e).__name__.startswith("Complaint")} == {cid}
    assert [e["detail"] for e in entries(store, entity_id=cid, action="U")] == [
        "received->investigating", "investigating->answered", "answered->closed"]


def test_an_answer_after_the_deadline_is_late(store, own):
    cid = file(store, own).id
    move(store, cid, status="investigating")
    raw(store, cid)["due_at"] -= timedelta(days=6)
    assert read(store, TEAM_LEAD, cid).overdue is True
    answered = move(store, cid, status="answered", answer=ANSWER)
    assert answered.on_time is False and answered.overdue is False
    assert events(store, ComplaintAnswered)[0].on_time is False


@pytest.mark.parametrize(("path", "target", "current"), [
    ([], "answered", "received"),
    (["investigating"], "investigating", "investigating"),
    (["investigating", "answered"], "investigating", "answered"),
    (["investigating", "answered"], "answered", "answered"),
    (["investigating", "answered", "closed"], "closed", "closed"),
    (["investigating", "answered", "closed"], "investigating", "closed"),
])
def test_illegal_moves_are_conflicts_naming_the_current_status(store, own, path, target, current):
    cid = file(store, own).id
    steps = {"investigating": {}, "answered": {"answer": ANSWER}, "closed": {}}
    for status in path:
        move(store, cid, status=status, **steps[status])
    emitted = len(store.emitted)
    with pytest.raises(Conflict) as info:
        move(store, cid, status=target, **({"reason": "duplicate"} if target == "closed" else steps[target]))
    assert f"is {current}" in info.value.detail and info.value.errors[0]["field"] == "status"
    assert raw(store, cid)["status"] == current and len(store.emitted) == emitted


@pytest.mark.parametrize(("fields", "field"), [
    ({"status": "answered"}, "answer"), ({"status": "investigating", "answer": ANSWER}, "answer"),
    ({"status": "investigating", "reason": "duplicate"}, "reason"), ({"status": "received"}, "status"),
])
def test_incomplete_changes_name_the_field(store, own, fields, field):
    cid = file(store, own).id
    with pytest.raises(InvalidInput) as info:
        move(store, cid, **validated(ComplaintStatusChange, fields).model_dump())
    assert [e["field"] for e in info.value.errors] == [field]


def test_an_unanswered_complaint_closes_only_with_a_reason(store, own):
    cid = file(store, own).id
    with pytest.raises(InvalidInput) as info:
        move(store, cid, status="closed")
    assert [e["field"] for e in info.value.errors] == ["reason"]
    move(store, cid, status="investigating")
    closed = move(store, cid, MANAGER, status="closed", reason="duplicate", note="与另一投诉重复")
    assert closed.close_reason == "duplicate" and closed.answer is None
    assert events(store, ComplaintAnswered) == []


def test_two_handlers_at_once_one_wins_and_the_other_is_told_the_status(store, own):
    cid = file(store, own).id
    # the manager's move lands between the team lead's read and write
    store.interleave = lambda: move(store, cid, MANAGER, status="investigating")
    with pytest.raises(Conflict) as info:
        move(store, cid, TEAM_LEAD, status="investigating")
    assert "is investigating" in info.value.detail
    doc = raw(store, cid)
    assert doc["assignee"] == "acc_m1" and len(doc["history"]) == 2
    assert len(events(store, ComplaintStatusChanged)) == 1


def test_the_patient_withdraws_an_open_complaint_and_nothing_else(store, own):
    cid = file(store, own).id
    with pytest.raises(Forbidden):
        move(store, cid, PATIENT, status="investigating")
    with pytest.raises(InvalidInput) as info:
        move(store, cid, PATIENT, status="closed", reason="duplicate")
    assert info.value.errors[0]["field"] == "reason"
    withdrawn = move(store, cid, PATIENT, status="closed", note="问题已解决")
    assert withdrawn.close_reason == "withdrawn" and withdrawn.status == "closed"
    assert events(store, ComplaintStatusChanged)[-1].by == "acc_p1"
    answered = file(store, own).id
    move(store, answered, status="investigating")
    move(store, answered, status="answered", answer=ANSWER)
    with pytest.raises(Conflict) as conflict:
        move(store, answered, PATIENT, status="closed")
    assert "is answered" in conflict.value.detail


@pytest.mark.parametrize("caller", [OTHER_PATIENT, CONSULTANT, DOCTOR, ADMIN, Caller(), Caller.service("reports")],
                         ids=["other patient", "consultant", "doctor", "admin", "anonymous", "service"])
def test_only_handlers_and_the_patient_move_a_complaint(store, own, others, caller):
    cid = file(store, own).id
    with pytest.raises(NotFound):
        move(store, cid, caller, status="closed", reason="withdrawn")
    (denied,) = entries(store, entity_id=cid, outcome="denied")
    assert denied["action"] == "U" and denied["patient_id"] == own
    assert raw(store, cid)["status"] == "received"


# reading -----------------------------------------------------------------------------------------------------------
def test_reads_are_audited_and_patients_see_no_staff_ids_or_notes(store, own):
    cid = file(store, own).id
    move(store, cid, status="investigating", note="内部备注")
    staff_view = read(store, MANAGER, cid)
    assert staff_view.history[1].note == "内部备注" and staff_view.history[1].by == "acc_t1"
    assert staff_view.assignee == "acc_t1"
    patient_view = read(store, PATIENT, cid)
    assert patient_view.text == TEXT and patient_view.assignee is None and patient_view.filed_by is None
    assert [(h.status, h.role, h.by, h.note) for h in patient_view.history] == [
        ("received", "patient", None, None), ("investigating", "team_lead", None, None)]
    reads = entries(store, entity_id=cid, action="R", outcome="success")
    assert [(e["agent_id"], e["patient_id"]) for e in reads] == [("acc_m1", own), ("acc_p1", own)]


@pytest.mark.parametrize("caller", [OTHER_PATIENT, CONSULTANT, DOCTOR, PHARMACIST, ADMIN, Caller(),
                                    Caller.service("notify")],
                         ids=["other patient", "consultant", "doctor", "pharmacist", "admin", "anonymous", "service"])
def test_a_refused_read_looks_like_a_missing_complaint_and_is_audited(store, own, others, caller):
    cid = file(store, own).id
    with pytest.raises(NotFound) as refused:
        read(store, caller, cid)
    with pytest.raises(NotFound) as missing:
        read(store, caller, "cmp_missing")
    assert refused.value.detail.replace(cid, "ID") == missing.value.detail.replace("cmp_missing", "ID")
    (denied,) = entries(store, entity_id=cid, outcome="denied")
    assert denied["action"] == "R" and denied["agent_id"] == (caller.principal.sub or None)
    assert entries(store, entity_id=cid, action="R", outcome="success") == []


def test_a_relatives_record_is_read_by_the_account_acting_for_it_while_linked(store, own):
    child = register(store.patients.store, PATIENT, "小明", "13812345678", "2015-01-01", "child")
    by_phone = file(store, child, caller=CONSULTANT).id  # logged by phone: no account filed it
    assert read(store, PATIENT, by_phone).patient_id == child
    patients.remove_link(store.patients.store, PATIENT, child, NOW)
    with pytest.raises(NotFound):
        read(store, PATIENT, by_phone)


def test_lists_patients_their_own_and_handlers_the_queue(store, own, others):
    first = file(store, own, about="bill", reference=None).id
    second = file(store, own).id
    theirs = file(store, others, caller=OTHER_PATIENT).id
    age(store, first, minutes=2)
    age(store, second, minutes=1)
    mine = list_of(store, PATIENT, ComplaintQuery())
    assert [c.id for c in mine] == [second, first]  # newest first
    assert all(not hasattr(c, "text") for c in mine)  # a list shows no text
    assert [c.id for c in list_of(store, OTHER_PATIENT, ComplaintQuery())] == [theirs]
    age(store, theirs, days=6)  # overdue: first in the queue
    move(store, second, status="investigating")
    queue = list_of(store, TEAM_LEAD, ComplaintQuery())
    assert [c.id for c in queue] == [theirs, first, second] and queue[0].overdue and queue[2].assignee == "acc_t1"
    assert [c.id for c in list_of(store, MANAGER, ComplaintQuery(overdue=True))] == [theirs]
    assert [c.id for c in list_of(store, MANAGER, ComplaintQuery(about="bill"))] == [first]
    assert [c.id for c in list_of(store, MANAGER, ComplaintQuery(status="investigating"))
            ] == [second]
    assert list_of(store, MANAGER, ComplaintQuery(status="answered", overdue=True)) == []
    assert [c.id for c in list_of(store, TEAM_LEAD, ComplaintQuery(limit=1))] == [theirs]
    listed = entries(store, action="R", detail="list", agent_id="acc_p1")
    assert sorted(e["entity_id"] for e in listed) == sorted([first, second])


@pytest.mark.parametrize("caller", [CONSULTANT, DOCTOR, ADMIN, Caller()],
                         ids=["consultant", "doctor", "admin", "anonymous"])
def test_nobody_else_lists(store, caller):
    with pytest.raises(Forbidden):
        list_of(store, caller, ComplaintQuery())


def test_unknown_query_values_are_named():
    with pytest.raises(InvalidInput) as info:
        validated(ComplaintQuery, {"status": "lost", "limit": "0"})
    assert sorted(e["field"] for e in info.value.errors) == ["limit", "status"]


# escalation --------------------------------------------------------------------------------------------------------
def test_overdue_complaints_escalate_one_level_at_a_time_once_each(store, own):
    waiting = file(store, own).id
    answered = file(store, own).id
    move(store, answered, status="investigating")
    move(store, answered, status="answered", answer=ANSWER)
    due = as_utc(raw(store, waiting)["due_at"])
    assert usecases.escalate_overdue(store, due - timedelta(seconds=1)) == 0
    assert usecases.escalate_overdue(store, due + timedelta(minutes=1)) == 1
    assert usecases.escalate_overdue(store, due + timedelta(minutes=2)) == 0  # idempotent
    assert raw(store, waiting)["escalation_level"] == 1 and raw(store, answered)["escalation_level"] == 0
    assert usecases.escalate_overdue(store, due + timedelta(days=2) - timedelta(seconds=1)) == 0
    assert usecases.escalate_overdue(store, due + timedelta(days=2, minutes=1)) == 1
    assert usecases.escalate_overdue(store, due + timedelta(days=30)) == 0  # two levels, no more
    escalated = events(store, ComplaintEscalated)
    assert [(e.complaint_id, e.level) for e in escalated] == [(waiting, 1), (waiting, 2)]
    assert escalated[0].due_at.endswith("Z")
    assert read(store, MANAGER, waiting).escalation_level == 2
    audited = entries(store, entity_id=waiting, subtype="escalate")
    assert [(e["agent_kind"], e["agent_id"], e["detail"]) for e in audited] == [
        ("service", "intake", "level 1"), ("service", "intake", "level 2")]


def test_a_sweep_that_was_down_catches_up_with_both_levels(store, own):
    cid = file(store, own).id
    due = as_utc(raw(store, cid)["due_at"])
    assert usecases.escalate_overdue(store, due + timedelta(days=3)) == 2
    assert [e.level for e in events(store, ComplaintEscalated)] == [1, 2]


def test_closed_and_answered_complaints_do_not_escalate(store, own):
    withdrawn = file(store, own).id
    move(store, withdrawn, PATIENT, status="closed")
    due = as_utc(raw(store, withdrawn)["due_at"])
    assert usecases.escalate_overdue(store, due + timedelta(days=10)) == 0


def test_two_sweeps_at_once_escalate_each_level_once(store, own):
    cid = file(store, own).id
    now = as_utc(raw(store, cid)["due_at"]) + timedelta(hours=1)
    # the other process escalates between this one's search and its write
    others_count = []
    store.interleave = lambda: others_count.append(usecases.escalate_overdue(store, now))
    assert usecases.escalate_overdue(store, now) == 0
    assert others_count == [1]
    assert [e.level for e in events(store, ComplaintEscalated)] == [1]
