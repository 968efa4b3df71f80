"""booking's Nameko entrypoints.

Only the shared skeleton so far (health RPC, own database, outbox relay);
its domain arrives with its own issue.
"""
from __future__ import annotations

from wenzhen.service import ServiceBase


class BookingService(ServiceBase):
    name = "booking"
