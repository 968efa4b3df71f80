"""pharmacy's contracts: its events, the dispensing and stock models of its RPCs, and the courier's wire contract."""
