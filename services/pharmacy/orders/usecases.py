"""Dispensing orders' use cases: authorize → store → emit → audit (and the trace), one transaction each.

An order is made only from ``prescription_took_effect``, and only when records confirms the prescription is in
effect: no medicine before prescription. Money moves through payments (an invoice from ``fulfilment_chosen``; a
paid invoice's ``payment_succeeded`` makes the order paid and reserves its stock; a cancellation or return of a paid
order asks for a refund with ``refund_requested``).
"""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

from contracts.payments.events import PaymentSucceeded
from contracts.pharmacy.dispensing import (
    DispenseRequest,
    DispensingOrder,
    FulfilmentMethod,
    FulfilmentRequest,
    HandOverRequest,
    OrderCancelRequest,
    OrderItem,
    OrderQuery,
    PickLine,
    PrescriptionTrace,
    ReturnRequest,
    RouteStep,
    StatusStep,
    TraceStep,
)
from contracts.pharmacy.events import (
    DispensingOrderCreated,
    DispensingStarted,
    FulfilmentChosen,
    OrderCancelled,
    OrderDelivered,
    OrderDispensed,
    OrderPaid,
    OrderPickedUp,
    OrderReadyForPickup,
    OrderReturned,
    OrderShipped,
    PickedLot,
    RefundRequested,
    StockReservedForOrder,
)
from contracts.records.prescriptions import DispensingFacts, PrescriptionStatus
from services.pharmacy.orders import documents, rules
from services.pharmacy.orders.rules import ENTITY, OrderRecord, Policy, S, TraceEntry
from services.pharmacy.orders.store import OrderStore
from services.pharmacy.stock import usecases as stock
from services.pharmacy.stock.store import StockStore
from wenzhen import audit, ids
from wenzhen.audit import READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import hospital_zone, parse_iso, to_local_iso, to_utc_iso

SWEEP_BATCH = 100


def _ids(order: OrderRecord) -> dict:
    return dict(order_id=order.id, prescription_id=order.prescription_id, patient_id=order.patient_id)


def _lines(order: OrderRecord) -> dict[str, int]:
    lines: dict[str, int] = {}
    for item in order.items:
        lines[item.drug_code] = lines.get(item.drug_code, 0) + item.quantity
    return lines


def _role(caller: Caller) -> str:
    p = caller.principal
    return p.role.value if p.kind == "user" and p.role else p.sub


def _trace(store: OrderStore, tx: Tx, order: OrderRecord, step: str, caller: Caller, now: datetime,
           **values) -> None:
    p = caller.principal
    store.trace(tx, TraceEntry(prescription_id=order.prescription_id, patient_id=order.patient_id, step=step, at=now,
                               actor_role=_role(caller), actor_id=p.sub if p.is_staff else None, order_id=order.id,
                               **values))


def view(caller: Caller, order: OrderRecord) -> DispensingOrder:
    return DispensingOrder(
        id=order.id, prescription_id=order.prescription_id, patient_id=order.patient_id, status=order.status,
        items=list(order.items), total_fen=order.total_fen, delivery_fee_fen=order.delivery_fee_fen,
        amount_fen=order.amount_fen, delivery_allowed=order.delivery_allowed, method=order.method,
        location=order.location, delivery=order.delivery, valid_until=to_local_iso(order.valid_until),
        reserved=order.reserved, invoice_id=order.invoice_id, waybill=order.waybill,
        shipment_problem=order.shipment_problem, picks=list(order.picks),
        history=[StatusStep(status=h["status"], at=to_local_iso(h["at"]), by=h["by"]) for h in order.history],
        route=[RouteStep(op_code=r["op_code"], at=to_local_iso(r["at"]), place=r.get("place")) for r in order.route],
        created_at=to_local_iso(order.created_at), **rules.view_for(caller.principal, order))


