"""pharmacy through the gateway against the real broker, database and the sandbox courier (its own HTTP server
process): a prescription that took effect becomes a dispensing order, the patient chooses delivery, pays at the desk
(payments), a pharmacist dispenses from the first-expiring lot, the courier's shipment is requested from the outbox
and its route pushed back until delivered; pickup with a code; forged, duplicate and out-of-order pushes; the courier
down for a while; cancellation after payment refunds; and the prescription's whole path is one query."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import requests

from tests.integration.conftest import wait_until
from tests.integration.test_records import new_visit, verified
from wenzhen.timez import hospital_zone

pytestmark = pytest.mark.integration

AMLODIPINE = {"drug_code": "AML-5-TAB", "dose": "5 mg", "route": "oral", "frequency": "qd", "days": 7,
              "quantity": 2}
INSULIN = {"drug_code": "INS-GLA-300", "dose": "10 U", "route": "subcutaneous", "frequency": "qn", "days": 7,
           "quantity": 1}


def today() -> date:
    return datetime.now(hospital_zone()).date()


@pytest.fixture(scope="module")
def people(stack):
    return {"pharmacist": stack.staff("pharmacist").as_user, "finance": stack.staff("finance").as_user}


@pytest.fixture(scope="module")
def stocked(stack, people):
    """Lots of the test's products at the courier pharmacy and at the east campus."""
    ph = people["pharmacist"]
    later, sooner = today() + timedelta(days=400), today() + timedelta(days=120)
    run = stack.env["WENZHEN_DB_PREFIX"].strip("_").upper()
    for location, drug, lot, expiry, quantity in (
            ("central", "AML-5-TAB", f"L{run}", later, 200), ("central", "AML-5-TAB", f"S{run}", sooner, 5),
            ("east", "INS-GLA-300", f"I{run}", later, 20)):
        made = ph.send("POST", f"/v1/pharmacies/{location}/lots",
                       {"drug_code": drug, "lot_no": lot, "expiry": expiry.isoformat(), "quantity": quantity})
        assert made.status == 201, made.body
    return {"sooner": f"S{run}", "later": f"L{run}"}


def sandbox(stack) -> str:
    return stack.env["COURIER_URL"].rsplit("/std/", 1)[0]


def faults(stack, **values) -> None:
    requests.post(sandbox(stack) + "/sandbox/faults", json=values, timeout=5).raise_for_status()


def effective_order(stack, people, items: list[dict]) -> dict:
    """A patient with a prescription a pharmacist approved, and the dispensing order pharmacy made of it."""
    v = new_visit(stack)
    doctor, patient = v["doctor"].as_user, v["patient"]
    eid = doctor.post("/v1/encounters", {"appointment_id": v["appointment"]["id"]})["id"]
    verified(stack, patient, doctor)
    diagnoses = ["E11.9"] if items[0]["drug_code"] == "INS-GLA-300" else ["I10"]
    rx = doctor.post(f"/v1/encounters/{eid}/prescriptions", {"items": items, "diagnoses": diagnoses})
    assert patient.api.get(f"/v1/dispensing-orders?patient_id={patient.id}") == []  # nothing before it takes effect
    people["pharmacist"].post(f"/v1/prescriptions/{rx['id']}/review", {"outcome": "approve"})
    [order] = wait_until(lambda: patient.api.get(f"/v1/dispensing-orders?patient_id={patient.id}"), timeout=30,
                         what="pharmacy to make the dispensing order")
    return {"patient": patient, "rx": rx, "order": order, "doctor": doctor}


def pay(stack, people, case: dict) -> dict:
    """The patient's invoice (payments issued it from the fulfilment choice), paid at the desk; the order paid."""
    patient, order_id = case["patient"], case["order"]["id"]
    invoice = wait_until(lambda: next((i for i in patient.api.get(f"/v1/invoices?patient_id={patient.id}")
                                       if i["reference"] == order_id and i["status"] == "open"), None),
                         timeout=30, what="payments to issue the invoice")
    people["finance"].post(f"/v1/invoices/{invoice['id']}/desk-payments",
                           {"method": "card", "amount_fen": invoice["amount_fen"]})
    return wait_until(lambda: (o := patient.api.get(f"/v1/dispensing-orders/{order_id}"))["status"] == "paid" and o,
                      timeout=30, what="the order to be paid")


