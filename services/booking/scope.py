"""Who may list what: the one rule for booking's three listings (appointments, waitlist entries, follow-up plans).

It follows ``docs/architecture.md``: a resource the caller may not see is a 404, a listing the caller may not ask for
is a 403 that says which. So, by the caller's role:

* **a patient** names a record they act for (``patient_id``). Naming none, or one they do not act for, is a **404**
  ("Name a patient record this account acts for"), exactly as for a record that does not exist: a patient record is
  a resource, and whether a stranger's exists is not told.
* **a doctor** lists their own schedule: ``doctor_id`` left out or their own. Another doctor's is a **403**, "A doctor
  lists their own schedule" — the list exists, this caller may not ask for it (the same answer in all three
  listings; before, appointments said 403 and the waitlist and follow-ups 404).
* **the desk** (consultants, team leads) asks as each listing says (:class:`Listing`): what they booked or joined
  themselves (``MADE``), a named patient's or else their own (``MADE_OR_PATIENT``), a named patient's (``PATIENT``)
  or a named patient's or doctor's (``PATIENT_OR_DOCTOR``); naming nothing where a name is needed is a **422**
  naming ``patient_id``.
* **anyone else** (managers, admins, services): a **403** saying who lists these.

The answer is a :class:`Scope`: the equality filters the capability's store applies (``made_by`` is the account that
booked an appointment or joined a patient to the waitlist). Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound, field_error

DOCTOR_OWN = "A doctor lists their own schedule: leave out doctor_id, or give your own."


class Desk(StrEnum):
    """What a consultant or team lead may list."""

    MADE = "made"  # what they booked (or joined) themselves; patient and doctor filters still apply
    MADE_OR_PATIENT = "made_or_patient"  # a named patient's; without one, what they made
    PATIENT = "patient"  # a named patient's (422 without one)
    PATIENT_OR_DOCTOR = "patient_or_doctor"  # a named patient's or doctor's (422 without either)


@dataclass(frozen=True)
class Listing:
    name: str  # as the refusal says it: "appointments", …
    consultant: Desk
    team_lead: Desk


APPOINTMENTS = Listing("appointments", consultant=Desk.MADE, team_lead=Desk.PATIENT_OR_DOCTOR)
WAITLIST = Listing("waitlist entries", consultant=Desk.MADE_OR_PATIENT, team_lead=Desk.PATIENT_OR_DOCTOR)
FOLLOW_UPS = Listing("follow-up plans", consultant=Desk.PATIENT, team_lead=Desk.PATIENT)


@dataclass(frozen=True)
class Scope:
    """The records a listing is narrowed to (each None: not narrowed by it)."""

    patient_id: str | None = None
    doctor_id: str | None = None
    made_by: str | None = None


def require_own_record(principal: Principal, patient_id: str | None) -> None:
    """A patient account names a record it acts for (a 404 otherwise, as for a stranger's)."""
    if patient_id is None or not principal.acts_for(patient_id):
        raise NotFound("Name a patient record this account acts for (patient_id).")


def listing_scope(listing: Listing, principal: Principal, *, patient_id: str | None = None,
                  doctor_id: str | None = None) -> Scope:
    """What ``principal`` sees when listing ``listing`` with these filters, or the refusal (module docstring)."""
    if principal.has_role(Role.patient):
        require_own_record(principal, patient_id)
        return Scope(patient_id=patient_id, doctor_id=doctor_id)
    if principal.has_role(Role.doctor):
        if doctor_id not in (None, principal.sub):
            raise Forbidden(DOCTOR_OWN)
        return Scope(patient_id=patient_id, doctor_id=principal.sub)
    if principal.has_role(Role.consultant, Role.team_lead):
        desk = listing.consultant if principal.has_role(Role.consultant) else listing.team_lead
        if desk == Desk.MADE:
            return Scope(patient_id=patient_id, doctor_id=doctor_id, made_by=principal.sub)
        if desk == Desk.MADE_OR_PATIENT:
            return Scope(patient_id=patient_id, doctor_id=doctor_id,
                         made_by=principal.sub if patient_id is None else None)
        if desk == Desk.PATIENT and patient_id is None:
            raise InvalidInput("Name a patient.", [field_error("patient_id", "is needed", "missing")])
        if desk == Desk.PATIENT_OR_DOCTOR and patient_id is None and doctor_id is None:
            raise InvalidInput("Name a patient or a doctor.",
                               [field_error("patient_id", "or doctor_id is needed", "missing")])
        return Scope(patient_id=patient_id, doctor_id=doctor_id)
    raise Forbidden(f"Patients, doctors, consultants and team leads list {listing.name}.")