def authorized(store: OrderStore, caller: Caller, order_id: str, action: str, subtype: str) -> OrderRecord:
    order = store.order(order_id)
    if order is None or not rules.sees(caller.principal, order):
        audit.record(store, caller, action, subtype, ENTITY, order_id, patient_id=order.patient_id if order else None,
                     outcome=Outcome.denied)
        raise rules.not_found(order_id)
    return order


def _move(store: OrderStore, caller: Caller, order: OrderRecord, action: str,
          step: Callable[[Tx], OrderRecord | None], detail: str | None = None) -> DispensingOrder:
    """One transition in its own transaction: ``step`` applies it (None: the order was not in a source state, a 409
    naming the state it is in now), then the caller's change is audited."""
    def body(tx: Tx) -> OrderRecord:
        done = step(tx)
        if done is None:
            raise rules.refused(action, store.order(order.id, tx) or order)
        audit.record(tx, caller, UPDATE, "update", ENTITY, done.id, patient_id=done.patient_id,
                     detail=detail or action)
        return done

    return view(caller, store.transact(body))


# from records' events ------------------------------------------------------------------------------------------------
def create_from_prescription(store: OrderStore, tx: Tx, caller: Caller, facts: DispensingFacts, policy: Policy,
                             now: datetime) -> OrderRecord | None:
    """The order of a prescription records confirms is in effect; None when it has one already (a redelivery) or is
    not in effect (then nothing may be dispensed)."""
    if facts.status is not PrescriptionStatus.took_effect:
        return None
    items = tuple(OrderItem(drug_code=i.drug_code, name=i.name, strength=i.strength, form=i.form, unit=i.unit,
                            quantity=i.quantity, price_fen=i.price_fen, categories=i.categories) for i in facts.items)
    order = OrderRecord(
        id=ids.new_id("dsp"), prescription_id=facts.prescription_id, patient_id=facts.patient_id,
        status=S.awaiting_payment, items=items, total_fen=sum(i.price_fen * i.quantity for i in items),
        delivery_allowed=rules.delivery_allowed(items, policy), valid_until=parse_iso(facts.valid_until),
        created_at=now, version=1, history=({"status": S.awaiting_payment.value, "at": now, "by": "system"},))
    if not store.insert(tx, order):
        return None
    tx.emit(DispensingOrderCreated(**_ids(order), items=len(items), total_fen=order.total_fen,
                                   valid_until=facts.valid_until, delivery_allowed=order.delivery_allowed),
            subject=order.id)
    _trace(store, tx, order, "order_created", caller, now)
    return order


def trace_prescription_step(store: OrderStore, tx: Tx, prescription_id: str, patient_id: str, step: str, at: datetime,
                            actor_role: str, actor_id: str | None, outcome: str | None = None) -> None:
    """A step records took (signed, reviewed, rejected, took effect, lapsed), kept beside pharmacy's own."""
    store.trace(tx, TraceEntry(prescription_id=prescription_id, patient_id=patient_id, step=step, at=at,
                               actor_role=actor_role, actor_id=actor_id, outcome=outcome))


