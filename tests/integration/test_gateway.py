"""The first vertical slice through the HTTP gateway, and the gateway's own contract."""
from __future__ import annotations

import re

import pytest

from tests.integration.conftest import new_origin, new_phone, wait_until
from wenzhen.config import SERVICES

pytestmark = pytest.mark.integration


def test_readyz_lists_broker_database_and_all_seven_services(stack):
    resp = stack.http.get(stack.url + "/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    assert body["broker"]["state"] == "up" and body["database"]["state"] == "up"
    assert set(body["services"]) == set(SERVICES)
    assert all(check["state"] == "up" for check in body["services"].values())
    assert stack.http.get(stack.url + "/healthz").json() == {"status": "ok"}


def test_registration_flows_from_gateway_to_a_welcome_notification(stack):
    session = stack.sign_up()
    phone = session.extra["phone"]
    token = session.tokens["access_token"]
    resp = stack.http.post(stack.url + "/v1/patients", headers={"X-Request-ID": "slice-req-1", **stack.headers(token)},
                           json={"name": "张三", "sex": "male", "birth_date": "1985-04-12", "phone": f"+86 {phone}",
                                 "relationship": "self"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["X-Request-ID"] == "slice-req-1"
    patient = resp.json()
    assert patient["id"].startswith("pat_") and patient["phone"] == phone and patient["sex"] == "male"
    assert resp.headers["Location"] == f"/v1/patients/{patient['id']}"
    assert patient["registered_at"].endswith("+08:00")  # shown in the hospital's zone

    got = stack.http.get(f"{stack.url}/v1/patients/{patient['id']}", headers=stack.headers(token))
    assert got.status_code == 200 and got.json() == patient  # intake knows its own links at once

    session.refresh()  # the new token lists the record, for the other services
    token = session.tokens["access_token"]
    notes = wait_until(lambda: stack.http.get(f"{stack.url}/v1/patients/{patient['id']}/notifications",
                                              headers=stack.headers(token)).json(), what="the welcome notification")
    assert len(notes) == 1
    assert notes[0]["template"] == "welcome" and notes[0]["channel"] == "sms" and "张三" in notes[0]["text"]
    wait_until(lambda: any("张三" in m["text"] for m in stack.inbox.messages(phone)), what="the SMS to be sent")

    # the event is in the outbox, marked sent, numbered 1 for its subject, and carries the request id and actor
    entry = stack.db("intake")["outbox"].find_one({"subject": patient["id"], "type": "patient_registered"})
    assert entry["status"] == "sent" and entry["sequence"] == 1
    assert entry["envelope"]["correlationid"] == "slice-req-1"
    assert entry["envelope"]["actorid"] == session.account_id and entry["envelope"]["actorrole"] == "patient"
    # ... which followed it through RPC and the event into the services' log lines
    wait_until(lambda: "slice-req-1" in stack.log_text("intake") and "slice-req-1" in stack.log_text("notify"),
               what="the request id in intake's and notify's logs")
    # reports archived the event
    wait_until(lambda: stack.db("reports")["event_log"].find_one({"subject": patient["id"]}), what="archive")


def test_a_second_own_record_is_a_409_problem_naming_the_field(stack):
    user = stack.patient()
    resp = stack.http.post(stack.url + "/v1/patients", headers=stack.headers(user.session.tokens["access_token"]),
                           json={"name": "李四", "sex": "female", "birth_date": "1990-01-01",
                                 "phone": user.session.extra["phone"], "relationship": "self"})
    assert resp.status_code == 409
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["status"] == 409 and problem["type"] == "urn:wenzhen:problem:conflict"
    assert [e["field"] for e in problem["errors"]] == ["relationship"]
    assert problem["request_id"] == resp.headers["X-Request-ID"]


def test_relatives_may_share_a_phone_number(stack):
    user = stack.patient()
    child = user.api.post("/v1/patients", {"name": "小明", "sex": "male", "birth_date": "2019-06-01",
                                           "phone": user.session.extra["phone"], "relationship": "child"})
    assert child["phone"] == user.record["phone"]
    assert {p["patient_id"] for p in user.api.get("/v1/me/patients")} == {user.id, child["id"]}


def test_invalid_fields_are_each_named_in_a_422(stack):
    user = stack.patient()
    resp = stack.http.post(stack.url + "/v1/patients", headers=stack.headers(user.session.tokens["access_token"]),
                           json={"name": "", "sex": "M", "birth_date": "2999-01-01", "phone": "123", "x": 1})
    assert resp.status_code == 422
    problem = resp.json()
    assert {e["field"] for e in problem["errors"]} == {"name", "sex", "birth_date", "phone", "x"}
    assert all(e["message"] for e in problem["errors"])


@pytest.fixture(scope="module")
def token(stack):
    return stack.patient().session.tokens["access_token"]


@pytest.mark.parametrize("headers,data,status", [
    ({"Content-Type": "application/json"}, b'{"name": ', 400),
    ({"Content-Type": "text/plain"}, b"name=x", 415),
    ({"Content-Type": "application/json"}, b"[]", 422),
])
def test_malformed_bodies_get_a_4xx_problem(stack, token, headers, data, status):
    resp = stack.http.post(stack.url + "/v1/patients", headers={**headers, **stack.headers(token)}, data=data)
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.json()["status"] == status


@pytest.mark.parametrize("data,status,where", [
    (b'{"phone":"\xff\xfe","purpose":"register"}', 400, "not UTF-8"),  # not UTF-8
    (b"[" * 1000 + b"]" * 1000, 400, "levels deep"),  # deeper than the C parser's own limit
    (b"[" * 40 + b"]" * 40, 400, "levels deep"),  # deeper than the documented limit (32)
    (b'{"phone": ' + b"[" * 990 + b"]" * 990 + b"}", 400, "levels deep"),  # inside a field
    (b'{"phone": "\\ud800", "purpose": "register"}', 422, "surrogate"),  # a lone surrogate escape
    (b'{"phone": "138\\u000012345678", "purpose": "register"}', 422, "NUL"),  # U+0000, in a value or a field name
    (b'{"phone": "13812345678", "purpose": "register", "x\\u0000": 1}', 422, "NUL"),
])
def test_bodies_no_server_could_store_are_refused_with_a_4xx_that_says_why(stack, data, status, where):
    resp = stack.http.post(stack.url + "/v1/auth/otp", data=data,
                           headers={"Content-Type": "application/json", "X-Forwarded-For": new_origin()})
    assert resp.status_code == status, resp.text
    problem = resp.json()
    assert problem["status"] == status and where in (problem["detail"] + str(problem["errors"]))


def _raw_post(stack, path: str, head: list[str], body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request written by hand (requests cannot send every framing), and the status and body back."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(stack.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall("\r\n".join([f"POST {path} HTTP/1.1", f"Host: {url.hostname}", "Connection: close", *head,
                                    "", ""]).encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _chunked(data: bytes, size: int = 7) -> bytes:
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read_whole_and_a_large_one_refused(stack):
    head = ["Content-Type: application/json", "Transfer-Encoding: chunked", f"X-Forwarded-For: {new_origin()}"]
    status, body = _raw_post(stack, "/v1/auth/otp", head, _chunked(b'{"phone": "not a phone", "purpose": "register"}'))
    assert status == 422 and b'"phone"' in body  # the JSON arrived: its field is judged, not "empty at position 0"
    big = b'{"phone": "' + b"1" * (3 * 1024 * 1024) + b'"}'
    status, body = _raw_post(stack, "/v1/auth/otp", head, _chunked(big, 65536))
    assert status == 413 and b"larger than" in body


def test_oversized_bodies_are_refused_with_413(stack, token):
    limit = stack.cfg.max_body_bytes
    resp = stack.http.post(stack.url + "/v1/patients", headers={"Content-Type": "application/json",
                                                                **stack.headers(token)},
                           data=b'{"name": "' + b"x" * (limit + 10) + b'"}')
    assert resp.status_code == 413 and resp.json()["status"] == 413


def test_a_kept_alive_connection_survives_answers_given_before_the_body_was_read(stack, token):
    """A 413, or a 401 for a large body, is answered without reading the body; the connection must still carry the
    client's next request (gunicorn alone drops it silently once more than 64 KiB are left unread)."""
    import requests

    session = requests.Session()
    big = b'{"name": "' + b"x" * (stack.cfg.max_body_bytes + 10) + b'"}'
    for headers in ({**stack.headers(token)}, {"Authorization": "Bearer not-a-token"}) * 3:
        refused = session.post(stack.url + "/v1/patients", data=big,
                               headers={"Content-Type": "application/json", **headers})
        assert refused.status_code in (401, 413)
        assert session.get(stack.url + "/healthz").status_code == 200  # same connection, no RemoteDisconnected


def test_unknown_patient_and_route_are_404_problems(stack, token):
    for path in ("/v1/patients/pat_nope", "/v1/patients/pat_nope/notifications", "/nowhere"):
        resp = stack.http.get(stack.url + path, headers=stack.headers(token))
        assert resp.status_code == 404, path
        assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_a_caller_request_id_is_only_echoed_when_safe(stack):
    resp = stack.http.get(stack.url + "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert resp.headers["X-Request-ID"] != "bad id\twith spaces" and len(resp.headers["X-Request-ID"]) == 32


def test_openapi_document_describes_the_routes_from_the_models(stack):
    from openapi_spec_validator import validate

    doc = stack.http.get(stack.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # OpenAPI 3.1, every $ref resolving (query parameters' enums too)
    assert doc["paths"]["/v1/me/patients/{patient_id}"]["delete"]["responses"]["204"].get("content") is None
    download = doc["paths"]["/v1/consultations/{consultation_id}/attachments/{attachment_id}"]["get"]
    assert {"image/jpeg", "application/pdf", "video/mp4"} <= set(download["responses"]["200"]["content"])
    post = doc["paths"]["/v1/patients"]["post"]
    schema = doc["components"]["schemas"]["PatientRegistration"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PatientRegistration")
    assert set(schema["required"]) == {"name", "sex", "birth_date", "phone"}
    assert {"201", "401", "403", "409", "422"} <= set(post["responses"])
    assert "application/problem+json" in post["responses"]["409"]["content"]
    assert {"/healthz", "/readyz", "/v1/patients/{patient_id}", "/v1/patients/{patient_id}/notifications",
            "/v1/auth/login", "/v1/audit-events", "/v1/staff"} <= set(doc["paths"])
    # who may call each operation is part of the contract
    assert post["security"] == [{"bearer": []}] and post["x-roles"] == ["consultant", "patient", "team_lead"]
    assert doc["paths"]["/v1/auth/login"]["post"]["security"] == []
    assert doc["components"]["securitySchemes"]["bearer"]["bearerFormat"] == "JWT"
    protected = [op for path in doc["paths"].values() for op in path.values() if op["security"]]
    assert all(op["x-roles"] and "401" in op["responses"] for op in protected)
    # what the gateway answers anywhere is declared everywhere it can happen (the schema fuzzer checks each answer)
    every = [(path, op) for path, ops in doc["paths"].items() for op in ops.values()]
    assert all("429" in op["responses"] for _, op in every)  # the per-caller request budget
    assert all("422" in op["responses"] for _, op in every if any(p["in"] == "query" for p in op["parameters"]))
    assert {"403", "404"} <= set(doc["paths"]["/v1/consultations"]["post"]["responses"])  # a role, a patient_id
    fhir = doc["paths"]["/v1/audit-events/fhir"]["get"]["responses"]["200"]["content"]["application/fhir+json"]
    assert fhir["schema"] == {"type": "object"}  # JSON, not a string
    start = doc["components"]["schemas"]["Shift"]["properties"]["start"]  # what GET /v1/desk/shifts answers: "08:00"
    assert "format" not in start and re.fullmatch(start["pattern"], "08:00") and not re.fullmatch(start["pattern"], "8")
    page = stack.http.get(stack.url + "/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/v1/patients" in page.text and "PatientRegistration" in page.text


def test_services_answer_rpc_for_the_gateway_with_a_pooled_client(stack):
    # one connection and one reply queue serve many calls, from many threads
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: stack.rpc.call("intake", "health"), range(40)))
    assert all(r["status"] == "up" and r["database"] == "up" for r in results)


def test_readyz_is_503_and_names_the_service_while_one_is_down(stack):
    stack.stop("booking")
    try:
        resp = stack.http.get(stack.url + "/readyz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "not ready" and body["services"]["booking"]["state"] == "down"
        assert body["services"]["intake"]["state"] == "up"
    finally:
        stack.restore_service("booking")
    assert stack.http.get(stack.url + "/readyz").status_code == 200


def test_prometheus_metrics_count_requests_by_route_template(stack, token):
    stack.http.get(stack.url + "/v1/patients/pat_metrics_probe", headers=stack.headers(token))
    text = stack.http.get(stack.url + "/metrics").text
    assert 'wenzhen_gateway_requests_total{method="GET",route="/v1/patients/{patient_id}",status="404"}' in text
    assert "pat_metrics_probe" not in text
    assert "wenzhen_gateway_request_duration_seconds_bucket" in text


def test_a_raw_dump_of_every_database_holds_no_seeded_personal_data(stack):
    from bson import json_util

    name, address, resident_id = "欧阳明月", "杭州市西湖区龙井路88号", "11010519491231002X"
    user = stack.patient(name=name, address=address, birth_date="1949-12-31", sex="female")
    phone = user.session.extra["phone"]
    user.api.call("PUT", f"/v1/patients/{user.id}/identity-document",
                  {"document_type": "resident_id", "number": resident_id})
    staff_name = "诸葛医生"
    stack.staff("doctor", name=staff_name)
    wait_until(lambda: stack.notifications(user.id), what="the welcome notification")
    shown = user.api.get(f"/v1/patients/{user.id}")
    assert shown["phone"] == phone and shown["address"] == address  # readable through the API
    assert shown["identity"]["number"] == "110***********002X" and shown["identity"]["status"] == "unverified"
    dump = "".join(json_util.dumps(doc, ensure_ascii=False)
                   for service in SERVICES
                   for coll in stack.db(service).list_collection_names()
                   for doc in stack.db(service)[coll].find())
    assert user.id in dump  # the dump is real
    for plaintext in (phone, name, address, resident_id, resident_id.lower(), staff_name):
        assert plaintext not in dump


def test_answers_carry_security_headers(stack, token):
    for path in ("/healthz", "/v1/me"):
        resp = stack.http.get(stack.url + path, headers=stack.headers(token))
        assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Referrer-Policy"] == "no-referrer"


def test_the_stated_purpose_of_use_is_checked_and_recorded(stack):
    user = stack.patient()
    doctor = stack.staff("doctor")
    token = doctor.tokens["access_token"]
    resp = stack.http.get(f"{stack.url}/v1/patients/{user.id}",
                          headers={**stack.headers(token), "X-Purpose-Of-Use": "ETREAT"})
    assert resp.status_code == 404  # no care relationship: an emergency does not open every record
    entry = stack.db("intake")["audit_log"].find_one({"agent_id": doctor.account_id, "patient_id": user.id})
    assert entry["purpose"] == "ETREAT" and entry["outcome"] == "denied"
    refused = stack.http.get(f"{stack.url}/v1/patients/{user.id}",
                             headers={**stack.headers(user.session.tokens["access_token"]),
                                      "X-Purpose-Of-Use": "ETREAT"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "X-Purpose-Of-Use"


def test_a_relatives_record_sends_no_sms_and_an_account_registers_few_a_day(stack):
    user = stack.patient()
    relative_phone = new_phone()
    child = user.api.post("/v1/patients", {"name": "小红", "sex": "female", "birth_date": "2015-01-01",
                                           "phone": relative_phone, "relationship": "child"})
    event = stack.db("intake")["outbox"].find_one({"subject": child["id"], "type": "patient_registered"})
    wait_until(lambda: stack.db("notify")["processed_events"].find_one(
        {"_id": f"notify.welcome_patient:{event['_id']}"}), what="notify to handle the registration")
    assert stack.notifications(child["id"]) == [] and stack.inbox.messages(relative_phone) == []
    statuses = [user.api.send("POST", "/v1/patients", {"name": "亲属", "sex": "female", "birth_date": "1960-01-01",
                                                        "phone": new_phone(), "relationship": "other_relative"}).status
                for _ in range(10)]
    assert statuses.count(201) == 8 and statuses[-1] == 429  # own record + child + 8 = 10 a day
