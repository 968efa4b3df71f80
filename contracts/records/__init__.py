"""records' public contract: its events (``events.py``) and the request and response models of encounters and
reports (``encounters.py``) and of prescriptions (``prescriptions.py``)."""
