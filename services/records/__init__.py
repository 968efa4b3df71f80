"""records: electronic records, e-prescriptions, results."""
