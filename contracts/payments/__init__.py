"""payments' contracts: its events and the models of its RPCs."""
