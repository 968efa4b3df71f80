"""The invoices' decisions, pure: what a fulfilment choice charges, who sees an invoice and who lists which, why a
desk payment is refused, whether a refund request can be recorded as owed, and how an invoice is shown. No I/O, no
clock (``now`` is given)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.payments.invoices import (
    DeskPayment,
    DeskPaymentMethod,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoicePayment,
    InvoicePurpose,
    InvoiceRefund,
    InvoiceRefundStatus,
    InvoiceStatus,
)
from contracts.pharmacy.events import FulfilmentChosen, RefundRequested
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError, field_error
from wenzhen.timez import to_local_iso

ENTITY = "Invoice"  # FHIR Invoice, in the audit trail
ID_PREFIX = "inv"
EXCEEDS_PAID = "exceeds_paid"  # a refund asked for more than is left of what was paid
UNKNOWN_INVOICE = "unknown_invoice"  # a refund named an invoice payments does not know, or not the order's
INVALID_AMOUNT = "invalid_amount"  # a refund of nothing (or less)


class InconsistentCharge(ValueError):
    """A fulfilment choice whose amount is not its lines' sum, or negative: a broken event. The consumer retries it
    and then parks it for a person to look at (``python -m wenzhen.deadletters``); no invoice is guessed."""


@dataclass(frozen=True)
class Charge:
    """What one fulfilment choice costs: its lines and their sum."""

    amount_fen: int
    lines: tuple[tuple[InvoiceLineKind, int], ...]


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    method: DeskPaymentMethod
    amount_fen: int
    reference: str | None
    recorded_by: str
    paid_at: datetime


@dataclass(frozen=True)
class InvoiceRecord:
    id: str
    patient_id: str
    purpose: InvoicePurpose
    reference: str
    status: InvoiceStatus
    amount_fen: int
    lines: tuple[tuple[InvoiceLineKind, int], ...]
    revision: int  # issues of this invoice (1, then one more for each new amount before payment)
    choice: int  # the fulfilment choice it was last issued for (pharmacy's counter)
    issued_at: datetime
    version: int  # events emitted about it (their sequence within the invoice's subject)
    payment: PaymentRecord | None = None
    refundable_fen: int = 0  # what is left of the payment to refund (0 until paid)


@dataclass(frozen=True)
class RefundRecord:
    id: str
    invoice_id: str
    order_id: str
    patient_id: str
    amount_fen: int
    reason: str
    status: InvoiceRefundStatus
    rejection: str | None
    requested_at: datetime


# issuing -------------------------------------------------------------------------------------------------------------
def charge(event: FulfilmentChosen) -> Charge:
    """The drugs, and the delivery fee when there is one; the amount is the event's ``amount_fen``, which must be
    their sum."""
    if event.total_fen < 0 or event.delivery_fee_fen < 0 or event.amount_fen < 0:
        raise InconsistentCharge(f"order {event.order_id}: a negative amount")
    if event.amount_fen != event.total_fen + event.delivery_fee_fen:
        raise InconsistentCharge(f"order {event.order_id}: amount_fen {event.amount_fen} is not total_fen "
                                 f"{event.total_fen} + delivery_fee_fen {event.delivery_fee_fen}")
    lines = [(InvoiceLineKind.drugs, event.total_fen)]
    if event.delivery_fee_fen > 0:
        lines.append((InvoiceLineKind.delivery_fee, event.delivery_fee_fen))
    return Charge(amount_fen=event.amount_fen, lines=tuple(lines))


def new_invoice(invoice_id: str, event: FulfilmentChosen, amount: Charge, now: datetime) -> InvoiceRecord:
    return InvoiceRecord(id=invoice_id, patient_id=event.patient_id, purpose=InvoicePurpose.dispensing_order,
                         reference=event.order_id, status=InvoiceStatus.open, amount_fen=amount.amount_fen,
                         lines=amount.lines, revision=1, choice=event.choice, issued_at=now, version=1)


def reissues(invoice: InvoiceRecord, choice: int) -> bool:
    """A later choice re-issues an invoice still open; an older or repeated one, or any after payment, does nothing
    (what the store's conditional update checks in its filter)."""
    return invoice.status == InvoiceStatus.open and invoice.choice < choice


# reading -------------------------------------------------------------------------------------------------------------
def is_finance(principal: Principal) -> bool:
    return principal.has_role(Role.finance)


def sees(principal: Principal, invoice: InvoiceRecord) -> bool:
    """Finance staff see every invoice; a patient account the invoices of the records it acts for."""
    return is_finance(principal) or principal.acts_for(invoice.patient_id)


def not_found(invoice_id: str) -> NotFound:
    return NotFound(f"No invoice {invoice_id}, or not one the caller may see.")


def listing_refusal(principal: Principal, patient_id: str | None, status: InvoiceStatus | None) -> str | None:
    """Why ``principal`` may not list the invoices asked for, or None. A patient names a record they act for;
    finance staff list by status or one patient's (never everything at once: each listing is one index's)."""
    if is_finance(principal):
        if patient_id is None and status is None:
            return "Finance staff list invoices by `status` (e.g. `open`) or one patient's (`patient_id`)."
        return None
    if principal.has_role(Role.patient):
        if patient_id is not None and principal.acts_for(patient_id):
            return None
        return "A patient lists the invoices of a record they act for (`patient_id`)."
    return "Patients and finance staff list invoices."


# desk payments -------------------------------------------------------------------------------------------------------
def require_finance(principal: Principal) -> None:
    if not is_finance(principal):
        raise Forbidden("Only finance staff record payments taken at the desk.")


def desk_payment(payment_id: str, request: DeskPayment, recorded_by: str, now: datetime) -> PaymentRecord:
    return PaymentRecord(id=payment_id, method=request.method, amount_fen=request.amount_fen,
                         reference=request.reference, recorded_by=recorded_by, paid_at=now)


def payment_refusal(invoice_id: str, invoice: InvoiceRecord | None, request: DeskPayment) -> ServiceError:
    """Why a payment of ``invoice`` (as it is now) was not recorded: the conditional update found it not open, or
    owing another amount."""
    if invoice is None:
        return not_found(invoice_id)
    if invoice.status != InvoiceStatus.open:
        return Conflict(f"Invoice {invoice.id} is {invoice.status.value}: it takes no payment.",
                        [field_error("status", f"is {invoice.status.value}", "state")])
    if request.amount_fen != invoice.amount_fen:
        return InvalidInput(f"The amount due on invoice {invoice.id} is {invoice.amount_fen} fen.",
                            [field_error("amount_fen", f"must be the amount due, {invoice.amount_fen}", "amount_due")])
    return Conflict(f"Invoice {invoice.id} changed meanwhile; read it again.",
                    [field_error("revision", "changed", "stale")])


# refunds -------------------------------------------------------------------------------------------------------------
def refund_rejection(invoice: InvoiceRecord | None, event: RefundRequested) -> str | None:
    """A refund request that cannot be owed whatever was paid (an unknown invoice, or another order's; nothing to
    refund), or None. Whether what was paid covers it is the store's conditional update (``EXCEEDS_PAID``)."""
    if (invoice is None or invoice.purpose != InvoicePurpose.dispensing_order or invoice.reference != event.order_id
            or invoice.patient_id != event.patient_id):
        return UNKNOWN_INVOICE
    if event.amount_fen <= 0:
        return INVALID_AMOUNT
    return None


def refund(refund_id: str, event: RefundRequested, rejection: str | None, now: datetime) -> RefundRecord:
    return RefundRecord(id=refund_id, invoice_id=event.invoice_id, order_id=event.order_id,
                        patient_id=event.patient_id, amount_fen=event.amount_fen, reason=event.reason,
                        status=InvoiceRefundStatus.rejected if rejection else InvoiceRefundStatus.requested,
                        rejection=rejection, requested_at=now)


# the view ------------------------------------------------------------------------------------------------------------
def view(invoice: InvoiceRecord, refunds: list[RefundRecord] | tuple = ()) -> Invoice:
    payment = invoice.payment
    return Invoice(
        id=invoice.id, patient_id=invoice.patient_id, purpose=invoice.purpose, reference=invoice.reference,
        status=invoice.status, amount_fen=invoice.amount_fen, revision=invoice.revision,
        lines=[InvoiceLine(kind=kind, amount_fen=amount) for kind, amount in invoice.lines],
        issued_at=to_local_iso(invoice.issued_at),
        payment=InvoicePayment(id=payment.id, method=payment.method, amount_fen=payment.amount_fen,
                               reference=payment.reference, recorded_by=payment.recorded_by,
                               paid_at=to_local_iso(payment.paid_at)) if payment else None,
        refunds=[InvoiceRefund(id=r.id, order_id=r.order_id, amount_fen=r.amount_fen, reason=r.reason,
                               status=r.status, rejection=r.rejection, requested_at=to_local_iso(r.requested_at))
                 for r in sorted(refunds, key=lambda r: r.id)])
