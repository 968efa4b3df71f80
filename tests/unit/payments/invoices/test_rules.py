"""The invoices' pure rules: what a fulfilment choice charges, which choice re-issues, who sees and lists invoices,
why a desk payment is refused, which refund requests cannot be owed, and the view."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from contracts.payments.invoices import (
    DeskPayment,
    DeskPaymentMethod,
    InvoiceLineKind,
    InvoicePurpose,
    InvoiceRefundStatus,
    InvoiceStatus,
)
from contracts.pharmacy.events import FulfilmentChosen, RefundRequested
from services.payments.invoices import rules
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
FINANCE = Principal.user("acc_fin", Role.finance)
PATIENT = Principal.user("acc_p", Role.patient, patients=("pat_1",))
STRANGER = Principal.user("acc_q", Role.patient, patients=("pat_2",))


def chosen(choice: int = 1, total: int = 4200, fee: int = 1000, amount: int | None = None,
           method: str = "delivery") -> FulfilmentChosen:
    return FulfilmentChosen(order_id="dso_1", prescription_id="rx_1", patient_id="pat_1", method=method,
                            location="main", total_fen=total, delivery_fee_fen=fee,
                            amount_fen=total + fee if amount is None else amount, choice=choice)


def refund_asked(amount: int = 5200, invoice_id: str = "inv_1", order_id: str = "dso_1",
                 patient_id: str = "pat_1") -> RefundRequested:
    return RefundRequested(order_id=order_id, prescription_id="rx_1", patient_id=patient_id, invoice_id=invoice_id,
                           amount_fen=amount, reason="cancelled")


INVOICE = rules.new_invoice("inv_1", chosen(), rules.charge(chosen()), NOW)


def test_a_delivery_is_charged_the_drugs_and_the_fee_and_a_pickup_the_drugs_alone():
    assert rules.charge(chosen()) == rules.Charge(5200, ((InvoiceLineKind.drugs, 4200),
                                                         (InvoiceLineKind.delivery_fee, 1000)))
    assert rules.charge(chosen(fee=0, method="pickup")) == rules.Charge(4200, ((InvoiceLineKind.drugs, 4200),))


@pytest.mark.parametrize("event", [chosen(amount=5000), chosen(total=-1, fee=0), chosen(fee=-100, amount=4100)])
def test_an_amount_that_is_not_its_lines_sum_or_is_negative_is_a_broken_event(event):
    with pytest.raises(rules.InconsistentCharge):
        rules.charge(event)


def test_a_new_invoice_is_open_at_revision_1_for_the_order():
    assert (INVOICE.status, INVOICE.revision, INVOICE.version, INVOICE.amount_fen) == (InvoiceStatus.open, 1, 1, 5200)
    assert (INVOICE.purpose, INVOICE.reference, INVOICE.patient_id) == (InvoicePurpose.dispensing_order, "dso_1",
                                                                         "pat_1")


def test_only_a_later_choice_reissues_and_only_while_open():
    assert rules.reissues(INVOICE, 2)
    assert not rules.reissues(INVOICE, 1) and not rules.reissues(INVOICE, 0)
    assert not rules.reissues(dataclasses.replace(INVOICE, status=InvoiceStatus.paid), 2)


def test_finance_and_the_patients_side_see_an_invoice_nobody_else():
    assert rules.sees(FINANCE, INVOICE) and rules.sees(PATIENT, INVOICE)
    for other in (STRANGER, Principal.user("acc_d", Role.doctor), Principal.user("acc_m", Role.manager),
                  Principal.user("acc_a", Role.admin), Principal.user("acc_ph", Role.pharmacist),
                  Principal.service("pharmacy")):
        assert not rules.sees(other, INVOICE), other


def test_a_patient_lists_a_record_they_act_for_finance_any_and_nobody_else():
    assert rules.listing_refusal(PATIENT, "pat_1", None) is None
    assert rules.listing_refusal(PATIENT, "pat_1", InvoiceStatus.open) is None
    assert "patient_id" in rules.listing_refusal(PATIENT, None, None)
    assert rules.listing_refusal(PATIENT, None, InvoiceStatus.open) is not None
    assert rules.listing_refusal(PATIENT, "pat_2", None) is not None
    assert rules.listing_refusal(FINANCE, None, InvoiceStatus.open) is None
    assert rules.listing_refusal(FINANCE, "pat_2", None) is None
    assert "status" in rules.listing_refusal(FINANCE, None, None)  # never the whole collection at once
    assert rules.listing_refusal(Principal.user("acc_d", Role.doctor), "pat_1", None) is not None


def test_only_finance_records_desk_payments():
    rules.require_finance(FINANCE)
    for role in set(Role) - {Role.finance}:
        with pytest.raises(Forbidden):
            rules.require_finance(Principal.user("acc_x", role))


def test_a_refused_payment_says_why_from_the_invoice_as_it_is():
    right = DeskPayment(method=DeskPaymentMethod.cash, amount_fen=5200)
    assert isinstance(rules.payment_refusal("inv_9", None, right), NotFound)
    paid = rules.payment_refusal("inv_1", dataclasses.replace(INVOICE, status=InvoiceStatus.paid), right)
    assert isinstance(paid, Conflict) and "paid" in paid.detail and paid.errors[0]["field"] == "status"
    wrong = rules.payment_refusal("inv_1", INVOICE, DeskPayment(method="card", amount_fen=5000))
    assert isinstance(wrong, InvalidInput) and wrong.errors[0]["field"] == "amount_fen" and "5200" in wrong.detail
    # open and the amount due, yet the update did not match: it changed in between
    assert isinstance(rules.payment_refusal("inv_1", INVOICE, right), Conflict)


@pytest.mark.parametrize(("kwargs", "reference", "expected"), [
    ({}, "dso_1", None),
    ({"amount": 0}, "dso_1", rules.INVALID_AMOUNT),
    ({"amount": -5}, "dso_1", rules.INVALID_AMOUNT),
    ({"order_id": "dso_2"}, "dso_1", rules.UNKNOWN_INVOICE),
    ({"patient_id": "pat_2"}, "dso_1", rules.UNKNOWN_INVOICE),
])
def test_a_refund_request_for_another_order_or_of_nothing_cannot_be_owed(kwargs, reference, expected):
    assert rules.refund_rejection(dataclasses.replace(INVOICE, reference=reference), refund_asked(**kwargs)) == expected
    assert rules.refund_rejection(None, refund_asked(**kwargs)) == rules.UNKNOWN_INVOICE


def test_a_refund_record_is_requested_unless_rejected():
    assert rules.refund("rfd_1", refund_asked(), None, NOW).status == InvoiceRefundStatus.requested
    rejected = rules.refund("rfd_2", refund_asked(), rules.EXCEEDS_PAID, NOW)
    assert (rejected.status, rejected.rejection, rejected.amount_fen) == (InvoiceRefundStatus.rejected,
                                                                          "exceeds_paid", 5200)


def test_the_view_shows_lines_payment_and_refunds_in_local_time():
    payment = rules.desk_payment("pay_1", DeskPayment(method="card", amount_fen=5200, reference="POS-0042"), "acc_fin",
                                 NOW)
    paid = dataclasses.replace(INVOICE, status=InvoiceStatus.paid, payment=payment)
    shown = rules.view(paid, [rules.refund("rfd_1", refund_asked(), None, NOW)])
    assert [(line.kind, line.amount_fen) for line in shown.lines] == [("drugs", 4200), ("delivery_fee", 1000)]
    assert shown.issued_at == "2026-12-05T10:00:00.000+08:00"
    assert (shown.payment.method, shown.payment.reference, shown.payment.recorded_by) == ("card", "POS-0042",
                                                                                         "acc_fin")
    assert [(r.id, r.status) for r in shown.refunds] == [("rfd_1", "requested")]
    assert rules.view(INVOICE).payment is None and rules.view(INVOICE).refunds == []


@pytest.mark.parametrize("reference", ["a" * 41, "收据\u0000号", ""])
def test_a_desk_payments_reference_is_printable_and_at_most_40(reference):
    with pytest.raises(ValueError):
        DeskPayment(method="cash", amount_fen=1, reference=reference)
    with pytest.raises(ValueError):
        DeskPayment(method="cheque", amount_fen=1)
    with pytest.raises(ValueError):
        DeskPayment(method="cash", amount_fen=0)
