"""pharmacy's pure rules: what may travel, the fulfilment choice, the state machine, first expiry first out, low
stock, the courier's backoff and what a route step does."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.pharmacy.courier import OpCode
from contracts.pharmacy.dispensing import Delivery, DeliveryWindow, FulfilmentMethod, FulfilmentRequest, OrderItem
from services.pharmacy.orders import rules
from services.pharmacy.orders.documents import label_pdf, mask_phone, qr_svg
from services.pharmacy.orders.rules import OrderRecord, Policy, S
from services.pharmacy.shipping import rules as shipping
from services.pharmacy.stock.rules import Lot, Product, crossed_low, first_expiry_first_out
from wenzhen.errors import Conflict, InvalidInput

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 5)


def item(code: str = "AML-5-TAB", categories=()) -> OrderItem:
    return OrderItem(drug_code=code, name="x", strength="5 mg", form="tablet", unit="盒", quantity=1, price_fen=100,
                     categories=list(categories))


def order(*items: OrderItem, status=S.awaiting_payment, allowed: bool | None = None) -> OrderRecord:
    items = items or (item(),)
    return OrderRecord(id="dsp_1", prescription_id="rx_1", patient_id="pat_1", status=status, items=items,
                       total_fen=100, delivery_allowed=rules.delivery_allowed(items, Policy()) if allowed is None
                       else allowed, valid_until=NOW + timedelta(hours=8), created_at=NOW, version=1)


def delivery(day: date = TODAY) -> Delivery:
    return Delivery(recipient="王芳", phone="13912345678", city="上海市", address="世纪大道 100 号", day=day,
                    window=DeliveryWindow.evening)


@pytest.mark.parametrize("categories,policy,travels", [
    ((), Policy(), True),
    (("antimicrobial",), Policy(), True),
    (("cold_chain",), Policy(), False),
    (("cold_chain",), Policy(ship_cold_chain=True), True),
    (("narcotic",), Policy(ship_cold_chain=True), False),
    (("psychotropic_2",), Policy(), True),  # class II psychotropics may travel; class I may not
    (("psychotropic_1",), Policy(ship_restricted=True), True),
    (("toxic", "cold_chain"), Policy(ship_restricted=True), False),
])
def test_what_may_travel_by_courier(categories, policy, travels):
    assert rules.delivery_allowed([item(categories=categories)], policy) is travels


def test_the_fulfilment_choice_names_what_is_wrong():
    pharmacies, dispatch = {"central", "east"}, "central"

    def check(request, o=None):
        return rules.check_fulfilment(o or order(), request, pharmacies, dispatch, TODAY)

    assert check(FulfilmentRequest(method=FulfilmentMethod.pickup, location="east")) == "east"
    assert check(FulfilmentRequest(method=FulfilmentMethod.delivery, delivery=delivery())) == "central"
    for request, field in (
            (FulfilmentRequest(method=FulfilmentMethod.pickup), "location"),
            (FulfilmentRequest(method=FulfilmentMethod.pickup, location="west"), "location"),
            (FulfilmentRequest(method=FulfilmentMethod.pickup, location="east", delivery=delivery()), "delivery"),
            (FulfilmentRequest(method=FulfilmentMethod.delivery), "delivery"),
            (FulfilmentRequest(method=FulfilmentMethod.delivery, location="east", delivery=delivery()), "location"),
            (FulfilmentRequest(method=FulfilmentMethod.delivery, delivery=delivery(TODAY + timedelta(days=8))),
             "delivery.day"),
            (FulfilmentRequest(method=FulfilmentMethod.delivery, delivery=delivery(TODAY - timedelta(days=1))),
             "delivery.day")):
        with pytest.raises(InvalidInput) as refused:
            check(request)
        assert refused.value.errors[0]["field"] == field
    with pytest.raises(InvalidInput) as cold:
        check(FulfilmentRequest(method=FulfilmentMethod.delivery, delivery=delivery()),
              order(item(categories=("cold_chain",))))
    assert cold.value.errors[0]["type"] == "pickup_only"
    with pytest.raises(Conflict):
        rules.check_fulfilment(order(), FulfilmentRequest(method=FulfilmentMethod.delivery, delivery=delivery()),
                               pharmacies, None, TODAY)


def test_the_state_machine_only_goes_forward():
    reachable = {action: t.target for action, t in rules.TRANSITIONS.items()}
    assert reachable["pay"] is S.paid and reachable["deliver"] is S.delivered
    for action, transition in rules.TRANSITIONS.items():
        assert transition.target not in transition.sources, action
    terminal = {S.delivered, S.picked_up, S.cancelled, S.returned}
    for t in rules.TRANSITIONS.values():
        assert not (t.sources & (terminal - {S.delivered})), "nothing leaves picked_up, cancelled or returned"
    # a delivered order can only be returned (refused, damaged), never re-shipped or cancelled
    assert [a for a, t in rules.TRANSITIONS.items() if S.delivered in t.sources] == ["return"]
    conflict = rules.refused("start", order(status=S.awaiting_payment))
    assert conflict.errors[0]["field"] == "status" and "paid" in conflict.detail


def test_the_validity_ends_dispensing():
    rules.check_not_expired(order(), NOW)
    with pytest.raises(Conflict) as late:
        rules.check_not_expired(order(), NOW + timedelta(hours=8))
    assert late.value.errors[0]["field"] == "valid_until"


def test_first_expiry_first_out_skips_expired_and_empty_lots():
    lots = [Lot("c", "A", "L3", date(2027, 9, 1), 50, 50), Lot("c", "A", "L1", date(2026, 12, 1), 9, 9),
            Lot("c", "A", "L2", date(2027, 1, 31), 10, 4), Lot("c", "A", "L0", date(2027, 1, 1), 10, 0)]
    taken, short = first_expiry_first_out(lots, 6, TODAY)
    assert [(x.lot_no, x.quantity) for x in taken] == [("L2", 4), ("L3", 2)] and short == 0
    taken, short = first_expiry_first_out(lots[1:], 6, TODAY)
    assert [(x.lot_no, x.quantity) for x in taken] == [("L2", 4)] and short == 2


def test_low_stock_is_said_once_per_crossing():
    assert crossed_low(10, 9, 10) and not crossed_low(9, 8, 10) and not crossed_low(12, 10, 10)


def test_equivalence_is_ingredient_strength_and_form():
    a = Product("AML-5-TAB", "amlodipine", "5 mg", "tablet")
    assert a.equivalent(Product("AMG-5-TAB", "amlodipine", "5 mg", "tablet"))
    assert not a.equivalent(Product("AML-10-TAB", "amlodipine", "10 mg", "tablet"))
    assert not a.equivalent(Product("AML-5-CAP", "amlodipine", "5 mg", "capsule"))


def test_the_courier_is_retried_with_a_capped_backoff():
    assert [(shipping.next_attempt(n, NOW) - NOW).total_seconds() for n in (1, 2, 3, 9, 20)] == [1, 2, 4, 256, 300]
    assert shipping.effect(OpCode.delivered) == "deliver" and shipping.effect(OpCode.returned) == "return"
    assert shipping.effect(OpCode.delivery_failed) == "problem" and shipping.effect(OpCode.in_transit) is None


def test_the_label_names_no_medicine_and_the_code_is_a_qr_image():
    from contracts.pharmacy.dispensing import Pharmacy

    o = OrderRecord(**{**vars(order(item(categories=("cold_chain",)))), "method": FulfilmentMethod.delivery,
                       "location": "central", "delivery": delivery(), "waybill": "SF1234567890123"})
    pharmacy = Pharmacy(code="central", name="门诊药房", address="上海市徐汇区宛平南路 88 号", phone="021-1",
                        opening_hours=[], dispatches=True)
    pdf = label_pdf(o, pharmacy, NOW)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    assert mask_phone("13912345678") == "139****5678"
    svg = qr_svg("402913")
    assert svg.startswith(b"<?xml") and b"<svg" in svg and b"402913" not in svg  # the code is in the picture only
