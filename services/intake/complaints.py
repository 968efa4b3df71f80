"""Patient complaints: logged (online by the patient, or by phone through a consultant), worked and answered.

Why it looks like this:

* The complaint text, the hoped-for outcome, the answer and staff notes are personal health data: they are
  AES-GCM encrypted at rest like patient fields, and every read is in the audit trail (a refused read is
  audited and answered like a missing complaint, 404, so ids cannot be probed).
* The workflow is ``received → investigating → answered → closed``; an open complaint (received or
  investigating) may also be closed with a reason (duplicate, withdrawn, harassment). Only team leads and
  managers move it; the patient may withdraw their own open complaint. Every move is one conditional update
  (the expected status in the filter), so two people acting at once cannot both succeed, and is appended to
  the complaint's ``history`` together with the events it causes, in one transaction.
* Deadlines (医疗机构投诉管理办法): acknowledged (investigating) within 1 day, answered within 5 days of filing.
  The regulation counts 5 *working* days for complex complaints; Wenzhen counts calendar days, which is never
  later than the regulation. A complaint past its answer deadline is escalated once to managers (level 1) and,
  two days later, once to hospital management (level 2) by :func:`escalate_overdue`, which intake's timer loop
  runs (safe from several processes at once).
* Who reads: the account that filed it and the accounts acting for its patient (intake's live links), team leads
  and managers (complaint handling is management work). Consultants log phone complaints but do not read the
  queue; a complaint about a consultation keeps the consultation id so its handlers can open the transcript.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from contracts.intake.complaints import (
    Complaint,
    ComplaintAbout,
    ComplaintChannel,
    ComplaintCloseReason,
    ComplaintFiling,
    ComplaintHistoryEntry,
    ComplaintQuery,
    ComplaintStatus,
    ComplaintStatusChange,
    ComplaintSummary,
)
from contracts.intake.events import ComplaintAnswered, ComplaintEscalated, ComplaintFiled, ComplaintStatusChanged
from services.intake import access
from services.intake.domain import PATIENTS
from wenzhen import audit, ids, ratelimit
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.ratelimit import Limit
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, to_local_iso, to_utc_iso, utcnow

COMPLAINTS = "complaints"

INDEXES = [
    Index(COMPLAINTS, [("status", ASCENDING), ("due_at", ASCENDING)], name="by_status_due"),  # queue and sweep
    Index(COMPLAINTS, [("patient_id", ASCENDING), ("filed_at", DESCENDING)], name="by_patient"),
    Index(COMPLAINTS, [("account_id", ASCENDING), ("filed_at", DESCENDING)], name="by_account"),
]  # the per-account limit's collection is indexed by ``domain.INDEXES`` (ratelimit.INDEXES)

# deadlines (calendar days; see the module docstring)
ACKNOWLEDGE_WITHIN = timedelta(days=1)
ANSWER_WITHIN = timedelta(days=5)
SECOND_ESCALATION_AFTER = timedelta(days=2)  # level 2 this long after the answer deadline
ESCALATION_THRESHOLDS = {1: timedelta(0), 2: SECOND_ESCALATION_AFTER}
SWEEP_BATCH = 200

COMPLAINTS_PER_ACCOUNT_DAY = Limit("complaints-account-1d", 5, timedelta(days=1),
                                   "This account filed many complaints today; please call the hospital's desk.")

PHONE_LOGGERS = (Role.consultant, Role.team_lead)  # staff who log a complaint made by phone
HANDLERS = (Role.team_lead, Role.manager)  # staff who read the queue and move complaints
SWEEPER = Caller.service("intake")

OPEN = (ComplaintStatus.received.value, ComplaintStatus.investigating.value)
# target status: the statuses it may be reached from (team leads and managers)
TRANSITIONS = {
    ComplaintStatus.investigating: (ComplaintStatus.received.value,),
    ComplaintStatus.answered: (ComplaintStatus.investigating.value,),
    ComplaintStatus.closed: (*OPEN, ComplaintStatus.answered.value),
}


def _not_found(complaint_id: str) -> NotFound:
    return NotFound(f"No complaint with id {complaint_id}.")


def _may_read(store: Store | Tx, caller: Caller, doc: dict) -> bool:
    principal = caller.principal
    if principal.has_role(Role.patient):
        return doc.get("account_id") == principal.sub or access.may_see(store, caller, doc["patient_id"], ())
    return principal.has_role(*HANDLERS)


def _readable(store: Store, caller: Caller, complaint_id: str, action: str, subtype: str) -> dict:
    """The complaint when the caller may see it; otherwise the refusal is audited and a 404 raised."""
    doc = store[COMPLAINTS].find_one({"_id": complaint_id})
    if doc is None or not _may_read(store, caller, doc):
        audit.record(store, caller, action, subtype, "Complaint", complaint_id,
                     patient_id=doc["patient_id"] if doc else None, outcome=Outcome.denied)
        raise _not_found(complaint_id)
    return doc


def _staff_view(caller: Caller) -> bool:
    return not caller.principal.has_role(Role.patient)


# filing ------------------------------------------------------------------------------------------------------------
def file_complaint(store: Store, keys: Keyring, caller: Caller, filing: ComplaintFiling) -> Complaint:
    """Store a complaint (status received, deadlines set) and emit ``complaint_filed`` in one transaction."""
    principal = caller.principal
    if principal.has_role(Role.patient):
        channel = ComplaintChannel.online
    elif principal.has_role(*PHONE_LOGGERS):
        channel = ComplaintChannel.phone
    else:
        raise Forbidden("Patients file complaints; consultants and team leads log complaints made by phone.")
    if filing.about == ComplaintAbout.consultation and not filing.reference:
        raise InvalidInput("Say which consultation the complaint is about.",
                           [field_error("reference", "is required for a complaint about a consultation", "missing")])
    patient_id = filing.patient_id
    exists = store[PATIENTS].find_one({"_id": patient_id}, {"_id": 1}) is not None
    if not exists or (channel == ComplaintChannel.online and not access.may_see(store, caller, patient_id, ())):
        audit.record(store, caller, CREATE, "create", "Complaint", None, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise NotFound(f"No patient with id {patient_id}.")
    if channel == ComplaintChannel.online:
        ratelimit.hit(store, COMPLAINTS_PER_ACCOUNT_DAY, principal.sub)

    complaint_id = ids.new_id("cmp")
    now = utcnow()
    consultation_id = filing.reference if filing.about == ComplaintAbout.consultation else None
    doc = {
        "_id": complaint_id,
        "patient_id": patient_id,
        "account_id": principal.sub if channel == ComplaintChannel.online else None,
        "filed_by": principal.sub,
        "channel": channel.value,
        "about": filing.about.value,
        "reference": filing.reference,
        "consultation_id": consultation_id,
        "text": keys.encrypt(filing.text, field="text", record=complaint_id),
        "desired_outcome": (keys.encrypt(filing.desired_outcome, field="desired_outcome", record=complaint_id)
                            if filing.desired_outcome else None),
        "status": ComplaintStatus.received.value,
        "filed_at": now,
        "acknowledge_by": now + ACKNOWLEDGE_WITHIN,
        "due_at": now + ANSWER_WITHIN,
        "escalation_level": 0,
        "escalations": {},
        "assignee": None,
        "history": [_entry(keys, complaint_id, 0, caller, now, None, ComplaintStatus.received.value, None)],
    }

    def body(tx: Tx) -> None:
        tx[COMPLAINTS].insert_one(doc)
        tx.emit(ComplaintFiled(complaint_id=complaint_id, about=doc["about"], reference=filing.reference,
                               patient_id=patient_id, due_at=to_utc_iso(doc["due_at"])), subject=complaint_id)
        audit.record(tx, caller, CREATE, "create", "Complaint", complaint_id, patient_id=patient_id,
                     detail=channel.value)

    store.transact(body)
    return to_complaint(keys, doc, staff=_staff_view(caller), now=now)


def _entry(keys: Keyring, complaint_id: str, index: int, caller: Caller, at: datetime, previous: str | None,
           status: str, note: str | None) -> dict:
    principal = caller.principal
    return {"at": at, "by": principal.sub, "role": principal.role.value if principal.role else principal.kind,
            "previous": previous, "status": status,
            "note": keys.encrypt(note, field=f"history.{index}.note", record=complaint_id) if note else None}


# reading -----------------------------------------------------------------------------------------------------------
def get_complaint(store: Store, keys: Keyring, caller: Caller, complaint_id: str) -> Complaint:
    doc = _readable(store, caller, complaint_id, READ, "read")
    audit.record(store, caller, READ, "read", "Complaint", complaint_id, patient_id=doc["patient_id"])
    return to_complaint(keys, doc, staff=_staff_view(caller))


def list_complaints(store: Store, caller: Caller, query: ComplaintQuery) -> list[ComplaintSummary]:
    """Patients: the complaints their account filed or that concern patients it acts for, newest first.
    Team leads and managers: the queue, the nearest deadline first. Each complaint listed is audited."""
    principal = caller.principal
    now = utcnow()
    wanted: dict = {}
    if principal.has_role(Role.patient):
        wanted["$or"] = [{"account_id": principal.sub},
                         {"patient_id": {"$in": sorted(access.linked_patients(store, principal.sub))}}]
        order = [("filed_at", DESCENDING), ("_id", DESCENDING)]
    elif principal.has_role(*HANDLERS):
        order = [("due_at", ASCENDING), ("_id", ASCENDING)]
    else:
        raise Forbidden("Complaints are listed for the patients they concern and for team leads and managers.")
    if query.about is not None:
        wanted["about"] = query.about.value
    if query.status is not None:
        wanted["status"] = query.status.value
    if query.overdue:
        if query.status is not None and query.status.value not in OPEN:
            return []  # answered and closed complaints are never overdue
        wanted.setdefault("status", {"$in": list(OPEN)})
        wanted["due_at"] = {"$lt": now}
    found = store[COMPLAINTS].find(wanted).sort(order).limit(query.limit)
    result = []
    for doc in found:
        audit.record(store, caller, READ, "search", "Complaint", doc["_id"], patient_id=doc["patient_id"],
                     detail="list")
        result.append(to_summary(doc, staff=_staff_view(caller), now=now))
    return result


# the workflow ------------------------------------------------------------------------------------------------------
def _illegal(current: str, target: str) -> Conflict:
    return Conflict(f"The complaint is {current}; it cannot move to {target}.",
                    [field_error("status", f"the complaint is {current}", "state")])


def _check_change(change: ComplaintStatusChange) -> None:
    errors = []
    if change.status == "answered" and not change.answer:
        errors.append(field_error("answer", "is required to answer a complaint", "missing"))
    if change.answer and change.status != "answered":
        errors.append(field_error("answer", "goes only with status answered", "extra"))
    if change.reason and change.status != "closed":
        errors.append(field_error("reason", "goes only with status closed", "extra"))
    if errors:
        raise InvalidInput("The status change is not complete.", errors)


def change_status(store: Store, keys: Keyring, caller: Caller, complaint_id: str,
                  change: ComplaintStatusChange) -> Complaint:
    """Team leads and managers move a complaint on; a patient may withdraw (close) their own open complaint."""
    _check_change(change)
    principal = caller.principal
    doc = _readable(store, caller, complaint_id, UPDATE, "status")  # a patient acting for it, or a handler
    target = ComplaintStatus(change.status)
    reason = change.reason
    if principal.has_role(Role.patient):
        if target != ComplaintStatus.closed:
            raise Forbidden("A patient may withdraw a complaint (status closed); the hospital moves it otherwise.")
        if reason not in (None, ComplaintCloseReason.withdrawn):
            raise InvalidInput("A patient withdraws a complaint.",
                               [field_error("reason", "a patient closes a complaint only as withdrawn")])
        reason, allowed_from = ComplaintCloseReason.withdrawn, OPEN
    else:
        allowed_from = TRANSITIONS[target]
    current = doc["status"]
    if current not in allowed_from:
        raise _illegal(current, target.value)
    if target == ComplaintStatus.closed and current in OPEN and reason is None:
        raise InvalidInput("Closing an unanswered complaint needs a reason.",
                           [field_error("reason", "is required to close an open complaint "
                                                  "(duplicate, withdrawn or harassment)", "missing")])

    now = utcnow()
    entry = _entry(keys, complaint_id, len(doc["history"]), caller, now, current, target.value, change.note)
    # statuses only move forward, so a complaint still in ``current`` still has the history read with it
    update: dict = {"status": target.value, "history": [*doc["history"], entry]}
    on_time = None
    if target == ComplaintStatus.investigating:
        update.update(assignee=principal.sub, acknowledged_at=now)
    elif target == ComplaintStatus.answered:
        on_time = now <= as_utc(doc["due_at"])
        update.update(answer=keys.encrypt(change.answer, field="answer", record=complaint_id), answered_at=now,
                      answered_by=principal.sub, on_time=on_time)
    else:
        update.update(closed_at=now, closed_by=principal.sub, close_reason=reason.value if reason else None)

    def body(tx: Tx) -> dict:
        updated = tx[COMPLAINTS].find_one_and_update({"_id": complaint_id, "status": current}, {"$set": update},
                                                     return_document=ReturnDocument.AFTER)
        if updated is None:  # someone moved it first
            raise _illegal(tx[COMPLAINTS].find_one({"_id": complaint_id}, {"status": 1})["status"], target.value)
        tx.emit(ComplaintStatusChanged(complaint_id=complaint_id, status=target.value, previous=current,
                                       by=principal.sub), subject=complaint_id)
        if target == ComplaintStatus.answered:
            tx.emit(ComplaintAnswered(complaint_id=complaint_id, patient_id=doc["patient_id"],
                                      answered_by=principal.sub, on_time=on_time), subject=complaint_id)
        audit.record(tx, caller, UPDATE, "status", "Complaint", complaint_id, patient_id=doc["patient_id"],
                     detail=f"{current}->{target.value}")
        return updated

    return to_complaint(keys, store.transact(body), staff=_staff_view(caller), now=now)


# escalation --------------------------------------------------------------------------------------------------------
def escalate_overdue(store: Store, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Escalate open complaints past their answer deadline: level 1 at the deadline, level 2 two days later, each
    level once per complaint. Returns how many escalations this call made. Idempotent, and safe to run from two
    processes at once: each level is one conditional update on ``escalation_level`` with its event, in one
    transaction, so only one process wins it."""
    now = now or utcnow()
    done = 0
    for level, after in ESCALATION_THRESHOLDS.items():
        threshold = now - after
        candidates = [c["_id"] for c in store[COMPLAINTS].find(
            {"status": {"$in": list(OPEN)}, "due_at": {"$lte": threshold}, "escalation_level": level - 1},
            {"_id": 1}).sort("due_at", ASCENDING).limit(batch)]
        for complaint_id in candidates:
            if store.transact(lambda tx, cid=complaint_id, lvl=level, t=threshold: _escalate(tx, cid, lvl, t, now)):
                done += 1
    return done


