"""payments through the gateway against the real broker and database: a dispensing order is invoiced from the
patient's choice of pickup (pharmacy's `fulfilment_chosen`), invoiced again with the delivery fee when they change
it before paying; finance staff take the payment at the desk once, for exactly the amount due, and pharmacy hears of
it; the patient cancels the paid order and pharmacy's refund request is recorded on the invoice; the ledger holds the
postings of each step. Who reads and lists invoices; no personal data in the events."""
from __future__ import annotations

from datetime import datetime

import pytest

from contracts.intake.documents import resident_id_check_char
from services.payments.ledger import usecases as ledger_usecases
from services.payments.ledger.rules import Account
from services.payments.ledger.store import LedgerStore
from tests.integration.conftest import wait_until
from wenzhen.storage import Store
from wenzhen.timez import hospital_zone

pytestmark = pytest.mark.integration

REPORT = {"condition_analysis": "血压偏高。", "diagnoses": [{"code": "I10", "text": "原发性高血压"}]}
RX = {"items": [{"drug_code": "LOS-50-TAB", "dose": "50 mg", "route": "oral", "frequency": "qd", "days": 7,
                 "quantity": 2}], "diagnoses": ["I10"]}


def dispensing_order(stack) -> tuple[dict, dict]:
    """A visit's doctor prescribes for a verified patient, a pharmacist approves: (the visit, its dispensing order)."""
    visit = stack.visit()
    doctor, patient = visit["doctor"].as_user, visit["patient"]
    encounter = doctor.post("/v1/encounters", {"appointment_id": visit["appointment"]["id"]})["id"]
    doctor.call("PUT", f"/v1/encounters/{encounter}/report", REPORT)
    doctor.post(f"/v1/encounters/{encounter}/report/sign")
    first17 = "11010119900304" + "062"
    patient.api.call("PUT", f"/v1/patients/{patient.id}/identity-document",
                     {"document_type": "resident_id", "number": first17 + resident_id_check_char(first17)})
    doctor.post(f"/v1/patients/{patient.id}/identity-verification", {"method": "in_person"})
    rx = doctor.post(f"/v1/encounters/{encounter}/prescriptions", RX)["id"]
    stack.staff("pharmacist").as_user.post(f"/v1/prescriptions/{rx}/review", {"outcome": "approve"})
    order = wait_until(lambda: next((o for o in patient.api.get(f"/v1/dispensing-orders?patient_id={patient.id}")
                                     if o["prescription_id"] == rx), None), what="the dispensing order")
    return visit, order


def invoice_of(patient, order_id: str, revision: int) -> dict:
    def found():
        return next((i for i in patient.api.get(f"/v1/invoices?patient_id={patient.id}")
                     if i["reference"] == order_id and i["revision"] >= revision), None)
    return wait_until(found, what=f"revision {revision} of the order's invoice")


