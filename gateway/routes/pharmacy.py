"""Pharmacy: dispensing orders from prescriptions that took effect, the hospital's pharmacies and their stock, courier
delivery and pickup, and each prescription's trace.

A patient chooses courier delivery or pickup for an order, pays its invoice (payments), follows it and confirms
receipt; a pharmacist takes paid orders from the dispensing queue, dispenses from lots (first expiry first out, or an
equivalent product with a recorded reason), prints the shipping label or hands the medicine over against the
patient's pickup code. The courier pushes the route of each parcel to `/v1/courier/route-pushes`.
"""
from __future__ import annotations

import base64

from contracts.pharmacy.courier import CourierPush, CourierPushAnswer
from contracts.pharmacy.dispensing import (
    DispenseRequest,
    DispensingOrder,
    FulfilmentRequest,
    HandOverRequest,
    LotInput,
    OrderCancelRequest,
    OrderQuery,
    Pharmacy,
    PickLine,
    PrescriptionTrace,
    ReturnRequest,
    StockLine,
)
from gateway.api import Call, Reply
from gateway.app_api import api
from gateway.auth import PUBLIC
from wenzhen.auth import Role

TAGS = ["pharmacy"]
STOCK = ["pharmacy stock"]
PATIENTS = {Role.patient}
PHARMACISTS = {Role.pharmacist}
BOTH = {Role.patient, Role.pharmacist}
NOT_YOURS = "No such dispensing order, or not one the caller may see (the two are not told apart)."
STATE = "The order is not in a state that allows this (the detail names its state)."


# pharmacies and stock -------------------------------------------------------------------------------------------------
@api.route("GET", "/v1/pharmacies", summary="The hospital's pharmacies", tags=STOCK, allow=set(Role) - {Role.visitor},
           response=list[Pharmacy])
def list_pharmacies(call: Call) -> list:
    """Where medicine can be collected (with opening hours), and which one ships by courier."""
    return call.rpc("pharmacy", "list_pharmacies")


@api.route("GET", "/v1/pharmacies/{location}/stock", summary="A pharmacy's stock", tags=STOCK,
           allow={Role.pharmacist, Role.manager}, response=list[StockLine], errors={404: "No such pharmacy."})
def list_stock(call: Call, location: str) -> list:
    """Units on hand, reserved for paid orders and free, by product, with their lots (audited)."""
    return call.rpc("pharmacy", "list_stock", location)


@api.route("POST", "/v1/pharmacies/{location}/lots", summary="Receive a lot", tags=STOCK, allow=PHARMACISTS,
           request=LotInput, response=StockLine, status=201,
           errors={404: "No such pharmacy.", 409: "This lot of this product was received here already.",
                   422: "Not a drug of the formulary, or the lot has expired."})
def receive_lot(call: Call, location: str) -> Reply:
    """A batch arrives: its lot number, expiry and units join the pharmacy's stock."""
    return Reply(call.rpc("pharmacy", "receive_lot", location, call.body.model_dump(mode="json")), 201)


# orders -------------------------------------------------------------------------------------------------------------
@api.route("GET", "/v1/dispensing-orders", summary="List dispensing orders", tags=TAGS, allow=BOTH, query=OrderQuery,
           response=list[DispensingOrder],
           errors={403: "A patient names a record they act for.",
                   422: "A pharmacist names a patient or a status (`status=paid` is the dispensing queue)."})
def list_dispensing_orders(call: Call) -> list:
    """Patients: a record's orders, newest first. Pharmacists: a status queue, oldest first (or a patient's orders).
    Each order listed is an audited read."""
    return call.rpc("pharmacy", "list_orders", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/dispensing-orders/{order_id}", summary="Track a dispensing order", tags=TAGS, allow=BOTH,
           response=DispensingOrder, errors={404: NOT_YOURS})
def get_dispensing_order(call: Call, order_id: str) -> dict:
    """Its status history, the courier's route, and — for the patient, once ready — the pickup code."""
    return call.rpc("pharmacy", "get_order", order_id)


