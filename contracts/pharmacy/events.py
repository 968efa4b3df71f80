"""Events pharmacy publishes (exchange ``pharmacy.events``).

They let payments invoice a dispensing order (``fulfilment_chosen`` with ``amount_fen``) and refund it
(``refund_requested``), notify tell the patient where their medicine is, reports measure lead times, and a
regulator's feed follow each prescription to the patient's hands. They carry identifiers, codes, counts, lot numbers
and times: never a name, an address, a phone number or a drug's name. Times are UTC, ISO 8601.

Order events have the order id as subject (in order per order); stock events ``<location>:<drug code>``.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from wenzhen.events import EventData


class _Pharmacy(EventData):
    source = "pharmacy"


class _Order(_Pharmacy):
    order_id: str
    prescription_id: str
    patient_id: str


class DispensingOrderCreated(_Order):
    """A prescription took effect: its dispensing order waits for the patient's choice of delivery or pickup and
    for payment. Nothing is dispensed before (no medicine before prescription)."""

    type = "dispensing_order_created"
    items: int
    total_fen: int = Field(description="The drugs' price (integer fen, CNY)")
    valid_until: str = Field(description="Dispense before this (UTC): the prescription's validity")
    delivery_allowed: bool = Field(description="False when a cold-chain or restricted item makes it pickup-only")


class FulfilmentChosen(_Order):
    """The patient chose courier delivery or pickup at a named pharmacy; ``amount_fen`` is what the order costs
    (the drugs and any delivery fee). Sent again when the patient changes their choice before paying; payments
    invoices the latest."""

    type = "fulfilment_chosen"
    method: str = Field(description="delivery or pickup")
    location: str = Field(description="The pharmacy that dispenses it (code)")
    total_fen: int = Field(description="The drugs' price (integer fen)")
    delivery_fee_fen: int = Field(description="0 for pickup")
    amount_fen: int = Field(description="total_fen + delivery_fee_fen")
    choice: int = Field(description="1 for the first choice, then 2, 3… (payments invoices the highest)")


class OrderPaid(_Order):
    """Payments settled the order's invoice. ``reserved`` says whether its stock was reserved at once; when it was
    not (a shortage), a pharmacist reserves it when stock arrives, or cancels the order with a refund."""

    type = "order_paid"
    invoice_id: str
    amount_fen: int
    location: str
    reserved: bool


class StockReservedForOrder(_Order):
    """Stock for a paid order was reserved later than its payment (it was short then)."""

    type = "stock_reserved_for_order"
    location: str


class DispensingStarted(_Order):
    """A pharmacist took the order from the dispensing queue."""

    type = "dispensing_started"
    pharmacist_id: str = Field(description="The pharmacist's staff account id")
    location: str


class PickedLot(BaseModel):
    drug_code: str = Field(description="The product dispensed")
    prescribed_code: str = Field(description="The product prescribed (differs for a substitution)")
    lot_no: str
    expiry: str = Field(description="The lot's expiry date (ISO 8601 date)")
    quantity: int


class OrderDispensed(_Order):
    """A pharmacist dispensed it: which lots, how many; substitutions carry a recorded reason (kept by pharmacy)."""

    type = "order_dispensed"
    pharmacist_id: str = Field(description="The pharmacist's staff account id")
    location: str
    method: str = Field(description="delivery (a shipment request follows) or pickup (ready for pickup)")
    lots: list[PickedLot]
    substitutions: int = Field(description="Items dispensed as an equivalent product")


class OrderShipped(_Order):
    """The courier accepted the shipment and gave its waybill number."""

    type = "order_shipped"
    waybill: str
    courier: str = Field(description="The courier's code (sf: SF Express, or its sandbox)")
    attempts: int = Field(description="Requests it took (more than 1 when the courier was unavailable)")


class ShipmentProgressed(_Order):
    """A step of the shipment's route, as the courier reported it (and, when unverified, confirmed by querying)."""

    type = "shipment_progressed"
    waybill: str
    op_code: str = Field(description="The courier's operation code: 50 picked up, 30 in transit, 44 out for "
                                     "delivery, 80 delivered, 33 delivery failed, 99 returned")
    at: str = Field(description="When the courier recorded it (UTC)")


class OrderDelivered(_Order):
    """The medicine reached the patient (the courier's proof of delivery, or the patient confirmed receipt)."""

    type = "order_delivered"
    waybill: str
    by: str = Field(description="courier or patient")


class OrderReadyForPickup(_Order):
    """Dispensed and waiting at the pharmacy; the patient shows their pickup code."""

    type = "order_ready_for_pickup"
    location: str


class OrderPickedUp(_Order):
    """The patient collected it: a pharmacist checked the pickup code and handed it over."""

    type = "order_picked_up"
    location: str
    pharmacist_id: str = Field(description="The pharmacist's staff account id")


class OrderCancelled(_Order):
    """Cancelled before it was dispensed; stock reserved for it is released. A paid order is refunded in full
    (a ``refund_requested`` in the same transaction)."""

    type = "order_cancelled"
    by: str = Field(description="patient, pharmacist or expiry (its prescription's validity ended)")
    reason: str = Field(description="A code: patient_request, out_of_stock, prescription_expired, "
                                    "not_collected or other")
    was_paid: bool


class OrderReturned(_Order):
    """The medicine came back (the courier returned it, or a pharmacist took it back); a refund is requested."""

    type = "order_returned"
    by: str = Field(description="courier or pharmacist")
    reason: str = Field(description="A code: undeliverable, refused, not_collected, damaged or other")


class RefundRequested(_Order):
    """Pharmacy asks payments to refund a paid order (cancelled or returned)."""

    type = "refund_requested"
    invoice_id: str
    amount_fen: int = Field(description="How much to refund (integer fen): the whole payment")
    reason: str = Field(description="cancelled or returned")


class _Stock(_Pharmacy):
    location: str = Field(description="The pharmacy (code)")
    drug_code: str


class LotReceived(_Stock):
    """A lot arrived at a pharmacy."""

    type = "lot_received"
    lot_no: str
    expiry: str = Field(description="ISO 8601 date")
    quantity: int
    on_hand: int = Field(description="Units on hand after it, all lots")


class StockLow(_Stock):
    """Units free for new orders fell below the pharmacy's threshold (or an order could not be reserved)."""

    type = "stock_low"
    available: int = Field(description="Units on hand and not reserved")
    threshold: int