def _escalate(tx: Tx, complaint_id: str, level: int, threshold: datetime, now: datetime) -> bool:
    doc = tx[COMPLAINTS].find_one_and_update(
        {"_id": complaint_id, "status": {"$in": list(OPEN)}, "due_at": {"$lte": threshold},
         "escalation_level": level - 1},
        {"$set": {"escalation_level": level, f"escalations.{level}": now}},
        return_document=ReturnDocument.AFTER)
    if doc is None:  # answered, closed or escalated by another process meanwhile
        return False
    tx.emit(ComplaintEscalated(complaint_id=complaint_id, level=level, due_at=to_utc_iso(doc["due_at"])),
            subject=complaint_id)
    audit.record(tx, SWEEPER, UPDATE, "escalate", "Complaint", complaint_id, patient_id=doc["patient_id"],
                 detail=f"level {level}")
    return True


# the views ---------------------------------------------------------------------------------------------------------
def _overdue(doc: dict, now: datetime) -> bool:
    return doc["status"] in OPEN and now > as_utc(doc["due_at"])


def _local(value: datetime | None) -> str | None:
    return to_local_iso(value) if value else None


def to_complaint(keys: Keyring, doc: dict, staff: bool, now: datetime | None = None) -> Complaint:
    """Decrypted for the reader; patients do not see staff ids or internal notes."""
    cid = doc["_id"]

    def plain(name: str) -> str | None:
        return keys.decrypt(doc[name], field=name, record=cid) if doc.get(name) else None

    history = []
    for index, item in enumerate(doc["history"]):
        note = (keys.decrypt(item["note"], field=f"history.{index}.note", record=cid)
                if staff and item.get("note") else None)
        history.append(ComplaintHistoryEntry(at=to_local_iso(item["at"]), status=item["status"],
                                             previous=item["previous"], role=item["role"],
                                             by=item["by"] if staff else None, note=note))
    consultation_id = doc.get("consultation_id")
    return Complaint(
        id=cid, patient_id=doc["patient_id"], about=doc["about"], reference=doc.get("reference"),
        consultation_id=consultation_id,
        transcript=f"/v1/consultations/{consultation_id}" if consultation_id else None,
        channel=doc["channel"], text=plain("text"), desired_outcome=plain("desired_outcome"), status=doc["status"],
        filed_at=to_local_iso(doc["filed_at"]), filed_by=doc["filed_by"] if staff else None,
        acknowledge_by=to_local_iso(doc["acknowledge_by"]), due_at=to_local_iso(doc["due_at"]),
        overdue=_overdue(doc, now or utcnow()), escalation_level=doc.get("escalation_level", 0),
        assignee=doc.get("assignee") if staff else None, answer=plain("answer"),
        answered_at=_local(doc.get("answered_at")), on_time=doc.get("on_time"), closed_at=_local(doc.get("closed_at")),
        close_reason=doc.get("close_reason"), history=history,
    )


def to_summary(doc: dict, staff: bool, now: datetime) -> ComplaintSummary:
    return ComplaintSummary(
        id=doc["_id"], patient_id=doc["patient_id"], about=doc["about"], reference=doc.get("reference"),
        channel=doc["channel"], status=doc["status"], filed_at=to_local_iso(doc["filed_at"]),
        due_at=to_local_iso(doc["due_at"]), overdue=_overdue(doc, now),
        escalation_level=doc.get("escalation_level", 0), assignee=doc.get("assignee") if staff else None,
        answered_at=_local(doc.get("answered_at")),
    )
