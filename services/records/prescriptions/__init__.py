"""E-prescriptions: written and signed by the doctor of an open encounter from the formulary, checked against China's
prescribing rules when signed (``rules.py``: each rule a code, every broken one named), reviewed by a pharmacist
(approve, reject with a reason, or ask for a change; never their own), and in effect only after an approval within
their validity. The pharmacists' review desk is here, in records, beside the prescription's state: pharmacy
dispenses only what ``prescription_took_effect`` announced (docs/records.md says why).

Invariants and what enforces them: what was signed never changes (it is inserted once, with the SHA-256 of its
canonical JSON; later writes touch only status, review and validity); a review happens once (a conditional update
from ``pending_review``: a second reviewer loses with 409); only an approval makes it take effect, only within its
validity (checked in the use case, and the sweeper lapses what nobody approved in time by a conditional update from
``pending_review`` whose validity passed); a prescription is signed only in an open encounter (the encounter's
counter moved by a conditional update in the same transaction); the validity only grows, to at most 3 days
(conditional on the days it has).
"""
