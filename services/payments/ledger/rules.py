"""The ledger's decisions, pure: the accounts, what a posting is and when it balances, the posting each movement
makes (an invoice issued, a desk payment, a refund owed) and the exact reversal of one, balances as sums, the
postings' hash, and what the check calls a discrepancy. No I/O, no clock (``now`` is given), no MongoDB."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from contracts.payments.invoices import DeskPaymentMethod
from wenzhen.timez import as_utc


class Account(StrEnum):
    patient_receivable = "patient_receivable"  # what patients owe (an asset)
    insurance_receivable = "insurance_receivable"  # what the insurance fund owes (an asset; with insurance, later)
    cash_on_hand = "cash_on_hand"  # the desk's cash drawer (an asset)
    card_clearing = "card_clearing"  # the desk's card terminal, until the bank settles (an asset)
    provider_clearing = "provider_clearing"  # an online payment provider, until it settles (an asset; later)
    revenue = "revenue"  # what the hospital earned (credit-normal)
    refunds_payable = "refunds_payable"  # refunds owed to patients, not yet paid out (a liability, credit-normal)


CREDIT_NORMAL = frozenset({Account.revenue, Account.refunds_payable})
DESK_ACCOUNTS = {DeskPaymentMethod.cash: Account.cash_on_hand, DeskPaymentMethod.card: Account.card_clearing}
RECEIVED = frozenset({Account.cash_on_hand, Account.card_clearing, Account.provider_clearing})


class PostingKind(StrEnum):
    invoice_issued = "invoice_issued"  # debit patient_receivable / credit revenue
    desk_payment = "desk_payment"  # debit cash_on_hand or card_clearing / credit patient_receivable
    refund_owed = "refund_owed"  # debit revenue / credit refunds_payable
    reversal = "reversal"  # the exact mirror of the posting it ``reverses``


class UnbalancedPosting(ValueError):
    """A posting the ledger refuses (fewer than two lines, a negative or two-sided line, debits not equal to
    credits, a reversal without its original): raised before anything is written, so the transaction that asked for
    it writes nothing."""


class LedgerConflict(ValueError):
    """A posting whose id is taken by a different posting, or a correction whose original is missing: never
    overwritten and never guessed. A consumer retries the event and then parks it for a person."""


@dataclass(frozen=True)
class Line:
    """One side of a movement on one account: a debit or a credit (integer fen, ≥ 0), about one invoice."""

    account: Account
    debit_fen: int
    credit_fen: int
    invoice_id: str
    patient_id: str


@dataclass(frozen=True)
class Posting:
    """One balanced movement: its id (derived from its cause, so a replay is the same id), at least two lines."""

    id: str
    kind: PostingKind
    lines: tuple[Line, ...]
    posted_at: datetime
    reverses: str | None = None  # the posting this one corrects (kind ``reversal``)


@dataclass(frozen=True)
class Balance:
    """Debits and credits of an account (or of one invoice on it)."""

    debit_fen: int = 0
    credit_fen: int = 0

    def __add__(self, other: Balance) -> Balance:
        return Balance(self.debit_fen + other.debit_fen, self.credit_fen + other.credit_fen)

    def net(self, account: Account) -> int:
        """On the account's normal side: debits − credits for assets, credits − debits for revenue and liabilities."""
        if account in CREDIT_NORMAL:
            return self.credit_fen - self.debit_fen
        return self.debit_fen - self.credit_fen


# a posting and when it balances -------------------------------------------------------------------------------------
def debit(account: Account, amount_fen: int, invoice_id: str, patient_id: str) -> Line:
    return Line(account, amount_fen, 0, invoice_id, patient_id)


def credit(account: Account, amount_fen: int, invoice_id: str, patient_id: str) -> Line:
    return Line(account, 0, amount_fen, invoice_id, patient_id)


def _fen(value) -> bool:
    return type(value) is int


def refusal(posting: Posting) -> str | None:
    """Why the ledger refuses ``posting``, or None when it balances."""
    if not posting.id:
        return "a posting needs an id"
    if len(posting.lines) < 2:
        return f"{len(posting.lines)} line(s): a posting has at least two"
    for n, line in enumerate(posting.lines):
        if not isinstance(line.account, Account):
            return f"line {n}: {line.account!r} is not an account"
        if not (_fen(line.debit_fen) and _fen(line.credit_fen)):
            return f"line {n}: amounts are integer fen"
        if line.debit_fen < 0 or line.credit_fen < 0:
            return f"line {n}: a negative amount"
        if line.debit_fen and line.credit_fen:
            return f"line {n}: both a debit and a credit (one side per line)"
        if not line.invoice_id or not line.patient_id:
            return f"line {n}: no invoice or patient"
    debits, credits = sum(line.debit_fen for line in posting.lines), sum(line.credit_fen for line in posting.lines)
    if debits != credits:
        return f"debits {debits} fen != credits {credits} fen"
    if (posting.kind == PostingKind.reversal) != (posting.reverses is not None):
        return "a reversal names the posting it reverses, and only a reversal does"
    return None


