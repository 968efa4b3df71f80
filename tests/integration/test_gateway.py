"""The first vertical slice through the HTTP gateway, and the gateway's own contract."""
from __future__ import annotations

import pytest

from tests.integration.conftest import new_phone, wait_until
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
    phone = new_phone()
    resp = stack.http.post(stack.url + "/v1/patients", headers={"X-Request-ID": "slice-req-1"},
                           json={"name": "张三", "sex": "male", "birth_date": "1985-04-12", "phone": f"+86 {phone}"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["X-Request-ID"] == "slice-req-1"
    patient = resp.json()
    assert patient["id"].startswith("pat_") and patient["phone"] == phone and patient["sex"] == "male"
    assert resp.headers["Location"] == f"/v1/patients/{patient['id']}"
    assert patient["registered_at"].endswith("+08:00")  # shown in the hospital's zone

    got = stack.http.get(f"{stack.url}/v1/patients/{patient['id']}")
    assert got.status_code == 200 and got.json() == patient

    notes = wait_until(lambda: stack.http.get(f"{stack.url}/v1/patients/{patient['id']}/notifications").json(),
                       what="the welcome notification")
    assert len(notes) == 1
    assert notes[0]["template"] == "welcome" and notes[0]["channel"] == "sms" and "张三" in notes[0]["text"]

    # the event is in the outbox, marked sent, numbered 1 for its subject, and carries the request id
    entry = stack.db("intake")["outbox"].find_one({"subject": patient["id"]})
    assert entry["status"] == "sent" and entry["sequence"] == 1
    assert entry["envelope"]["correlationid"] == "slice-req-1"
    # ... which followed it through RPC and the event into the services' log lines
    wait_until(lambda: "slice-req-1" in stack.log_text("intake") and "slice-req-1" in stack.log_text("notify"),
               what="the request id in intake's and notify's logs")
    # reports archived the event
    wait_until(lambda: stack.db("reports")["event_log"].find_one({"subject": patient["id"]}), what="archive")


def test_duplicate_phone_is_a_409_problem_naming_the_field(stack):
    phone = new_phone()
    stack.register(phone)
    resp = stack.http.post(stack.url + "/v1/patients",
                           json={"name": "李四", "sex": "female", "birth_date": "1990-01-01", "phone": phone})
    assert resp.status_code == 409
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["status"] == 409 and problem["type"] == "urn:wenzhen:problem:conflict"
    assert [e["field"] for e in problem["errors"]] == ["phone"]
    assert problem["request_id"] == resp.headers["X-Request-ID"]
    assert stack.db("intake")["patients"].count_documents(
        {"phone_index": stack.keys.blind_index("phone", phone)}) == 1


def test_invalid_fields_are_each_named_in_a_422(stack):
    resp = stack.http.post(stack.url + "/v1/patients",
                           json={"name": "", "sex": "M", "birth_date": "2999-01-01", "phone": "123", "x": 1})
    assert resp.status_code == 422
    problem = resp.json()
    assert {e["field"] for e in problem["errors"]} == {"name", "sex", "birth_date", "phone", "x"}
    assert all(e["message"] for e in problem["errors"])


@pytest.mark.parametrize("headers,data,status", [
    ({"Content-Type": "application/json"}, b'{"name": ', 400),
    ({"Content-Type": "text/plain"}, b"name=x", 415),
    ({"Content-Type": "application/json"}, b"[]", 422),
])
def test_malformed_bodies_get_a_4xx_problem(stack, headers, data, status):
    resp = stack.http.post(stack.url + "/v1/patients", headers=headers, data=data)
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.json()["status"] == status


def test_oversized_bodies_are_refused_with_413(stack):
    limit = stack.cfg.max_body_bytes
    resp = stack.http.post(stack.url + "/v1/patients", headers={"Content-Type": "application/json"},
                           data=b'{"name": "' + b"x" * (limit + 10) + b'"}')
    assert resp.status_code == 413 and resp.json()["status"] == 413


def test_unknown_patient_and_route_are_404_problems(stack):
    for path in ("/v1/patients/pat_nope", "/v1/patients/pat_nope/notifications", "/nowhere"):
        resp = stack.http.get(stack.url + path)
        assert resp.status_code == 404, path
        assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_a_caller_request_id_is_only_echoed_when_safe(stack):
    resp = stack.http.get(stack.url + "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert resp.headers["X-Request-ID"] != "bad id\twith spaces" and len(resp.headers["X-Request-ID"]) == 32


def test_openapi_document_describes_the_routes_from_the_models(stack):
    doc = stack.http.get(stack.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    post = doc["paths"]["/v1/patients"]["post"]
    schema = doc["components"]["schemas"]["PatientRegistration"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PatientRegistration")
    assert set(schema["required"]) == {"name", "sex", "birth_date", "phone"}
    assert {"201", "409", "422"} <= set(post["responses"])
    assert "application/problem+json" in post["responses"]["409"]["content"]
    assert {"/healthz", "/readyz", "/v1/patients/{patient_id}", "/v1/patients/{patient_id}/notifications"} <= set(
        doc["paths"])
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


def test_prometheus_metrics_count_requests_by_route_template(stack):
    stack.http.get(stack.url + "/v1/patients/pat_metrics_probe")
    text = stack.http.get(stack.url + "/metrics").text
    assert 'wenzhen_gateway_requests_total{method="GET",route="/v1/patients/{patient_id}",status="404"}' in text
    assert "pat_metrics_probe" not in text
    assert "wenzhen_gateway_request_duration_seconds_bucket" in text


def test_a_raw_dump_of_every_database_holds_no_seeded_personal_data(stack):
    from bson import json_util

    phone, name = new_phone(), "欧阳明月"
    patient = stack.register(phone, name=name)
    wait_until(lambda: stack.notifications(patient["id"]), what="the welcome notification")
    assert stack.http.get(f"{stack.url}/v1/patients/{patient['id']}").json()["phone"] == phone  # readable via API
    dump = "".join(json_util.dumps(doc, ensure_ascii=False)
                   for service in SERVICES
                   for coll in stack.db(service).list_collection_names()
                   for doc in stack.db(service)[coll].find())
    assert patient["id"] in dump  # the dump is real
    assert phone not in dump and name not in dump
