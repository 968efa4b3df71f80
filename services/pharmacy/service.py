"""pharmacy: prescriptions, dispensing and delivery of medicine.

``PharmacyService`` will be its capabilities' entrypoints over one database. Only
the shared skeleton so far (health, audit RPCs, own database, outbox relay, audit sealer). A capability is a
sub-package ``services/pharmacy/<capability>/`` with ``rules.py``, ``store.py``, ``usecases.py`` and
``entrypoints.py`` (docs/adding-a-service.md; the worked example is booking's catalogue): its entrypoint mixin joins
the bases below and its store's ``INDEXES`` the list.
"""
from __future__ import annotations

from services.pharmacy.settings import PharmacySettings
from wenzhen.service import ServiceBase


class PharmacyService(ServiceBase):
    name = "pharmacy"
    settings_class = PharmacySettings
    indexes: list = []  # each capability store's INDEXES
