"""Who may see and change a patient record held by intake.

* A **patient** account: its own record and the relatives' it is linked to.
  intake owns the links (``patient_links``), so it checks its own, always
  current, list rather than the one in the access token.
* **Consultants, doctors, pharmacists and team leads**: patients they have a
  care relationship with (``care_relations``): the staff member who registered
  the patient (30 days), the consultant who took the patient's chat (while it is
  theirs, until a day after it closes: ``chats.CHAT_CARE``),
  and the doctor of an appointment, from the booking until 30 days after the
  visit (ended when the booking is cancelled).
* **Managers** see aggregates only and **admins** manage accounts: neither reads
  patient records. Nobody else does either.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING

from wenzhen import ids
from wenzhen.auth import Caller, Role
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import utcnow

LINKS = "patient_links"
CARE = "care_relations"

CARE_ROLES = (Role.consultant, Role.doctor, Role.pharmacist, Role.team_lead)
REGISTRATION_CARE = timedelta(days=30)

INDEXES = [
    # one active link per account and patient, and one "self" per account
    Index(LINKS, [("account_id", ASCENDING), ("patient_id", ASCENDING)], unique=True, name="one_active_link",
          options={"partialFilterExpression": {"active": True}}),
    Index(LINKS, [("account_id", ASCENDING)], unique=True, name="one_self",
          options={"partialFilterExpression": {"is_self": True, "active": True}}),
    Index(LINKS, [("removed_at", ASCENDING)], name="removed", options={"sparse": True}),  # the gateway's catch-up
    Index(CARE, [("staff_id", ASCENDING), ("patient_id", ASCENDING)], name="by_staff_patient"),
    Index(CARE, [("ref", ASCENDING)], name="by_ref", options={"sparse": True}),
]
APPOINTMENT_CARE = timedelta(days=30)  # after the visit: results, records, the follow-up


def linked_patients(store: Store | Tx, account_id: str) -> set[str]:
    return {link["patient_id"] for link in store[LINKS].find({"account_id": account_id, "active": True},
                                                             {"patient_id": 1})}


def grant_care(tx: Tx, staff_id: str, patient_id: str, kind: str, ref: str | None = None,
               until: datetime | None = None) -> None:
    tx[CARE].insert_one({"_id": ids.new_id("care"), "staff_id": staff_id, "patient_id": patient_id, "kind": kind,
                         "ref": ref, "since": utcnow(), "until": until})


def set_care_end(tx: Tx, kind: str, ref: str, until: datetime, staff_id: str | None = None) -> int:
    """Move the end of the care relationships that ``ref`` (e.g. an appointment) gave (to ``staff_id`` only, when
    named); returns how many."""
    query = {"kind": kind, "ref": ref, **({"staff_id": staff_id} if staff_id else {})}
    return tx[CARE].update_many(query, {"$set": {"until": until}}).modified_count


def has_care(store: Store | Tx, staff_id: str, patient_id: str) -> bool:
    now = utcnow()
    return store[CARE].find_one({"staff_id": staff_id, "patient_id": patient_id,
                                 "$or": [{"until": None}, {"until": {"$gt": now}}]}, {"_id": 1}) is not None


def may_see(store: Store | Tx, caller: Caller, patient_id: str, staff_roles: tuple[Role, ...] = CARE_ROLES) -> bool:
    principal = caller.principal
    if principal.has_role(Role.patient):
        return principal.acts_for(patient_id, linked_patients(store, principal.sub))
    if principal.has_role(*staff_roles):
        return has_care(store, principal.sub, patient_id)
    return False
