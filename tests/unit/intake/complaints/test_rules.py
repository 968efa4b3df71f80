"""Complaints' pure rules: who files by which channel, which moves are legal (and the reason a patient gives), who
reads, when a complaint is overdue, and what a patient is shown."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.intake.complaints import ComplaintStatusChange
from services.intake.complaints import rules
from services.intake.complaints.rules import ComplaintRecord, HistoryItem
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
PATIENT = user(Role.patient, "acc_p1")
TEAM_LEAD = user(Role.team_lead, "acc_t1")


def record(status: str = "received", **changes) -> ComplaintRecord:
    return ComplaintRecord(**{"id": "cmp_1", "patient_id": "pat_1", "account_id": "acc_p1", "filed_by": "acc_p1",
                              "channel": "online", "about": "bill", "reference": None, "consultation_id": None,
                              "status": status, "filed_at": NOW, "acknowledge_by": NOW + rules.ACKNOWLEDGE_WITHIN,
                              "due_at": NOW + rules.ANSWER_WITHIN, "text": "收费有误，请核对一下。",
                              "history": (HistoryItem(NOW, "acc_t1", "team_lead", "received", "investigating",
                                                      "内部备注"),), **changes})


def change(**fields) -> ComplaintStatusChange:
    return ComplaintStatusChange.model_validate(fields)


def test_patients_file_online_desk_staff_log_by_phone_and_nobody_else_files():
    assert rules.channel_of(PATIENT.principal) == "online"
    assert rules.channel_of(user(Role.consultant, "acc_c1").principal) == "phone"
    for caller in (user(Role.doctor, "acc_d1"), user(Role.manager, "acc_m1"), Caller(), Caller.service("notify")):
        with pytest.raises(Forbidden):
            rules.channel_of(caller.principal)


@pytest.mark.parametrize(("current", "target", "allowed"), [
    ("received", "investigating", True), ("investigating", "answered", True), ("answered", "closed", True),
    ("received", "answered", False), ("investigating", "investigating", False), ("closed", "investigating", False),
    ("closed", "closed", False),
])
def test_handlers_move_a_complaint_forward_only(current, target, allowed):
    fields = {"status": target, **({"answer": "已核对"} if target == "answered" else {}),
              **({"reason": "duplicate"} if target == "closed" and current in rules.OPEN else {})}
    if allowed:
        assert rules.plan_move(TEAM_LEAD.principal, current, change(**fields))[0] == target
    else:
        with pytest.raises(Conflict) as info:
            rules.plan_move(TEAM_LEAD.principal, current, change(**fields))
        assert f"is {current}" in info.value.detail


def test_an_open_complaint_closes_with_a_reason_and_a_patient_only_withdraws():
    with pytest.raises(InvalidInput) as info:
        rules.plan_move(TEAM_LEAD.principal, "received", change(status="closed"))
    assert info.value.errors[0]["field"] == "reason"
    assert rules.plan_move(PATIENT.principal, "investigating", change(status="closed")) == ("closed", "withdrawn")
    with pytest.raises(Forbidden):
        rules.plan_move(PATIENT.principal, "received", change(status="investigating"))
    with pytest.raises(InvalidInput):
        rules.plan_move(PATIENT.principal, "received", change(status="closed", reason="duplicate"))
    with pytest.raises(Conflict):
        rules.plan_move(PATIENT.principal, "answered", change(status="closed"))


def test_a_change_carries_what_its_status_needs_and_nothing_else():
    for fields, field in (({"status": "answered"}, "answer"), ({"status": "investigating", "answer": "x"}, "answer"),
                          ({"status": "investigating", "reason": "duplicate"}, "reason")):
        with pytest.raises(InvalidInput) as info:
            rules.check_change(change(**fields))
        assert [e["field"] for e in info.value.errors] == [field]


def test_who_reads_a_complaint():
    asked = []

    def acts_for():
        asked.append(1)
        return False

    assert rules.may_read(PATIENT.principal, record(), acts_for) and asked == []  # the filing account: no need to ask
    assert not rules.may_read(user(Role.patient, "acc_p2").principal, record(), acts_for) and asked == [1]
    assert rules.may_read(user(Role.patient, "acc_p2").principal, record(), lambda: True)
    assert rules.may_read(TEAM_LEAD.principal, record(), acts_for)
    assert not rules.may_read(user(Role.consultant, "acc_c1").principal, record(), lambda: True)


def test_overdue_and_what_a_patient_is_shown():
    assert not rules.overdue(record(), NOW + rules.ANSWER_WITHIN)
    assert rules.overdue(record(), NOW + rules.ANSWER_WITHIN + timedelta(seconds=1))
    assert not rules.overdue(record("answered"), NOW + timedelta(days=30))
    staff, patient = rules.view(record(), True, NOW), rules.view(record(), False, NOW)
    assert staff.history[0].note == "内部备注" and staff.history[0].by == "acc_t1" and staff.filed_by == "acc_p1"
    assert patient.history[0].note is None and patient.history[0].by is None and patient.filed_by is None
    assert patient.due_at.endswith("+08:00") and patient.transcript is None
    linked = rules.view(record(consultation_id="con_1"), True, NOW)
    assert linked.transcript == "/v1/consultations/con_1"
    assert rules.summary(record(assignee="acc_t1"), False, NOW).assignee is None
