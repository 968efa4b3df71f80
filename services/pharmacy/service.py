"""pharmacy: dispensing orders from prescriptions that took effect (``orders/``), pharmacies and their stock by lot
(``stock/``), and courier delivery (``shipping/``) over one database, with two background loops (each in one pharmacy
process at a time, by lease):

- the **shipping loop** (every ``PHARMACY_SHIPPING_POLL_SECONDS``) sends the courier's outbox — shipment requests
  written when an order was dispensed — retrying with backoff while the courier is unavailable, and confirms by query
  the route pushes that could not be verified;
- the **sweeper** (every ``PHARMACY_SWEEP_SECONDS``) cancels orders whose prescription's validity ended before they
  were dispensed, releasing their stock and refunding what was paid.

Each capability is a sub-package with ``rules.py``, ``store.py``, ``usecases.py`` and ``entrypoints.py``
(docs/adding-a-service.md). Items, addresses, phones and pickup codes are encrypted at rest; every read of an order
is audited.
"""
from __future__ import annotations

from services.pharmacy.orders import store as order_store
from services.pharmacy.orders import usecases as orders
from services.pharmacy.orders.entrypoints import OrderEntrypoints
from services.pharmacy.orders.store import OrderStore
from services.pharmacy.settings import PharmacySettings
from services.pharmacy.shipping import store as shipping_store
from services.pharmacy.shipping import usecases as shipping
from services.pharmacy.shipping.entrypoints import COURIER_CALLER, ShippingEntrypoints, courier_client
from services.pharmacy.shipping.store import ShippingStore
from services.pharmacy.stock import store as stock_store
from services.pharmacy.stock.entrypoints import StockEntrypoints
from services.pharmacy.stock.store import StockStore
from wenzhen.auth import Caller, bind_caller
from wenzhen.config import Settings, settings
from wenzhen.lease import LeasedLoop
from wenzhen.service import LeasedLoops, ServiceBase
from wenzhen.storage import Store
from wenzhen.timez import utcnow

SYSTEM = Caller.service("pharmacy")


class ShippingLoop(LeasedLoop):
    lease_name = "pharmacy-shipping"

    def __init__(self, store: Store, cfg: Settings, own: PharmacySettings):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=own.shipping_poll_seconds,
                         retry_max=cfg.outbox_retry_max)
        self.courier = courier_client(own)
        self.orders, self.stock, self.shipping = OrderStore(store), StockStore(store), ShippingStore(store)

    def round(self) -> int:
        if self.courier is None:
            return 0
        bind_caller(COURIER_CALLER)
        now = utcnow()
        return (shipping.send_due(self.shipping, self.orders, self.stock, self.courier, COURIER_CALLER, now)
                + shipping.confirm_pushes(self.shipping, self.orders, self.courier, COURIER_CALLER, now))


class Sweeper(LeasedLoop):
    lease_name = "pharmacy-sweeper"

    def __init__(self, store: Store, cfg: Settings, own: PharmacySettings):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=own.sweep_seconds,
                         retry_max=cfg.outbox_retry_max)
        self.orders, self.stock = OrderStore(store), StockStore(store)

    def round(self) -> int:
        bind_caller(SYSTEM)
        return orders.expire_due(self.orders, self.stock, SYSTEM, utcnow())


class PharmacyService(OrderEntrypoints, StockEntrypoints, ShippingEntrypoints, ServiceBase):
    name = "pharmacy"
    settings_class = PharmacySettings
    indexes = [*order_store.INDEXES, *stock_store.INDEXES, *shipping_store.INDEXES]
    upgrades = stock_store.UPGRADES

    timers = LeasedLoops(lambda store, own: [ShippingLoop(store, settings(), own), Sweeper(store, settings(), own)])
