"""Who may list what in records: one rule for the listings of encounters, prescriptions, orders, results and the
patient's logs (pharmacists and laboratories have listings of their own: the review queue, the work list).

* **a patient** names a record they act for (``patient_id``);
* **a doctor** names a patient they care for (an appointment, or an open encounter of theirs), or none: their own;
* **anyone else** is refused.

A refusal is a 403 that says which (docs/architecture.md: a listing the caller may not ask for); the use case audits
it as denied. Pure: ``cares`` is asked only when it matters."""
from __future__ import annotations

from collections.abc import Callable

from wenzhen.auth import Principal, Role


def listing_refusal(principal: Principal, patient_id: str | None, cares: Callable[[], bool], what: str) -> str | None:
    """Why ``principal`` may not list ``what`` for ``patient_id`` (None: a doctor's own), or None when they may."""
    if principal.has_role(Role.patient):
        if patient_id is not None and principal.acts_for(patient_id):
            return None
        return f"A patient lists the {what} of a record they act for (`patient_id`)."
    if principal.has_role(Role.doctor):
        if patient_id is None or cares():
            return None
        return (f"A doctor lists the {what} of a patient they care for (an appointment or an open encounter), or "
                "their own.")
    return f"Patients and doctors list {what}."
