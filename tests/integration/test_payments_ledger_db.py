"""payments' ledger in the real database: movements posted through the invoices' use cases and the real stores, in
their transactions, and the check run over them — balanced, then naming an entry changed or removed behind its
back; a posting that would not balance leaves nothing written, not even the change that asked for it; a replay is
there already, and the unique index refuses a second copy of a line; payments at once all land in the day's running
totals (the transactions that meet on a totals document are retried, not lost)."""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from contracts.payments.invoices import DeskPayment
from contracts.pharmacy.events import FulfilmentChosen, RefundRequested
from services.payments.invoices import store as invoice_store
from services.payments.invoices import usecases as invoices
from services.payments.invoices.store import InvoiceStore
from services.payments.ledger import rules, usecases
from services.payments.ledger.rules import Account, Line, Posting, PostingKind
from services.payments.ledger.store import INDEXES as LEDGER_INDEXES
from services.payments.ledger.store import LEDGER_ENTRIES, LEDGER_TOTALS, LedgerStore
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.storage import AUDIT_LOG, OUTBOX, ensure_indexes

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 15, 30, 0, 123000, tzinfo=UTC)  # 23:30 in Shanghai: the steps cross midnight
PAYMENTS = Caller.service("payments")
FINANCE = user(Role.finance, "acc_fin")


def chosen(order: str, choice: int = 1, total: int = 4200, fee: int = 1000) -> FulfilmentChosen:
    return FulfilmentChosen(order_id=order, prescription_id=f"rx_{order}", patient_id="pat_1",
                            method="delivery" if fee else "pickup", location="main", total_fen=total,
                            delivery_fee_fen=fee, amount_fen=total + fee, choice=choice)


@pytest.fixture
def stores(db_store):
    ensure_indexes(db_store.db, [*invoice_store.INDEXES, *LEDGER_INDEXES])
    return InvoiceStore(db_store), LedgerStore(db_store)


def issue(stores, event: FulfilmentChosen, now: datetime):
    inv, led = stores
    return inv.transact(lambda tx: invoices.issue_for_fulfilment(inv, led, tx, PAYMENTS, event, now))


def journey(stores) -> tuple[str, str]:
    """One order issued, re-issued (pickup), paid by card after midnight and partly refunded; another left open."""
    inv, led = stores
    paid = issue(stores, chosen("dso_1"), NOW).id
    issue(stores, chosen("dso_1", choice=2, fee=0), NOW + timedelta(minutes=10))
    invoices.record_desk_payment(inv, led, FINANCE, paid, DeskPayment(method="card", amount_fen=4200),
                                 NOW + timedelta(hours=1))
    refund = RefundRequested(order_id="dso_1", prescription_id="rx_dso_1", patient_id="pat_1", invoice_id=paid,
                             amount_fen=1500, reason="returned")
    inv.transact(lambda tx: invoices.record_refund_request(inv, led, tx, PAYMENTS, refund, NOW + timedelta(hours=2)))
    open_ = issue(stores, chosen("dso_2"), NOW + timedelta(hours=2)).id
    return paid, open_


def checked(stores) -> usecases.LedgerCheck:
    inv, led = stores
    return usecases.check(led, invoices.ledger_facts(inv))


def test_movements_posted_in_their_transactions_balance_and_agree_with_the_invoices(stores, db_store):
    paid, open_ = journey(stores)
    _, led = stores
    found = checked(stores)
    assert found.discrepancies == [] and found.balanced
    assert (found.postings, found.entries, found.invoices) == (6, 12, 2)
    assert found.debit_fen == found.credit_fen == 5200 + 5200 + 4200 + 4200 + 1500 + 5200

    # balances are sums: per invoice by aggregation, per account from the running per-day totals
    assert {a: usecases.balance(led, a, paid) for a in Account if usecases.balance(led, a, paid)} == {
        Account.card_clearing: 4200, Account.revenue: 2700, Account.refunds_payable: 1500}
    assert usecases.balance(led, Account.patient_receivable, open_) == 5200
    assert usecases.balance(led, Account.revenue) == 2700 + 5200
    assert usecases.balance(led, Account.revenue, through="2026-12-05") == 4200  # both revisions, before midnight
    totals = {d["_id"]: (d["debit_fen"], d["credit_fen"]) for d in db_store[LEDGER_TOTALS].find({})}
    assert totals["revenue|2026-12-05"] == (5200, 5200 + 4200)  # issued, reversed, issued again
    assert totals["revenue|2026-12-06"] == (1500, 5200)  # the refund owed; the second order

    # the reversal, as stored: the exact mirror of the first revision's posting, which is unchanged
    original = led.posting(rules.issue_id(paid, 1))
    assert [(line.account, line.debit_fen, line.credit_fen) for line in original.lines] == [
        (Account.patient_receivable, 5200, 0), (Account.revenue, 0, 5200)]
    assert led.posting(rules.reversal_id(original.id)).lines == rules.reversal(original, NOW).lines
    assert original.posted_at == NOW  # to the millisecond, as hashed