DELIVERY = {"recipient": "王芳", "phone": "13912345678", "city": "上海市浦东新区",
            "address": "世纪大道 100 号 2 栋 1201"}


def test_a_prescription_reaches_the_patient_by_courier(stack, people, stocked):
    case = effective_order(stack, people, [AMLODIPINE])
    patient, ph, order = case["patient"], people["pharmacist"], case["order"]
    oid = order["id"]
    assert order["status"] == "awaiting_payment" and order["delivery_allowed"] and order["total_fen"] == 2 * 2960
    assert order["items"][0]["drug_code"] == "AML-5-TAB" and not order["reserved"]

    # medicine before payment is refused; bad choices name their field
    unpaid = ph.send("POST", f"/v1/dispensing-orders/{oid}/start")
    assert unpaid.status == 409 and unpaid.body["errors"][0]["field"] in ("status", "reserved")
    missing = patient.api.send("PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {"method": "delivery"})
    assert missing.status == 422 and missing.body["errors"][0]["field"] == "delivery"
    far = patient.api.send("PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {"method": "delivery", "delivery": {
        **DELIVERY, "day": (today() + timedelta(days=30)).isoformat(), "window": "evening"}})
    assert far.status == 422 and far.body["errors"][0]["field"] == "delivery.day"
    nowhere = patient.api.send("PUT", f"/v1/dispensing-orders/{oid}/fulfilment",
                               {"method": "pickup", "location": "nowhere"})
    assert nowhere.status == 422 and nowhere.body["errors"][0]["field"] == "location"
    assert stack.patient().api.send("PUT", f"/v1/dispensing-orders/{oid}/fulfilment",
                                    {"method": "pickup", "location": "east"}).status == 404
    chosen = patient.api.call("PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {"method": "delivery", "delivery": {
        **DELIVERY, "day": (today() + timedelta(days=1)).isoformat(), "window": "evening"}})
    assert chosen["method"] == "delivery" and chosen["location"] == "central"
    assert chosen["amount_fen"] == chosen["total_fen"] + chosen["delivery_fee_fen"] == 2 * 2960 + 1000

    paid = pay(stack, people, case)
    assert paid["reserved"] and paid["invoice_id"]
    assert oid in [o["id"] for o in ph.get("/v1/dispensing-orders?status=paid&location=central&limit=200")]
    assert patient.api.send("PUT", f"/v1/dispensing-orders/{oid}/fulfilment",
                            {"method": "pickup", "location": "east"}).status == 409  # paid: the choice stands

    started = ph.post(f"/v1/dispensing-orders/{oid}/start")
    assert started["status"] == "dispensing"
    [line] = ph.get(f"/v1/dispensing-orders/{oid}/pick-list")
    assert line["short"] == 0 and line["lots"][0]["lot_no"] == stocked["sooner"]  # first expiry first out
    wrong = ph.send("POST", f"/v1/dispensing-orders/{oid}/dispense", {"picks": [
        {"prescribed_code": "AML-5-TAB", "lot_no": stocked["sooner"], "quantity": 1}]})
    assert wrong.status == 422 and wrong.body["errors"][0]["field"] == "picks"
    dispensed = ph.post(f"/v1/dispensing-orders/{oid}/dispense", {})
    assert dispensed["picks"][0]["lot_no"] == stocked["sooner"] and dispensed["status"] == "dispensing"

    shipped = wait_until(lambda: (o := patient.api.get(f"/v1/dispensing-orders/{oid}"))["waybill"] and o,
                         timeout=30, what="the courier's waybill")
    assert shipped["waybill"].startswith("SF")
    label = requests.get(f"{stack.url}/v1/dispensing-orders/{oid}/label.pdf", headers=stack.headers(ph.token),
                         timeout=10)
    assert label.status_code == 200 and label.content.startswith(b"%PDF") and label.headers["Content-Type"] == \
        "application/pdf"
    delivered = wait_until(lambda: (o := patient.api.get(f"/v1/dispensing-orders/{oid}"))["status"] == "delivered"
                           and o, timeout=60, what="the courier to deliver")
    assert [s["op_code"] for s in delivered["route"]] == ["50", "30", "44", "80"]
    assert [h["status"] for h in delivered["history"]] == ["awaiting_payment", "paid", "dispensing", "shipped",
                                                           "delivered"]
    assert patient.api.send("POST", f"/v1/dispensing-orders/{oid}/receipt").status == 409  # delivered already

    trace = ph.get(f"/v1/prescriptions/{case['rx']['id']}/trace")
    steps = [s["step"] for s in trace["steps"]]
    for step in ("signed", "reviewed", "took_effect", "order_created", "fulfilment_chosen", "paid",
                 "dispensing_started", "dispensed", "shipped", "delivered"):
        assert step in steps, (step, steps)
    dispensed_step = next(s for s in trace["steps"] if s["step"] == "dispensed")
    assert dispensed_step["actor_role"] == "pharmacist" and dispensed_step["lots"][0]["lot_no"] == stocked["sooner"]
    assert patient.api.send("GET", f"/v1/prescriptions/{case['rx']['id']}/trace").status == 403

    # what is stored and published: no address, phone or drug name in clear
    db = stack.db("pharmacy")
    stored = db["dispensing_orders"].find_one({"_id": oid})
    assert "世纪大道" not in repr(stored) and "13912345678" not in repr(stored) and "氨氯地平" not in repr(stored)
    events = [e["envelope"] for e in db["outbox"].find({"subject": oid})]
    assert all("13912345678" not in repr(e) and "王芳" not in repr(e) for e in events)
    assert "王芳" not in stack.log_text("pharmacy") and "13912345678" not in stack.log_text("pharmacy")


