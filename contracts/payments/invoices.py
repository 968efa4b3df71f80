"""Invoices and desk payments: request and response models (payments' RPCs and the gateway's routes).

An invoice says what a patient owes for one thing (``purpose`` and ``reference``: today pharmacy's dispensing order,
issued when the patient chose delivery or pickup, and issued again with the new amount while unpaid if they change
their choice). Finance staff record a payment made at the cashier's desk (cash or card, the exact amount due); a
refund pharmacy asks for is recorded against the invoice (processed by a payment provider later). Amounts are integer
fen (CNY); times in answers are local ISO 8601 (Asia/Shanghai).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from wenzhen.fields import Strict, printable

MAX_FEN = 100_000_000  # one million yuan: more than any invoice of this hospital, less than a database's integers


class InvoicePurpose(StrEnum):
    dispensing_order = "dispensing_order"  # pharmacy's dispensing order (reference: its order id)


class InvoiceStatus(StrEnum):
    open = "open"  # issued, waiting for payment (its amount may still change with the patient's choice)
    paid = "paid"  # paid in full (refunds are recorded beside it; their processing comes with the payments issue)


class InvoiceLineKind(StrEnum):
    drugs = "drugs"  # the drugs' price
    delivery_fee = "delivery_fee"  # courier delivery (no line for pickup)


class DeskPaymentMethod(StrEnum):
    cash = "cash"
    card = "card"  # a bank card on the desk's terminal


class InvoiceRefundStatus(StrEnum):
    requested = "requested"  # recorded, waiting to be processed (with the payment provider: a later issue)
    rejected = "rejected"  # not recorded as owed: see ``rejection``


class InvoiceLine(BaseModel):
    kind: InvoiceLineKind
    amount_fen: int


class InvoicePayment(BaseModel):
    id: str
    method: DeskPaymentMethod
    amount_fen: int
    reference: str | None = Field(default=None, description="The receipt or terminal number the desk recorded.")
    recorded_by: str = Field(description="The finance staff account that recorded it.")
    paid_at: str


class InvoiceRefund(BaseModel):
    id: str
    order_id: str
    amount_fen: int
    reason: str = Field(description="Why pharmacy asked: cancelled or returned.")
    status: InvoiceRefundStatus
    rejection: str | None = Field(default=None, description="Why it was rejected: exceeds_paid (more than is left "
                                                            "of what was paid), unknown_invoice (not this order's) "
                                                            "or invalid_amount.")
    requested_at: str


class Invoice(BaseModel):
    id: str
    patient_id: str
    purpose: InvoicePurpose
    reference: str = Field(description="The id of what it is for (the dispensing order's).")
    status: InvoiceStatus
    amount_fen: int = Field(description="The amount due (integer fen): the sum of the lines.")
    revision: int = Field(description="1 when first issued; higher when the amount changed before payment.")
    lines: list[InvoiceLine]
    issued_at: str = Field(description="When this revision was issued.")
    payment: InvoicePayment | None = None
    refunds: list[InvoiceRefund] = Field(default_factory=list)


class DeskPayment(Strict):
    """A payment taken at the cashier's desk: the exact amount due, in cash or by card."""

    method: DeskPaymentMethod
    amount_fen: int = Field(ge=1, le=MAX_FEN, description="What was paid (integer fen): must equal the amount due.")
    reference: Annotated[str, Field(min_length=1, max_length=40), AfterValidator(printable)] | None = Field(
        default=None, description="The receipt number, or the card terminal's transaction number.")


class InvoiceQuery(Strict):
    patient_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")] | None = Field(
        default=None, description="Patients: a record they act for (required). Finance: one patient's (or give "
                                  "`status`).")
    status: InvoiceStatus | None = Field(default=None, description="E.g. `open`, the invoices waiting for payment "
                                                                   "(finance: this or `patient_id`).")
    before: Annotated[str, Field(pattern=r"^inv_[0-9A-Z]{26}$")] | None = Field(
        default=None, description="The next page: invoices issued before this one (the last id of a page).")
    limit: int = Field(default=50, ge=1, le=200)