def test_a_posting_that_would_not_balance_leaves_nothing_written(stores, db_store):
    inv, led = stores
    paid, _ = journey(stores)
    before = {name: sorted(map(str, db_store[name].find({}))) for name in (LEDGER_ENTRIES, LEDGER_TOTALS, OUTBOX,
                                                                          AUDIT_LOG, "invoices")}
    unbalanced = Posting(f"{paid}.payment.pay_X", PostingKind.desk_payment,
                         (Line(Account.cash_on_hand, 100, 0, paid, "pat_1"),
                          Line(Account.patient_receivable, 0, 90, paid, "pat_1")), NOW)

    def body(tx):  # an invoice changed, its balanced postings written, an event emitted — then the unbalanced one
        invoices.issue_for_fulfilment(inv, led, tx, PAYMENTS, chosen("dso_3"), NOW)
        usecases.post(led, tx, unbalanced)

    with pytest.raises(rules.UnbalancedPosting, match="debits 100 fen != credits 90 fen"):
        inv.transact(body)
    after = {name: sorted(map(str, db_store[name].find({}))) for name in before}
    assert after == before
    assert checked(stores).balanced


def test_a_replay_is_there_already_and_the_index_refuses_a_second_copy(stores, db_store):
    _, led = stores
    issued = rules.invoice_issued("inv_R", "pat_1", 1, 300, NOW)
    assert led.transact(lambda tx: usecases.post(led, tx, issued)) is True
    assert led.transact(lambda tx: usecases.post(led, tx, dataclasses.replace(
        issued, posted_at=NOW + timedelta(days=1)))) is False
    with pytest.raises(rules.LedgerConflict):
        led.transact(lambda tx: usecases.post(led, tx, rules.invoice_issued("inv_R", "pat_1", 1, 301, NOW)))
    assert db_store[LEDGER_ENTRIES].count_documents({"posting_id": issued.id}) == 2
    copy = db_store[LEDGER_ENTRIES].find_one({"posting_id": issued.id, "line": 0}, {"_id": 0})
    with pytest.raises(DuplicateKeyError):
        db_store[LEDGER_ENTRIES].insert_one(copy)


def test_the_check_names_an_entry_changed_or_removed_behind_its_back(stores, db_store):
    paid, open_ = journey(stores)
    entries = db_store[LEDGER_ENTRIES]
    # both lines of the refund owed changed alike (the posting still balances): its hash names it
    refund = entries.find_one({"kind": "refund_owed"})["posting_id"]
    entries.update_many({"posting_id": refund}, [{"$set": {
        "debit_fen": {"$cond": [{"$gt": ["$debit_fen", 0]}, 1000, 0]},
        "credit_fen": {"$cond": [{"$gt": ["$credit_fen", 0]}, 1000, 0]}}}])
    found = checked(stores)
    assert not found.balanced
    assert found.discrepancies[0] == (f"posting {refund}: its hash does not match its entries (an entry was modified "
                                      "after it was written)")
    assert any(d.startswith("refunds_payable on 2026-12-06: running total debits 0 / credits 1500 fen, but its "
                            "entries sum to 0 / 1000") for d in found.discrepancies)

    # the open invoice's issue removed altogether: its day's totals and its invoice name it
    entries.delete_many({"posting_id": rules.issue_id(open_, 1)})
    found = checked(stores)
    assert f"invoice {open_}: patient_receivable 0 fen, but issued 5200 − paid 0 = 5200" in found.discrepancies
    assert any(d.startswith("patient_receivable on 2026-12-06: running total") for d in found.discrepancies)


def test_the_ledgers_queries_use_its_indexes(stores, db_store):
    paid, _ = journey(stores)
    entries = db_store[LEDGER_ENTRIES]
    by_posting = entries.find({"posting_id": rules.issue_id(paid, 1)}).sort("line", 1).explain()["queryPlanner"]
    assert "one_per_posting_line" in str(by_posting["winningPlan"])
    by_invoice = entries.find({"invoice_id": paid}).explain()["queryPlanner"]
    assert "by_invoice" in str(by_invoice["winningPlan"])
    by_day = db_store[LEDGER_TOTALS].find({"account": "revenue", "day": {"$lte": "2026-12-05"}}).explain()
    assert "by_account_day" in str(by_day["queryPlanner"]["winningPlan"])


def test_payments_taken_at_once_all_land_in_the_days_running_totals(stores):
    inv, led = stores
    ids = [issue(stores, chosen(f"dso_{n}", total=1000 + n, fee=0), NOW).id for n in range(12)]

    def pay(n_invoice):
        n, invoice_id = n_invoice
        invoices.record_desk_payment(inv, led, FINANCE, invoice_id, DeskPayment(method="cash", amount_fen=1000 + n),
                                     NOW)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(pay, enumerate(ids)))
    assert usecases.balance(led, Account.cash_on_hand) == sum(1000 + n for n in range(12))
    assert usecases.balance(led, Account.patient_receivable) == 0
    assert checked(stores).balanced
