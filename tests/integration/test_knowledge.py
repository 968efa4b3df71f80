"""The knowledge base through the gateway: managers maintain it, consultants search it and fill in variables, patients
are refused, anyone reads the fee schedule and the doctors' profiles; conflicts and bad fields are answered as
problems naming what is wrong."""
from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration

SCOPE = {"kind": "reply_template", "title": "科室判断（集成测试）", "tags": ["科室"],
         "body": "{surname}先生/女士，根据您描述的情况，可能与{department}相关，需要检查后才能确定。"}


@pytest.fixture(scope="module")
def people(stack) -> dict:
    return {"manager": stack.staff("manager").as_user, "consultant": stack.staff("consultant").as_user,
            "patient": stack.patient().api, "anonymous": stack.api()}


def create(manager, body: dict) -> dict:
    resp = manager.send("POST", "/v1/knowledge", body)
    assert resp.status == 201, resp.body
    assert resp.headers["Location"] == f"/v1/knowledge/{resp.body['id']}"
    return resp.body


def test_a_manager_adds_an_entry_and_a_consultant_finds_and_fills_it(people):
    entry = create(people["manager"], SCOPE)
    assert entry["revision"] == 1 and entry["status"] == "live" and entry["created_at"].endswith("+08:00")
    consultant = people["consultant"]
    found = consultant.get("/v1/knowledge?q=%E6%A3%80%E6%9F%A5%E5%90%8E&kind=reply_template")  # q=检查后
    assert entry["id"] in [a["id"] for a in found]
    assert consultant.get(f"/v1/knowledge/{entry['id']}")["body"] == SCOPE["body"]
    rendered = consultant.post(f"/v1/knowledge/{entry['id']}/render",
                               {"values": {"surname": "王", "department": "泌尿外科"}})
    assert rendered == {"text": "王先生/女士，根据您描述的情况，可能与泌尿外科相关，需要检查后才能确定。"}


def test_a_variable_without_a_value_is_named(people):
    entry = create(people["manager"], SCOPE)
    resp = people["consultant"].send("POST", f"/v1/knowledge/{entry['id']}/render", {"values": {"surname": "王"}})
    assert resp.status == 422 and [e["field"] for e in resp.body["errors"]] == ["values.department"]


def test_a_bad_field_is_named(people):
    manager = people["manager"]
    resp = manager.send("POST", "/v1/knowledge", {"kind": "fee_item", "title": "挂号费", "body": "每次。",
                                                  "amount_fen": -100, "unit": "次"})
    assert resp.status == 422 and [e["field"] for e in resp.body["errors"]] == ["amount_fen"]
    resp = manager.send("POST", "/v1/knowledge", {**SCOPE, "body": "您好{surname.__class__}"})
    assert resp.status == 422 and [e["field"] for e in resp.body["errors"]] == ["body"]
    assert "surname.__class__" in resp.body["errors"][0]["message"]
    resp = people["consultant"].send("GET", "/v1/knowledge?sort=newest")
    assert resp.status == 422 and [e["field"] for e in resp.body["errors"]] == ["sort"]


def test_a_stale_revision_is_a_conflict(people):
    manager = people["manager"]
    entry = create(manager, {"kind": "care_tip", "title": "鼻炎温馨提示（集成测试）", "condition": "鼻炎",
                             "body": "温馨提示：坚持用冷水洗脸。"})
    content = {k: entry[k] for k in ("kind", "title", "condition", "body")}
    changed = manager.call("PUT", f"/v1/knowledge/{entry['id']}", {**content, "body": "温馨提示：适当锻炼。",
                                                                   "revision": 1})
    assert changed["revision"] == 2
    resp = manager.send("PUT", f"/v1/knowledge/{entry['id']}", {**content, "body": "覆盖", "revision": 1})
    assert resp.status == 409 and [e["field"] for e in resp.body["errors"]] == ["revision"]
    assert people["consultant"].get(f"/v1/knowledge/{entry['id']}")["body"] == "温馨提示：适当锻炼。"


def test_patients_and_consultants_cannot_maintain_it_and_patients_cannot_read_it(people):
    entry = create(people["manager"], SCOPE)
    patient, consultant, anonymous = people["patient"], people["consultant"], people["anonymous"]
    for method, path, body in [("GET", "/v1/knowledge", None), ("GET", f"/v1/knowledge/{entry['id']}", None),
                               ("POST", f"/v1/knowledge/{entry['id']}/render", {"values": {}}),
                               ("POST", "/v1/knowledge", SCOPE), ("DELETE", f"/v1/knowledge/{entry['id']}", None)]:
        assert patient.send(method, path, body).status == 403, (method, path)
        assert anonymous.send(method, path, body).status == 401, (method, path)
    assert consultant.send("POST", "/v1/knowledge", SCOPE).status == 403
    assert consultant.send("DELETE", f"/v1/knowledge/{entry['id']}").status == 403
    assert consultant.send("PUT", f"/v1/knowledge/{entry['id']}", {**SCOPE, "revision": 1}).status == 403


def test_anyone_reads_the_fee_schedule_and_profiles_and_retired_entries_leave_them(people):
    manager, anonymous = people["manager"], people["anonymous"]
    fee = create(manager, {"kind": "fee_item", "title": "专家门诊诊查费（集成测试）", "body": "每次就诊。",
                           "amount_fen": 3000, "unit": "次", "department": "urology", "internal_note": "内部备注"})
    doctor_id = "acc_" + uuid.uuid4().hex[:26].upper()  # hex digits are Crockford base32 digits too
    profile = create(manager, {"kind": "doctor_profile", "title": "李明", "body": "从事泌尿外科临床工作。",
                               "department": "urology", "doctor_id": doctor_id, "professional_title": "主任医师",
                               "expertise": ["前列腺炎"], "internal_note": "内部备注"})
    fees = {f["id"]: f for f in anonymous.get("/v1/fees?department=urology")}
    assert fees[fee["id"]]["amount_fen"] == 3000 and "internal_note" not in fees[fee["id"]]
    profiles = {p["id"]: p for p in anonymous.get("/v1/doctor-profiles")}
    assert profiles[profile["id"]]["title"] == "主任医师" and profiles[profile["id"]]["name"] == "李明"
    assert "internal_note" not in profiles[profile["id"]]

    assert manager.send("DELETE", f"/v1/knowledge/{fee['id']}").status == 204
    assert fee["id"] not in {f["id"] for f in anonymous.get("/v1/fees")}
    assert people["consultant"].get(f"/v1/knowledge/{fee['id']}")["status"] == "retired"
    assert manager.send("DELETE", f"/v1/knowledge/{fee['id']}").status == 204  # retiring again changes nothing
    again = {k: profile[k] for k in ("kind", "title", "body", "doctor_id", "professional_title")}
    resp = manager.send("POST", "/v1/knowledge", again)
    assert resp.status == 409 and [e["field"] for e in resp.body["errors"]] == ["doctor_id"]  # one live profile each
