"""Complaints through the gateway: a patient files, a team lead works and answers it, the patient reads the answer
and is told by SMS (without its text); nobody else sees it; bad fields are named."""
from __future__ import annotations

import pytest

from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration

TEXT = "预约的时间到了却没有医生接诊，等了一个小时。"
ANSWER = "经核实当天医生临时手术，未及时通知您，深表歉意；已为您优先改约。"


def test_a_complaint_is_filed_worked_answered_and_closed(stack):
    patient, other, lead = stack.patient(), stack.patient(), stack.staff("team_lead")
    body = {"patient_id": patient.id, "about": "consultation", "reference": "con_01TESTCONSULTATION",
            "text": TEXT, "desired_outcome": "希望改约"}
    filed = patient.api.send("POST", "/v1/complaints", body)
    assert filed.status == 201 and filed.headers["Location"] == f"/v1/complaints/{filed.body['id']}"
    cid = filed.body["id"]
    assert filed.body["status"] == "received" and filed.body["channel"] == "online"
    assert filed.body["transcript"] == "/v1/consultations/con_01TESTCONSULTATION"
    assert filed.body["due_at"].endswith("+08:00")
    stored = stack.db("intake")["complaints"].find_one({"_id": cid})
    assert TEXT not in str(stored) and "希望改约" not in str(stored)  # encrypted at rest

    # another patient cannot tell it exists, nor withdraw it
    assert other.api.send("GET", f"/v1/complaints/{cid}").status == 404
    assert other.api.send("POST", f"/v1/complaints/{cid}/status", {"status": "closed"}).status == 404
    assert cid not in [c["id"] for c in other.api.get("/v1/complaints")]

    queue = lead.as_user.get("/v1/complaints?status=received")
    assert cid in [c["id"] for c in queue]
    working = lead.as_user.post(f"/v1/complaints/{cid}/status", {"status": "investigating", "note": "调取排班记录"})
    assert working["status"] == "investigating" and working["assignee"] == lead.account_id
    again = lead.as_user.send("POST", f"/v1/complaints/{cid}/status", {"status": "investigating"})
    assert again.status == 409 and "investigating" in again.body["detail"]
    answered = lead.as_user.post(f"/v1/complaints/{cid}/status", {"status": "answered", "answer": ANSWER})
    assert answered["on_time"] is True

    seen = patient.api.get(f"/v1/complaints/{cid}")
    assert seen["status"] == "answered" and seen["answer"] == ANSWER and seen["text"] == TEXT
    assert seen["assignee"] is None and all(h["note"] is None for h in seen["history"])  # staff matters
    phone = patient.session.extra["phone"]
    told = wait_until(lambda: [m for m in stack.inbox.messages(phone) if "投诉已有答复" in m["text"]],
                      what="the complaint-answered SMS")
    assert len(told) == 1 and ANSWER not in told[0]["text"]

    closed = lead.as_user.post(f"/v1/complaints/{cid}/status", {"status": "closed"})
    assert closed["status"] == "closed" and [h["status"] for h in closed["history"]] == [
        "received", "investigating", "answered", "closed"]
    (mine,) = [c for c in patient.api.get("/v1/complaints") if c["id"] == cid]
    assert mine["status"] == "closed"


def test_bad_fields_are_named(stack):
    patient = stack.patient()
    short = patient.api.send("POST", "/v1/complaints", {"patient_id": patient.id, "about": "bill", "text": "太短"})
    assert short.status == 422 and [e["field"] for e in short.body["errors"]] == ["text"]
    unreferenced = patient.api.send("POST", "/v1/complaints",
                                    {"patient_id": patient.id, "about": "consultation", "text": TEXT})
    assert unreferenced.status == 422 and [e["field"] for e in unreferenced.body["errors"]] == ["reference"]
    query = patient.api.send("GET", "/v1/complaints?overdue=perhaps")
    assert query.status == 422 and [e["field"] for e in query.body["errors"]] == ["overdue"]
