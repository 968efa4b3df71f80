"""The follow-up plans' operations (authorize → store → emit → audit) and their reminder sweep."""
from __future__ import annotations

from datetime import date, datetime

from contracts.booking.events import FollowUpDue, FollowUpPlanned
from contracts.booking.schemas import FollowUpPlan, FollowUpRequest, ServiceCode, Slot, Status
from services.booking import scope
from services.booking.appointments import usecases as appointments
from services.booking.appointments.rules import SWEEP_BATCH
from services.booking.followups import rules
from services.booking.followups.rules import ENTITY, Plan
from services.booking.followups.store import FollowUpStore, PlanExists
from services.booking.schedules import rules as schedule_rules
from services.booking.settings import Policy
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE
from wenzhen.auth import Caller
from wenzhen.storage import Tx


def plan_follow_up(store: FollowUpStore, caller: Caller, appointment_id: str, request: FollowUpRequest,
                   policy: Policy, now: datetime) -> FollowUpPlan:
    """The visit's doctor records when the patient should come back."""
    rules.require_planner(caller.principal)
    visit = appointments.authorize(store, caller, store.visit(appointment_id), appointment_id, UPDATE, "follow-up")
    rules.require_followable(visit)
    rules.require_follow_up_service(request, store.bookable(visit.doctor_id))
    plan = rules.new_plan(ids.new_id("fup"), visit, request, policy.follow_up_remind_days, caller.principal.sub, now)

    def body(tx: Tx) -> None:
        store.insert_plan(tx, plan)
        tx.emit(FollowUpPlanned(**rules.plan_fields(plan), remind_on=plan.remind_on), subject=plan.id)
        audit.record(tx, caller, CREATE, "follow-up", ENTITY, plan.id, patient_id=plan.patient_id,
                     detail=f"{request.days} days")

    try:
        store.transact(body)
    except PlanExists:
        raise rules.plan_exists() from None
    return _view(store, plan, now, policy.horizon_days)


def advised(store: FollowUpStore, tx: Tx, caller: Caller, appointment_id: str, days: int, doctor_id: str,
            sequence: int | None, policy: Policy, now: datetime) -> None:
    """A signed report advises a follow-up after ``days`` (records' ``report_signed``): the visit's plan is made now
    if the visit is complete, else when it completes (:func:`visit_completed`). Online visits are planned by their
    doctor (a plan follows an in-person visit)."""
    store.save_advice(tx, appointment_id, days, doctor_id, sequence, now)
    visit = store.visit_in(tx, appointment_id)
    if visit is not None and visit.status == Status.completed:
        _plan_from_advice(store, tx, caller, visit, days, policy, now)


def visit_completed(store: FollowUpStore, tx: Tx, caller: Caller, appointment_id: str, policy: Policy,
                    now: datetime) -> None:
    """booking's own ``appointment_completed``: a report's advice waiting for it becomes the plan."""
    days = store.advice(tx, appointment_id)
    visit = store.visit_in(tx, appointment_id)
    if days is not None and visit is not None:
        _plan_from_advice(store, tx, caller, visit, days, policy, now)


def _plan_from_advice(store: FollowUpStore, tx: Tx, caller: Caller, visit, days: int, policy: Policy,
                      now: datetime) -> None:
    if visit.online or store.has_plan(visit.id, tx):
        return  # a plan follows an in-person visit, once (the doctor's own plan comes first)
    offered = store.bookable(visit.doctor_id)
    services = [s for s in (ServiceCode.follow_up, ServiceCode.online_video) if offered and s.value in offered.services]
    if not services:
        return
    request = FollowUpRequest(after_days=days, service=services[0])
    plan = rules.new_plan(ids.new_id("fup"), visit, request, policy.follow_up_remind_days, visit.doctor_id, now)
    store.insert_plan(tx, plan)
    tx.emit(FollowUpPlanned(**rules.plan_fields(plan), remind_on=plan.remind_on), subject=plan.id)
    audit.record(tx, caller, CREATE, "follow-up", ENTITY, plan.id, patient_id=plan.patient_id,
                 detail=f"{days} days, from the signed report")


def list_plans(store: FollowUpStore, caller: Caller, *, now: datetime, horizon_days: int,
               patient_id: str | None = None, doctor_id: str | None = None, limit: int = 50) -> list[FollowUpPlan]:
    """As ``services.booking.scope`` says (a patient's records; the plans a doctor made, i.e. of their own schedule;
    consultants and team leads by patient, to book with them). Each plan shown is audited."""
    seen = scope.listing_scope(scope.FOLLOW_UPS, caller.principal, patient_id=patient_id, doctor_id=doctor_id)
    found = store.plans(seen, limit)
    for plan in found:
        audit.record(store, caller, READ, "read", ENTITY, plan.id, patient_id=plan.patient_id, detail="list")
    return [_view(store, plan, now, horizon_days) for plan in found]


def proposals(store: FollowUpStore, plan: Plan, now: datetime, horizon_days: int) -> list[Slot]:
    """The doctor's free slots of the plan's service nearest the due day."""
    due = date.fromisoformat(plan.due_date)
    after, before = schedule_rules.search_window(now, horizon_days, *rules.proposal_days(due, now))
    free = store.free_slots(before, after=after, doctor_id=plan.doctor_id, service=plan.service,
                            limit=rules.PROPOSAL_CANDIDATES)
    return rules.nearest([schedule_rules.to_slot(s) for s in free], due)


def _view(store: FollowUpStore, plan: Plan, now: datetime, horizon_days: int) -> FollowUpPlan:
    booked = store.booked_follow_up(plan)
    return rules.to_plan(plan, booked, [] if booked else proposals(store, plan, now, horizon_days))


def remind_due(store: FollowUpStore, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Emit ``follow_up_due`` for plans whose reminder moment came and that nothing is booked for; returns how many."""
    sent = 0
    for plan_id in store.reminders_due(now, limit):
        def body(tx: Tx, pid: str = plan_id) -> int:
            plan = store.mark_reminded(tx, pid, now)
            if plan is None:
                return 0
            if store.booked_follow_up(plan, tx) is not None:
                store.set_reminder_outcome(tx, pid, "booked_already")
                return 0
            store.set_reminder_outcome(tx, pid, "sent")
            tx.emit(FollowUpDue(**rules.plan_fields(plan)), subject=pid)
            return 1

        sent += store.transact(body)
    return sent