@api.route("PUT", "/v1/dispensing-orders/{order_id}/fulfilment", summary="Choose delivery or pickup", tags=TAGS,
           allow=BOTH, request=FulfilmentRequest, response=DispensingOrder,
           errors={404: NOT_YOURS,
                   409: "Paid or ended already, or the prescription's validity ended.",
                   422: "Pickup-only items, an unknown pharmacy, a missing address or a day out of range."})
def choose_fulfilment(call: Call, order_id: str) -> dict:
    """Before paying: courier delivery (address, phone, day and window; a delivery fee) or pickup at a named
    pharmacy. The patient chooses, or a pharmacist records the patient's choice (on the phone, at the counter).
    Payments issues (or re-issues) the invoice for the amount shown."""
    return call.rpc("pharmacy", "choose_fulfilment", order_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/dispensing-orders/{order_id}/cancel", summary="Cancel a dispensing order", tags=TAGS,
           allow=BOTH, request=OrderCancelRequest, response=DispensingOrder,
           errors={403: "Only the patient, or a pharmacist.", 404: NOT_YOURS, 409: STATE})
def cancel_order(call: Call, order_id: str) -> dict:
    """Before anything is dispensed (the patient: before dispensing starts). Reserved stock is released; a paid order
    is refunded in full."""
    return call.rpc("pharmacy", "cancel_order", order_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/dispensing-orders/{order_id}/receipt", summary="Confirm receipt", tags=TAGS, allow=PATIENTS,
           response=DispensingOrder,
           errors={403: "Only the patient (or an account acting for them).", 404: NOT_YOURS, 409: STATE})
def confirm_receipt(call: Call, order_id: str) -> dict:
    """The parcel arrived (before the courier's proof of delivery reached us)."""
    return call.rpc("pharmacy", "confirm_receipt", order_id)


@api.route("GET", "/v1/dispensing-orders/{order_id}/pickup-code.svg", summary="The pickup code as a QR code",
           tags=TAGS, allow=PATIENTS, errors={403: "Only the patient.", 404: NOT_YOURS, 409: "Not ready for pickup."},
           media_types=("image/svg+xml",))
def pickup_code(call: Call, order_id: str) -> Reply:
    """To show at the pharmacy's counter (audited)."""
    image = call.rpc("pharmacy", "pickup_code_image", order_id)
    return Reply(base64.b64decode(image["svg_b64"]), 200, {"Content-Type": "image/svg+xml",
                                                           "Cache-Control": "no-store"})


# the pharmacist -------------------------------------------------------------------------------------------------------
@api.route("POST", "/v1/dispensing-orders/{order_id}/reserve", summary="Reserve a paid order's stock", tags=TAGS,
           allow=PHARMACISTS, response=DispensingOrder, errors={404: NOT_YOURS, 409: "Not a paid order without a "
                                                                                     "reservation, or still short."})
def reserve_order(call: Call, order_id: str) -> dict:
    """After a shortage at payment: once a lot arrived."""
    return call.rpc("pharmacy", "reserve_order", order_id)


@api.route("POST", "/v1/dispensing-orders/{order_id}/start", summary="Take an order from the dispensing queue",
           tags=TAGS, allow=PHARMACISTS, response=DispensingOrder,
           errors={404: NOT_YOURS, 409: "Not paid, not reserved, or the prescription's validity ended."})
def start_dispensing(call: Call, order_id: str) -> dict:
    return call.rpc("pharmacy", "start_dispensing", order_id)


@api.route("GET", "/v1/dispensing-orders/{order_id}/pick-list", summary="Which lots to take", tags=TAGS,
           allow=PHARMACISTS, response=list[PickLine],
           errors={404: NOT_YOURS, 409: "Delivery or pickup not chosen yet."})
def pick_list(call: Call, order_id: str) -> list:
    """First expiry first out, from unexpired lots; `short` says what they cannot cover."""
    return call.rpc("pharmacy", "pick_list", order_id)


