"""pharmacy: prescriptions, dispensing and delivery of medicine (a skeleton: its capabilities arrive with their
issues)."""
