"""The ledger's invariants under any sequence of movements: random issues, re-issues (later, repeated and older
choices; now and then a broken event), desk payments (the right amount or not, cash or card, known invoices or not)
and refund requests (any amount, the order's invoice or another's), driven through the invoices' real use cases over
the in-memory stores. After every step: every posting balances, total debits == total credits, each invoice's
patient_receivable == issued − paid, refunds owed never exceed what was paid (in the invoices and in the ledger),
revenue == issued − refunds owed, the running totals equal their entries, and the check agrees."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.payments.invoices import DeskPayment, InvoiceRefundStatus, InvoiceStatus
from contracts.pharmacy.events import FulfilmentChosen, RefundRequested
from services.payments.invoices import rules as invoice_rules
from services.payments.invoices import usecases as invoices
from services.payments.ledger import rules, usecases
from services.payments.ledger.rules import Account, Balance
from tests.people import user
from tests.unit.payments.invoices.fakes import FakeInvoiceStore
from wenzhen.auth import Caller, Role
from wenzhen.errors import ServiceError

START = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: the steps cross the hospital's midnight
PAYMENTS = Caller.service("payments")
FINANCE = user(Role.finance, "acc_fin")
ORDERS = 3
UNKNOWN = "inv_01JD3Q5X7C9V2B8N4M6K1H0G2F"

amounts = st.integers(min_value=0, max_value=20_000)
issue = st.tuples(st.just("issue"), st.integers(0, ORDERS - 1), st.integers(1, 6), amounts,
                  st.sampled_from([0, 0, 800, 1000]), st.integers(0, 19))
# payments and refunds pick among the orders invoiced so far (pick % how many: see ``apply``)
pay = st.tuples(st.just("pay"), st.integers(0, 9), st.sampled_from(["cash", "card"]),
                st.sampled_from([True, True, True, False]), st.integers(1, 25_000))  # mostly the amount due
# a share of what was paid (0–120 %: some exceed it), or any amount at all (some none or negative)
refund = st.tuples(st.just("refund"), st.integers(0, 9), st.integers(0, 120),
                   st.one_of(st.none(), st.integers(-100, 25_000)), st.sampled_from(["cancelled", "returned"]),
                   st.integers(0, 9))
steps = st.lists(st.one_of(issue, pay, refund), min_size=4, max_size=25)


def invoice_of(store: FakeInvoiceStore, order: int):
    return next((i for i in store.invoices_.values() if i.reference == f"dso_{order}"), None)


def invoiced(store: FakeInvoiceStore, pick: int, paid: bool = False) -> int | None:
    """One of the orders invoiced so far (``paid``: of those paid; None: none yet)."""
    known = [i for i in store.invoices_.values() if i.payment or not paid]
    orders = sorted(int(i.reference.removeprefix("dso_")) for i in known)
    return orders[pick % len(orders)] if orders else None


def apply(store: FakeInvoiceStore, step: tuple, now: datetime) -> None:
    kind, order = step[0], step[1]
    if kind != "issue":
        # a payment's 9: an unknown invoice; a refund's 0–6: a paid order's (none yet: nothing), 7–9: any order's
        order = None if kind == "pay" and order == 9 else invoiced(store, order, paid=kind == "refund" and order < 7)
    if kind == "issue":
        _, _, choice, total, fee, broken = step
        event = FulfilmentChosen(order_id=f"dso_{order}", prescription_id=f"rx_{order}", patient_id=f"pat_{order}",
                                 method="delivery" if fee else "pickup", location="main", total_fen=total,
                                 delivery_fee_fen=fee, amount_fen=total + fee + (1 if broken == 0 else 0),
                                 choice=choice)
        try:
            store.transact(lambda tx: invoices.issue_for_fulfilment(store, store.ledger, tx, PAYMENTS, event, now))
        except invoice_rules.InconsistentCharge:
            assert broken == 0  # only the broken event is refused (and writes nothing: checked after the step)
    elif kind == "pay":
        _, _, method, exact, amount = step
        invoice = invoice_of(store, order) if order is not None else None
        due = invoice.amount_fen if invoice is not None and exact else amount
        try:
            invoices.record_desk_payment(store, store.ledger, FINANCE, invoice.id if invoice else UNKNOWN,
                                         DeskPayment(method=method, amount_fen=max(due, 1)), now)
        except ServiceError:
            pass  # not open, another amount, no such invoice: refused, nothing posted (checked after the step)
    else:
        _, _, share, raw, reason, other = step
        if order is None:
            return
        invoice = invoice_of(store, order)
        paid = invoice.payment.amount_fen if invoice.payment else 0
        amount = paid * share // 100 if raw is None else raw
        invoice_id = invoice.id
        if other == 0:  # now and then another order's invoice (or one payments does not know)
            neighbour = invoice_of(store, (order + 1) % ORDERS)
            invoice_id = neighbour.id if neighbour is not None else UNKNOWN
        event = RefundRequested(order_id=f"dso_{order}", prescription_id=f"rx_{order}", patient_id=f"pat_{order}",
                                invoice_id=invoice_id, amount_fen=amount, reason=reason)
        store.transact(lambda tx: invoices.record_refund_request(store, store.ledger, tx, PAYMENTS, event, now))


def assert_the_ledger_holds(store: FakeInvoiceStore) -> None:
    ledger = store.ledger
    for posting in ledger.postings():  # every posting balances
        assert rules.refusal(posting) is None
        assert sum(line.debit_fen for line in posting.lines) == sum(line.credit_fen for line in posting.lines)
    assert sum(e.debit_fen for e in ledger.entries) == sum(e.credit_fen for e in ledger.entries)  # the books
    for invoice in store.invoices_.values():
        paid = invoice.payment.amount_fen if invoice.payment else 0
        owed = sum(r.amount_fen for r in store.refunds_.values()
                   if r.invoice_id == invoice.id and r.status == InvoiceRefundStatus.requested)
        assert owed <= paid  # refunds never exceed what was paid
        assert (invoice.status == InvoiceStatus.paid) == (invoice.payment is not None)
        assert invoice.refundable_fen == paid - owed

        def net(account: Account, invoice_id: str = invoice.id) -> int:
            return usecases.balance(ledger, account, invoice_id)

        assert net(Account.patient_receivable) == invoice.amount_fen - paid
        assert net(Account.refunds_payable) == owed <= paid
        assert net(Account.revenue) == invoice.amount_fen - owed
        assert net(Account.cash_on_hand) + net(Account.card_clearing) == paid
    assert {e.invoice_id for e in ledger.entries} <= set(store.invoices_)  # nothing posted for what is not an invoice
    # the running totals are the entries' sums, account by account
    for account in Account:
        summed = sum((Balance(e.debit_fen, e.credit_fen) for e in ledger.entries if e.account == account.value),
                     Balance())
        assert ledger.account_balance(account) == summed
    found = usecases.check(ledger, invoices.ledger_facts(store))
    assert found.balanced, found.discrepancies


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_any_sequence_of_movements_keeps_the_ledger_balanced_and_in_agreement_with_the_invoices(sequence):
    store = FakeInvoiceStore()
    for n, step in enumerate(sequence):
        apply(store, step, START + timedelta(minutes=20 * n))
        assert_the_ledger_holds(store)