def test_pickup_with_a_code_and_a_refund_when_cancelled_after_payment(stack, people, stocked):
    case = effective_order(stack, people, [INSULIN])
    patient, ph, oid = case["patient"], people["pharmacist"], case["order"]["id"]
    assert not case["order"]["delivery_allowed"]  # cold chain: pickup only
    by_courier = patient.api.send("PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {"method": "delivery", "delivery": {
        **DELIVERY, "day": today().isoformat(), "window": "morning"}})
    assert by_courier.status == 422 and by_courier.body["errors"][0]["type"] == "pickup_only"
    chosen = patient.api.call("PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {"method": "pickup",
                                                                                  "location": "east"})
    assert chosen["delivery_fee_fen"] == 0
    pay(stack, people, case)
    ph.post(f"/v1/dispensing-orders/{oid}/start")
    ready = ph.post(f"/v1/dispensing-orders/{oid}/dispense", {})
    assert ready["status"] == "ready_for_pickup" and ready["pickup_code"] is None  # the pharmacist is shown it
    mine = patient.api.get(f"/v1/dispensing-orders/{oid}")
    code = mine["pickup_code"]
    assert code and len(code) == 6
    qr = requests.get(f"{stack.url}/v1/dispensing-orders/{oid}/pickup-code.svg",
                      headers=stack.headers(patient.api.token), timeout=10)
    assert qr.status_code == 200 and b"<svg" in qr.content
    wrong = ph.send("POST", f"/v1/dispensing-orders/{oid}/hand-over",
                    {"pickup_code": f"{(int(code) + 1) % 1_000_000:06d}"})
    assert wrong.status == 422 and wrong.body["errors"][0]["field"] == "pickup_code"
    handed = ph.post(f"/v1/dispensing-orders/{oid}/hand-over", {"pickup_code": code})
    assert handed["status"] == "picked_up"
    assert ph.send("POST", f"/v1/dispensing-orders/{oid}/hand-over", {"pickup_code": code}).status == 409

    # another order, paid and then cancelled by the patient: its stock is released and a refund requested
    other = effective_order(stack, people, [INSULIN])
    o2 = other["order"]["id"]
    other["patient"].api.call("PUT", f"/v1/dispensing-orders/{o2}/fulfilment", {"method": "pickup",
                                                                                "location": "east"})
    before = next(s for s in ph.get("/v1/pharmacies/east/stock") if s["drug_code"] == "INS-GLA-300")
    paid = pay(stack, people, other)
    assert paid["reserved"]
    cancelled = other["patient"].api.post(f"/v1/dispensing-orders/{o2}/cancel", {"reason": "patient_request"})
    assert cancelled["status"] == "cancelled"
    after = next(s for s in ph.get("/v1/pharmacies/east/stock") if s["drug_code"] == "INS-GLA-300")
    assert after["available"] == before["available"] and after["reserved"] == before["reserved"]
    refund = wait_until(lambda: stack.db("payments")["refunds"].find_one({"order_id": o2}), timeout=30,
                        what="payments to record the refund request")
    assert refund["amount_fen"] == paid["amount_fen"]
    assert other["patient"].api.send("POST", f"/v1/dispensing-orders/{o2}/cancel", {}).status == 409


