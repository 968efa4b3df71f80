"""The follow-up plans' decisions, pure: the plan record, who plans, which visit and service, the due and reminder
days, which free slots are proposed, and the view."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from contracts.booking.schemas import FollowUpPlan, FollowUpRequest, ServiceCode, Slot, Status
from services.booking.appointments.rules import AppointmentRecord
from services.booking.catalogue.rules import Bookable
from services.booking.schedules.rules import local_today
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, field_error
from wenzhen.timez import as_utc, hospital_zone, to_local_iso

ENTITY = "CarePlan"
FOLLOW_UP_SERVICES = (ServiceCode.follow_up, ServiceCode.online_video, ServiceCode.examination)
PROPOSE_BEFORE_DAYS = 3
PROPOSE_AFTER_DAYS = 7
PROPOSALS = 3
PROPOSAL_CANDIDATES = 200
REMIND_AT = time(9)


@dataclass(frozen=True)
class Plan:
    """A follow-up plan as stored (``note`` in clear: the store encrypts it)."""

    id: str
    appointment_id: str
    patient_id: str
    doctor_id: str
    department: str
    service: str
    due_date: str
    remind_on: str
    remind_at: datetime
    planned_at: datetime
    planned_by: str
    note: str | None = None
    reminded_at: datetime | None = None
    reminder: str | None = None  # sent | booked_already


def require_planner(principal: Principal) -> None:
    if not principal.has_role(Role.doctor):
        raise Forbidden("The visit's doctor plans its follow-up.")


def require_followable(visit: AppointmentRecord) -> None:
    if visit.status != Status.completed or visit.online:
        raise Conflict("Only a completed in-person visit is followed up.",
                       [field_error("status", f"is {visit.status.value}{' (online)' if visit.online else ''}",
                                    "state")])


def require_follow_up_service(request: FollowUpRequest, doctor: Bookable | None) -> None:
    if request.service not in FOLLOW_UP_SERVICES or request.service.value not in (doctor.services if doctor else ()):
        raise InvalidInput("The follow-up is a follow-up visit, an online follow-up or an examination this doctor "
                           "offers.", [field_error("service", "is not a follow-up service of this doctor",
                                                   "not_offered")])


def plan_exists() -> Conflict:
    return Conflict("This visit has a follow-up plan already.",
                    [field_error("appointment_id", "has a follow-up plan", "duplicate")])


def due_dates(visit_day: date, after_days: int, remind_days: int, now: datetime) -> tuple[date, date, datetime]:
    """The due day, the reminder's day and the reminder's moment: 09:00 local ``remind_days`` before the due day, or
    ``now`` when that has passed (a near due day)."""
    due = visit_day + timedelta(days=after_days)
    zone = hospital_zone()
    remind_at = max(as_utc(datetime.combine(due - timedelta(days=remind_days), REMIND_AT, tzinfo=zone)), as_utc(now))
    return due, remind_at.astimezone(zone).date(), remind_at


def new_plan(plan_id: str, visit: AppointmentRecord, request: FollowUpRequest, remind_days: int, by: str,
             now: datetime) -> Plan:
    visit_day = as_utc(visit.completed_at or now).astimezone(hospital_zone()).date()
    due, remind_on, remind_at = due_dates(visit_day, request.days, remind_days, now)
    return Plan(id=plan_id, appointment_id=visit.id, patient_id=visit.patient_id, doctor_id=visit.doctor_id,
                department=visit.department, service=request.service.value, due_date=due.isoformat(),
                remind_on=remind_on.isoformat(), remind_at=remind_at, note=request.note, planned_at=now,
                planned_by=by)


def proposal_days(due: date, now: datetime) -> tuple[date, date]:
    """From a few days before the due day to a week after it (an overdue plan: the coming week)."""
    first = max(due - timedelta(days=PROPOSE_BEFORE_DAYS), local_today(now))
    return first, max(due, first) + timedelta(days=PROPOSE_AFTER_DAYS)


def nearest(slots: list[Slot], due: date, count: int = PROPOSALS) -> list[Slot]:
    """The free slots nearest the due day, earlier first on a tie."""
    return sorted(slots, key=lambda s: (abs((date.fromisoformat(s.start[:10]) - due).days), s.start))[:count]


def plan_fields(plan: Plan) -> dict:
    return {"plan_id": plan.id, "appointment_id": plan.appointment_id, "patient_id": plan.patient_id,
            "doctor_id": plan.doctor_id, "department": plan.department, "service": plan.service,
            "due_date": plan.due_date}


def to_plan(plan: Plan, booked: str | None, proposed: list[Slot]) -> FollowUpPlan:
    return FollowUpPlan(
        id=plan.id, appointment_id=plan.appointment_id, patient_id=plan.patient_id, doctor_id=plan.doctor_id,
        department=plan.department, service=plan.service, due_date=plan.due_date, remind_on=plan.remind_on,
        note=plan.note, status="booked" if booked else "planned", booked_appointment_id=booked,
        planned_at=to_local_iso(plan.planned_at),
        reminded_at=to_local_iso(plan.reminded_at) if plan.reminded_at else None, proposed=proposed)