# the patient's choice ------------------------------------------------------------------------------------------------
def choose_fulfilment(store: OrderStore, stock_store: StockStore, caller: Caller, order_id: str,
                      request: FulfilmentRequest, policy: Policy, now: datetime) -> DispensingOrder:
    order = authorized(store, caller, order_id, UPDATE, "update")  # the patient, or a pharmacist on the phone
    if order.status is not S.awaiting_payment:
        raise Conflict(f"The order is {order.status.value}: the choice is made before paying (cancel it to change "
                       "it).", [field_error("status", f"is {order.status.value}", "invalid_transition")])
    rules.check_not_expired(order, now)
    pharmacies = stock_store.pharmacies()
    dispatch = next((p.code for p in pharmacies if p.dispatches), None)
    location = rules.check_fulfilment(order, request, {p.code for p in pharmacies}, dispatch,
                                      now.astimezone(hospital_zone()).date())
    fee = rules.delivery_fee(request.method, policy)

    def body(tx: Tx) -> OrderRecord:
        chosen = store.choose(tx, order_id, request.method, location, request.delivery, fee)
        if chosen is None:
            raise Conflict("The order was paid or ended meanwhile.",
                           [field_error("status", "is no longer awaiting_payment", "invalid_transition")])
        tx.emit(FulfilmentChosen(**_ids(chosen), method=request.method.value, location=location,
                                 total_fen=chosen.total_fen, delivery_fee_fen=fee, amount_fen=chosen.amount_fen,
                                 choice=chosen.choice), subject=chosen.id)
        _trace(store, tx, chosen, "fulfilment_chosen", caller, now, location=location)
        audit.record(tx, caller, UPDATE, "update", ENTITY, chosen.id, patient_id=chosen.patient_id,
                     detail="fulfilment")
        return chosen

    return view(caller, store.transact(body))


# payment -------------------------------------------------------------------------------------------------------------
def paid(store: OrderStore, stock_store: StockStore, tx: Tx, caller: Caller, event: PaymentSucceeded,
         policy: Policy, now: datetime) -> None:
    """Payments settled the order's invoice: paid, and its stock reserved if there is enough. A payment for an order
    that is no longer waiting for one (cancelled meanwhile) is refunded at once: money is never kept for nothing."""
    order = store.order(event.reference, tx)
    if order is None:
        return
    done = store.transition(tx, order.id, "pay", "payments", now, when={"method": {"$ne": None}},
                            set_={"invoice_id": event.invoice_id, "paid_fen": event.amount_fen})
    if done is None:
        tx.emit(RefundRequested(**_ids(order), invoice_id=event.invoice_id, amount_fen=event.amount_fen,
                                reason="cancelled"), subject=order.id)
        _trace(store, tx, order, "refund_requested", caller, now, outcome="paid_after_end")
        return
    reserved = stock.reserve(stock_store, tx, done.location, _lines(done).items(), policy.low_stock_units)
    if reserved:
        store.set_fields(tx, done.id, {}, {"reserved": True})
    tx.emit(OrderPaid(**_ids(done), invoice_id=event.invoice_id, amount_fen=event.amount_fen, location=done.location,
                      reserved=reserved), subject=done.id)
    _trace(store, tx, done, "paid", caller, now)


def reserve_again(store: OrderStore, stock_store: StockStore, caller: Caller, order_id: str, policy: Policy,
                  now: datetime) -> DispensingOrder:
    """A pharmacist reserves a paid order's stock after a shortage (a lot arrived)."""
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, UPDATE, "update")

    def body(tx: Tx) -> OrderRecord:
        if order.status is not S.paid or order.reserved:
            raise Conflict("Only a paid order without a reservation is reserved again.",
                           [field_error("status", f"is {order.status.value}", "invalid_transition")])
        if not stock.reserve(stock_store, tx, order.location, _lines(order).items(), policy.low_stock_units):
            raise Conflict("Still too few units free at this pharmacy.",
                           [field_error("items", "are short at this pharmacy", "out_of_stock")])
        done = store.set_fields(tx, order.id, {"status": S.paid.value, "reserved": False}, {"reserved": True})
        if done is None:
            raise Conflict("The order changed meanwhile.", [field_error("status", "changed", "invalid_transition")])
        tx.emit(StockReservedForOrder(**_ids(done), location=done.location), subject=done.id)
        audit.record(tx, caller, UPDATE, "update", ENTITY, done.id, patient_id=done.patient_id, detail="reserve")
        return done

    return view(caller, store.transact(body))


