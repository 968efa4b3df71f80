"""payments: invoices, insurance share, refunds."""