def test_an_order_is_invoiced_paid_at_the_desk_once_and_its_refund_recorded(stack):
    visit, order = dispensing_order(stack)
    patient = visit["patient"]
    finance, stranger = stack.staff("finance").as_user, stack.patient()

    patient.api.call("PUT", f"/v1/dispensing-orders/{order['id']}/fulfilment", {"method": "pickup",
                                                                                "location": "central"})
    first = invoice_of(patient, order["id"], 1)
    assert (first["purpose"], first["status"], first["patient_id"]) == ("dispensing_order", "open", patient.id)
    assert first["amount_fen"] == order["total_fen"] > 0
    assert first["lines"] == [{"kind": "drugs", "amount_fen": order["total_fen"]}]

    # the patient changes their mind before paying: the same invoice, issued again with the delivery fee
    today = datetime.now(hospital_zone()).date().isoformat()
    patient.api.call("PUT", f"/v1/dispensing-orders/{order['id']}/fulfilment", {"method": "delivery", "delivery": {
        "recipient": "王芳", "phone": "13812345678", "city": "上海市徐汇区", "address": "宛平南路 88 号 3 号楼 101 室",
        "day": today, "window": "evening"}})
    invoice = invoice_of(patient, order["id"], 2)
    iid, due = invoice["id"], invoice["amount_fen"]
    assert iid == first["id"] and due > first["amount_fen"]
    assert [line["kind"] for line in invoice["lines"]] == ["drugs", "delivery_fee"]
    assert sum(line["amount_fen"] for line in invoice["lines"]) == due

    # who reads and lists it
    assert finance.get(f"/v1/invoices/{iid}")["amount_fen"] == due
    assert iid in [i["id"] for i in finance.get("/v1/invoices?status=open&limit=200")]
    assert stranger.api.send("GET", f"/v1/invoices/{iid}").status == 404
    assert stranger.api.send("GET", f"/v1/invoices?patient_id={patient.id}").status == 403
    assert finance.send("GET", "/v1/invoices").status == 403  # by status or by patient, never everything
    assert stack.staff("doctor").as_user.send("GET", f"/v1/invoices/{iid}").status == 403

    # the desk: exactly the amount due, once, by finance staff only
    assert patient.api.send("POST", f"/v1/invoices/{iid}/desk-payments", {"method": "cash",
                                                                          "amount_fen": due}).status == 403
    wrong = finance.send("POST", f"/v1/invoices/{iid}/desk-payments", {"method": "cash", "amount_fen": first[
        "amount_fen"]})
    assert wrong.status == 422 and wrong.body["errors"][0]["field"] == "amount_fen"
    assert finance.send("POST", "/v1/invoices/inv_01JD3Q5X7C9V2B8N4M6K1H0G2F/desk-payments",
                        {"method": "cash", "amount_fen": due}).status == 404
    paid = finance.send("POST", f"/v1/invoices/{iid}/desk-payments", {"method": "card", "amount_fen": due,
                                                                       "reference": "POS-20261205-0042"})
    assert paid.status == 201, paid.body
    assert paid.body["status"] == "paid" and paid.body["payment"]["method"] == "card"
    assert paid.body["payment"]["reference"] == "POS-20261205-0042"
    again = finance.send("POST", f"/v1/invoices/{iid}/desk-payments", {"method": "cash", "amount_fen": due})
    assert again.status == 409 and "paid" in again.body["detail"]

    # pharmacy heard of it; a late choice changes nothing
    wait_until(lambda: patient.api.get(f"/v1/dispensing-orders/{order['id']}")["status"] != "awaiting_payment",
               what="pharmacy to hear of the payment")
    assert patient.api.get(f"/v1/invoices/{iid}")["status"] == "paid"

    # the patient cancels the paid order: pharmacy asks for the whole payment back, payments records it
    patient.api.post(f"/v1/dispensing-orders/{order['id']}/cancel", {"reason": "patient_request"})
    refunded = wait_until(lambda: patient.api.get(f"/v1/invoices/{iid}")["refunds"], what="the refund request")
    assert [(r["status"], r["amount_fen"], r["order_id"]) for r in refunded] == [("requested", due, order["id"])]

    # payments' events about it, in order within the invoice, carry ids, codes and amounts only
    events = list(stack.db("payments")["outbox"].find({"subject": iid}).sort("sequence", 1))
    assert [(e["type"], e["sequence"]) for e in events] == [("invoice_issued", 1), ("invoice_issued", 2),
                                                            ("payment_succeeded", 3), ("refund_recorded", 4)]
    assert events[2]["envelope"]["data"]["method"] == "card" and events[2]["envelope"]["actorrole"] == "finance"
    assert events[3]["envelope"]["data"]["status"] == "requested"
    assert not any(text in str(e["envelope"]) for e in events for text in ("王芳", "13812345678", "宛平南路"))

    # the ledger: each change posted in its own transaction by the running service; what is owed, received, owed back
    postings = {d["posting_id"].removeprefix(iid) for d in stack.db("payments")["ledger_entries"].find(
        {"invoice_id": iid, "line": 0})}
    assert postings == {".issue.1", ".issue.1.reversal", ".issue.2", f".payment.{paid.body['payment']['id']}",
                        f".refund.{refunded[0]['id']}"}
    ledger = LedgerStore(Store(stack.db("payments")))
    assert {a.value: ledger_usecases.balance(ledger, a, iid) for a in Account} == {
        "patient_receivable": 0, "insurance_receivable": 0, "cash_on_hand": 0, "card_clearing": due,
        "provider_clearing": 0, "revenue": 0, "refunds_payable": due}
