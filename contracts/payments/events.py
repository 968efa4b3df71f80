"""Events payments publishes (exchange ``payments.events``).

A paid invoice confirms what it was for (``payment_succeeded`` names the ``purpose`` and the ``reference``:
pharmacy's dispensing order, booking's appointment). Amounts are integer fen (CNY); no personal data. Times UTC.
Invoice, payment and refund events have the invoice id as subject.
"""
from __future__ import annotations

from pydantic import Field

from wenzhen.events import EventData


class _Payments(EventData):
    source = "payments"


class _Invoice(_Payments):
    invoice_id: str
    patient_id: str
    purpose: str = Field(description="dispensing_order (pharmacy) or appointment (booking)")
    reference: str = Field(description="The id of what it is for: the dispensing order's or the appointment's")


class InvoiceIssued(_Invoice):
    """An invoice was issued (or re-issued with a new amount while unpaid)."""

    type = "invoice_issued"
    amount_fen: int
    revision: int = Field(description="1 when first issued; higher when the amount changed before payment")


class PaymentSucceeded(_Invoice):
    """The invoice was paid in full."""

    type = "payment_succeeded"
    amount_fen: int
    method: str = Field(description="cash or card (at the desk), or the provider's channel")
    payment_id: str


class RefundRecorded(_Invoice):
    """A refund pharmacy asked for was recorded against the invoice: ``requested`` (owed, to be processed with the
    payment provider later) or ``rejected`` (more than is left of what was paid, an invoice that is not the order's,
    or no amount)."""

    type = "refund_recorded"
    refund_id: str
    amount_fen: int = Field(description="What was asked for (integer fen)")
    status: str = Field(description="requested or rejected")
    reason: str = Field(description="Why it was asked for: cancelled or returned (pharmacy's reason)")
    rejection: str | None = Field(default=None, description="When rejected: exceeds_paid, unknown_invoice or "
                                                            "invalid_amount")
