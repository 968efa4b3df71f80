"""payments: fees, payments and refunds (``invoices/``: invoices, desk payments and refund requests; ``ledger/``: the
double-entry postings of each; the payment provider, insurance and reconciliation arrive with the payments issue)."""
