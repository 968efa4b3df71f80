"""Dispensing orders: Nameko adapters over ``usecases``. A prescription that took effect becomes an order once records
confirms it (``dispensing_facts``, asked at that moment); records' other prescription events and payments'
``payment_succeeded`` feed the order and the prescription's trace."""
from __future__ import annotations

import base64

from contracts.payments.events import PaymentSucceeded
from contracts.pharmacy.dispensing import (
    DispenseRequest,
    DispensingOrder,
    FulfilmentRequest,
    HandOverRequest,
    OrderCancelRequest,
    OrderQuery,
    PickLine,
    PrescriptionTrace,
    ReturnRequest,
)
from contracts.records.events import (
    PrescriptionLapsed,
    PrescriptionRejected,
    PrescriptionReviewed,
    PrescriptionSigned,
    PrescriptionTookEffect,
)
from contracts.records.prescriptions import DispensingFacts
from services.pharmacy.orders import usecases
from services.pharmacy.orders.store import OrderStore
from services.pharmacy.shipping import usecases as shipping
from services.pharmacy.shipping.store import ShippingStore
from services.pharmacy.stock.store import StockStore
from wenzhen.auth import Caller
from wenzhen.consumer import consumes
from wenzhen.events import Envelope
from wenzhen.service import ServiceRpc, call, rpc
from wenzhen.storage import Tx
from wenzhen.timez import parse_iso, utcnow

PAYMENTS = Caller.service("payments")  # the actor of a payment's effects in the trace


class OrderEntrypoints:
    records = ServiceRpc("records")

    @property
    def orders(self) -> OrderStore:
        return OrderStore(self.store)

    @property
    def stock(self) -> StockStore:
        return StockStore(self.store)

    # records' prescriptions --------------------------------------------------------------------------------------
    @consumes(PrescriptionTookEffect)
    def on_prescription_took_effect(self, tx: Tx, event: PrescriptionTookEffect, envelope: Envelope) -> None:
        at = parse_iso(envelope.time)
        usecases.trace_prescription_step(self.orders, tx, event.prescription_id, event.patient_id, "took_effect", at,
                                         "pharmacist", event.reviewer_id)
        facts = DispensingFacts.model_validate(call(self.records.dispensing_facts, event.prescription_id))
        usecases.create_from_prescription(self.orders, tx, self.caller, facts, self.settings.policy, utcnow())

    @consumes(PrescriptionSigned)
    def on_prescription_signed(self, tx: Tx, event: PrescriptionSigned, envelope: Envelope) -> None:
        usecases.trace_prescription_step(self.orders, tx, event.prescription_id, event.patient_id, "signed",
                                         parse_iso(envelope.time), "doctor", event.doctor_id)

    @consumes(PrescriptionReviewed)
    def on_prescription_reviewed(self, tx: Tx, event: PrescriptionReviewed, envelope: Envelope) -> None:
        usecases.trace_prescription_step(self.orders, tx, event.prescription_id, event.patient_id, "reviewed",
                                         parse_iso(envelope.time), "pharmacist", event.reviewer_id, event.outcome)

    @consumes(PrescriptionRejected)
    def on_prescription_rejected(self, tx: Tx, event: PrescriptionRejected, envelope: Envelope) -> None:
        usecases.trace_prescription_step(self.orders, tx, event.prescription_id, event.patient_id, "rejected",
                                         parse_iso(envelope.time), "pharmacist", event.reviewer_id, event.reason)

    @consumes(PrescriptionLapsed)
    def on_prescription_lapsed(self, tx: Tx, event: PrescriptionLapsed, envelope: Envelope) -> None:
        usecases.trace_prescription_step(self.orders, tx, event.prescription_id, event.patient_id, "lapsed",
                                         parse_iso(envelope.time), "system", None)

    # payments ----------------------------------------------------------------------------------------------------
    @consumes(PaymentSucceeded)
    def on_payment_succeeded(self, tx: Tx, event: PaymentSucceeded, envelope: Envelope) -> None:
        if event.purpose == "dispensing_order":
            usecases.paid(self.orders, self.stock, tx, PAYMENTS, event, self.settings.policy, utcnow())

    # the patient -------------------------------------------------------------------------------------------------
    @rpc
    def get_order(self, order_id: str) -> DispensingOrder:
        return usecases.get(self.orders, self.caller, order_id)

    @rpc
    def list_orders(self, query: OrderQuery) -> list[DispensingOrder]:
        return usecases.list_orders(self.orders, self.caller, query)

    @rpc
    def choose_fulfilment(self, order_id: str, request: FulfilmentRequest) -> DispensingOrder:
        return usecases.choose_fulfilment(self.orders, self.stock, self.caller, order_id, request,
                                          self.settings.policy, utcnow())

    @rpc
    def confirm_receipt(self, order_id: str) -> DispensingOrder:
        return usecases.confirm_receipt(self.orders, self.caller, order_id, utcnow())

    @rpc
    def cancel_order(self, order_id: str, request: OrderCancelRequest) -> DispensingOrder:
        return usecases.cancel(self.orders, self.stock, self.caller, order_id, request, utcnow())

    @rpc
    def pickup_code_image(self, order_id: str) -> dict:
        return {"svg_b64": base64.b64encode(usecases.pickup_code_image(self.orders, self.caller, order_id)).decode()}

    # the pharmacist ----------------------------------------------------------------------------------------------
    @rpc
    def reserve_order(self, order_id: str) -> DispensingOrder:
        return usecases.reserve_again(self.orders, self.stock, self.caller, order_id, self.settings.policy, utcnow())

    @rpc
    def start_dispensing(self, order_id: str) -> DispensingOrder:
        return usecases.start(self.orders, self.caller, order_id, utcnow())

    @rpc
    def pick_list(self, order_id: str) -> list[PickLine]:
        return usecases.pick_list(self.orders, self.stock, self.caller, order_id, utcnow())

    @rpc
    def dispense(self, order_id: str, request: DispenseRequest) -> DispensingOrder:
        now = utcnow()
        shipments = ShippingStore(self.store)
        return usecases.dispense(self.orders, self.stock, self.caller, order_id, request,
                                 lambda tx, order: shipping.request_shipment(shipments, tx, order, now),
                                 self.settings.policy, now)

    @rpc
    def hand_over(self, order_id: str, request: HandOverRequest) -> DispensingOrder:
        return usecases.hand_over(self.orders, self.caller, order_id, request, utcnow())

    @rpc
    def return_order(self, order_id: str, request: ReturnRequest) -> DispensingOrder:
        return usecases.return_order(self.orders, self.caller, order_id, request, utcnow())

    @rpc
    def shipping_label(self, order_id: str) -> dict:
        pdf = usecases.shipping_label(self.orders, self.stock, self.caller, order_id, utcnow())
        return {"pdf_b64": base64.b64encode(pdf).decode()}

    @rpc
    def prescription_trace(self, prescription_id: str) -> PrescriptionTrace:
        return usecases.trace(self.orders, self.caller, prescription_id)