# dispensing ----------------------------------------------------------------------------------------------------------
def start(store: OrderStore, caller: Caller, order_id: str, now: datetime) -> DispensingOrder:
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, UPDATE, "update")
    rules.check_not_expired(order, now)
    if order.status is S.paid and not order.reserved:
        raise Conflict("Its stock is not reserved (a shortage): reserve it first, or cancel the order.",
                       [field_error("reserved", "is false", "out_of_stock")])

    def started(tx: Tx) -> OrderRecord | None:
        done = store.transition(tx, order.id, "start", "pharmacist", now, when={"reserved": True},
                                set_={"pharmacist_id": caller.principal.sub})
        if done is not None:
            tx.emit(DispensingStarted(**_ids(done), pharmacist_id=caller.principal.sub, location=done.location),
                    subject=done.id)
            _trace(store, tx, done, "dispensing_started", caller, now, location=done.location)
        return done

    return _move(store, caller, order, "start", started)


def pick_list(store: OrderStore, stock_store: StockStore, caller: Caller, order_id: str,
              now: datetime) -> list[PickLine]:
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, READ, "read")
    if order.location is None:
        raise Conflict("The patient has not chosen delivery or pickup yet.",
                       [field_error("method", "is not chosen", "missing")])
    audit.record(store, caller, READ, "read", ENTITY, order.id, patient_id=order.patient_id, detail="pick list")
    return stock.pick_list(stock_store, order.location, _lines(order).items(), now.astimezone(hospital_zone()).date())


def dispense(store: OrderStore, stock_store: StockStore, caller: Caller, order_id: str, request: DispenseRequest,
             request_shipment: Callable[[Tx, OrderRecord], None], policy: Policy, now: datetime) -> DispensingOrder:
    """Take the units from their lots (first expiry first out unless the pharmacist picks) and hand the order on: a
    shipment request for delivery (sent to the courier from the shipping outbox), a pickup code for pickup."""
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, UPDATE, "update")
    rules.check_not_expired(order, now)
    if order.status is not S.dispensing or order.picks:
        raise Conflict(f"The order is {order.status.value}{' and dispensed' if order.picks else ''}; dispensing "
                       "needs it started and not yet dispensed.",
                       [field_error("status", f"is {order.status.value}", "invalid_transition")])
    today = now.astimezone(hospital_zone()).date()
    lines = _lines(order)
    picks = request.picks if request.picks is not None else stock.suggested_picks(stock_store, order.location,
                                                                                    lines, today)

    def body(tx: Tx) -> OrderRecord:
        taken = stock.dispense(stock_store, tx, order.location, lines, picks, policy.low_stock_units, today)
        dumped = [p.model_dump(mode="json") for p in taken]
        when = {"status": S.dispensing.value, "picks": None}
        values = {"dispensed_at": now, "dispensed_by": caller.principal.sub, "reserved": False}
        if order.method is FulfilmentMethod.pickup:
            code = f"{secrets.randbelow(1_000_000):06d}"
            done = store.transition(tx, order.id, "ready", "pharmacist", now, when={"picks": None}, set_=values,
                                    sealed={"picks": dumped, "pickup_code": code})
        else:
            done = store.set_fields(tx, order.id, when, values, sealed={"picks": dumped})
        if done is None:
            raise rules.refused("ready", store.order(order.id, tx) or order)
        lots = [PickedLot(drug_code=p.drug_code, prescribed_code=p.prescribed_code, lot_no=p.lot_no,
                          expiry=p.expiry.isoformat(), quantity=p.quantity) for p in taken]
        tx.emit(OrderDispensed(**_ids(done), pharmacist_id=caller.principal.sub, location=done.location,
                               method=done.method.value, lots=lots,
                               substitutions=sum(1 for p in taken if p.substitution_reason)), subject=done.id)
        _trace(store, tx, done, "dispensed", caller, now, location=done.location, lots=dumped)
        if done.method is FulfilmentMethod.pickup:
            tx.emit(OrderReadyForPickup(**_ids(done), location=done.location), subject=done.id)
            _trace(store, tx, done, "ready_for_pickup", caller, now, location=done.location)
        else:
            request_shipment(tx, done)
        audit.record(tx, caller, UPDATE, "update", ENTITY, done.id, patient_id=done.patient_id, detail="dispense")
        return done

    return view(caller, store.transact(body))


