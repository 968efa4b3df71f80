"""Stock under concurrency, in the real database: 50 orders paid at once for the last 10 units get exactly 10
reservations, and the counts never go below zero (one conditional update per line, inside each order's
transaction)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.payments.events import PaymentSucceeded
from contracts.pharmacy.dispensing import FulfilmentMethod, OrderItem
from services.pharmacy.orders import usecases as orders
from services.pharmacy.orders.rules import OrderRecord, Policy, S
from services.pharmacy.orders.store import OrderStore
from services.pharmacy.stock.rules import Lot, Product
from services.pharmacy.stock.store import StockStore
from wenzhen.auth import Caller
from wenzhen.crypto import Keyring, new_key_settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
PAYMENTS = Caller.service("payments")


def order(n: int, keys: Keyring, store: OrderStore) -> str:
    record = OrderRecord(
        id=f"dsp_{n:026d}", prescription_id=f"rx_{n}", patient_id=f"pat_{n}", status=S.awaiting_payment,
        items=(OrderItem(drug_code="AML-5-TAB", name="苯磺酸氨氯地平片", strength="5 mg", form="tablet", unit="盒",
                         quantity=1, price_fen=2960, categories=[]),),
        total_fen=2960, delivery_allowed=True, valid_until=NOW + timedelta(days=1), created_at=NOW, version=1,
        history=({"status": "awaiting_payment", "at": NOW, "by": "system"},))

    def body(tx):
        store.insert(tx, record)
        store.choose(tx, record.id, FulfilmentMethod.pickup, "central", None, 0)

    store.transact(body)
    return record.id


def test_fifty_orders_paid_at_once_get_exactly_the_last_ten_units(db_store):
    keys = Keyring.from_env(new_key_settings())
    stock, store = StockStore(db_store, keys), OrderStore(db_store, keys)
    lot = Lot("central", "AML-5-TAB", "B1", date(2027, 6, 30), 10, 10)
    db_store.transact(lambda tx: stock.receive(tx, lot, Product("AML-5-TAB", "amlodipine", "5 mg", "tablet"), NOW))
    ids = [order(n, keys, store) for n in range(50)]

    def pay(order_id: str) -> None:
        event = PaymentSucceeded(invoice_id=f"inv_{order_id}", patient_id="pat_x", purpose="dispensing_order",
                                 reference=order_id, amount_fen=2960, method="cash", payment_id=f"pay_{order_id}")
        store.transact(lambda tx: orders.paid(store, stock, tx, PAYMENTS, event, Policy(low_stock_units=3), NOW))

    with ThreadPoolExecutor(max_workers=25) as pool:
        list(pool.map(pay, ids))

    paid = [store.order(i) for i in ids]
    assert all(o.status is S.paid for o in paid)
    assert sum(o.reserved for o in paid) == 10
    line = stock.line("central", "AML-5-TAB")
    assert (line["on_hand"], line["reserved"], line["available"]) == (10, 10, 0)
    events = [e["type"] for e in db_store["outbox"].find({}, {"type": 1})]
    assert events.count("order_paid") == 50
    reserved_events = db_store["outbox"].count_documents({"type": "order_paid", "envelope.data.reserved": True})
    assert reserved_events == 10
    assert events.count("stock_low") >= 1  # crossing the threshold, and each refused reservation says so

    # a cancellation gives its units back, and the next paid order gets them
    first = next(o for o in paid if o.reserved)
    db_store.transact(lambda tx: orders._cancel(store, stock, tx, PAYMENTS, first, "patient", "patient_request", NOW))
    line = stock.line("central", "AML-5-TAB")
    assert (line["on_hand"], line["reserved"], line["available"]) == (10, 9, 1)
    refund = db_store["outbox"].find_one({"type": "refund_requested", "subject": first.id})
    assert refund["envelope"]["data"]["amount_fen"] == 2960


def test_a_substitute_needs_an_equivalent_product_and_a_reason(db_store):
    from contracts.pharmacy.dispensing import PickRequest
    from services.pharmacy.stock import usecases as stock_usecases
    from wenzhen.errors import InvalidInput

    keys = Keyring.from_env(new_key_settings())
    stock = StockStore(db_store, keys)
    amlodipine = Product("AML-5-TAB", "amlodipine", "5 mg", "tablet")
    generic = Product("AMG-5-TAB", "amlodipine", "5 mg", "tablet")
    other = Product("NIF-30-TAB", "nifedipine", "30 mg", "tablet")
    for product, lot_no in ((amlodipine, "A1"), (generic, "G1"), (other, "N1")):
        db_store.transact(lambda tx, p=product, n=lot_no: stock.receive(
            tx, Lot("central", p.drug_code, n, date(2027, 6, 30), 5, 5), p, NOW))
    db_store.transact(lambda tx: stock_usecases.reserve(stock, tx, "central", [("AML-5-TAB", 2)], 1))
    today = NOW.date()

    def dispense(picks):
        return db_store.transact(lambda tx: stock_usecases.dispense(stock, tx, "central", {"AML-5-TAB": 2}, picks,
                                                                    1, today))

    with pytest.raises(InvalidInput) as no_reason:
        dispense([PickRequest(prescribed_code="AML-5-TAB", drug_code="AMG-5-TAB", lot_no="G1", quantity=2)])
    assert no_reason.value.errors[0]["field"] == "picks[0].reason"
    with pytest.raises(InvalidInput) as not_equivalent:
        dispense([PickRequest(prescribed_code="AML-5-TAB", drug_code="NIF-30-TAB", lot_no="N1", quantity=2,
                              reason="原研缺货")])
    assert not_equivalent.value.errors[0]["field"] == "picks[0].drug_code"
    assert stock.line("central", "NIF-30-TAB")["on_hand"] == 5  # a refusal takes nothing

    picks = dispense([PickRequest(prescribed_code="AML-5-TAB", drug_code="AMG-5-TAB", lot_no="G1", quantity=1,
                                  reason="原研缺货，等效仿制药"),
                      PickRequest(prescribed_code="AML-5-TAB", lot_no="A1", quantity=1)])
    assert [(p.drug_code, p.substitution_reason) for p in picks] == [("AMG-5-TAB", "原研缺货，等效仿制药"),
                                                                      ("AML-5-TAB", None)]
    original, substitute = stock.line("central", "AML-5-TAB"), stock.line("central", "AMG-5-TAB")
    assert (original["on_hand"], original["reserved"], original["available"]) == (4, 0, 4)
    assert (substitute["on_hand"], substitute["reserved"], substitute["available"]) == (4, 0, 4)
    assert [lot.remaining for lot in stock.lots("central", "AMG-5-TAB")] == [4]


def test_an_order_whose_prescription_lapsed_before_dispensing_is_cancelled_refunded_and_its_stock_freed(db_store):
    keys = Keyring.from_env(new_key_settings())
    stock, store = StockStore(db_store, keys), OrderStore(db_store, keys)
    db_store.transact(lambda tx: stock.receive(tx, Lot("central", "AML-5-TAB", "B1", date(2027, 6, 30), 3, 3),
                                               Product("AML-5-TAB", "amlodipine", "5 mg", "tablet"), NOW))
    paid_id, unpaid_id = order(1, keys, store), order(2, keys, store)
    event = PaymentSucceeded(invoice_id="inv_1", patient_id="pat_1", purpose="dispensing_order", reference=paid_id,
                             amount_fen=2960, method="cash", payment_id="pay_1")
    store.transact(lambda tx: orders.paid(store, stock, tx, PAYMENTS, event, Policy(), NOW))
    assert stock.line("central", "AML-5-TAB")["reserved"] == 1

    system = Caller.service("pharmacy")
    assert orders.expire_due(store, stock, system, NOW + timedelta(hours=23)) == 0  # still valid
    assert orders.expire_due(store, stock, system, NOW + timedelta(days=1)) == 2
    assert orders.expire_due(store, stock, system, NOW + timedelta(days=1)) == 0  # once
    for oid in (paid_id, unpaid_id):
        assert store.order(oid).status is S.cancelled
    line = stock.line("central", "AML-5-TAB")
    assert (line["on_hand"], line["reserved"], line["available"]) == (3, 0, 3)
    cancelled = db_store["outbox"].find_one({"type": "order_cancelled", "subject": paid_id})["envelope"]["data"]
    assert cancelled["by"] == "expiry" and cancelled["reason"] == "prescription_expired" and cancelled["was_paid"]
    refunds = list(db_store["outbox"].find({"type": "refund_requested"}))
    assert [r["subject"] for r in refunds] == [paid_id]  # the unpaid one had nothing to refund
    steps = [t.step for t in store.trace_of("rx_1")]
    assert steps[-2:] == ["cancelled", "refund_requested"]