def require_balanced(posting: Posting) -> Posting:
    why = refusal(posting)
    if why:
        raise UnbalancedPosting(f"posting {posting.id}: {why}")
    return posting


def _ms(now: datetime) -> datetime:
    """UTC, to the millisecond (what MongoDB keeps; the hash must survive the round trip)."""
    now = as_utc(now)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def posting(posting_id: str, kind: PostingKind, lines: Iterable[Line], now: datetime,
            reverses: str | None = None) -> Posting:
    """A posting, refused (:class:`UnbalancedPosting`) unless it balances."""
    return require_balanced(Posting(posting_id, kind, tuple(lines), _ms(now), reverses))


# the movements -------------------------------------------------------------------------------------------------------
def issue_id(invoice_id: str, revision: int) -> str:
    return f"{invoice_id}.issue.{revision}"


def invoice_issued(invoice_id: str, patient_id: str, revision: int, amount_fen: int, now: datetime) -> Posting:
    """The amount of an invoice's revision is owed by the patient and earned: debit patient_receivable, credit
    revenue."""
    return posting(issue_id(invoice_id, revision), PostingKind.invoice_issued,
                   [debit(Account.patient_receivable, amount_fen, invoice_id, patient_id),
                    credit(Account.revenue, amount_fen, invoice_id, patient_id)], now)


def desk_payment(invoice_id: str, patient_id: str, payment_id: str, method: DeskPaymentMethod, amount_fen: int,
                 now: datetime) -> Posting:
    """Money taken at the desk settles what the patient owed: debit the drawer (cash) or the card terminal's
    clearing account, credit patient_receivable."""
    return posting(f"{invoice_id}.payment.{payment_id}", PostingKind.desk_payment,
                   [debit(DESK_ACCOUNTS[DeskPaymentMethod(method)], amount_fen, invoice_id, patient_id),
                    credit(Account.patient_receivable, amount_fen, invoice_id, patient_id)], now)


def refund_owed(invoice_id: str, patient_id: str, refund_id: str, amount_fen: int, now: datetime) -> Posting:
    """A refund recorded as owed (``requested``) gives back what was earned: debit revenue, credit refunds_payable.
    Paying it out (debit refunds_payable, credit the account the money leaves) comes with the payment provider."""
    return posting(f"{invoice_id}.refund.{refund_id}", PostingKind.refund_owed,
                   [debit(Account.revenue, amount_fen, invoice_id, patient_id),
                    credit(Account.refunds_payable, amount_fen, invoice_id, patient_id)], now)


def reversal_id(posting_id: str) -> str:
    return f"{posting_id}.reversal"


def reversal(original: Posting, now: datetime) -> Posting:
    """The correction of ``original``: the same lines with debit and credit swapped, referencing it. Posted, the
    two sum to nothing on every account and invoice; the original stays as it was."""
    return posting(reversal_id(original.id), PostingKind.reversal,
                   [Line(line.account, line.credit_fen, line.debit_fen, line.invoice_id, line.patient_id)
                    for line in original.lines], now, reverses=original.id)


def same_movement(a: Posting, b: Posting) -> bool:
    """The same posting asked for again (a replay), whenever it was asked: the same kind, lines and original."""
    return (a.id, a.kind, a.lines, a.reverses) == (b.id, b.kind, b.lines, b.reverses)


# balances ------------------------------------------------------------------------------------------------------------
def sums(lines: Iterable[Line]) -> dict[Account, Balance]:
    found: dict[Account, Balance] = {}
    for line in lines:
        found[line.account] = found.get(line.account, Balance()) + Balance(line.debit_fen, line.credit_fen)
    return found


def day_of(posted_at: datetime, zone: tzinfo) -> str:
    """The hospital's calendar day of a posting (``YYYY-MM-DD``): the key of the per-account running totals."""
    return as_utc(posted_at).astimezone(zone).date().isoformat()


