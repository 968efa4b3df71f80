"""Dispensing orders, pharmacies and their stock: request and response models (pharmacy's RPCs and the gateway's
routes).

A dispensing order exists only for a prescription that took effect (a pharmacist approved it): no medicine before
prescription. The patient chooses courier delivery or pickup at a named pharmacy, pays, and follows it to their
hands; pharmacists dispense from lots, first expiry first out. Times in answers are local ISO 8601 (Asia/Shanghai);
money is integer fen (CNY).
"""
from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from contracts.records.codes import DrugCategory, DrugCode
from wenzhen.fields import Mobile, PersonName, Strict, printable

PharmacyCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,31}$", description="A pharmacy's code.",
                                    examples=["central"])]
LotNo = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", description="The maker's lot (batch) "
                                                                                      "number.",
                             examples=["B2406118"])]
PickupCode = Annotated[str, Field(pattern=r"^\d{6}$", description="The 6 digits the patient shows (or their QR code).",
                                  examples=["402913"])]
Reason = Annotated[str, Field(min_length=2, max_length=200), AfterValidator(printable)]


class FulfilmentMethod(StrEnum):
    delivery = "delivery"  # by courier to the patient's address
    pickup = "pickup"  # collected at a named pharmacy


class DeliveryWindow(StrEnum):
    morning = "morning"  # 09:00–12:00
    afternoon = "afternoon"  # 12:00–18:00
    evening = "evening"  # 18:00–21:00


class DispensingStatus(StrEnum):
    awaiting_payment = "awaiting_payment"
    paid = "paid"
    dispensing = "dispensing"
    shipped = "shipped"
    delivered = "delivered"
    ready_for_pickup = "ready_for_pickup"
    picked_up = "picked_up"
    cancelled = "cancelled"
    returned = "returned"


class CancelReason(StrEnum):
    patient_request = "patient_request"
    out_of_stock = "out_of_stock"
    prescription_expired = "prescription_expired"
    other = "other"


class ReturnReason(StrEnum):
    undeliverable = "undeliverable"
    refused = "refused"
    not_collected = "not_collected"
    damaged = "damaged"
    other = "other"


# the patient's choice ------------------------------------------------------------------------------------------------
class Delivery(Strict):
    """Where and when the courier brings it (kept encrypted; shown to the patient and on the pharmacist's label)."""

    recipient: PersonName
    phone: Mobile
    city: Annotated[str, Field(min_length=2, max_length=40), AfterValidator(printable)] = Field(
        description="City (and district), e.g. 上海市浦东新区.")
    address: Annotated[str, Field(min_length=4, max_length=200), AfterValidator(printable)] = Field(
        description="Street, building and room.")
    day: date = Field(description="The day the patient wants it (local date): today or within 7 days.")
    window: DeliveryWindow


class FulfilmentRequest(Strict):
    method: FulfilmentMethod
    location: PharmacyCode | None = Field(default=None, description="Pickup: the pharmacy to collect it from "
                                                                     "(required). Delivery: left out, the pharmacy "
                                                                     "that dispatches by courier.")
    delivery: Delivery | None = Field(default=None, description="Required for delivery, refused for pickup.")


# the order -----------------------------------------------------------------------------------------------------------
class OrderItem(BaseModel):
    drug_code: str
    name: str
    strength: str
    form: str
    unit: str
    quantity: int
    price_fen: int
    categories: list[DrugCategory]


class Pick(BaseModel):
    prescribed_code: str
    drug_code: str = Field(description="What was dispensed: differs from the prescribed for a substitution.")
    lot_no: str
    expiry: date
    quantity: int
    substitution_reason: str | None = None


class StatusStep(BaseModel):
    status: DispensingStatus
    at: str
    by: str = Field(description="The role that moved it (patient, pharmacist, payments, courier, system).")


class RouteStep(BaseModel):
    op_code: str = Field(description="50 picked up, 30 in transit, 44 out for delivery, 80 delivered, "
                                     "33 delivery failed, 99 returned")
    at: str
    place: str | None = None


