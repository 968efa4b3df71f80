"""Shipping: the courier's route pushes (the gateway forwards them unauthenticated; the check word that verifies them
is pharmacy's alone) and a refused shipment sent again."""
from __future__ import annotations

import functools

from contracts.pharmacy.dispensing import DispensingOrder
from services.pharmacy.orders.store import OrderStore
from services.pharmacy.shipping import usecases
from services.pharmacy.shipping.courier import CourierClient
from services.pharmacy.shipping.store import ShippingStore
from wenzhen.auth import Caller
from wenzhen.service import rpc
from wenzhen.timez import utcnow

COURIER_CALLER = Caller.service("courier")


@functools.cache
def courier_client(settings) -> CourierClient | None:
    """The courier of the (frozen) settings, one per process; None when none is configured (shipment requests then
    wait in the outbox)."""
    if not (settings.courier_url and settings.courier_check_word):
        return None
    return CourierClient(settings.courier_url, settings.courier_partner_id, settings.courier_check_word,
                         timeout=settings.courier_timeout)


class ShippingEntrypoints:
    @property
    def shipping(self) -> ShippingStore:
        return ShippingStore(self.store)

    @rpc
    def receive_route_push(self, body: dict) -> dict:
        return usecases.receive_push(self.shipping, OrderStore(self.store), courier_client(self.settings),
                                     COURIER_CALLER, body, utcnow())

    @rpc
    def retry_shipment(self, order_id: str) -> DispensingOrder:
        return usecases.retry_shipment(self.shipping, OrderStore(self.store), self.caller, order_id, utcnow())
