"""Shipping use cases: the courier's outbox (send what was dispensed, retry with backoff), route pushes (believed only
when signed with our check word; otherwise the waybill is queried from the courier), and what a route step does to the
order (through the orders' use cases, in the same transaction)."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from contracts.pharmacy.courier import Contact, RouteEvent, RoutePush, ShipmentRequest, push_answer
from contracts.pharmacy.dispensing import DispensingOrder
from contracts.pharmacy.events import ShipmentProgressed
from contracts.records.codes import DrugCategory
from services.pharmacy.orders import rules as order_rules
from services.pharmacy.orders import usecases as orders
from services.pharmacy.orders.rules import OrderRecord
from services.pharmacy.orders.store import OrderStore
from services.pharmacy.shipping import rules
from services.pharmacy.shipping.courier import CourierRefused, CourierUnavailable
from services.pharmacy.shipping.store import ShippingStore
from services.pharmacy.stock.store import StockStore
from wenzhen import audit
from wenzhen.audit import UPDATE
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import Tx
from wenzhen.timez import to_utc_iso

log = logging.getLogger("pharmacy.shipping")
COURIER = "sf"
BATCH = 20


class Courier(Protocol):
    def create_shipment(self, order: ShipmentRequest) -> str: ...

    def query_routes(self, waybill: str) -> list[RouteEvent]: ...

    def verify_push(self, body: dict) -> RoutePush | None: ...


def request_shipment(store: ShippingStore, tx: Tx, order: OrderRecord, now: datetime) -> None:
    """In the dispensing transaction: the courier's request is written, not sent (the loop sends it)."""
    store.request(tx, order.id, now)


def _shipment(order: OrderRecord, stock: StockStore) -> ShipmentRequest:
    pharmacy = stock.pharmacy(order.location)
    d = order.delivery
    cold = any(DrugCategory.cold_chain in i.categories for i in order.items)
    return ShipmentRequest(
        order_id=order.id, cargo="药品", cold_chain=cold,
        sender=Contact(name=pharmacy.name, phone=pharmacy.phone, address=pharmacy.address, city=pharmacy.address[:3]),
        recipient=Contact(name=d.recipient, phone=d.phone, address=d.address, city=d.city),
        remark=f"{d.day.isoformat()} {d.window.value}")


def send_due(store: ShippingStore, order_store: OrderStore, stock: StockStore, courier: Courier, caller: Caller,
             now: datetime) -> int:
    """Send the waiting shipment requests whose time has come; the number handled."""
    handled = 0
    for request in store.due_requests(now, BATCH):
        order_id, attempts = request["_id"], request["attempts"] + 1
        order = order_store.order(order_id)
        if order is None or order.delivery is None:
            continue
        try:
            waybill = courier.create_shipment(_shipment(order, stock))
        except CourierUnavailable as exc:
            log.info("courier unavailable for %s (attempt %d): %s", order_id, attempts, exc)
            store.retry_later(order_id, attempts, rules.next_attempt(attempts, now), "unavailable")
            order_store.transact(lambda tx, oid=order_id, n=attempts: orders.shipment_problem(
                order_store, tx, oid, f"courier unavailable (attempt {n}); retrying"))
            handled += 1
            continue
        except CourierRefused as exc:
            log.warning("courier refused %s: %s", order_id, exc.code)

            def refuse(tx: Tx, oid: str = order_id, n: int = attempts, code: str = exc.code) -> None:
                store.refused(tx, oid, n, code)
                orders.shipment_problem(order_store, tx, oid, f"courier refused ({code})")

            order_store.transact(refuse)
            handled += 1
            continue

        def body(tx: Tx, oid: str = order_id, n: int = attempts, wb: str = waybill) -> None:
            if store.sent(tx, oid, wb, n, now):
                orders.shipped(order_store, tx, caller, oid, wb, COURIER, n, now)

        order_store.transact(body)
        handled += 1
    return handled


def retry_shipment(store: ShippingStore, order_store: OrderStore, caller: Caller, order_id: str,
                   now: datetime) -> DispensingOrder:
    """A pharmacist sends a shipment the courier refused again (after what it objected to was put right)."""
    order_rules.require_pharmacist(caller.principal)
    order = orders.authorized(order_store, caller, order_id, UPDATE, "update")

    def body(tx: Tx) -> None:
        if not store.retry_refused(tx, order.id, now):
            raise Conflict("Only a shipment the courier refused is sent again.",
                           [field_error("shipment_problem", "is not a refusal", "invalid_transition")])
        orders.shipment_problem(order_store, tx, order.id, None)
        audit.record(tx, caller, UPDATE, "update", order_rules.ENTITY, order.id, patient_id=order.patient_id,
                     detail="retry shipment")

    order_store.transact(body)
    return orders.get(order_store, caller, order.id)


