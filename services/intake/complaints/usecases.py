"""Complaints' operations: authorize → store → emit → audit, and the overdue sweep. Whether a patient exists and who
may see them is asked of the patients capability (``PatientAccess``)."""
from __future__ import annotations

from datetime import datetime

from contracts.intake.complaints import (
    Complaint,
    ComplaintAbout,
    ComplaintChannel,
    ComplaintFiling,
    ComplaintQuery,
    ComplaintStatus,
    ComplaintStatusChange,
    ComplaintSummary,
)
from contracts.intake.events import ComplaintAnswered, ComplaintEscalated, ComplaintFiled, ComplaintStatusChanged
from services.intake.complaints import rules
from services.intake.complaints.rules import OPEN, ComplaintRecord
from services.intake.complaints.store import ComplaintStore
from services.intake.patients.usecases import PatientAccess
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import as_utc, to_utc_iso


def _readable(store: ComplaintStore, patients: PatientAccess, caller: Caller, complaint_id: str, action: str,
              subtype: str, now: datetime) -> ComplaintRecord:
    """The complaint when the caller may see it; otherwise the refusal is audited and a 404 raised."""
    record = store.complaint(complaint_id)
    principal = caller.principal
    allowed = record is not None and rules.may_read(
        principal, record, lambda: patients.may_see(caller, record.patient_id, now, ()))
    if not allowed:
        audit.record(store, caller, action, subtype, "Complaint", complaint_id,
                     patient_id=record.patient_id if record else None, outcome=Outcome.denied)
        raise rules.not_found(complaint_id)
    return record


