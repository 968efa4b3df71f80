"""The ledger's operations. Posting happens inside the transaction of the change that causes it (the caller's ``Tx``:
an invoice issued or re-issued, a desk payment, a refund recorded as owed), so a change and its entries commit
together or not at all. Balances are sums; :func:`check` proves the ledger balances and agrees with the invoices."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.payments.invoices import DeskPaymentMethod
from services.payments.ledger import rules
from services.payments.ledger.rules import Account, Balance, InvoiceFacts, Posting, StoredEntry
from services.payments.ledger.store import LedgerStore
from wenzhen.storage import Tx


# posting (inside the caller's transaction) ---------------------------------------------------------------------------
def post(store: LedgerStore, tx: Tx, posting: Posting) -> bool:
    """Write a balanced posting (an unbalanced one is refused before anything is written); False: there already."""
    return store.insert_posting(tx, posting)


def invoice_issued(store: LedgerStore, tx: Tx, invoice_id: str, patient_id: str, revision: int, amount_fen: int,
                   now: datetime) -> list[Posting]:
    """An invoice's revision issued: revision 1 posts its amount (debit patient_receivable, credit revenue); a later
    revision first reverses the previous revision's posting, then posts the new amount. A previous posting that is
    missing is a :class:`rules.LedgerConflict` (never guessed)."""
    postings = []
    if revision > 1:
        previous = store.posting(rules.issue_id(invoice_id, revision - 1), tx)
        if previous is None:
            raise rules.LedgerConflict(f"invoice {invoice_id}: revision {revision - 1} has no posting to reverse")
        postings.append(rules.reversal(previous, now))
    postings.append(rules.invoice_issued(invoice_id, patient_id, revision, amount_fen, now))
    for posting in postings:
        store.insert_posting(tx, posting)
    return postings


def desk_payment_received(store: LedgerStore, tx: Tx, invoice_id: str, patient_id: str, payment_id: str,
                          method: DeskPaymentMethod, amount_fen: int, now: datetime) -> Posting:
    """Money taken at the desk: debit cash_on_hand (cash) or card_clearing (card), credit patient_receivable."""
    posting = rules.desk_payment(invoice_id, patient_id, payment_id, method, amount_fen, now)
    store.insert_posting(tx, posting)
    return posting


def refund_owed(store: LedgerStore, tx: Tx, invoice_id: str, patient_id: str, refund_id: str, amount_fen: int,
                now: datetime) -> Posting:
    """A refund recorded as owed: debit revenue, credit refunds_payable (paying it out comes later)."""
    posting = rules.refund_owed(invoice_id, patient_id, refund_id, amount_fen, now)
    store.insert_posting(tx, posting)
    return posting


def reverse(store: LedgerStore, tx: Tx, posting_id: str, now: datetime) -> Posting:
    """A correction: the exact mirror of a posting, referencing it; the original is never changed. Reversing the same
    posting again changes nothing (the reversal's id is derived from the original's)."""
    original = store.posting(posting_id, tx)
    if original is None:
        raise rules.LedgerConflict(f"no posting {posting_id} to reverse")
    correction = rules.reversal(original, now)
    store.insert_posting(tx, correction)
    return correction


# balances ------------------------------------------------------------------------------------------------------------
def balance(store: LedgerStore, account: Account, invoice_id: str | None = None, through: str | None = None,
            tx: Tx | None = None) -> int:
    """An account's balance on its normal side (debits − credits for assets, credits − debits for revenue and
    refunds_payable): one invoice's (an aggregation over its entries), or the whole account's up to day ``through``
    (a sum of its running per-day totals)."""
    if invoice_id is not None:
        return store.invoice_balances(invoice_id, tx).get(account, Balance()).net(account)
    return store.account_balance(account, through).net(account)


# the check -----------------------------------------------------------------------------------------------------------
@dataclass
class LedgerCheck:
    """What :func:`check` found: counts, totals, and every discrepancy (the first one first)."""

    postings: int = 0
    entries: int = 0
    debit_fen: int = 0
    credit_fen: int = 0
    invoices: int = 0
    discrepancies: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.discrepancies

    def line(self) -> str:
        totals = (f"{self.postings} postings, {self.entries} entries, debits {self.debit_fen} fen, credits "
                  f"{self.credit_fen} fen, {self.invoices} invoices")
        if self.balanced:
            return f"payments ledger: balanced: {totals}"
        return (f"payments ledger: NOT BALANCED ({len(self.discrepancies)} discrepancies): {totals}; first: "
                f"{self.discrepancies[0]}")


def _by_posting(entries: Iterable[StoredEntry]) -> Iterable[list[StoredEntry]]:
    group: list[StoredEntry] = []
    for entry in entries:
        if group and entry.posting_id != group[0].posting_id:
            yield group
            group = []
        group.append(entry)
    if group:
        yield group


def check(store: LedgerStore, invoices: Iterable[InvoiceFacts]) -> LedgerCheck:
    """Prove the ledger balances: every posting is whole, balanced and unmodified (its hash) and every reversal the
    exact mirror of its original; total debits == total credits; each (account, day) running total equals the sum of
    its entries (an entry removed or changed shows here too); and for every invoice (``invoices``: what the invoices
    say) patient_receivable == issued − paid, what was received == paid (on the account of how it was paid),
    refunds_payable == the refunds owed ≤ paid, revenue == issued − refunds owed; no entry names an invoice the
    invoices do not know.

    A posting found unsound is named and left out of its invoice's balances (so its invoice is usually named too);
    the raw totals and the per-day sums count every entry as stored.

    Offline only (``python -m services.payments.ledger check``): it reads every entry once, in posting order, and
    keeps one sum per (invoice, account) and per (account, day)."""
    found = LedgerCheck()
    per_invoice: dict[str, dict[Account, Balance]] = {}
    per_day: dict[tuple[str, str], Balance] = {}
    for entries in _by_posting(store.entries_in_posting_order()):
        found.postings += 1
        found.entries += len(entries)
        for entry in entries:  # the raw totals first: what is in the database, whatever else is wrong with it
            amounts = Balance(_int(entry.debit_fen), _int(entry.credit_fen))
            found.debit_fen += amounts.debit_fen
            found.credit_fen += amounts.credit_fen
            per_day[(entry.account, entry.day)] = per_day.get((entry.account, entry.day), Balance()) + amounts
        posting, defect = rules.stored_posting(entries)
        if defect:
            found.discrepancies.append(defect)
            continue
        if posting.reverses is not None:
            try:
                defect = rules.reversal_defect(posting, store.posting(posting.reverses))
            except ValueError as unreadable:  # its original's entries are not sound (named where it is scanned)
                defect = f"posting {posting.id}: its original {posting.reverses} cannot be read ({unreadable})"
            if defect:
                found.discrepancies.append(defect)
        for line in posting.lines:
            sums = per_invoice.setdefault(line.invoice_id, {})
            sums[line.account] = sums.get(line.account, Balance()) + Balance(line.debit_fen, line.credit_fen)
    if found.debit_fen != found.credit_fen:
        found.discrepancies.append(f"total debits {found.debit_fen} fen != total credits {found.credit_fen} fen")
    kept = {(account, day): totals for account, day, totals in store.running_totals()}
    for key in sorted(set(per_day) | set(kept)):
        summed, running = per_day.get(key, Balance()), kept.get(key, Balance())
        if summed != running:
            found.discrepancies.append(
                f"{key[0]} on {key[1]}: running total debits {running.debit_fen} / credits {running.credit_fen} fen, "
                f"but its entries sum to {summed.debit_fen} / {summed.credit_fen} (an entry removed or changed?)")
    for facts in invoices:
        found.invoices += 1
        defect = rules.invoice_defect(facts, per_invoice.pop(facts.invoice_id, {}))
        if defect:
            found.discrepancies.append(defect)
    for invoice_id in sorted(per_invoice):
        found.discrepancies.append(f"invoice {invoice_id}: in the ledger, but payments has no such invoice")
    return found


def _int(value) -> int:
    return value if type(value) is int else 0
