"""payments: fees, payments and refunds.

``PaymentsService`` will be its capabilities' entrypoints over one database. Only
the shared skeleton so far (health, audit RPCs, own database, outbox relay, audit sealer). A capability is a
sub-package ``services/payments/<capability>/`` with ``rules.py``, ``store.py``, ``usecases.py`` and
``entrypoints.py`` (docs/adding-a-service.md; the worked example is booking's catalogue): its entrypoint mixin joins
the bases below and its store's ``INDEXES`` the list.
"""
from __future__ import annotations

from services.payments.settings import PaymentsSettings
from wenzhen.service import ServiceBase


class PaymentsService(ServiceBase):
    name = "payments"
    settings_class = PaymentsSettings
    indexes: list = []  # each capability store's INDEXES