def hand_over(store: OrderStore, caller: Caller, order_id: str, request: HandOverRequest,
              now: datetime) -> DispensingOrder:
    """The patient shows the pickup code; a pharmacist checks it (in constant time) and hands the medicine over."""
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, UPDATE, "update")
    if order.status is not S.ready_for_pickup:
        raise rules.refused("pick_up", order)
    if order.pickup_attempts >= rules.PICKUP_ATTEMPTS:
        raise Conflict("Too many wrong pickup codes: check the patient's identity document and cancel or return the "
                       "order.", [field_error("pickup_code", "is locked after too many wrong codes", "locked")])
    if not hmac.compare_digest(request.pickup_code.encode(), (order.pickup_code or "").encode()):
        store.transact(lambda tx: store.count_pickup_attempt(tx, order.id, rules.PICKUP_ATTEMPTS))
        audit.record(store, caller, UPDATE, "update", ENTITY, order.id, patient_id=order.patient_id,
                     outcome=Outcome.denied, detail="wrong pickup code")
        raise InvalidInput("That is not this order's pickup code.",
                           [field_error("pickup_code", "does not match", "mismatch")])

    def picked_up(tx: Tx) -> OrderRecord | None:
        done = store.transition(tx, order.id, "pick_up", "pharmacist", now,
                                set_={"handed_over_by": caller.principal.sub})
        if done is not None:
            tx.emit(OrderPickedUp(**_ids(done), location=done.location, pharmacist_id=caller.principal.sub),
                    subject=done.id)
            _trace(store, tx, done, "picked_up", caller, now, location=done.location)
        return done

    return _move(store, caller, order, "pick_up", picked_up, detail="hand over")


def confirm_receipt(store: OrderStore, caller: Caller, order_id: str, now: datetime) -> DispensingOrder:
    order = authorized(store, caller, order_id, UPDATE, "update")
    rules.require_patient_of(caller.principal, order)
    if order.status is not S.shipped:
        raise Conflict(f"The order is {order.status.value}; receipt is confirmed once it is shipped.",
                       [field_error("status", f"is {order.status.value}", "invalid_transition")])

    return _move(store, caller, order, "deliver", lambda tx: delivered(store, tx, caller, order.id, "patient", now),
                 detail="receipt")


# ending without the medicine in hand ---------------------------------------------------------------------------------
def _refund(store: OrderStore, tx: Tx, caller: Caller, order: OrderRecord, reason: str, now: datetime) -> None:
    if order.paid_fen > 0 and order.invoice_id:
        tx.emit(RefundRequested(**_ids(order), invoice_id=order.invoice_id, amount_fen=order.paid_fen, reason=reason),
                subject=order.id)
        _trace(store, tx, order, "refund_requested", caller, now, outcome=reason)


def _cancel(store: OrderStore, stock_store: StockStore, tx: Tx, caller: Caller, order: OrderRecord, by: str,
            reason: str, now: datetime) -> OrderRecord | None:
    action = "cancel_started" if order.status is S.dispensing else "cancel"
    done = store.transition(tx, order.id, action, by, now, when={"picks": None, "reserved": order.reserved},
                            set_={"reserved": False, "cancel_reason": reason})
    if done is None:
        return None
    if order.reserved:
        stock.release(stock_store, tx, order.location, _lines(order).items())
    tx.emit(OrderCancelled(**_ids(done), by=by, reason=reason, was_paid=done.paid_fen > 0), subject=done.id)
    _trace(store, tx, done, "cancelled", caller, now, outcome=reason)
    _refund(store, tx, caller, done, "cancelled", now)
    return done


