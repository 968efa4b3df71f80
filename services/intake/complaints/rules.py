"""Complaints' decisions, pure: who files and handles, the deadlines, which moves are legal, and what each reader is
shown (patients see no staff ids or notes)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.intake.complaints import (
    Complaint,
    ComplaintChannel,
    ComplaintCloseReason,
    ComplaintHistoryEntry,
    ComplaintStatus,
    ComplaintStatusChange,
    ComplaintSummary,
)
from wenzhen.auth import Caller, Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.ratelimit import Limit
from wenzhen.timez import as_utc, to_local_iso

# deadlines (calendar days; see the package docstring)
ACKNOWLEDGE_WITHIN = timedelta(days=1)
ANSWER_WITHIN = timedelta(days=5)
SECOND_ESCALATION_AFTER = timedelta(days=2)  # level 2 this long after the answer deadline
ESCALATION_THRESHOLDS = {1: timedelta(0), 2: SECOND_ESCALATION_AFTER}
SWEEP_BATCH = 200
SWEEP_EVERY_SECONDS = 30.0  # the deadlines are days apart: a round every half minute is prompt enough

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


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    by: str | None
    role: str | None
    previous: str | None
    status: str
    note: str | None = None  # decrypted


@dataclass(frozen=True)
class ComplaintRecord:
    """A complaint as stored, its texts decrypted (None in a listing, which shows none)."""

    id: str
    patient_id: str
    account_id: str | None
    filed_by: str
    channel: str
    about: str
    reference: str | None
    consultation_id: str | None
    status: str
    filed_at: datetime
    acknowledge_by: datetime
    due_at: datetime
    text: str | None = None
    desired_outcome: str | None = None
    escalation_level: int = 0
    assignee: str | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    on_time: bool | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    history: tuple[HistoryItem, ...] = field(default_factory=tuple)


def not_found(complaint_id: str) -> NotFound:
    return NotFound(f"No complaint with id {complaint_id}.")


def channel_of(principal: Principal) -> ComplaintChannel:
    """Online when a patient files; by phone when a consultant or team lead logs it; nobody else files."""
    if principal.has_role(Role.patient):
        return ComplaintChannel.online
    if principal.has_role(*PHONE_LOGGERS):
        return ComplaintChannel.phone
    raise Forbidden("Patients file complaints; consultants and team leads log complaints made by phone.")


def history_item(caller: Caller, at: datetime, previous: str | None, status: str, note: str | None) -> HistoryItem:
    principal = caller.principal
    return HistoryItem(at=at, by=principal.sub, role=principal.role.value if principal.role else principal.kind,
                       previous=previous, status=status, note=note)


def is_staff_view(caller: Caller) -> bool:
    return not caller.principal.has_role(Role.patient)


def may_read(principal: Principal, record: ComplaintRecord, acts_for_patient: Callable[[], bool]) -> bool:
    """The account that filed it, an account acting for its patient (``acts_for_patient()``, asked only when it
    matters), and handlers."""
    if principal.has_role(Role.patient):
        return record.account_id == principal.sub or acts_for_patient()
    return principal.has_role(*HANDLERS)


def check_change(change: ComplaintStatusChange) -> None:
    errors = []
    if change.status == "answered" and not change.answer:
        errors.append(field_error("answer", "is required to answer a complaint", "missing"))
    if change.answer and change.status != "answered":
        errors.append(field_error("answer", "goes only with status answered", "extra"))
    if change.reason and change.status != "closed":
        errors.append(field_error("reason", "goes only with status closed", "extra"))
    if errors:
        raise InvalidInput("The status change is not complete.", errors)


def illegal(current: str, target: str) -> Conflict:
    return Conflict(f"The complaint is {current}; it cannot move to {target}.",
                    [field_error("status", f"the complaint is {current}", "state")])


def plan_move(principal: Principal, current: str, change: ComplaintStatusChange
              ) -> tuple[ComplaintStatus, ComplaintCloseReason | None]:
    """The target status and the close reason of a move from ``current``, or why it may not be made: a patient only
    withdraws an open complaint; handlers follow ``TRANSITIONS``; an open complaint closes only with a reason."""
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
    if current not in allowed_from:
        raise illegal(current, target.value)
    if target == ComplaintStatus.closed and current in OPEN and reason is None:
        raise InvalidInput("Closing an unanswered complaint needs a reason.",
                           [field_error("reason", "is required to close an open complaint "
                                                  "(duplicate, withdrawn or harassment)", "missing")])
    return target, reason


def overdue(record: ComplaintRecord, now: datetime) -> bool:
    return record.status in OPEN and now > as_utc(record.due_at)


def _local(value: datetime | None) -> str | None:
    return to_local_iso(value) if value else None


def view(record: ComplaintRecord, staff: bool, now: datetime) -> Complaint:
    """The complaint for its reader; patients do not see staff ids or internal notes."""
    history = [ComplaintHistoryEntry(at=to_local_iso(item.at), status=item.status, previous=item.previous,
                                     role=item.role, by=item.by if staff else None,
                                     note=item.note if staff else None) for item in record.history]
    cid = record.consultation_id
    return Complaint(
        id=record.id, patient_id=record.patient_id, about=record.about, reference=record.reference,
        consultation_id=cid, transcript=f"/v1/consultations/{cid}" if cid else None,
        channel=record.channel, text=record.text, desired_outcome=record.desired_outcome, status=record.status,
        filed_at=to_local_iso(record.filed_at), filed_by=record.filed_by if staff else None,
        acknowledge_by=to_local_iso(record.acknowledge_by), due_at=to_local_iso(record.due_at),
        overdue=overdue(record, now), escalation_level=record.escalation_level,
        assignee=record.assignee if staff else None, answer=record.answer, answered_at=_local(record.answered_at),
        on_time=record.on_time, closed_at=_local(record.closed_at), close_reason=record.close_reason, history=history)


def summary(record: ComplaintRecord, staff: bool, now: datetime) -> ComplaintSummary:
    return ComplaintSummary(
        id=record.id, patient_id=record.patient_id, about=record.about, reference=record.reference,
        channel=record.channel, status=record.status, filed_at=to_local_iso(record.filed_at),
        due_at=to_local_iso(record.due_at), overdue=overdue(record, now), escalation_level=record.escalation_level,
        assignee=record.assignee if staff else None, answered_at=_local(record.answered_at))