@api.route("POST", "/v1/dispensing-orders/{order_id}/dispense", summary="Dispense an order", tags=TAGS,
           allow=PHARMACISTS, request=DispenseRequest, response=DispensingOrder,
           errors={404: NOT_YOURS, 409: "Not started, dispensed already, expired, or a lot does not hold the units.",
                   422: "A pick names another item, a wrong quantity, or a substitute that is not equivalent or has "
                        "no reason."})
def dispense(call: Call, order_id: str) -> dict:
    """Take the units from lots (the pick list's suggestion unless `picks` are given). Delivery: the courier's
    shipment is requested (a waybill follows); pickup: ready, with a pickup code for the patient."""
    return call.rpc("pharmacy", "dispense", order_id, call.body.model_dump(mode="json"))


@api.route("GET", "/v1/dispensing-orders/{order_id}/label.pdf", summary="Print the shipping label", tags=TAGS,
           allow=PHARMACISTS, errors={404: NOT_YOURS, 409: "Not a delivery being dispensed or shipped."},
           media_types=("application/pdf",))
def shipping_label(call: Call, order_id: str) -> Reply:
    """100 × 150 mm, with the waybill's barcode: the recipient and the pharmacy, never a medicine (audited)."""
    label = call.rpc("pharmacy", "shipping_label", order_id)
    return Reply(base64.b64decode(label["pdf_b64"]), 200, {
        "Content-Type": "application/pdf", "Content-Disposition": f'inline; filename="label-{order_id}.pdf"'})


@api.route("POST", "/v1/dispensing-orders/{order_id}/hand-over", summary="Hand the medicine over at the counter",
           tags=TAGS, allow=PHARMACISTS, request=HandOverRequest, response=DispensingOrder,
           errors={404: NOT_YOURS, 409: "Not ready for pickup, or locked after too many wrong codes.",
                   422: "The pickup code does not match."})
def hand_over(call: Call, order_id: str) -> dict:
    return call.rpc("pharmacy", "hand_over", order_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/dispensing-orders/{order_id}/return", summary="Record a return", tags=TAGS,
           allow=PHARMACISTS, request=ReturnRequest, response=DispensingOrder, errors={404: NOT_YOURS, 409: STATE})
def return_order(call: Call, order_id: str) -> dict:
    """Not collected, refused or damaged: a paid order is refunded; the medicine does not go back into stock."""
    return call.rpc("pharmacy", "return_order", order_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/dispensing-orders/{order_id}/shipment/retry", summary="Send a refused shipment again",
           tags=TAGS, allow=PHARMACISTS, response=DispensingOrder,
           errors={404: NOT_YOURS, 409: "The courier has not refused this shipment."})
def retry_shipment(call: Call, order_id: str) -> dict:
    return call.rpc("pharmacy", "retry_shipment", order_id)


@api.route("GET", "/v1/prescriptions/{prescription_id}/trace", summary="The path of a prescription", tags=TAGS,
           allow={Role.pharmacist, Role.manager}, response=PrescriptionTrace,
           errors={404: "No trace of that prescription."})
def prescription_trace(call: Call, prescription_id: str) -> dict:
    """Signed, reviewed, took effect, paid, dispensed (who, which lots), shipped, delivered or picked up: one query,
    in time order, as a regulator's data interface reads it (互联网诊疗管理办法 art. 24). Audited."""
    return call.rpc("pharmacy", "prescription_trace", prescription_id)


# the courier ----------------------------------------------------------------------------------------------------------
@api.route("POST", "/v1/courier/route-pushes", summary="The courier's route push", tags=["courier"], allow=PUBLIC,
           request=CourierPush, response=CourierPushAnswer)
def route_push(call: Call) -> dict:
    """Answered at once. A push signed with our check word is applied (duplicates and late steps are harmless); one
    that cannot be verified is not believed: the loop asks the courier for that waybill's route instead."""
    return call.rpc("pharmacy", "receive_route_push", call.body.model_dump(mode="json"))