def cancel(store: OrderStore, stock_store: StockStore, caller: Caller, order_id: str, request: OrderCancelRequest,
           now: datetime) -> DispensingOrder:
    """The patient before dispensing starts; a pharmacist also once started, before anything was taken from a lot."""
    order = authorized(store, caller, order_id, UPDATE, "update")
    p = caller.principal
    by = "pharmacist" if p.has_role(Role.pharmacist) else "patient"
    if by == "patient":
        rules.require_patient_of(p, order)
        if order.status is S.dispensing:
            raise rules.refused("cancel", order)
    if order.picks:
        raise Conflict("The medicine was dispensed: it can be returned, not cancelled.",
                       [field_error("status", "is dispensed", "invalid_transition")])

    return _move(store, caller, order, "cancel",
                 lambda tx: _cancel(store, stock_store, tx, caller, order, by, request.reason.value, now))


def return_order(store: OrderStore, caller: Caller, order_id: str, request: ReturnRequest,
                 now: datetime) -> DispensingOrder:
    """A pharmacist takes the medicine back (not collected, refused, damaged): it is not put back into stock (a
    dispensed medicine is not dispensed again); a paid order is refunded."""
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, UPDATE, "update")

    return _move(store, caller, order, "return",
                 lambda tx: returned(store, tx, caller, order.id, "pharmacist", request.reason.value, now))


def expire_due(store: OrderStore, stock_store: StockStore, caller: Caller, now: datetime,
               limit: int = SWEEP_BATCH) -> int:
    """Cancel the orders whose prescription's validity ended before they were dispensed (releasing their stock and
    refunding what was paid)."""
    ended = 0
    for order_id in store.due_to_expire(now, limit):
        def body(tx: Tx, oid: str = order_id) -> int:
            order = store.order(oid, tx)
            if order is None or order.status not in (S.awaiting_payment, S.paid):
                return 0
            return 1 if _cancel(store, stock_store, tx, caller, order, "expiry", "prescription_expired", now) else 0

        ended += store.transact(body)
    return ended


# the courier's side (called by shipping, in its transaction) ----------------------------------------------------------
def shipped(store: OrderStore, tx: Tx, caller: Caller, order_id: str, waybill: str, courier: str, attempts: int,
            now: datetime) -> OrderRecord | None:
    done = store.transition(tx, order_id, "ship", "courier", now, when={"picks": {"$ne": None}},
                            set_={"waybill": waybill, "shipment_problem": None})
    if done is not None:
        tx.emit(OrderShipped(**_ids(done), waybill=waybill, courier=courier, attempts=attempts), subject=done.id)
        _trace(store, tx, done, "shipped", caller, now, waybill=waybill)
    return done


def delivered(store: OrderStore, tx: Tx, caller: Caller, order_id: str, by: str, now: datetime) -> OrderRecord | None:
    done = store.transition(tx, order_id, "deliver", by, now, when={"waybill": {"$ne": None}})
    if done is not None:
        tx.emit(OrderDelivered(**_ids(done), waybill=done.waybill, by=by), subject=done.id)
        _trace(store, tx, done, "delivered", caller, now, waybill=done.waybill)
    return done


def returned(store: OrderStore, tx: Tx, caller: Caller, order_id: str, by: str, reason: str,
             now: datetime) -> OrderRecord | None:
    done = store.transition(tx, order_id, "return", by, now, set_={"return_reason": reason})
    if done is not None:
        tx.emit(OrderReturned(**_ids(done), by=by, reason=reason), subject=done.id)
        _trace(store, tx, done, "returned", caller, now, outcome=reason)
        _refund(store, tx, caller, done, "returned", now)
    return done


def shipment_problem(store: OrderStore, tx: Tx, order_id: str, problem: str | None) -> None:
    store.set_fields(tx, order_id, {}, {"shipment_problem": problem})