# filing ------------------------------------------------------------------------------------------------------------
def file_complaint(store: ComplaintStore, patients: PatientAccess, caller: Caller, filing: ComplaintFiling,
                   now: datetime) -> Complaint:
    """Store a complaint (status received, deadlines set) and emit ``complaint_filed`` in one transaction."""
    principal = caller.principal
    channel = rules.channel_of(principal)
    if filing.about == ComplaintAbout.consultation and not filing.reference:
        raise InvalidInput("Say which consultation the complaint is about.",
                           [field_error("reference", "is required for a complaint about a consultation", "missing")])
    patient_id = filing.patient_id
    online = channel == ComplaintChannel.online
    if not patients.exists(patient_id) or (online and not patients.may_see(caller, patient_id, now, ())):
        audit.record(store, caller, CREATE, "create", "Complaint", None, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise NotFound(f"No patient with id {patient_id}.")
    if online:
        store.hit_limit(rules.COMPLAINTS_PER_ACCOUNT_DAY, principal.sub)
    complaint_id = ids.new_id("cmp")
    record = ComplaintRecord(
        id=complaint_id, patient_id=patient_id, account_id=principal.sub if online else None, filed_by=principal.sub,
        channel=channel.value, about=filing.about.value, reference=filing.reference,
        consultation_id=filing.reference if filing.about == ComplaintAbout.consultation else None,
        status=ComplaintStatus.received.value, filed_at=now, acknowledge_by=now + rules.ACKNOWLEDGE_WITHIN,
        due_at=now + rules.ANSWER_WITHIN, text=filing.text, desired_outcome=filing.desired_outcome,
        history=(rules.history_item(caller, now, None, ComplaintStatus.received.value, None),))

    def body(tx: Tx) -> None:
        store.insert(tx, record)
        tx.emit(ComplaintFiled(complaint_id=complaint_id, about=record.about, reference=filing.reference,
                               patient_id=patient_id, due_at=to_utc_iso(record.due_at)), subject=complaint_id)
        audit.record(tx, caller, CREATE, "create", "Complaint", complaint_id, patient_id=patient_id,
                     detail=channel.value)

    store.transact(body)
    return rules.view(record, rules.is_staff_view(caller), now)


# reading -----------------------------------------------------------------------------------------------------------
def get_complaint(store: ComplaintStore, patients: PatientAccess, caller: Caller, complaint_id: str,
                  now: datetime) -> Complaint:
    record = _readable(store, patients, caller, complaint_id, READ, "read", now)
    audit.record(store, caller, READ, "read", "Complaint", complaint_id, patient_id=record.patient_id)
    return rules.view(record, rules.is_staff_view(caller), now)


def list_complaints(store: ComplaintStore, patients: PatientAccess, caller: Caller, query: ComplaintQuery,
                    now: datetime) -> list[ComplaintSummary]:
    """Patients: the complaints their account filed or that concern patients it acts for, newest first. Team leads
    and managers: the queue, the nearest deadline first. Each complaint listed is audited."""
    principal = caller.principal
    if principal.has_role(Role.patient):
        account_id, patient_ids, newest_first = principal.sub, sorted(patients.linked(principal.sub)), True
    elif principal.has_role(*rules.HANDLERS):
        account_id, patient_ids, newest_first = None, None, False
    else:
        raise Forbidden("Complaints are listed for the patients they concern and for team leads and managers.")
    if query.overdue and query.status is not None and query.status.value not in OPEN:
        return []  # answered and closed complaints are never overdue
    found = store.listing(account_id=account_id, patient_ids=patient_ids,
                          about=query.about.value if query.about else None,
                          status=query.status.value if query.status else None,
                          overdue_at=now if query.overdue else None, newest_first=newest_first, limit=query.limit)
    staff = rules.is_staff_view(caller)
    result = []
    for record in found:
        audit.record(store, caller, READ, "search", "Complaint", record.id, patient_id=record.patient_id,
                     detail="list")
        result.append(rules.summary(record, staff, now))
    return result


# the workflow ------------------------------------------------------------------------------------------------------
def change_status(store: ComplaintStore, patients: PatientAccess, caller: Caller, complaint_id: str,
                  change: ComplaintStatusChange, now: datetime) -> Complaint:
    """Team leads and managers move a complaint on; a patient may withdraw (close) their own open complaint."""
    rules.check_change(change)
    principal = caller.principal
    record = _readable(store, patients, caller, complaint_id, UPDATE, "status", now)  # the patient, or a handler
    current = record.status
    target, reason = rules.plan_move(principal, current, change)
    entry = rules.history_item(caller, now, current, target.value, change.note)
    values: dict = {"status": target.value}
    on_time = None
    if target == ComplaintStatus.investigating:
        values.update(assignee=principal.sub, acknowledged_at=now)
    elif target == ComplaintStatus.answered:
        on_time = now <= as_utc(record.due_at)
        values.update(answer=change.answer, answered_at=now, answered_by=principal.sub, on_time=on_time)
    else:
        values.update(closed_at=now, closed_by=principal.sub, close_reason=reason.value if reason else None)

    def body(tx: Tx) -> ComplaintRecord:
        # statuses only move forward, so a complaint still in ``current`` still has the history read with it
        moved = store.move(tx, complaint_id, current, values, entry, len(record.history))
        if moved is None:  # someone moved it first
            raise rules.illegal(store.status(complaint_id, tx), target.value)
        tx.emit(ComplaintStatusChanged(complaint_id=complaint_id, status=target.value, previous=current,
                                       by=principal.sub), subject=complaint_id)
        if target == ComplaintStatus.answered:
            tx.emit(ComplaintAnswered(complaint_id=complaint_id, patient_id=record.patient_id,
                                      answered_by=principal.sub, on_time=on_time), subject=complaint_id)
        audit.record(tx, caller, UPDATE, "status", "Complaint", complaint_id, patient_id=record.patient_id,
                     detail=f"{current}->{target.value}")
        return moved

    return rules.view(store.transact(body), rules.is_staff_view(caller), now)


# escalation --------------------------------------------------------------------------------------------------------
def escalate_overdue(store: ComplaintStore, now: datetime, batch: int = rules.SWEEP_BATCH) -> int:
    """Escalate open complaints past their answer deadline: level 1 at the deadline, level 2 two days later, each
    level once per complaint. Returns how many escalations this call made. Idempotent, and safe to run from two
    processes at once: each level is one conditional update on ``escalation_level`` with its event, in one
    transaction, so only one process wins it."""
    done = 0
    for level, after in rules.ESCALATION_THRESHOLDS.items():
        threshold = now - after
        for complaint_id in store.overdue_at_level(level - 1, threshold, batch):
            def body(tx: Tx, cid: str = complaint_id, lvl: int = level, t: datetime = threshold) -> bool:
                escalated = store.escalate(tx, cid, lvl, t, now)
                if escalated is None:  # answered, closed or escalated by another process meanwhile
                    return False
                tx.emit(ComplaintEscalated(complaint_id=cid, level=lvl, due_at=to_utc_iso(escalated.due_at)),
                        subject=cid)
                audit.record(tx, rules.SWEEPER, UPDATE, "escalate", "Complaint", cid,
                             patient_id=escalated.patient_id, detail=f"level {lvl}")
                return True

            done += store.transact(body)
    return done
