"""payments: fees, payments and refunds.

``PaymentsService`` is its capabilities' entrypoints over one database: so far ``invoices/`` (pharmacy's dispensing
orders invoiced from the patient's choice of delivery or pickup, payments taken at the cashier's desk, refund
requests recorded; docs/payments.md) and ``ledger/`` (the double-entry postings those changes make in their own
transactions; no entrypoints, only its indexes below; ``python -m services.payments.ledger check``). A capability is
a sub-package ``services/payments/<capability>/`` with ``rules.py``, ``store.py``, ``usecases.py`` and
``entrypoints.py`` (docs/adding-a-service.md; the worked example is booking's catalogue): its entrypoint mixin joins
the bases below and its store's ``INDEXES`` the list.
"""
from __future__ import annotations

from services.payments.invoices import store as invoice_store
from services.payments.invoices.entrypoints import InvoiceEntrypoints
from services.payments.ledger import store as ledger_store
from services.payments.settings import PaymentsSettings
from wenzhen.service import ServiceBase


class PaymentsService(InvoiceEntrypoints, ServiceBase):
    name = "payments"
    settings_class = PaymentsSettings
    indexes = [*invoice_store.INDEXES, *ledger_store.INDEXES]