# the hash ------------------------------------------------------------------------------------------------------------
def posting_hash(posting_id: str, kind: str, reverses: str | None, posted_at: datetime, day: str,
                 lines: Iterable[tuple]) -> str:
    """SHA-256 of the posting's canonical form: its id, kind, original, time, day and every line (account, debit,
    credit, invoice, patient) in order. Stored on each of its entries when inserted; the check recomputes it, so an
    entry changed afterwards (or a line removed) no longer matches."""
    body = {"id": posting_id, "kind": str(kind), "reverses": reverses, "day": day,
            "posted_at": _ms(posted_at).isoformat(timespec="milliseconds"),
            "lines": [[str(account), debit_fen, credit_fen, invoice_id, patient_id]
                      for account, debit_fen, credit_fen, invoice_id, patient_id in lines]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


def hash_of(posting: Posting, day: str) -> str:
    return posting_hash(posting.id, posting.kind, posting.reverses, posting.posted_at, day,
                        [(line.account, line.debit_fen, line.credit_fen, line.invoice_id, line.patient_id)
                         for line in posting.lines])


# the check -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredEntry:
    """One line as stored, unvalidated (the check reports what is wrong with it rather than failing to read it)."""

    posting_id: str
    line: int
    lines: int  # how many lines its posting has
    kind: str
    reverses: str | None
    account: str
    debit_fen: int
    credit_fen: int
    invoice_id: str
    patient_id: str
    posted_at: datetime
    day: str
    hash: str


@dataclass(frozen=True)
class InvoiceFacts:
    """What the invoices say of one invoice, which the ledger must agree with."""

    invoice_id: str
    issued_fen: int  # the amount due of its current revision
    paid_fen: int  # what was paid (0 while open)
    paid_by: DeskPaymentMethod | None  # how (None while open)
    refunds_owed_fen: int  # its refund requests recorded ``requested``


def stored_posting(entries: list[StoredEntry]) -> tuple[Posting | None, str | None]:
    """The posting these entries (one posting's, in line order) make, or why they do not make a sound one: a line
    missing or extra, lines that disagree about their posting, an unbalanced posting, or a hash that no longer
    matches (an entry changed after it was written)."""
    first = entries[0]
    where = f"posting {first.posting_id}"
    if [e.line for e in entries] != list(range(first.lines)):
        return None, f"{where}: lines {[e.line for e in entries]}, expected 0..{first.lines - 1} (a line missing?)"
    for e in entries:
        if (e.lines, e.kind, e.reverses, e.posted_at, e.day, e.hash) != (
                first.lines, first.kind, first.reverses, first.posted_at, first.day, first.hash):
            return None, f"{where}: line {e.line} disagrees with line 0 about its posting"
    try:
        kind = PostingKind(first.kind)
        lines = tuple(Line(Account(e.account), e.debit_fen, e.credit_fen, e.invoice_id, e.patient_id)
                      for e in entries)
    except ValueError as bad:
        return None, f"{where}: {bad}"
    found = Posting(first.posting_id, kind, lines, first.posted_at, first.reverses)
    why = refusal(found)
    if why:
        return None, f"{where}: {why}"
    if hash_of(found, first.day) != first.hash:
        return None, f"{where}: its hash does not match its entries (an entry was modified after it was written)"
    return found, None


def reversal_defect(reversing: Posting, original: Posting | None) -> str | None:
    """A reversal must mirror its original exactly (compared as stored: an original that is itself unsound is named
    on its own)."""
    if original is None:
        return f"posting {reversing.id} reverses {reversing.reverses}, which is not in the ledger"
    mirror = tuple(Line(line.account, line.credit_fen, line.debit_fen, line.invoice_id, line.patient_id)
                   for line in original.lines)
    if mirror != reversing.lines:
        return f"posting {reversing.id} is not the exact mirror of {original.id}"
    return None


def invoice_defect(facts: InvoiceFacts, balances: dict[Account, Balance]) -> str | None:
    """Where the ledger disagrees with the invoice: patient_receivable = issued − paid; what was received, on the
    account of the way it was paid, = paid; refunds_payable = the refunds owed, never more than was paid; revenue =
    issued − refunds owed."""
    def net(account: Account) -> int:
        return balances.get(account, Balance()).net(account)

    where = f"invoice {facts.invoice_id}"
    receivable = net(Account.patient_receivable)
    if receivable != facts.issued_fen - facts.paid_fen:
        return (f"{where}: patient_receivable {receivable} fen, but issued {facts.issued_fen} − paid "
                f"{facts.paid_fen} = {facts.issued_fen - facts.paid_fen}")
    for account in sorted(RECEIVED):
        expected = facts.paid_fen if facts.paid_by and DESK_ACCOUNTS[facts.paid_by] == account else 0
        if net(account) != expected:
            return f"{where}: {account} {net(account)} fen, but {expected} was received that way"
    if net(Account.refunds_payable) != facts.refunds_owed_fen:
        return (f"{where}: refunds_payable {net(Account.refunds_payable)} fen, but {facts.refunds_owed_fen} fen of "
                "refunds are owed")
    if facts.refunds_owed_fen > facts.paid_fen:
        return f"{where}: {facts.refunds_owed_fen} fen of refunds owed, more than the {facts.paid_fen} fen paid"
    if net(Account.revenue) != facts.issued_fen - facts.refunds_owed_fen:
        return (f"{where}: revenue {net(Account.revenue)} fen, but issued {facts.issued_fen} − refunds owed "
                f"{facts.refunds_owed_fen} = {facts.issued_fen - facts.refunds_owed_fen}")
    if net(Account.insurance_receivable) != 0:
        return f"{where}: insurance_receivable {net(Account.insurance_receivable)} fen, but nothing is insured yet"
    return None
