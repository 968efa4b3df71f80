"""Step 6 of ``make demo``: the prescription approved in step 5 reaches the patient. A pharmacist receives a lot,
records the patient's choice of courier delivery (on the phone), the cashier takes the payment at the desk, the
pharmacist dispenses from the first-expiring lot and prints the label, the sandbox courier picks the parcel up and
pushes its route until delivered, and the prescription's whole path is read back as one trace. Fresh staff and a
lot of this run's own, so it works on a system already in use."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests

from deploy.demo import Actor, Journey, StepFailed, detail, heading, new_staff, note
from wenzhen.timez import hospital_zone


@dataclass
class PharmacyOutcome:
    order_id: str
    waybill: str
    amount_fen: int
    trace_steps: int


def wait_for(journey: Journey, actor: Actor, path: str, ready, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        found = journey.as_(actor).get(path)
        if ready(found):
            return found
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.5)


def pharmacy_journey(journey: Journey, admin: Actor, patient_id: str, prescription_id: str) -> PharmacyOutcome:
    heading("6", "The medicine: delivery chosen, paid at the desk, dispensed by lot, the courier, the trace")
    run = journey.run
    pharmacist = new_staff(journey, admin, "pharmacist", {
        "username": f"dispense.{run}", "name": "周药师", "role": "pharmacist", "department": "pharmacy",
        "title": "主管药师", "licence_number": f"PD{run[:6]}02", "practising_since": "2014-09-01"})
    cashier = new_staff(journey, admin, "finance", {"username": f"cash.{run}", "name": "收费处", "role": "finance",
                                                    "department": "finance"})
    today = datetime.now(hospital_zone()).date()

    note("a lot of amlodipine arrives at the courier pharmacy (its lot number and expiry are kept)")
    journey.step(pharmacist, "POST", "/v1/pharmacies/central/lots", {
        "drug_code": "AML-5-TAB", "lot_no": f"D{run}"[:32], "expiry": (today + timedelta(days=90)).isoformat(),
        "quantity": 30}, expect=201, show=lambda b: f"{b['drug_code']} at {b['location']}: {b['available']} free of "
                                                    f"{b['on_hand']}, {len(b['lots'])} lots")

    note("pharmacy made a dispensing order when the prescription took effect (never before)")
    orders = wait_for(journey, pharmacist, f"/v1/dispensing-orders?patient_id={patient_id}",
                      lambda found: any(o["prescription_id"] == prescription_id for o in found),
                      "the dispensing order")
    order = next(o for o in orders if o["prescription_id"] == prescription_id)
    oid = order["id"]
    detail(f"{oid}: {order['status']}, {len(order['items'])} item(s), {order['total_fen'] / 100:.2f} yuan, "
           f"delivery {'allowed' if order['delivery_allowed'] else 'not allowed'}")
    journey.step(pharmacist, "POST", f"/v1/dispensing-orders/{oid}/start", expect=409,
                 show=lambda b: f"refused before payment: {b['detail']}")

    note("the patient asks, on the phone, for delivery tomorrow evening; the pharmacist records it")
    chosen = journey.step(pharmacist, "PUT", f"/v1/dispensing-orders/{oid}/fulfilment", {
        "method": "delivery", "delivery": {"recipient": "张秀英", "phone": "13800138000", "city": "上海市徐汇区",
                                           "address": "漕溪北路 18 号 3 号楼 502 室",
                                           "day": (today + timedelta(days=1)).isoformat(), "window": "evening"}},
        show=lambda b: f"delivery from {b['location']}: {b['total_fen'] / 100:.2f} + {b['delivery_fee_fen'] / 100:.2f}"
                       f" delivery = {b['amount_fen'] / 100:.2f} yuan")

    note("payments issued the invoice from that choice; the cashier takes the payment by card")
    invoice = wait_for(journey, cashier, f"/v1/invoices?patient_id={patient_id}",
                       lambda found: any(i["reference"] == oid and i["status"] == "open" for i in found),
                       "the invoice")
    invoice = next(i for i in invoice if i["reference"] == oid and i["status"] == "open")
    journey.step(cashier, "POST", f"/v1/invoices/{invoice['id']}/desk-payments",
                 {"method": "card", "amount_fen": invoice["amount_fen"], "reference": f"POS-{run}"}, expect=201,
                 show=lambda b: f"{b['id']} {b['status']}, {b['amount_fen'] / 100:.2f} yuan")
    paid = wait_for(journey, pharmacist, f"/v1/dispensing-orders/{oid}", lambda o: o["status"] == "paid",
                    "the payment to reach pharmacy")
    detail(f"paid; stock reserved: {paid['reserved']}")

    note("the pharmacist takes it from the queue and dispenses the first-expiring lot")
    journey.step(pharmacist, "POST", f"/v1/dispensing-orders/{oid}/start", show=lambda b: b["status"])
    journey.step(pharmacist, "GET", f"/v1/dispensing-orders/{oid}/pick-list",
                 show=lambda b: "; ".join(f"{line['prescribed_code']} × {line['quantity']} from "
                                          + ", ".join(f"{lot['lot_no']} (exp. {lot['expiry']})" for lot in line["lots"])
                                          for line in b))
    journey.step(pharmacist, "POST", f"/v1/dispensing-orders/{oid}/dispense", {},
                 show=lambda b: f"{b['status']}; " + ", ".join(f"{p['drug_code']} lot {p['lot_no']} × {p['quantity']}"
                                                              for p in b["picks"]))

    note("the courier's shipment is requested from pharmacy's outbox; the waybill comes back, the label is printed")
    shipped = wait_for(journey, pharmacist, f"/v1/dispensing-orders/{oid}", lambda o: o["waybill"],
                       "the courier's waybill")
    label = requests.get(f"{journey.api.base}/v1/dispensing-orders/{oid}/label.pdf", timeout=10,
                         headers={"Authorization": f"Bearer {journey.as_(pharmacist).token}"})
    if label.status_code != 200 or not label.content.startswith(b"%PDF"):
        raise StepFailed(f"the shipping label: {label.status_code}")
    detail(f"waybill {shipped['waybill']}; label {len(label.content):,} bytes of PDF (recipient and pharmacy, no "
           "medicine named)")

    note("the sandbox courier picks it up and pushes each step of the route (signed) until it is delivered")
    delivered = wait_for(journey, pharmacist, f"/v1/dispensing-orders/{oid}", lambda o: o["status"] == "delivered",
                         "delivery", timeout=90)
    detail("route: " + " → ".join(f"{s['op_code']} {s['at'][11:19]}" for s in delivered["route"]))

    trace = journey.step(pharmacist, "GET", f"/v1/prescriptions/{prescription_id}/trace",
                         show=lambda b: f"{len(b['steps'])} steps")
    detail(*[f"{s['at'][:19]}Z {s['step']:<18} {s['actor_role']}"
             + (f"  lot {s['lots'][0]['lot_no']}" if s["lots"] else "")
             + (f"  waybill {s['waybill']}" if s["waybill"] else "") for s in trace["steps"]])
    return PharmacyOutcome(oid, shipped["waybill"], chosen["amount_fen"], len(trace["steps"]))