class DispensingOrder(BaseModel):
    id: str
    prescription_id: str
    patient_id: str
    status: DispensingStatus
    items: list[OrderItem]
    total_fen: int = Field(description="The drugs' price (integer fen).")
    delivery_fee_fen: int
    amount_fen: int = Field(description="What the patient pays: total_fen + delivery_fee_fen.")
    delivery_allowed: bool = Field(description="False: a cold-chain or restricted item makes it pickup-only.")
    method: FulfilmentMethod | None = None
    location: str | None = Field(default=None, description="The pharmacy that dispenses it.")
    delivery: Delivery | None = None
    valid_until: str = Field(description="Dispense before this (the prescription's validity).")
    reserved: bool = Field(description="Its stock is reserved (from payment until dispensed).")
    invoice_id: str | None = None
    waybill: str | None = None
    shipment_problem: str | None = Field(default=None, description="The courier's last refusal or failure, if any.")
    pickup_code: str | None = Field(default=None, description="The patient only, once it is ready for pickup.")
    picks: list[Pick] = []
    history: list[StatusStep]
    route: list[RouteStep] = Field(default=[], description="The courier's steps, in the courier's time order.")
    created_at: str


class OrderQuery(Strict):
    patient_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")] | None = Field(
        default=None, description="Patients: a record they act for (required for them).")
    status: DispensingStatus | None = Field(default=None, description="Pharmacists: `paid` is the dispensing queue "
                                                                 "(oldest first).")
    location: PharmacyCode | None = None
    limit: int = Field(default=50, ge=1, le=200)


class PickRequest(Strict):
    prescribed_code: DrugCode = Field(description="The item of the order it dispenses.")
    drug_code: DrugCode | None = Field(default=None, description="Another product to dispense instead (same "
                                                                 "ingredient, strength and form); needs a reason.")
    lot_no: LotNo
    quantity: int = Field(ge=1, le=999)
    reason: Reason | None = Field(default=None, description="Why a substitute was dispensed (recorded).")


class DispenseRequest(Strict):
    picks: list[PickRequest] | None = Field(default=None, max_length=20,
                                            description="The lots taken for each item; left out, the pick list's "
                                                        "first-expiry-first-out suggestion.")


class HandOverRequest(Strict):
    pickup_code: PickupCode


class OrderCancelRequest(Strict):
    reason: CancelReason = CancelReason.patient_request


class ReturnRequest(Strict):
    reason: ReturnReason


class SuggestedLot(BaseModel):
    lot_no: str
    expiry: date
    quantity: int


class PickLine(BaseModel):
    prescribed_code: str
    quantity: int
    lots: list[SuggestedLot] = Field(description="First expiry first out, from unexpired lots.")
    short: int = Field(description="Units the unexpired lots cannot cover.")


# pharmacies and stock ------------------------------------------------------------------------------------------------
class OpeningHours(BaseModel):
    days: str = Field(description="E.g. Mon–Fri, Sat–Sun.")
    opens: str = Field(description="Local time, HH:MM.")
    closes: str


class Pharmacy(BaseModel):
    code: str
    name: str
    address: str
    phone: str
    opening_hours: list[OpeningHours]
    dispatches: bool = Field(description="Ships by courier (delivery orders are dispensed here).")


class LotInput(Strict):
    drug_code: DrugCode
    lot_no: LotNo
    expiry: date
    quantity: int = Field(ge=1, le=100_000)


class StockLot(BaseModel):
    lot_no: str
    expiry: date
    received: int
    remaining: int


class StockLine(BaseModel):
    location: str
    drug_code: str
    on_hand: int = Field(description="Units in unexpired and expired lots not yet dispensed.")
    reserved: int = Field(description="Units held for paid orders.")
    available: int = Field(description="on_hand − reserved: free for new orders.")
    low: bool = Field(description="available is below the pharmacy's threshold.")
    lots: list[StockLot]


# traceability --------------------------------------------------------------------------------------------------------
class TraceStep(BaseModel):
    step: str = Field(description="signed, reviewed, rejected, took_effect, order_created, fulfilment_chosen, paid, "
                                  "dispensing_started, dispensed, shipped, delivered, ready_for_pickup, picked_up, "
                                  "cancelled, returned, refund_requested")
    at: str
    actor_role: str = Field(description="doctor, pharmacist, patient, payments, courier or system")
    actor_id: str | None = Field(default=None, description="A staff account's id, where a person acted.")
    order_id: str | None = None
    location: str | None = None
    lots: list[Pick] = []
    waybill: str | None = None
    outcome: str | None = Field(default=None, description="reviewed: approved / changes_requested; cancelled and "
                                                          "returned: the reason code")


class PrescriptionTrace(BaseModel):
    """The path of one prescription from the doctor's signature to the patient's hands (互联网诊疗管理办法 art. 24:
    the record a regulator's data interface reads): one query, in time order."""

    prescription_id: str
    patient_id: str
    steps: list[TraceStep]
