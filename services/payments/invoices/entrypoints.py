"""The invoices' Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

from contracts.payments.invoices import DeskPayment, Invoice, InvoiceQuery
from contracts.pharmacy.events import FulfilmentChosen, RefundRequested
from services.payments.invoices import usecases
from services.payments.invoices.store import InvoiceStore
from services.payments.ledger.store import LedgerStore
from wenzhen.consumer import consumes
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.storage import Tx
from wenzhen.timez import utcnow


class InvoiceEntrypoints:
    @property
    def invoices(self) -> InvoiceStore:
        return InvoiceStore(self.store)

    @property
    def ledger(self) -> LedgerStore:
        return LedgerStore(self.store)

    @rpc
    def get_invoice(self, invoice_id: str) -> Invoice:
        return usecases.get(self.invoices, self.caller, invoice_id)

    @rpc
    def list_invoices(self, query: InvoiceQuery) -> list[Invoice]:
        return usecases.list_invoices(self.invoices, self.caller, query)

    @rpc
    def record_desk_payment(self, invoice_id: str, request: DeskPayment) -> Invoice:
        return usecases.record_desk_payment(self.invoices, self.ledger, self.caller, invoice_id, request, utcnow())

    # pharmacy's dispensing orders ------------------------------------------------------------------------------------
    @consumes(FulfilmentChosen)
    def on_fulfilment_chosen(self, tx: Tx, event: FulfilmentChosen, envelope: Envelope) -> None:
        usecases.issue_for_fulfilment(self.invoices, self.ledger, tx, self.caller, event, utcnow())

    @consumes(RefundRequested)
    def on_refund_requested(self, tx: Tx, event: RefundRequested, envelope: Envelope) -> None:
        usecases.record_refund_request(self.invoices, self.ledger, tx, self.caller, event, utcnow())
