"""The consultation record itself: where it is kept, and who may see or act on it.

* An anonymous **visitor** (role ``visitor``): the consultations they opened.
* A **patient** account: consultations it opened, and those of patients it acts for (intake's live links).
* A **consultant**: the chat they are on (write), chats they were on before and waiting chats they could pick
  from the queue (read). Accepting a chat with a known patient gives a care relationship for 30 days.
* A **team lead**: every consultation (supervision, transfers, abusive visitors, complaints).
* Doctors, pharmacists, managers and admins do not read chats; managers see aggregates in reports.

A refused look is audited and answered like a missing consultation (404).
"""
from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, DESCENDING

from services.intake import access
from wenzhen import audit
from wenzhen.audit import Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import NotFound
from wenzhen.storage import Index, Store, Tx

CONSULTATIONS = "consultations"
MESSAGES = "consultation_messages"
# A consultant who takes a chat naming a patient may read that patient's record while the chat needs it: from taking
# it until it is handed on, or until a day after it closes (the chat's marks, renaming the visitor, the follow-up
# call); at most a day from taking it while it stays open without being closed (a chat is a conversation, not a
# standing relationship: the doctor of an appointment has one of those).
CHAT_CARE = timedelta(days=1)
CHAT_CARE_AFTER_CLOSE = timedelta(days=1)

PATIENT_SIDE = (Role.patient, Role.visitor)
STAFF_SIDE = (Role.consultant, Role.team_lead)
OPEN = ("queued", "assigned", "active")

INDEXES = [
    Index(CONSULTATIONS, [("status", ASCENDING), ("urgent", DESCENDING), ("opened_at", ASCENDING)], name="queue"),
    Index(CONSULTATIONS, [("consultant_id", ASCENDING), ("status", ASCENDING)], name="by_consultant"),
    Index(CONSULTATIONS, [("visitor_id", ASCENDING)], name="by_visitor", options={"sparse": True}),
    Index(CONSULTATIONS, [("account_id", ASCENDING), ("opened_at", DESCENDING)], name="by_account"),
    Index(CONSULTATIONS, [("patient_id", ASCENDING), ("opened_at", DESCENDING)], name="by_patient"),
    Index(CONSULTATIONS, [("closed_at", DESCENDING)], name="by_closed"),
    # one message per position, and a client's retried post stored once
    Index(MESSAGES, [("consultation_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="unique_seq"),
    Index(MESSAGES, [("consultation_id", ASCENDING), ("client_id", ASCENDING)], unique=True, name="unique_client_id",
          options={"partialFilterExpression": {"client_id": {"$type": "string"}}}),
]


def side(caller: Caller) -> str:
    return "patient" if caller.principal.has_role(*PATIENT_SIDE) else "staff"


def may_read(store: Store | Tx, caller: Caller, doc: dict) -> bool:
    p = caller.principal
    if p.has_role(Role.visitor):
        return doc.get("visitor_id") == p.sub
    if p.has_role(Role.patient):
        if doc.get("account_id") == p.sub:
            return True
        return doc.get("patient_id") is not None and doc["patient_id"] in access.linked_patients(store, p.sub)
    if p.has_role(Role.team_lead):
        return True
    if p.has_role(Role.consultant):
        return (doc.get("consultant_id") == p.sub or p.sub in doc.get("staff_ids", ())
                or doc["status"] == "queued")
    return False


def may_act(store: Store | Tx, caller: Caller, doc: dict) -> bool:
    """Write: the patient side on its own chat, the consultant on the chat, any team lead."""
    p = caller.principal
    if p.has_role(*PATIENT_SIDE):
        return may_read(store, caller, doc)
    if p.has_role(Role.team_lead):
        return True
    return p.has_role(Role.consultant) and doc.get("consultant_id") == p.sub


def not_found(consultation_id: str) -> NotFound:
    return NotFound(f"No consultation with id {consultation_id}.")


def load(store: Store | Tx, caller: Caller, consultation_id: str, *, act: bool = False,
         subtype: str = "read") -> dict:
    """The consultation when the caller may read it (or act on it); a refusal is audited and looks like a 404."""
    doc = store[CONSULTATIONS].find_one({"_id": consultation_id})
    allowed = doc is not None and (may_act(store, caller, doc) if act else may_read(store, caller, doc))
    if not allowed:
        audit.record(store, caller, audit.UPDATE if act else audit.READ, subtype, "Consultation", consultation_id,
                     patient_id=doc.get("patient_id") if doc else None, outcome=Outcome.denied)
        raise not_found(consultation_id)
    return doc
