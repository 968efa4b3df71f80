"""The ledger's use cases over an in-memory store: what posting does (a replay changes nothing, another posting under
a taken id is refused, an unbalanced one writes nothing), corrections as reversals, balances per invoice and per
account from the running totals, and the check — balanced after a real journey through the invoices' use cases, and
naming what was changed behind its back."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from contracts.payments.invoices import DeskPayment
from services.payments.invoices import usecases as invoices
from services.payments.ledger import rules, usecases
from services.payments.ledger.rules import Account, Line, Posting, PostingKind
from tests.people import user
from tests.unit.payments.invoices.fakes import FakeInvoiceStore
from tests.unit.payments.invoices.test_rules import chosen, refund_asked
from tests.unit.payments.ledger.fakes import FakeLedgerStore
from wenzhen.auth import Caller, Role

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TOMORROW = NOW + timedelta(days=1)
PAYMENTS = Caller.service("payments")
FINANCE = user(Role.finance, "acc_fin")


@pytest.fixture
def ledger() -> FakeLedgerStore:
    return FakeLedgerStore()


def post(store: FakeLedgerStore, posting: Posting) -> bool:
    return store.transact(lambda tx: usecases.post(store, tx, posting))


# posting -------------------------------------------------------------------------------------------------------------
def test_an_issue_and_its_reissue_post_the_amount_then_reverse_it_and_post_the_new_one(ledger):
    first = ledger.transact(lambda tx: usecases.invoice_issued(ledger, tx, "inv_1", "pat_1", 1, 5200, NOW))
    assert [p.id for p in first] == ["inv_1.issue.1"]
    second = ledger.transact(lambda tx: usecases.invoice_issued(ledger, tx, "inv_1", "pat_1", 2, 4200, TOMORROW))
    assert [(p.id, p.reverses) for p in second] == [("inv_1.issue.1.reversal", "inv_1.issue.1"), ("inv_1.issue.2",
                                                                                                    None)]
    assert second[0].lines == rules.reversal(first[0], TOMORROW).lines
    assert usecases.balance(ledger, Account.patient_receivable, "inv_1") == 4200
    assert usecases.balance(ledger, Account.revenue, "inv_1") == 4200
    # the account's running totals, by the hospital's day: 5200 on the 5th; −5200 + 4200 on the 6th
    assert usecases.balance(ledger, Account.revenue, through="2026-12-05") == 5200
    assert usecases.balance(ledger, Account.revenue) == 4200
    assert ledger.totals[("revenue", "2026-12-06")] == rules.Balance(debit_fen=5200, credit_fen=4200)


def test_a_reissue_whose_previous_posting_is_missing_is_never_guessed(ledger):
    with pytest.raises(rules.LedgerConflict, match="revision 1 has no posting to reverse"):
        ledger.transact(lambda tx: usecases.invoice_issued(ledger, tx, "inv_1", "pat_1", 2, 4200, NOW))
    assert ledger.entries == [] and ledger.totals == {}


def test_a_replayed_posting_changes_nothing_and_another_under_its_id_is_refused(ledger):
    issued = rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW)
    assert post(ledger, issued) is True
    assert post(ledger, dataclasses.replace(issued, posted_at=TOMORROW)) is False  # the same movement, replayed
    assert len(ledger.entries) == 2 and usecases.balance(ledger, Account.revenue) == 5200
    with pytest.raises(rules.LedgerConflict):
        post(ledger, rules.invoice_issued("inv_1", "pat_1", 1, 5300, NOW))
    assert len(ledger.entries) == 2 and usecases.balance(ledger, Account.revenue) == 5200


def test_an_unbalanced_posting_writes_nothing_not_even_what_its_transaction_posted_before(ledger):
    unbalanced = Posting("inv_1.issue.2", PostingKind.invoice_issued,
                         (Line(Account.patient_receivable, 5200, 0, "inv_1", "pat_1"),
                          Line(Account.revenue, 0, 5100, "inv_1", "pat_1")), NOW)

    def body(tx):
        usecases.post(ledger, tx, rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW))
        usecases.post(ledger, tx, unbalanced)

    with pytest.raises(rules.UnbalancedPosting, match="debits 5200 fen != credits 5100 fen"):
        ledger.transact(body)
    assert ledger.entries == [] and ledger.totals == {}


def test_a_correction_is_a_reversal_once_and_the_original_stays(ledger):
    paid = rules.desk_payment("inv_1", "pat_1", "pay_1", "cash", 5200, NOW)
    post(ledger, paid)
    before = list(ledger.entries)
    undone = ledger.transact(lambda tx: usecases.reverse(ledger, tx, paid.id, TOMORROW))
    assert (undone.id, undone.reverses, undone.kind) == (f"{paid.id}.reversal", paid.id, PostingKind.reversal)
    again = ledger.transact(lambda tx: usecases.reverse(ledger, tx, paid.id, TOMORROW + timedelta(hours=1)))
    assert again.id == undone.id and len(ledger.entries) == 4  # reversed once
    assert ledger.entries[:2] == before  # the original as it was
    assert {a: usecases.balance(ledger, a, "inv_1") for a in Account} == dict.fromkeys(Account, 0)
    with pytest.raises(rules.LedgerConflict, match="no posting inv_9.issue.1"):
        ledger.transact(lambda tx: usecases.reverse(ledger, tx, "inv_9.issue.1", NOW))


# the check -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def store() -> FakeInvoiceStore:
    return FakeInvoiceStore()


def journey(store: FakeInvoiceStore) -> tuple[str, str]:
    """Two orders: one issued, re-issued, paid by card and partly refunded; one issued and left open."""
    def issue(event):
        return store.transact(lambda tx: invoices.issue_for_fulfilment(store, store.ledger, tx, PAYMENTS, event, NOW))

    paid = issue(chosen()).id
    issue(chosen(choice=2, fee=0, method="pickup"))
    invoices.record_desk_payment(store, store.ledger, FINANCE, paid, DeskPayment(method="card", amount_fen=4200), NOW)
    store.transact(lambda tx: invoices.record_refund_request(store, store.ledger, tx, PAYMENTS,
                                                             refund_asked(1000, invoice_id=paid), NOW))
    store.transact(lambda tx: invoices.record_refund_request(  # more than is left: rejected, posts nothing
        store, store.ledger, tx, PAYMENTS, refund_asked(9000, invoice_id=paid).model_copy(
            update={"reason": "returned"}), NOW))
    open_ = issue(chosen().model_copy(update={"order_id": "dso_2"})).id
    return paid, open_


def checked(store: FakeInvoiceStore) -> usecases.LedgerCheck:
    return usecases.check(store.ledger, invoices.ledger_facts(store))


def test_after_a_journey_through_the_invoices_the_ledger_balances(store):
    paid, open_ = journey(store)
    found = checked(store)
    assert found.balanced and found.discrepancies == []
    assert (found.postings, found.entries, found.invoices) == (6, 12, 2)
    assert found.debit_fen == found.credit_fen == 5200 + 5200 + 4200 + 4200 + 1000 + 5200
    assert found.line().startswith("payments ledger: balanced: 6 postings")
    assert {a.value: usecases.balance(store.ledger, a, paid) for a in Account if usecases.balance(store.ledger, a,
                                                                                                   paid)} == {
        "card_clearing": 4200, "revenue": 3200, "refunds_payable": 1000}
    assert usecases.balance(store.ledger, Account.patient_receivable) == 5200  # the open one's, overall


def test_the_facts_are_read_a_page_at_a_time_and_all_of_them(store):
    for n in range(7):
        store.transact(lambda tx, n=n: invoices.issue_for_fulfilment(
            store, store.ledger, tx, PAYMENTS, chosen().model_copy(update={"order_id": f"dso_{n}"}), NOW))
    assert len(list(invoices.ledger_facts(store, page=3))) == 7
    assert usecases.check(store.ledger, invoices.ledger_facts(store, page=2)).balanced


def test_an_entry_modified_afterwards_is_named_by_its_hash_and_by_the_running_totals(store):
    paid, _ = journey(store)
    at = next(n for n, e in enumerate(store.ledger.entries) if e.posting_id.startswith(f"{paid}.refund."))
    store.ledger.entries[at] = dataclasses.replace(store.ledger.entries[at], debit_fen=100)
    store.ledger.entries[at + 1] = dataclasses.replace(store.ledger.entries[at + 1], credit_fen=100)
    found = checked(store)
    assert not found.balanced
    assert found.discrepancies[0].endswith("its hash does not match its entries (an entry was modified after it was "
                                           "written)")
    assert any(d.startswith("revenue on 2026-12-05: running total") for d in found.discrepancies)
    assert "NOT BALANCED" in found.line() and found.discrepancies[0] in found.line()


def test_a_posting_removed_is_named_by_the_running_totals_and_by_its_invoice(store):
    paid, _ = journey(store)
    store.ledger.entries = [e for e in store.ledger.entries if not e.posting_id.startswith(f"{paid}.payment.")]
    found = checked(store)
    assert any(d.startswith("card_clearing on 2026-12-05: running total debits 4200") for d in found.discrepancies)
    assert f"invoice {paid}: patient_receivable 4200 fen, but issued 4200 − paid 4200 = 0" in found.discrepancies


def test_one_line_removed_is_named_as_its_posting_not_balancing_whole(store):
    journey(store)
    del store.ledger.entries[0]
    assert "a line missing?" in checked(store).discrepancies[0]


def test_an_invoice_changed_without_its_posting_and_entries_of_an_unknown_invoice_are_named(store):
    paid, open_ = journey(store)
    store.invoices_[open_] = dataclasses.replace(store.invoices_[open_], amount_fen=6000)  # no ledger posting
    store.ledger.transact(lambda tx: usecases.post(store.ledger, tx, rules.invoice_issued("inv_X", "pat_9", 1, 10,
                                                                                          NOW)))
    found = checked(store)
    assert f"invoice {open_}: patient_receivable 5200 fen, but issued 6000 − paid 0 = 6000" in found.discrepancies
    assert found.discrepancies[-1] == "invoice inv_X: in the ledger, but payments has no such invoice"
    assert found.debit_fen == found.credit_fen  # it still balances as books; it disagrees with the invoices


def test_unequal_total_debits_and_credits_are_named(ledger):
    issued = rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW)
    post(ledger, issued)
    ledger.entries[1] = dataclasses.replace(ledger.entries[1], credit_fen=5100)
    found = usecases.check(ledger, [rules.InvoiceFacts("inv_1", 5200, 0, None, 0)])
    assert found.discrepancies[0] == "posting inv_1.issue.1: debits 5200 fen != credits 5100 fen"
    assert "total debits 5200 fen != total credits 5100 fen" in found.discrepancies
