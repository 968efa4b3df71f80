"""The ledger's store, in memory: the same named methods as ``LedgerStore`` over a list of entries (insert-only, as
stored: ``StoredEntry``) and a dict of running totals per (account, day), with the same refusals (an unbalanced
posting before anything is written; another posting under a taken id) and the same hash."""
from __future__ import annotations

from services.payments.ledger import rules
from services.payments.ledger.rules import Account, Balance, Line, Posting, PostingKind, StoredEntry
from tests.fakes import FakeCapabilityStore
from wenzhen.timez import hospital_zone


class FakeLedgerStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.entries: list[StoredEntry] = []
        self.totals: dict[tuple[str, str], Balance] = {}

    def insert_posting(self, tx, posting: Posting) -> bool:
        rules.require_balanced(posting)
        known = self.posting(posting.id, tx)
        if known is not None:
            if not rules.same_movement(known, posting):
                raise rules.LedgerConflict(f"posting {posting.id} is in the ledger with other lines")
            return False
        day = rules.day_of(posting.posted_at, hospital_zone())
        digest = rules.hash_of(posting, day)
        self.entries.extend(
            StoredEntry(posting_id=posting.id, line=n, lines=len(posting.lines), kind=posting.kind.value,
                        reverses=posting.reverses, account=line.account.value, debit_fen=line.debit_fen,
                        credit_fen=line.credit_fen, invoice_id=line.invoice_id, patient_id=line.patient_id,
                        posted_at=posting.posted_at, day=day, hash=digest)
            for n, line in enumerate(posting.lines))
        for account, moved in rules.sums(posting.lines).items():
            self.totals[(account.value, day)] = self.totals.get((account.value, day), Balance()) + moved
        return True

    def posting(self, posting_id: str, tx=None) -> Posting | None:
        found = sorted((e for e in self.entries if e.posting_id == posting_id), key=lambda e: e.line)
        if not found:
            return None
        return Posting(id=posting_id, kind=PostingKind(found[0].kind), posted_at=found[0].posted_at,
                       reverses=found[0].reverses,
                       lines=tuple(Line(Account(e.account), e.debit_fen, e.credit_fen, e.invoice_id, e.patient_id)
                                   for e in found))

    def invoice_balances(self, invoice_id: str, tx=None) -> dict[Account, Balance]:
        found: dict[Account, Balance] = {}
        for e in self.entries:
            if e.invoice_id == invoice_id:
                found[Account(e.account)] = found.get(Account(e.account), Balance()) + Balance(e.debit_fen,
                                                                                               e.credit_fen)
        return found

    def account_balance(self, account: Account, through: str | None = None) -> Balance:
        return sum((b for (a, day), b in self.totals.items() if a == account.value and (through is None
                                                                                        or day <= through)),
                   Balance())

    def entries_in_posting_order(self):
        return iter(sorted(self.entries, key=lambda e: (e.posting_id, e.line)))

    def running_totals(self):
        return iter([(account, day, b) for (account, day), b in sorted(self.totals.items())])

    # what the tests look at ----------------------------------------------------------------------------------------
    def postings(self) -> list[Posting]:
        """Every posting, in the order written."""
        ids = list(dict.fromkeys(e.posting_id for e in self.entries))
        return [self.posting(posting_id) for posting_id in ids]
