"""Invoices: what a patient owes for one thing, and its payment at the cashier's desk.

Pharmacy's ``fulfilment_chosen`` (the patient chose delivery or pickup; the drugs' price and any delivery fee) issues
the dispensing order's invoice (purpose ``dispensing_order``, reference the order id); a later choice while it is
unpaid issues it again with the new amount (``revision`` + 1). Each issue emits ``invoice_issued``. Finance staff
(role ``finance``) record a payment taken at the desk, cash or card, for exactly the amount due: the invoice is paid
and ``payment_succeeded`` tells pharmacy. Pharmacy's ``refund_requested`` (a paid order cancelled or returned) is
recorded against the invoice and announced as ``refund_recorded``. Each issue, payment and refund owed posts its
double entries to the ledger (``services.payments.ledger``) in its own transaction; processing refunds with a
payment provider, online payment, insurance and reconciliation come with the payments issue (docs/payments.md).

Invariants and what enforces them:

* one invoice per (purpose, reference): a unique index (a second issue is a duplicate key; the consumer retries
  and re-issues the one there);
* the amount changes only while the invoice is open, and only for a later choice (an older or repeated choice
  changes nothing): a conditional update whose filter is ``status: open`` and ``choice < the new one``;
* an invoice is paid once, for the amount due: a conditional update from ``open`` with that amount in the filter
  (a second payment is a 409 naming the state; another amount a 422 naming ``amount_fen``);
* refunds never add up to more than was paid: the payment's ``refundable_fen`` is set aside by a conditional update
  (``refundable_fen >= amount``); a request it does not cover is recorded ``rejected`` (``exceeds_paid``), never
  refused;
* a refund request is recorded once per (invoice, order, reason): a unique index;
* every event is emitted in the transaction of the change it reports (the outbox), numbered by the invoice's
  ``version`` (moved by the same conditional update);
* every issue (and re-issue), desk payment and refund recorded as owed posts its ledger entries in the same
  transaction (an unbalanced posting raises there, so neither is written);
* reads are audited before the answer leaves; a refused read is a 404 audited as denied; a refused payment is
  audited as failed.
"""
