"""The ledger's pure rules: what each movement posts, that an unbalanced posting is refused, that a reversal is the
exact mirror of its original, balances on the normal side, the day of a posting, the posting hash, and what the
check calls a discrepancy."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.payments.invoices import DeskPaymentMethod
from services.payments.ledger import rules
from services.payments.ledger.rules import Account, Balance, InvoiceFacts, Line, Posting, PostingKind, StoredEntry

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def lines(posting: Posting) -> list[tuple[str, int, int]]:
    return [(line.account.value, line.debit_fen, line.credit_fen) for line in posting.lines]


def net(posting_list, invoice_id: str = "inv_1") -> dict[Account, int]:
    sums = rules.sums(line for p in posting_list for line in p.lines if line.invoice_id == invoice_id)
    return {account: balance.net(account) for account, balance in sums.items()}


# the movements -------------------------------------------------------------------------------------------------------
def test_an_issue_debits_patient_receivable_and_credits_revenue():
    issued = rules.invoice_issued("inv_1", "pat_1", 2, 5200, NOW)
    assert (issued.id, issued.kind, issued.reverses, issued.posted_at) == ("inv_1.issue.2", PostingKind.invoice_issued,
                                                                           None, NOW)
    assert lines(issued) == [("patient_receivable", 5200, 0), ("revenue", 0, 5200)]
    assert {(line.invoice_id, line.patient_id) for line in issued.lines} == {("inv_1", "pat_1")}


@pytest.mark.parametrize(("method", "account"), [(DeskPaymentMethod.cash, "cash_on_hand"),
                                                 (DeskPaymentMethod.card, "card_clearing"), ("card", "card_clearing")])
def test_a_desk_payment_debits_the_drawer_or_the_card_terminal_and_credits_patient_receivable(method, account):
    paid = rules.desk_payment("inv_1", "pat_1", "pay_1", method, 5200, NOW)
    assert (paid.id, paid.kind) == ("inv_1.payment.pay_1", PostingKind.desk_payment)
    assert lines(paid) == [(account, 5200, 0), ("patient_receivable", 0, 5200)]


def test_a_refund_owed_debits_revenue_and_credits_refunds_payable():
    owed = rules.refund_owed("inv_1", "pat_1", "rfd_1", 3000, NOW)
    assert (owed.id, owed.kind) == ("inv_1.refund.rfd_1", PostingKind.refund_owed)
    assert lines(owed) == [("revenue", 3000, 0), ("refunds_payable", 0, 3000)]


def test_issue_pay_and_refund_leave_nothing_owed_the_cash_received_and_the_refund_payable():
    movements = [rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW),
                 rules.desk_payment("inv_1", "pat_1", "pay_1", "cash", 5200, NOW),
                 rules.refund_owed("inv_1", "pat_1", "rfd_1", 3000, NOW)]
    assert net(movements) == {Account.patient_receivable: 0, Account.revenue: 2200, Account.cash_on_hand: 5200,
                              Account.refunds_payable: 3000}
    # the accounting equation: assets == liabilities + revenue
    assert 0 + 5200 == 3000 + 2200


# refusals ------------------------------------------------------------------------------------------------------------
def two(debit_fen: int = 100, credit_fen: int = 100, **other) -> Posting:
    return Posting("p_1", other.pop("kind", PostingKind.invoice_issued),
                   (Line(Account.patient_receivable, debit_fen, 0, "inv_1", "pat_1"),
                    Line(Account.revenue, 0, credit_fen, "inv_1", "pat_1")), NOW, **other)


@pytest.mark.parametrize(("posting", "why"), [
    (two(100, 99), "debits 100 fen != credits 99 fen"),
    (two(0, 1), "debits 0 fen != credits 1 fen"),
    (Posting("p_1", PostingKind.invoice_issued, (Line(Account.revenue, 0, 0, "inv_1", "pat_1"),), NOW),
     "1 line(s): a posting has at least two"),
    (Posting("p_1", PostingKind.invoice_issued, (), NOW), "0 line(s): a posting has at least two"),
    (dataclasses.replace(two(), lines=(Line(Account.patient_receivable, -100, 0, "inv_1", "pat_1"),
                                       Line(Account.revenue, 0, -100, "inv_1", "pat_1"))), "line 0: a negative amount"),
    (dataclasses.replace(two(), lines=(Line(Account.patient_receivable, 100, 100, "inv_1", "pat_1"),
                                       Line(Account.revenue, 100, 100, "inv_1", "pat_1"))),
     "line 0: both a debit and a credit (one side per line)"),
    (dataclasses.replace(two(), lines=(Line(Account.patient_receivable, 100.0, 0, "inv_1", "pat_1"),
                                       Line(Account.revenue, 0, 100, "inv_1", "pat_1"))),
     "line 0: amounts are integer fen"),
    (dataclasses.replace(two(), lines=(Line(Account.patient_receivable, True, 0, "inv_1", "pat_1"),
                                       Line(Account.revenue, 0, True, "inv_1", "pat_1"))),
     "line 0: amounts are integer fen"),
    (dataclasses.replace(two(), lines=(Line("petty_cash", 100, 0, "inv_1", "pat_1"),
                                       Line(Account.revenue, 0, 100, "inv_1", "pat_1"))),
     "line 0: 'petty_cash' is not an account"),
    (dataclasses.replace(two(), lines=(Line(Account.patient_receivable, 100, 0, "inv_1", "pat_1"),
                                       Line(Account.revenue, 0, 100, "", "pat_1"))), "line 1: no invoice or patient"),
    (two(kind=PostingKind.reversal), "a reversal names the posting it reverses, and only a reversal does"),
    (two(reverses="p_0"), "a reversal names the posting it reverses, and only a reversal does"),
])
def test_an_unbalanced_or_malformed_posting_is_refused(posting, why):
    assert rules.refusal(posting) == why
    with pytest.raises(rules.UnbalancedPosting, match="posting p_1: "):
        rules.require_balanced(posting)


def test_the_builder_refuses_an_unbalanced_posting_and_accepts_a_balanced_one():
    with pytest.raises(rules.UnbalancedPosting, match="debits 5200 fen != credits 5000 fen"):
        rules.posting("p_1", PostingKind.invoice_issued,
                      [rules.debit(Account.patient_receivable, 5200, "inv_1", "pat_1"),
                       rules.credit(Account.revenue, 5000, "inv_1", "pat_1")], NOW)
    three = rules.posting("p_2", PostingKind.invoice_issued,
                          [rules.debit(Account.patient_receivable, 4000, "inv_1", "pat_1"),
                           rules.debit(Account.insurance_receivable, 1200, "inv_1", "pat_1"),
                           rules.credit(Account.revenue, 5200, "inv_1", "pat_1")], NOW)
    assert rules.refusal(three) is None and len(three.lines) == 3
    assert rules.refusal(rules.invoice_issued("inv_1", "pat_1", 1, 0, NOW)) is None  # an invoice of nothing


def test_a_posting_is_stamped_to_the_millisecond_in_utc():
    local = datetime(2026, 12, 5, 10, 0, 0, 123456, tzinfo=SHANGHAI)
    assert rules.invoice_issued("inv_1", "pat_1", 1, 1, local).posted_at == datetime(2026, 12, 5, 2, 0, 0, 123000,
                                                                                     tzinfo=UTC)


# reversals -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("original", [
    rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW),
    rules.desk_payment("inv_1", "pat_1", "pay_1", "card", 5200, NOW),
    rules.posting("p_3", PostingKind.invoice_issued, [rules.debit(Account.patient_receivable, 4000, "inv_1", "pat_1"),
                                                       rules.debit(Account.insurance_receivable, 1200, "inv_1",
                                                                   "pat_1"),
                                                       rules.credit(Account.revenue, 5200, "inv_1", "pat_1")], NOW),
])
def test_a_reversal_is_the_exact_mirror_of_its_original_and_with_it_sums_to_nothing(original):
    later = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    undone = rules.reversal(original, later)
    assert (undone.id, undone.kind, undone.reverses, undone.posted_at) == (
        f"{original.id}.reversal", PostingKind.reversal, original.id, later)
    assert [(line.account, line.debit_fen, line.credit_fen, line.invoice_id, line.patient_id)
            for line in undone.lines] == [(line.account, line.credit_fen, line.debit_fen, line.invoice_id,
                                           line.patient_id) for line in original.lines]
    assert set(net([original, undone]).values()) == {0}
    assert rules.reversal_defect(undone, original) is None
    assert rules.reversal(undone, later).lines == original.lines  # reversing the reversal restores it


def test_a_reversal_that_is_not_the_mirror_or_whose_original_is_missing_is_a_discrepancy():
    original = rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW)
    wrong = rules.posting(rules.reversal_id(original.id), PostingKind.reversal,
                          [rules.debit(Account.revenue, 5000, "inv_1", "pat_1"),
                           rules.credit(Account.patient_receivable, 5000, "inv_1", "pat_1")], NOW, reverses=original.id)
    assert rules.reversal_defect(wrong, original) == f"posting {wrong.id} is not the exact mirror of {original.id}"
    assert "not in the ledger" in rules.reversal_defect(rules.reversal(original, NOW), None)


def test_a_replay_is_the_same_movement_whenever_it_was_asked_for():
    first = rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW)
    assert rules.same_movement(first, rules.invoice_issued("inv_1", "pat_1", 1, 5200, datetime(2027, 1, 1,
                                                                                               tzinfo=UTC)))
    assert not rules.same_movement(first, rules.invoice_issued("inv_1", "pat_1", 1, 5300, NOW))


# balances and days ---------------------------------------------------------------------------------------------------
def test_balances_are_on_the_accounts_normal_side():
    moved = Balance(debit_fen=700, credit_fen=200)
    assert moved + Balance(1, 2) == Balance(701, 202)
    for account in (Account.patient_receivable, Account.insurance_receivable, Account.cash_on_hand,
                    Account.card_clearing, Account.provider_clearing):
        assert moved.net(account) == 500
    assert moved.net(Account.revenue) == moved.net(Account.refunds_payable) == -500


def test_a_postings_day_is_the_hospitals_calendar_day():
    assert rules.day_of(datetime(2026, 12, 5, 15, 59, tzinfo=UTC), SHANGHAI) == "2026-12-05"
    assert rules.day_of(datetime(2026, 12, 5, 16, 0, tzinfo=UTC), SHANGHAI) == "2026-12-06"


# the hash and stored postings ----------------------------------------------------------------------------------------
def stored(posting: Posting, day: str = "2026-12-05") -> list[StoredEntry]:
    digest = rules.hash_of(posting, day)
    return [StoredEntry(posting.id, n, len(posting.lines), posting.kind.value, posting.reverses, line.account.value,
                        line.debit_fen, line.credit_fen, line.invoice_id, line.patient_id, posting.posted_at, day,
                        digest) for n, line in enumerate(posting.lines)]


ISSUED = rules.invoice_issued("inv_1", "pat_1", 1, 5200, NOW)


def test_the_hash_covers_every_field_of_every_line():
    digest = rules.hash_of(ISSUED, "2026-12-05")
    assert len(digest) == 64 and digest == rules.hash_of(ISSUED, "2026-12-05")
    changed = [dataclasses.replace(ISSUED, lines=(dataclasses.replace(ISSUED.lines[0], **{field: value}),
                                                  ISSUED.lines[1]))
               for field, value in [("debit_fen", 5201), ("account", Account.cash_on_hand), ("invoice_id", "inv_2"),
                                    ("patient_id", "pat_2")]]
    changed += [dataclasses.replace(ISSUED, id="inv_1.issue.9"), dataclasses.replace(ISSUED, kind=PostingKind.reversal),
                dataclasses.replace(ISSUED, posted_at=datetime(2026, 12, 5, 2, 0, 1, tzinfo=UTC)),
                dataclasses.replace(ISSUED, reverses="x"), dataclasses.replace(ISSUED, lines=ISSUED.lines[::-1])]
    assert len({rules.hash_of(p, "2026-12-05") for p in changed} | {digest}) == len(changed) + 1
    assert rules.hash_of(ISSUED, "2026-12-06") != digest


def test_stored_entries_make_their_posting_back_and_any_change_is_named():
    assert rules.stored_posting(stored(ISSUED)) == (ISSUED, None)
    entries = stored(ISSUED)

    altered = [dataclasses.replace(entries[0], debit_fen=5000), dataclasses.replace(entries[1], credit_fen=5000)]
    assert rules.stored_posting(altered)[1] == (f"posting {ISSUED.id}: its hash does not match its entries (an entry "
                                                "was modified after it was written)")
    assert "debits 5200 fen != credits 5000 fen" in rules.stored_posting(
        [entries[0], dataclasses.replace(entries[1], credit_fen=5000)])[1]
    assert "a line missing?" in rules.stored_posting(entries[:1])[1]
    assert "line 1 disagrees with line 0" in rules.stored_posting(
        [entries[0], dataclasses.replace(entries[1], day="2026-12-06")])[1]
    assert "is not a valid Account" in rules.stored_posting(
        [entries[0], dataclasses.replace(entries[1], account="petty_cash")])[1]
    moved = [dataclasses.replace(e, invoice_id="inv_2") for e in entries]  # both lines, consistently: the hash sees it
    assert "its hash does not match" in rules.stored_posting(moved)[1]


# the invoices' side of the check -------------------------------------------------------------------------------------
def sums_of(*postings: Posting) -> dict[Account, Balance]:
    return rules.sums(line for p in postings for line in p.lines)


PAID = rules.desk_payment("inv_1", "pat_1", "pay_1", "cash", 5200, NOW)
OWED = rules.refund_owed("inv_1", "pat_1", "rfd_1", 3000, NOW)


def test_the_ledger_agrees_with_an_open_a_paid_and_a_refunded_invoice():
    assert rules.invoice_defect(InvoiceFacts("inv_1", 5200, 0, None, 0), sums_of(ISSUED)) is None
    assert rules.invoice_defect(InvoiceFacts("inv_1", 5200, 5200, DeskPaymentMethod.cash, 0),
                                sums_of(ISSUED, PAID)) is None
    assert rules.invoice_defect(InvoiceFacts("inv_1", 5200, 5200, DeskPaymentMethod.cash, 3000),
                                sums_of(ISSUED, PAID, OWED)) is None


@pytest.mark.parametrize(("facts", "postings", "named"), [
    (InvoiceFacts("inv_1", 5200, 5200, DeskPaymentMethod.cash, 0), (ISSUED,),
     "patient_receivable 5200 fen, but issued 5200 − paid 5200 = 0"),
    (InvoiceFacts("inv_1", 4200, 0, None, 0), (ISSUED,), "patient_receivable 5200 fen, but issued 4200 − paid 0"),
    (InvoiceFacts("inv_1", 5200, 5200, DeskPaymentMethod.card, 0), (ISSUED, PAID),
     "card_clearing 0 fen, but 5200 was received that way"),
    (InvoiceFacts("inv_1", 5200, 5200, DeskPaymentMethod.cash, 0), (ISSUED, PAID, OWED),
     "refunds_payable 3000 fen, but 0 fen of refunds are owed"),
    (InvoiceFacts("inv_1", 5200, 5200, DeskPaymentMethod.cash, 3000),
     (ISSUED, PAID, rules.posting("x", PostingKind.refund_owed, [
         rules.debit(Account.insurance_receivable, 3000, "inv_1", "pat_1"),  # owed, but not taken from revenue
         rules.credit(Account.refunds_payable, 3000, "inv_1", "pat_1")], NOW)),
     "revenue 5200 fen, but issued 5200 − refunds owed 3000 = 2200"),
    (InvoiceFacts("inv_1", 5200, 0, None, 0), (ISSUED, rules.refund_owed("inv_1", "pat_1", "rfd_1", 0, NOW)), None),
])
def test_where_the_ledger_and_the_invoice_disagree_is_named(facts, postings, named):
    defect = rules.invoice_defect(facts, sums_of(*postings))
    if named is None:
        assert defect is None
    else:
        assert defect.startswith("invoice inv_1: ") and named in defect


def test_refunds_owed_beyond_what_was_paid_are_a_discrepancy_even_when_the_ledger_matches_them():
    facts = InvoiceFacts("inv_1", 5200, 0, None, 3000)
    refunded_unpaid = rules.posting("x", PostingKind.refund_owed,
                                    [rules.debit(Account.revenue, 3000, "inv_1", "pat_1"),
                                     rules.credit(Account.refunds_payable, 3000, "inv_1", "pat_1")], NOW)
    assert rules.invoice_defect(facts, sums_of(ISSUED, refunded_unpaid)) == (
        "invoice inv_1: 3000 fen of refunds owed, more than the 0 fen paid")
