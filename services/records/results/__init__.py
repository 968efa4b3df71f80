"""Orders and results: the doctor of an open encounter orders examinations (an order, FHIR ``ServiceRequest``); their
results (a report with observations: value, unit, reference range, abnormal flag) are entered by staff (the lab, or
a doctor caring for the patient) or posted by a laboratory system as a FHIR R4 transaction Bundle
(``bundle.py``: validated with fhir.resources, matched to the order and its patient, refused whole with an
OperationOutcome otherwise), and shown to the patient only when a doctor releases them (``result_released``, which
notify tells the patient of).

Invariants and what enforces them: one result per order (a unique index on ``order_id``; the same laboratory report,
by its identifier, posted again is answered with the stored result, not stored twice); a result names its order's
patient (checked before anything is written); a release happens once (a conditional update from ``final``). Values
and conclusions are encrypted at rest; every read is audited.
"""
