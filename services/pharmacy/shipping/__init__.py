"""pharmacy shipping: medicine handed to the courier and followed to the patient's door (the courier adapter is
``courier.py``; docs/courier.md)."""