def test_forged_duplicate_and_out_of_order_pushes_and_a_courier_down_for_a_while(stack, people, stocked):
    ph = people["pharmacist"]

    def shipped_order(day_offset: int = 1) -> tuple[dict, str]:
        case = effective_order(stack, people, [AMLODIPINE])
        oid = case["order"]["id"]
        case["patient"].api.call("PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {"method": "delivery", "delivery": {
            **DELIVERY, "day": (today() + timedelta(days=day_offset)).isoformat(), "window": "afternoon"}})
        pay(stack, people, case)
        ph.post(f"/v1/dispensing-orders/{oid}/start")
        ph.post(f"/v1/dispensing-orders/{oid}/dispense", {})
        return case, oid

    # the courier down: the request waits in the outbox and is retried, nothing is lost
    faults(stack, down=True, auto_route=False)
    try:
        case, oid = shipped_order()
        waiting = wait_until(lambda: (o := case["patient"].api.get(f"/v1/dispensing-orders/{oid}"))[
            "shipment_problem"] and o, timeout=30, what="the first failed attempt")
        assert waiting["status"] == "dispensing" and "unavailable" in waiting["shipment_problem"]
    finally:
        faults(stack, down=False)
    shipped = wait_until(lambda: (o := case["patient"].api.get(f"/v1/dispensing-orders/{oid}"))["status"] == "shipped"
                         and o, timeout=60, what="the retried shipment")
    waybill = shipped["waybill"]
    request = stack.db("pharmacy")["shipment_requests"].find_one({"_id": oid})
    assert request["status"] == "sent" and request["attempts"] >= 2

    # a forged "delivered" is not believed: the courier, asked, knows of no such step
    requests.post(sandbox(stack) + "/sandbox/forge", json={"waybill": waybill, "op_code": "80"},
                  timeout=5).raise_for_status()
    wait_until(lambda: stack.db("pharmacy")["push_checks"].find_one({"_id": waybill}) is None and
               stack.db("pharmacy")["route_events"].count_documents({"waybill": waybill}) == 0 and
               "push_checked", timeout=30, what="the forged push to be checked with the courier")
    assert case["patient"].api.get(f"/v1/dispensing-orders/{oid}")["status"] == "shipped"

    # the real steps, pushed last-first (the sandbox holds them back and sends the newest first) and each twice:
    # each kept once, the order delivered once, the route in the courier's time order
    faults(stack, duplicate_pushes=True, reorder_pushes=True)
    try:
        for _ in range(4):
            requests.post(sandbox(stack) + "/sandbox/advance", json={"waybill": waybill},
                          timeout=5).raise_for_status()
        done = wait_until(lambda: (o := case["patient"].api.get(f"/v1/dispensing-orders/{oid}"))["status"] ==
                          "delivered" and len(o["route"]) == 4 and o, timeout=30, what="the reordered route")
    finally:
        faults(stack, duplicate_pushes=False, reorder_pushes=False, auto_route=True)
    assert [s["op_code"] for s in done["route"]] == ["50", "30", "44", "80"]
    arrived = [e["op_code"] for e in stack.db("pharmacy")["route_events"].find({"waybill": waybill})
               .sort("received_at", 1)]
    assert sorted(arrived) == ["30", "44", "50", "80"] and arrived[0] == "80"
    outbox = stack.db("pharmacy")["outbox"]
    assert outbox.count_documents({"subject": oid, "type": "order_delivered"}) == 1
    assert outbox.count_documents({"subject": oid, "type": "shipment_progressed"}) == 4
