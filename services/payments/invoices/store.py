"""Every MongoDB query of the invoices. One invoice per (purpose, reference) by a unique index; its amount changes only
while it is open and only for a later fulfilment choice, its payment happens once and only for the amount due, and a
refund is taken only from what is left of the payment: each a conditional update whose filter is the precondition.
A refund request is kept once per (invoice, order, reason) by a unique index.

Invoices hold ids, codes and amounts: no name, no clinical content, nothing encrypted. The invoice's ``version``
counts the events emitted about it (their sequence within its subject); each change that emits one moves it."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from contracts.payments.invoices import (
    DeskPaymentMethod,
    InvoiceLineKind,
    InvoicePurpose,
    InvoiceRefundStatus,
    InvoiceStatus,
)
from services.payments.invoices.rules import Charge, InvoiceRecord, PaymentRecord, RefundRecord
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read
from wenzhen.timez import as_utc

INVOICES = "invoices"
REFUNDS = "refunds"

INDEXES = [
    Index(INVOICES, [("purpose", ASCENDING), ("reference", ASCENDING)], unique=True, name="one_per_purpose"),
    # listings, newest first (ids sort by time): a patient's; finance's by status; finance's all (the _id index)
    Index(INVOICES, [("patient_id", ASCENDING), ("_id", DESCENDING)], name="by_patient"),
    Index(INVOICES, [("status", ASCENDING), ("_id", DESCENDING)], name="by_status"),
    # one refund request per (invoice, order, reason); also an invoice's refunds (its prefix)
    Index(REFUNDS, [("invoice_id", ASCENDING), ("order_id", ASCENDING), ("reason", ASCENDING)], unique=True,
          name="one_per_request"),
]


class InvoiceStore(CapabilityStore):
    # invoices ------------------------------------------------------------------------------------------------------
    def invoice(self, invoice_id: str, tx: Tx | None = None) -> InvoiceRecord | None:
        return _invoice(self._on(tx)[INVOICES].find_one({"_id": invoice_id}))

    def invoice_for(self, tx: Tx, purpose: InvoicePurpose, reference: str) -> InvoiceRecord | None:
        """The invoice of that (purpose, reference) (index ``one_per_purpose``)."""
        return _invoice(tx[INVOICES].find_one({"purpose": purpose.value, "reference": reference}))

    def insert_invoice(self, tx: Tx, invoice: InvoiceRecord) -> None:
        """A second invoice for the same (purpose, reference) is a DuplicateKeyError (the unique index): the consumer
        retries, and then finds this one."""
        tx[INVOICES].insert_one({
            "_id": invoice.id, "purpose": invoice.purpose.value, "reference": invoice.reference,
            "patient_id": invoice.patient_id, "status": invoice.status.value, "amount_fen": invoice.amount_fen,
            "lines": _lines(invoice.lines), "revision": invoice.revision, "choice": invoice.choice,
            "issued_at": invoice.issued_at, "created_at": invoice.issued_at, "version": invoice.version,
            "payment": None, "refundable_fen": 0})

    def reissue(self, tx: Tx, invoice_id: str, choice: int, amount: Charge, now: datetime) -> InvoiceRecord | None:
        """The new amount of a later choice, only while unpaid (None: paid, or an older or repeated choice)."""
        return _invoice(update_and_read(
            tx[INVOICES], {"_id": invoice_id, "status": InvoiceStatus.open.value, "choice": {"$lt": choice}},
            {"$set": {"amount_fen": amount.amount_fen, "lines": _lines(amount.lines), "choice": choice,
                      "issued_at": now},
             "$inc": {"revision": 1, "version": 1}}))

    def mark_paid(self, tx: Tx, invoice_id: str, payment: PaymentRecord) -> InvoiceRecord | None:
        """Open → paid, only for the amount due (None: not open, another amount, or no such invoice)."""
        return _invoice(update_and_read(
            tx[INVOICES], {"_id": invoice_id, "status": InvoiceStatus.open.value, "amount_fen": payment.amount_fen},
            {"$set": {"status": InvoiceStatus.paid.value, "refundable_fen": payment.amount_fen, "payment": {
                "id": payment.id, "method": payment.method.value, "amount_fen": payment.amount_fen,
                "reference": payment.reference, "recorded_by": payment.recorded_by, "paid_at": payment.paid_at}},
             "$inc": {"version": 1}}))

    def take_refundable(self, tx: Tx, invoice_id: str, amount_fen: int) -> InvoiceRecord | None:
        """Set ``amount_fen`` of the payment aside for a refund, only when that much is left of it (None: not paid,
        or less left)."""
        return _invoice(update_and_read(
            tx[INVOICES], {"_id": invoice_id, "status": InvoiceStatus.paid.value,
                           "refundable_fen": {"$gte": amount_fen}},
            {"$inc": {"refundable_fen": -amount_fen, "version": 1}}))

    def count_event(self, tx: Tx, invoice_id: str) -> InvoiceRecord | None:
        """One more event about the invoice that changes nothing else of it (a rejected refund request)."""
        return _invoice(update_and_read(tx[INVOICES], {"_id": invoice_id}, {"$inc": {"version": 1}}))

    def invoices(self, *, patient_id: str | None = None, status: InvoiceStatus | None = None,
                 before: str | None = None, limit: int = 50) -> list[InvoiceRecord]:
        """Newest first (indexes ``by_patient``, ``by_status``, or ``_id``), at most ``limit``."""
        query: dict = {}
        if patient_id is not None:
            query["patient_id"] = patient_id
        if status is not None:
            query["status"] = status.value
        if before is not None:
            query["_id"] = {"$lt": before}
        return [_invoice(d) for d in self.db[INVOICES].find(query).sort("_id", DESCENDING).limit(limit)]

    # refunds -------------------------------------------------------------------------------------------------------
    def refund_request(self, tx: Tx, invoice_id: str, order_id: str, reason: str) -> RefundRecord | None:
        return _refund(tx[REFUNDS].find_one({"invoice_id": invoice_id, "order_id": order_id, "reason": reason}))

    def insert_refund(self, tx: Tx, refund: RefundRecord) -> None:
        """A second request for the same (invoice, order, reason) is a DuplicateKeyError (the unique index): the
        consumer retries, and then finds this one."""
        tx[REFUNDS].insert_one({
            "_id": refund.id, "invoice_id": refund.invoice_id, "order_id": refund.order_id,
            "patient_id": refund.patient_id, "amount_fen": refund.amount_fen, "reason": refund.reason,
            "status": refund.status.value, "rejection": refund.rejection, "requested_at": refund.requested_at})

    def refunds_of(self, invoice_ids: list[str]) -> dict[str, list[RefundRecord]]:
        """The refund requests of these invoices (index ``one_per_request``, by its prefix)."""
        found: dict[str, list[RefundRecord]] = {}
        if invoice_ids:
            for doc in self.db[REFUNDS].find({"invoice_id": {"$in": list(invoice_ids)}}):
                found.setdefault(doc["invoice_id"], []).append(_refund(doc))
        return found


def _lines(lines) -> list[dict]:
    return [{"kind": kind.value, "amount_fen": amount} for kind, amount in lines]


def _invoice(doc: dict | None) -> InvoiceRecord | None:
    if doc is None:
        return None
    paid = doc.get("payment")
    payment = PaymentRecord(id=paid["id"], method=DeskPaymentMethod(paid["method"]), amount_fen=paid["amount_fen"],
                            reference=paid.get("reference"), recorded_by=paid["recorded_by"],
                            paid_at=as_utc(paid["paid_at"])) if paid else None
    return InvoiceRecord(
        id=doc["_id"], patient_id=doc["patient_id"], purpose=InvoicePurpose(doc["purpose"]),
        reference=doc["reference"], status=InvoiceStatus(doc["status"]), amount_fen=doc["amount_fen"],
        lines=tuple((InvoiceLineKind(line["kind"]), line["amount_fen"]) for line in doc["lines"]),
        revision=doc["revision"], choice=doc["choice"], issued_at=as_utc(doc["issued_at"]), version=doc["version"],
        payment=payment, refundable_fen=doc.get("refundable_fen", 0))


def _refund(doc: dict | None) -> RefundRecord | None:
    if doc is None:
        return None
    return RefundRecord(id=doc["_id"], invoice_id=doc["invoice_id"], order_id=doc["order_id"],
                        patient_id=doc["patient_id"], amount_fen=doc["amount_fen"], reason=doc["reason"],
                        status=InvoiceRefundStatus(doc["status"]), rejection=doc.get("rejection"),
                        requested_at=as_utc(doc["requested_at"]))