# route pushes --------------------------------------------------------------------------------------------------------
def receive_push(store: ShippingStore, order_store: OrderStore, courier: Courier | None, caller: Caller, body: dict,
                 now: datetime) -> dict:
    """Answer fast: a signed push is applied at once (duplicates and late steps are harmless); an unsigned or wrongly
    signed one is not believed, its known waybills are queried from the courier by the loop."""
    try:
        push = courier.verify_push(body) if courier else None
        parsed = push or RoutePush.parse(body)
    except ValueError as exc:
        return push_answer(False, str(exc)[:100])
    if push is not None:
        order_store.transact(lambda tx: apply_routes(store, order_store, tx, caller, push.events, "signature", now))
        return push_answer(True)
    for event in parsed.events:
        if _order_for(order_store, event) is not None:
            store.check_later(event.mailno, now)
    return push_answer(True)


def _order_for(order_store: OrderStore, event: RouteEvent, tx: Tx | None = None) -> OrderRecord | None:
    """The order a step is about: by its waybill, or by our order id when the waybill is not recorded yet."""
    order = order_store.by_waybill(event.mailno, tx)
    if order is None and event.orderid:
        order = order_store.order(event.orderid, tx)
    if order is None or (event.orderid and event.orderid != order.id) or order.waybill not in (None, event.mailno):
        return None
    return order


def confirm_pushes(store: ShippingStore, order_store: OrderStore, courier: Courier, caller: Caller,
                   now: datetime) -> int:
    """Ask the courier for the routes of waybills named by pushes that could not be verified."""
    handled = 0
    for check in store.due_checks(now, BATCH):
        waybill, attempts = check["_id"], check["attempts"] + 1
        try:
            events = courier.query_routes(waybill)
        except (CourierUnavailable, CourierRefused) as exc:
            if attempts >= rules.PUSH_CHECK_ATTEMPTS:
                log.warning("route of %s could not be confirmed after %d queries; dropped", waybill, attempts)
                store.checked(waybill)
            else:
                store.check_again(waybill, attempts, rules.next_attempt(attempts, now))
            log.info("route query for %s failed: %s", waybill, exc)
            handled += 1
            continue
        settled = order_store.transact(lambda tx, ev=events: apply_routes(store, order_store, tx, caller, ev, "query",
                                                                          now))
        if settled or attempts >= rules.PUSH_CHECK_ATTEMPTS:
            store.checked(waybill)
        else:
            store.check_again(waybill, attempts, rules.next_attempt(attempts, now))
        handled += 1
    return handled


def apply_routes(store: ShippingStore, order_store: OrderStore, tx: Tx, caller: Caller, events: Iterable[RouteEvent],
                 verified_by: str, now: datetime) -> bool:
    """Each new step once, in the courier's time order; its effect only moves the order forward. False when a step
    is about an order whose waybill is not recorded yet (the courier pushed before our request's answer committed):
    that waybill is queried again later instead."""
    settled = True
    for event in sorted(events, key=lambda e: (e.accept_time, e.op_code.rank)):
        order = _order_for(order_store, event, tx)
        if order is None:
            continue
        if order.waybill is None:
            store.check_later(event.mailno, now)
            settled = False
            continue
        if not store.keep_route_event(tx, order.id, event, verified_by, now):
            continue
        order_store.add_route_step(tx, order.id, {"op_code": event.op_code.value, "at": event.accept_time,
                                                  "place": event.accept_address or None,
                                                  "rank": event.op_code.rank})
        tx.emit(ShipmentProgressed(order_id=order.id, prescription_id=order.prescription_id,
                                   patient_id=order.patient_id, waybill=event.mailno, op_code=event.op_code.value,
                                   at=to_utc_iso(event.accept_time)), subject=order.id)
        effect = rules.effect(event.op_code)
        if effect == "deliver":
            orders.delivered(order_store, tx, caller, order.id, "courier", now)
        elif effect == "return":
            orders.returned(order_store, tx, caller, order.id, "courier", "undeliverable", now)
        elif effect == "problem":
            orders.shipment_problem(order_store, tx, order.id, "delivery attempt failed")
    return settled
