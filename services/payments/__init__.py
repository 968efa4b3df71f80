"""payments: fees, payments and refunds (a skeleton: its capabilities arrive with their issues)."""
