"""Every MongoDB query of the ledger. ``ledger_entries`` is insert-only: one document per line of a posting, never
updated or deleted (nothing here does either; a correction is a reversing posting). A unique index on
(posting_id, line) makes a replayed posting a duplicate key: it is there already. ``ledger_totals`` keeps a running
debit and credit per (account, day), moved by ``$inc`` in the transaction of the posting, so an account's balance is
a sum over days rather than over every entry.

Entries hold ids, codes and amounts: no name, nothing encrypted."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pymongo import ASCENDING

from services.payments.ledger import rules
from services.payments.ledger.rules import Account, Balance, Line, Posting, PostingKind, StoredEntry
from wenzhen.storage import CapabilityStore, Index, Tx
from wenzhen.timez import as_utc, hospital_zone

LEDGER_ENTRIES = "ledger_entries"
LEDGER_TOTALS = "ledger_totals"

INDEXES = [
    # a posting's lines, once each (a replay is a duplicate key); a posting by its id (the prefix); the check's scan
    Index(LEDGER_ENTRIES, [("posting_id", ASCENDING), ("line", ASCENDING)], unique=True, name="one_per_posting_line"),
    # an invoice's balances
    Index(LEDGER_ENTRIES, [("invoice_id", ASCENDING), ("account", ASCENDING)], name="by_invoice"),
    # an account's running totals by day (one document per account and day: _id is "<account>|<day>")
    Index(LEDGER_TOTALS, [("account", ASCENDING), ("day", ASCENDING)], unique=True, name="by_account_day"),
]


class LedgerStore(CapabilityStore):
    # posting -------------------------------------------------------------------------------------------------------
    def insert_posting(self, tx: Tx, posting: Posting) -> bool:
        """Write ``posting``'s lines and move the day's totals of its accounts, in ``tx``. An unbalanced posting is
        refused (:class:`rules.UnbalancedPosting`) before anything is written. False: this posting is there already
        (a replay: nothing written); a different posting under its id is a :class:`rules.LedgerConflict`. Two
        transactions posting the same id at once: the second is a DuplicateKeyError (the unique index) and its
        caller retries, then finds it."""
        rules.require_balanced(posting)
        known = self.posting(posting.id, tx)
        if known is not None:
            if not rules.same_movement(known, posting):
                raise rules.LedgerConflict(f"posting {posting.id} is in the ledger with other lines")
            return False
        day = rules.day_of(posting.posted_at, hospital_zone())
        digest = rules.hash_of(posting, day)
        tx[LEDGER_ENTRIES].insert_many([
            {"posting_id": posting.id, "line": n, "lines": len(posting.lines), "kind": posting.kind.value,
             "reverses": posting.reverses, "account": line.account.value, "debit_fen": line.debit_fen,
             "credit_fen": line.credit_fen, "invoice_id": line.invoice_id, "patient_id": line.patient_id,
             "posted_at": posting.posted_at, "day": day, "hash": digest}
            for n, line in enumerate(posting.lines)], ordered=True)
        for account, moved in rules.sums(posting.lines).items():
            tx[LEDGER_TOTALS].update_one(
                {"_id": f"{account.value}|{day}"},
                {"$inc": {"debit_fen": moved.debit_fen, "credit_fen": moved.credit_fen},
                 "$setOnInsert": {"account": account.value, "day": day}}, upsert=True)
        return True

    def posting(self, posting_id: str, tx: Tx | None = None) -> Posting | None:
        """A posting by its id (index ``one_per_posting_line``, by its prefix)."""
        docs = list(self._on(tx)[LEDGER_ENTRIES].find({"posting_id": posting_id}).sort("line", ASCENDING))
        if not docs:
            return None
        return Posting(id=posting_id, kind=PostingKind(docs[0]["kind"]), posted_at=as_utc(docs[0]["posted_at"]),
                       reverses=docs[0].get("reverses"),
                       lines=tuple(Line(Account(d["account"]), d["debit_fen"], d["credit_fen"], d["invoice_id"],
                                        d["patient_id"]) for d in docs))

    # balances ------------------------------------------------------------------------------------------------------
    def invoice_balances(self, invoice_id: str, tx: Tx | None = None) -> dict[Account, Balance]:
        """Each account's debits and credits for one invoice: an aggregation over index ``by_invoice`` (a handful of
        entries per invoice, whatever the ledger's size)."""
        pipeline = [{"$match": {"invoice_id": invoice_id}},
                    {"$group": {"_id": "$account", "debit_fen": {"$sum": "$debit_fen"},
                                "credit_fen": {"$sum": "$credit_fen"}}}]
        return {Account(row["_id"]): Balance(row["debit_fen"], row["credit_fen"])
                for row in self._on(tx)[LEDGER_ENTRIES].aggregate(pipeline)}

    def account_balance(self, account: Account, through: str | None = None) -> Balance:
        """An account's debits and credits, from its running totals (index ``by_account_day``: one document per
        day, not per entry), up to and including day ``through`` (``YYYY-MM-DD``) when given."""
        match: dict = {"account": account.value}
        if through is not None:
            match["day"] = {"$lte": through}
        pipeline = [{"$match": match},
                    {"$group": {"_id": None, "debit_fen": {"$sum": "$debit_fen"},
                                "credit_fen": {"$sum": "$credit_fen"}}}]
        rows = list(self.db[LEDGER_TOTALS].aggregate(pipeline))
        return Balance(rows[0]["debit_fen"], rows[0]["credit_fen"]) if rows else Balance()

    # the check (offline: these read everything) ------------------------------------------------------------------
    def entries_in_posting_order(self) -> Iterator[StoredEntry]:
        """Every entry, by posting and line (index ``one_per_posting_line``): for ``python -m
        services.payments.ledger check`` only, never on a request path."""
        for d in self.db[LEDGER_ENTRIES].find({}).sort([("posting_id", ASCENDING), ("line", ASCENDING)]):
            yield StoredEntry(
                posting_id=d.get("posting_id", ""), line=d.get("line", -1), lines=d.get("lines", 0),
                kind=d.get("kind", ""), reverses=d.get("reverses"), account=d.get("account", ""),
                debit_fen=d.get("debit_fen"), credit_fen=d.get("credit_fen"), invoice_id=d.get("invoice_id", ""),
                patient_id=d.get("patient_id", ""), posted_at=_utc(d.get("posted_at")), day=d.get("day", ""),
                hash=d.get("hash", ""))

    def running_totals(self) -> Iterator[tuple[str, str, Balance]]:
        """Every (account, day, its running debits and credits)."""
        for d in self.db[LEDGER_TOTALS].find({}).sort([("account", ASCENDING), ("day", ASCENDING)]):
            yield d.get("account", ""), d.get("day", ""), Balance(d.get("debit_fen", 0), d.get("credit_fen", 0))


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None
