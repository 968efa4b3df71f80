"""The invoices' operations: authorize → store → emit → audit. Pharmacy's fulfilment choice issues (or re-issues) the
order's invoice; finance staff record a payment taken at the desk; pharmacy's refund request is recorded against
the invoice. Each of these changes posts its ledger entries in its own transaction (``services.payments.ledger``).
Reads are audited before the answer leaves; a refused read looks like a missing invoice."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from contracts.payments.events import InvoiceIssued, PaymentSucceeded, RefundRecorded
from contracts.payments.invoices import (
    DeskPayment,
    Invoice,
    InvoicePurpose,
    InvoiceQuery,
    InvoiceRefundStatus,
    InvoiceStatus,
)
from contracts.pharmacy.events import FulfilmentChosen, RefundRequested
from services.payments.invoices import rules
from services.payments.invoices.rules import ENTITY, EXCEEDS_PAID, InvoiceRecord, RefundRecord
from services.payments.invoices.store import InvoiceStore
from services.payments.ledger import usecases as ledger
from services.payments.ledger.rules import InvoiceFacts
from services.payments.ledger.store import LedgerStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller
from wenzhen.errors import Forbidden, ServiceError
from wenzhen.storage import Tx


def _issued(invoice: InvoiceRecord) -> InvoiceIssued:
    return InvoiceIssued(invoice_id=invoice.id, patient_id=invoice.patient_id, purpose=invoice.purpose.value,
                         reference=invoice.reference, amount_fen=invoice.amount_fen, revision=invoice.revision)


# issuing (pharmacy's fulfilment_chosen) ------------------------------------------------------------------------------
def issue_for_fulfilment(store: InvoiceStore, ledger_store: LedgerStore, tx: Tx, caller: Caller,
                         event: FulfilmentChosen, now: datetime) -> InvoiceRecord | None:
    """The order's invoice: issued at its first choice, issued again with the new amount for a later choice while
    unpaid (revision + 1); an older or repeated choice, or one after payment, changes nothing (None). Each issue
    posts its amount to the ledger (a re-issue reverses the previous revision's posting first)."""
    amount = rules.charge(event)
    known = store.invoice_for(tx, InvoicePurpose.dispensing_order, event.order_id)
    if known is None:
        invoice = rules.new_invoice(ids.new_id(rules.ID_PREFIX), event, amount, now)
        store.insert_invoice(tx, invoice)
        action, subtype = CREATE, "issue"
    else:
        invoice = store.reissue(tx, known.id, event.choice, amount, now)
        if invoice is None:
            return None
        action, subtype = UPDATE, "reissue"
    ledger.invoice_issued(ledger_store, tx, invoice.id, invoice.patient_id, invoice.revision, invoice.amount_fen, now)
    tx.emit(_issued(invoice), subject=invoice.id, version=invoice.version)
    audit.record(tx, caller, action, subtype, ENTITY, invoice.id, patient_id=invoice.patient_id,
                 detail=f"revision {invoice.revision}")
    return invoice


# desk payments -------------------------------------------------------------------------------------------------------
def record_desk_payment(store: InvoiceStore, ledger_store: LedgerStore, caller: Caller, invoice_id: str,
                        request: DeskPayment, now: datetime) -> Invoice:
    """Finance staff, once, for exactly the amount due: open → paid by one conditional update (a second payment is
    a 409 naming the state, another amount a 422 naming ``amount_fen``); its ledger posting and
    ``payment_succeeded`` in the same transaction. Refusals are audited as failed."""
    rules.require_finance(caller.principal)
    payment = rules.desk_payment(ids.new_id("pay"), request, caller.principal.sub, now)

    def body(tx: Tx) -> tuple[InvoiceRecord | ServiceError, InvoiceRecord | None]:
        paid = store.mark_paid(tx, invoice_id, payment) if ids.is_id(invoice_id, rules.ID_PREFIX) else None
        if paid is None:  # nothing was written: say why, from the invoice as it is now
            known = store.invoice(invoice_id, tx) if ids.is_id(invoice_id, rules.ID_PREFIX) else None
            return rules.payment_refusal(invoice_id, known, request), known
        ledger.desk_payment_received(ledger_store, tx, paid.id, paid.patient_id, payment.id, payment.method,
                                     payment.amount_fen, now)
        tx.emit(PaymentSucceeded(invoice_id=paid.id, patient_id=paid.patient_id, purpose=paid.purpose.value,
                                 reference=paid.reference, amount_fen=payment.amount_fen,
                                 method=payment.method.value, payment_id=payment.id),
                subject=paid.id, version=paid.version)
        audit.record(tx, caller, UPDATE, "desk-payment", ENTITY, paid.id, patient_id=paid.patient_id,
                     detail=f"{payment.id} {payment.method.value}")
        return paid, None

    outcome, known = store.transact(body)
    if isinstance(outcome, ServiceError):
        audit.record(store, caller, UPDATE, "desk-payment", ENTITY, invoice_id if known else None,
                     patient_id=known.patient_id if known else None, outcome=Outcome.failed,
                     detail=type(outcome).__name__)
        raise outcome
    return rules.view(outcome, store.refunds_of([outcome.id]).get(outcome.id, []))


# reading -------------------------------------------------------------------------------------------------------------
def get(store: InvoiceStore, caller: Caller, invoice_id: str) -> Invoice:
    """The patient it is for (or an account acting for them) and finance staff; anyone else is told it does not
    exist, audited as denied."""
    invoice = store.invoice(invoice_id) if ids.is_id(invoice_id, rules.ID_PREFIX) else None
    if invoice is None or not rules.sees(caller.principal, invoice):
        audit.record(store, caller, READ, "read", ENTITY, invoice.id if invoice else None,
                     patient_id=invoice.patient_id if invoice else None, outcome=Outcome.denied)
        raise rules.not_found(invoice_id)
    audit.record(store, caller, READ, "read", ENTITY, invoice.id, patient_id=invoice.patient_id)
    return rules.view(invoice, store.refunds_of([invoice.id]).get(invoice.id, []))


def list_invoices(store: InvoiceStore, caller: Caller, query: InvoiceQuery) -> list[Invoice]:
    """Newest first, a page of at most ``limit`` (``before``: the next page). A patient: a record they act for;
    finance staff: by ``status`` or ``patient_id`` (one of them). Every invoice listed is an audited read."""
    why = rules.listing_refusal(caller.principal, query.patient_id, query.status)
    if why:
        audit.record(store, caller, READ, "list", ENTITY, None, patient_id=query.patient_id, outcome=Outcome.denied)
        raise Forbidden(why)
    found = store.invoices(patient_id=query.patient_id, status=query.status, before=query.before, limit=query.limit)
    refunds = store.refunds_of([invoice.id for invoice in found])
    for invoice in found:
        audit.record(store, caller, READ, "read", ENTITY, invoice.id, patient_id=invoice.patient_id, detail="list")
    return [rules.view(invoice, refunds.get(invoice.id, [])) for invoice in found]


# refunds (pharmacy's refund_requested) -------------------------------------------------------------------------------
def record_refund_request(store: InvoiceStore, ledger_store: LedgerStore, tx: Tx, caller: Caller,
                          event: RefundRequested, now: datetime) -> RefundRecord | None:
    """Recorded once per (invoice, order, reason) (None: recorded already), never refused: ``requested`` when what
    is left of the payment covers it (the amount is set aside by a conditional update, and the ledger posts it as
    owed), else ``rejected`` with the reason (``exceeds_paid``, ``unknown_invoice``, ``invalid_amount``; nothing
    posted). Processing it with a payment provider comes with the payments issue."""
    if store.refund_request(tx, event.invoice_id, event.order_id, event.reason) is not None:
        return None
    invoice = store.invoice(event.invoice_id, tx)
    rejection = rules.refund_rejection(invoice, event)
    after = None
    if rejection is None:
        after = store.take_refundable(tx, invoice.id, event.amount_fen)
        if after is None:
            rejection = EXCEEDS_PAID
    if after is None and invoice is not None:
        after = store.count_event(tx, invoice.id)
    refund = rules.refund(ids.new_id("rfd"), event, rejection, now)
    store.insert_refund(tx, refund)
    if refund.status == InvoiceRefundStatus.requested:
        ledger.refund_owed(ledger_store, tx, invoice.id, invoice.patient_id, refund.id, refund.amount_fen, now)
    tx.emit(RefundRecorded(  # as pharmacy asked (for a known invoice of this order, the invoice's own values)
        invoice_id=event.invoice_id, patient_id=event.patient_id, purpose=InvoicePurpose.dispensing_order.value,
        reference=event.order_id, refund_id=refund.id, amount_fen=refund.amount_fen, status=refund.status.value,
        reason=refund.reason, rejection=rejection), subject=event.invoice_id, version=after.version if after else None)
    audit.record(tx, caller, CREATE, "refund-request", ENTITY, event.invoice_id, patient_id=event.patient_id,
                 detail=f"{refund.id} {refund.status.value}" + (f" {rejection}" if rejection else ""))
    return refund


# the ledger check ----------------------------------------------------------------------------------------------------
def ledger_facts(store: InvoiceStore, page: int = 500) -> Iterator[InvoiceFacts]:
    """What the invoices say of every invoice (amount due, what was paid and how, the refunds owed), which the
    ledger's check compares with its balances: each status's invoices a page at a time (index ``by_status``). Offline
    only (``python -m services.payments.ledger check``): it reads every invoice."""
    for status in InvoiceStatus:
        before = None
        while True:
            found = store.invoices(status=status, before=before, limit=page)
            refunds = store.refunds_of([invoice.id for invoice in found])
            for invoice in found:
                payment = invoice.payment
                yield InvoiceFacts(
                    invoice_id=invoice.id, issued_fen=invoice.amount_fen, paid_fen=payment.amount_fen if payment else 0,
                    paid_by=payment.method if payment else None,
                    refunds_owed_fen=sum(r.amount_fen for r in refunds.get(invoice.id, [])
                                         if r.status == InvoiceRefundStatus.requested))
            if len(found) < page:
                break
            before = found[-1].id
