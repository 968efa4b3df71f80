"""The ledger: every movement of money as a balanced set of immutable entries (double entry), in integer fen.

Accounts (``rules.Account``): ``patient_receivable``, ``insurance_receivable``, ``cash_on_hand`` (the desk's drawer),
``card_clearing`` (the desk's card terminal), ``provider_clearing`` (an online provider, later), ``revenue`` and
``refunds_payable``. A posting is one id (derived from its cause), at least two lines (account, debit or credit,
invoice, patient), its debits equal to its credits. What posts, in the transaction of the change that causes it
(the invoices' use cases call this capability's with their ``Tx``):

* an invoice issued: debit patient_receivable / credit revenue (its amount); issued again with a new amount: the
  previous revision's posting reversed, then the new amount posted;
* a desk payment: debit cash_on_hand (cash) or card_clearing (card) / credit patient_receivable;
* a refund recorded as owed (``requested``): debit revenue / credit refunds_payable (paying it out comes later).

Invariants and what enforces them:

* every posting balances: the pure rule (``rules.refusal``) refuses it, and the store refuses it again before it
  writes anything; the refusal raises inside the caller's transaction, so the change that asked for it is not
  written either;
* a change and its postings commit together or not at all: one transaction (the caller's ``Tx``);
* entries are immutable: ``ledger_entries`` is insert-only (the store has no update or delete of it); a correction
  is a reversing posting that mirrors the original and names it (``reverses``). Each entry carries its posting's
  SHA-256 (``rules.posting_hash``), which the check recomputes: a modified entry or a removed line is found. (A plain
  hash, not a keyed one: it finds a careless or buggy change, not a forger with write access to the database; the
  audit trail's keyed chain is the tamper-evident record);
* a posting is written once: a unique index on (posting_id, line); a replay finds it there (nothing written), and a
  concurrent duplicate is a duplicate key that aborts its transaction (retried, it then finds it). A posting's id is
  its cause's (``inv_….issue.2``, ``inv_….payment.pay_…``, ``inv_….refund.rfd_…``, ``<original>.reversal``), so an
  original is reversed at most once;
* balances are sums, never stored values: per invoice an aggregation over index ``by_invoice``; per account a sum of
  the running per-(account, day) totals in ``ledger_totals``, moved by ``$inc`` in the posting's transaction (a sum
  over days, not over every entry);
* the books balance: ``python -m services.payments.ledger check`` (``make ledger-check``) proves every posting whole,
  balanced and unmodified, each reversal exact, total debits == total credits, each running total equal to its
  entries' sum, and each invoice's balances equal to what the invoices say (patient_receivable = issued − paid,
  received = paid, refunds_payable = refunds owed ≤ paid, revenue = issued − refunds owed). It scans the whole
  ledger: offline only, never on a request path.

No entrypoints: nothing outside payments asks the ledger yet (reconciliation will).
"""
