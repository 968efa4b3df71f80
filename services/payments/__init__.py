"""payments: fees, payments and refunds (``invoices/``: invoices, desk payments and refund requests; the payment
provider, insurance, the ledger and reconciliation arrive with the payments issue)."""
