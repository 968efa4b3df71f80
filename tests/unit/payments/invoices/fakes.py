"""The invoices' store, in memory: the same named methods as ``InvoiceStore`` over dicts, each conditional update
with the same condition as the real one's filter. ``ledger`` is the ledger's fake over the same (imagined) database:
a transaction of this store keeps its state all or nothing as well, as one MongoDB transaction does both."""
from __future__ import annotations

import copy
import dataclasses
from datetime import datetime

from contracts.payments.invoices import InvoicePurpose, InvoiceStatus
from services.payments.invoices.rules import Charge, InvoiceRecord, PaymentRecord, RefundRecord
from tests.fakes import FakeCapabilityStore
from tests.unit.payments.ledger.fakes import FakeLedgerStore


class DuplicateKey(Exception):
    """What the unique index would refuse."""


class FakeInvoiceStore(FakeCapabilityStore):
    _RECORDS = (*FakeCapabilityStore._RECORDS, "ledger")  # the ledger's state: kept all or nothing in transact

    def __init__(self, ledger: FakeLedgerStore | None = None) -> None:
        super().__init__()
        self.invoices_: dict[str, InvoiceRecord] = {}
        self.refunds_: dict[str, RefundRecord] = {}
        self.ledger = ledger if ledger is not None else FakeLedgerStore()

    def transact(self, body):
        saved = copy.deepcopy(vars(self.ledger))
        try:
            return super().transact(body)
        except BaseException:
            vars(self.ledger).clear()
            vars(self.ledger).update(saved)
            raise

    def _change(self, invoice_id: str, **values) -> InvoiceRecord:
        self.invoices_[invoice_id] = dataclasses.replace(self.invoices_[invoice_id], **values)
        return self.invoices_[invoice_id]

    def invoice(self, invoice_id: str, tx=None) -> InvoiceRecord | None:
        return self.invoices_.get(invoice_id)

    def invoice_for(self, tx, purpose: InvoicePurpose, reference: str) -> InvoiceRecord | None:
        return next((i for i in self.invoices_.values() if (i.purpose, i.reference) == (purpose, reference)), None)

    def insert_invoice(self, tx, invoice: InvoiceRecord) -> None:
        if self.invoice_for(tx, invoice.purpose, invoice.reference) is not None:
            raise DuplicateKey("one_per_purpose")
        self.invoices_[invoice.id] = invoice

    def reissue(self, tx, invoice_id: str, choice: int, amount: Charge, now: datetime) -> InvoiceRecord | None:
        known = self.invoices_.get(invoice_id)
        if known is None or known.status != InvoiceStatus.open or not known.choice < choice:
            return None
        return self._change(invoice_id, amount_fen=amount.amount_fen, lines=amount.lines, choice=choice,
                            issued_at=now, revision=known.revision + 1, version=known.version + 1)

    def mark_paid(self, tx, invoice_id: str, payment: PaymentRecord) -> InvoiceRecord | None:
        known = self.invoices_.get(invoice_id)
        if known is None or known.status != InvoiceStatus.open or known.amount_fen != payment.amount_fen:
            return None
        return self._change(invoice_id, status=InvoiceStatus.paid, payment=payment,
                            refundable_fen=payment.amount_fen, version=known.version + 1)

    def take_refundable(self, tx, invoice_id: str, amount_fen: int) -> InvoiceRecord | None:
        known = self.invoices_.get(invoice_id)
        if known is None or known.status != InvoiceStatus.paid or known.refundable_fen < amount_fen:
            return None
        return self._change(invoice_id, refundable_fen=known.refundable_fen - amount_fen, version=known.version + 1)

    def count_event(self, tx, invoice_id: str) -> InvoiceRecord | None:
        known = self.invoices_.get(invoice_id)
        return None if known is None else self._change(invoice_id, version=known.version + 1)

    def invoices(self, *, patient_id=None, status=None, before=None, limit=50) -> list[InvoiceRecord]:
        found = [i for i in self.invoices_.values() if patient_id in (None, i.patient_id)
                 and status in (None, i.status) and (before is None or i.id < before)]
        return sorted(found, key=lambda i: i.id, reverse=True)[:limit]

    def refund_request(self, tx, invoice_id: str, order_id: str, reason: str) -> RefundRecord | None:
        return next((r for r in self.refunds_.values()
                     if (r.invoice_id, r.order_id, r.reason) == (invoice_id, order_id, reason)), None)

    def insert_refund(self, tx, refund: RefundRecord) -> None:
        if self.refund_request(tx, refund.invoice_id, refund.order_id, refund.reason) is not None:
            raise DuplicateKey("one_per_request")
        self.refunds_[refund.id] = refund

    def refunds_of(self, invoice_ids: list[str]) -> dict[str, list[RefundRecord]]:
        found: dict[str, list[RefundRecord]] = {}
        for refund in self.refunds_.values():
            if refund.invoice_id in invoice_ids:
                found.setdefault(refund.invoice_id, []).append(refund)
        return found