# reading -------------------------------------------------------------------------------------------------------------
def get(store: OrderStore, caller: Caller, order_id: str) -> DispensingOrder:
    order = authorized(store, caller, order_id, READ, "read")
    audit.record(store, caller, READ, "read", ENTITY, order.id, patient_id=order.patient_id)
    return view(caller, order)


def shipping_label(store: OrderStore, stock_store: StockStore, caller: Caller, order_id: str, now: datetime) -> bytes:
    """The label of a delivery being dispensed or shipped, as PDF (pharmacists; audited)."""
    rules.require_pharmacist(caller.principal)
    order = authorized(store, caller, order_id, READ, "read")
    if order.method is not FulfilmentMethod.delivery or order.status not in (S.dispensing, S.shipped):
        raise Conflict("A shipping label exists for a delivery being dispensed or shipped.",
                       [field_error("status", f"is {order.status.value}", "invalid_transition")])
    audit.record(store, caller, READ, "read", ENTITY, order.id, patient_id=order.patient_id, detail="label")
    return documents.label_pdf(order, stock_store.pharmacy(order.location), now)


def pickup_code_image(store: OrderStore, caller: Caller, order_id: str) -> bytes:
    """The pickup code as a QR code (SVG), for the patient once the order is ready (audited)."""
    order = authorized(store, caller, order_id, READ, "read")
    rules.require_patient_of(caller.principal, order)
    if order.status is not S.ready_for_pickup:
        raise Conflict("The pickup code exists once the order is ready for pickup.",
                       [field_error("status", f"is {order.status.value}", "invalid_transition")])
    audit.record(store, caller, READ, "read", ENTITY, order.id, patient_id=order.patient_id, detail="pickup code")
    return documents.qr_svg(order.pickup_code)


def list_orders(store: OrderStore, caller: Caller, query: OrderQuery) -> list[DispensingOrder]:
    """Patients: a record they act for (newest first). Pharmacists: a patient's, or a status queue (oldest first)."""
    p = caller.principal
    if p.has_role(Role.patient):
        if query.patient_id is None or not p.acts_for(query.patient_id):
            audit.record(store, caller, READ, "list", ENTITY, None, patient_id=query.patient_id,
                         outcome=Outcome.denied)
            raise Forbidden("Patients list the orders of a record they act for (patient_id).")
    elif p.has_role(Role.pharmacist):
        if query.patient_id is None and query.status is None:
            raise InvalidInput("Name a patient or a status (the dispensing queue is status=paid).",
                               [field_error("status", "or patient_id is required", "missing")])
    else:
        raise Forbidden("Only patients and pharmacists list dispensing orders.")
    found = store.orders(patient_id=query.patient_id, status=query.status.value if query.status else None,
                         location=query.location, limit=query.limit)
    for order in found:
        audit.record(store, caller, READ, "list", ENTITY, order.id, patient_id=order.patient_id)
    return [view(caller, o) for o in found]


def trace(store: OrderStore, caller: Caller, prescription_id: str) -> PrescriptionTrace:
    """The prescription's whole path, for pharmacists and managers (and a regulator's feed through them)."""
    if not caller.principal.has_role(Role.pharmacist, Role.manager):
        raise Forbidden("Only pharmacists and managers read a prescription's trace.")
    steps = store.trace_of(prescription_id)
    if not steps:
        audit.record(store, caller, READ, "read", "Provenance", prescription_id, outcome=Outcome.denied)
        raise NotFound(f"No trace of prescription {prescription_id}.")
    audit.record(store, caller, READ, "read", "Provenance", prescription_id, patient_id=steps[0].patient_id)
    return PrescriptionTrace(prescription_id=prescription_id, patient_id=steps[0].patient_id, steps=[
        TraceStep(step=s.step, at=to_utc_iso(s.at), actor_role=s.actor_role, actor_id=s.actor_id, order_id=s.order_id,
                  location=s.location, lots=s.lots, waybill=s.waybill, outcome=s.outcome) for s in steps])
