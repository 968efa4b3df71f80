"""Follow-up plans: the doctor of a completed visit asks the patient back after some days or weeks.

The plan records the due day (counted from the day of the visit, hospital zone), the service (an in-person follow-up,
an online video follow-up — with diagnosis, since it follows an in-person one — or an examination) and an optional
note for the patient (stored encrypted; never sent by SMS). Booking proposes the doctor's first free slots around the
due day (from a few days before to a week after, nearest first) whenever the plan is read, so the proposal is always
what is free now. The patient (or a consultant on the phone) books one the normal way, with ``follow_up_of`` = the
visit: the plan shows ``booked`` while such a booking is held, confirmed, checked in or completed — derived from the
appointments, so a cancelled follow-up makes the plan open again without a second copy to keep in step.

``BOOKING_FOLLOW_UP_REMIND_DAYS`` before the due day (at 09:00, or at once when that has passed) the sweeper emits
``follow_up_due`` for a plan with nothing booked — once, by a conditional update of ``reminded_at`` in the same
transaction — and notify reminds the patient by SMS. Only a completed in-person visit can be followed up (the rule of
``follow_up_of``); one plan per visit.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.booking.events import FollowUpDue, FollowUpPlanned
from contracts.booking.schemas import FollowUpPlan, FollowUpRequest, ServiceCode, Slot, Status
from services.booking import schedules
from services.booking.appointments import SWEEP_BATCH, Policy, authorized, require_own_record
from services.booking.catalogue.store import CatalogueStore
from services.booking.places import APPOINTMENTS
from services.booking.schedules import local_today
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE
from wenzhen.auth import Caller, Role
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, hospital_zone, to_local_iso, utcnow

PLANS = "follow_up_plans"
INDEXES = [
    Index(PLANS, [("appointment_id", ASCENDING)], unique=True, name="one_plan_per_visit"),
    Index(PLANS, [("patient_id", ASCENDING), ("due_date", ASCENDING)], name="by_patient"),
    Index(PLANS, [("doctor_id", ASCENDING), ("due_date", ASCENDING)], name="by_doctor"),
    Index(PLANS, [("reminded_at", ASCENDING), ("remind_at", ASCENDING)], name="reminders_due"),
]
ENTITY = "CarePlan"
BOOKED = (Status.held.value, Status.confirmed.value, Status.checked_in.value, Status.completed.value)
FOLLOW_UP_SERVICES = (ServiceCode.follow_up, ServiceCode.online_video, ServiceCode.examination)
PROPOSE_BEFORE_DAYS = 3
PROPOSE_AFTER_DAYS = 7
PROPOSALS = 3
REMIND_AT = time(9)


def due_dates(visit_day: date, after_days: int, remind_days: int, now: datetime) -> tuple[date, date, datetime]:
    """The due day, the reminder's day and the reminder's moment: 09:00 local ``remind_days`` before the due day, or
    ``now`` when that has passed (a near due day)."""
    due = visit_day + timedelta(days=after_days)
    zone = hospital_zone()
    remind_at = max(as_utc(datetime.combine(due - timedelta(days=remind_days), REMIND_AT, tzinfo=zone)), as_utc(now))
    return due, remind_at.astimezone(zone).date(), remind_at


def plan_follow_up(store: Store, keys: Keyring, caller: Caller, appointment_id: str, request: FollowUpRequest,
                   policy: Policy, now: datetime | None = None) -> FollowUpPlan:
    """The visit's doctor records when the patient should come back."""
    now = now or utcnow()
    if not caller.principal.has_role(Role.doctor):
        raise Forbidden("The visit's doctor plans its follow-up.")
    visit = authorized(store, caller, appointment_id, UPDATE, "follow-up")
    if visit["status"] != Status.completed.value or visit["online"]:
        raise Conflict("Only a completed in-person visit is followed up.",
                       [field_error("status", f"is {visit['status']}{' (online)' if visit['online'] else ''}",
                                    "state")])
    doctor = CatalogueStore(store).bookable(visit["doctor_id"])
    if request.service not in FOLLOW_UP_SERVICES or request.service.value not in (doctor.services if doctor else ()):
        raise InvalidInput("The follow-up is a follow-up visit, an online follow-up or an examination this doctor "
                           "offers.", [field_error("service", "is not a follow-up service of this doctor",
                                                   "not_offered")])
    visit_day = as_utc(visit.get("completed_at") or now).astimezone(hospital_zone()).date()
    due, remind_on, remind_at = due_dates(visit_day, request.days, policy.follow_up_remind_days, now)
    plan_id = ids.new_id("fup")
    doc = {"_id": plan_id, "appointment_id": appointment_id, "patient_id": visit["patient_id"],
           "doctor_id": visit["doctor_id"], "department": visit["department"], "service": request.service.value,
           "due_date": due.isoformat(), "remind_on": remind_on.isoformat(), "remind_at": remind_at,
           "note": keys.encrypt(request.note, field="note", record=plan_id) if request.note else None,
           "planned_at": now, "planned_by": caller.principal.sub, "reminded_at": None}

    def body(tx: Tx) -> None:
        tx[PLANS].insert_one(doc)
        tx.emit(FollowUpPlanned(**_fields(doc), remind_on=doc["remind_on"]), subject=plan_id)
        audit.record(tx, caller, CREATE, "follow-up", ENTITY, plan_id, patient_id=doc["patient_id"],
                     detail=f"{request.days} days")

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict("This visit has a follow-up plan already.",
                       [field_error("appointment_id", "has a follow-up plan", "duplicate")]) from None
    return to_plan(store, keys, doc, now, policy.horizon_days)


def list_plans(store: Store, keys: Keyring, caller: Caller, *, patient_id: str | None = None,
               doctor_id: str | None = None, limit: int = 50, now: datetime | None = None,
               horizon_days: int = 14) -> list[FollowUpPlan]:
    """A patient's plans (patients for records they act for; consultants and team leads by patient, to book with
    them), or the plans a doctor made. Each plan shown is audited."""
    now = now or utcnow()
    principal = caller.principal
    query: dict = {}
    if principal.has_role(Role.patient):
        require_own_record(principal, patient_id)
    elif principal.has_role(Role.doctor):
        if doctor_id not in (None, principal.sub):
            raise NotFound("A doctor sees the follow-up plans they made.")
        doctor_id = principal.sub
    elif principal.has_role(Role.consultant, Role.team_lead):
        if patient_id is None:
            raise InvalidInput("Name a patient.", [field_error("patient_id", "is needed", "missing")])
    else:
        raise Forbidden("Patients, doctors, consultants and team leads see follow-up plans.")
    for name, value in (("patient_id", patient_id), ("doctor_id", doctor_id)):
        if value is not None:
            query[name] = value
    docs = list(store[PLANS].find(query).sort([("due_date", ASCENDING), ("_id", ASCENDING)]).limit(limit))
    for doc in docs:
        audit.record(store, caller, READ, "read", ENTITY, doc["_id"], patient_id=doc["patient_id"], detail="list")
    return [to_plan(store, keys, doc, now, horizon_days) for doc in docs]


def booked_for(store: Store | Tx, plan: dict) -> str | None:
    """The follow-up appointment booked for the plan's visit, if one is held, confirmed, checked in or completed."""
    cursor = store[APPOINTMENTS].find({"follow_up_of": plan["appointment_id"], "patient_id": plan["patient_id"],
                                       "status": {"$in": list(BOOKED)}}, {"_id": 1}).sort("start", ASCENDING).limit(1)
    found = next(iter(cursor), None)
    return found["_id"] if found else None


def proposals(store: Store, doctor_id: str, service: str, due: date, now: datetime, horizon_days: int,
              count: int = PROPOSALS) -> list[Slot]:
    """The doctor's free slots of ``service`` nearest the due day (from a few days before to a week after; an overdue
    plan: the coming week), nearest first, earlier first on a tie."""
    first = max(due - timedelta(days=PROPOSE_BEFORE_DAYS), local_today(now))
    last = max(due, first) + timedelta(days=PROPOSE_AFTER_DAYS)
    free = schedules.search_slots(store, now=now, horizon_days=horizon_days, doctor_id=doctor_id, service=service,
                                  day_from=first, day_to=last, limit=200)
    free.sort(key=lambda s: (abs((date.fromisoformat(s.start[:10]) - due).days), s.start))
    return free[:count]


def remind_due(store: Store, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Emit ``follow_up_due`` for plans whose reminder moment came and that nothing is booked for; returns how many."""
    due = [d["_id"] for d in store[PLANS].find({"reminded_at": None, "remind_at": {"$lte": now}},
                                               {"_id": 1}).limit(limit)]
    sent = 0
    for plan_id in due:
        def body(tx: Tx, pid: str = plan_id) -> int:
            plan = tx[PLANS].find_one_and_update({"_id": pid, "reminded_at": None, "remind_at": {"$lte": now}},
                                                 {"$set": {"reminded_at": now}}, return_document=ReturnDocument.AFTER)
            if plan is None:
                return 0
            if booked_for(tx, plan) is not None:
                tx[PLANS].update_one({"_id": pid}, {"$set": {"reminder": "booked_already"}})
                return 0
            tx[PLANS].update_one({"_id": pid}, {"$set": {"reminder": "sent"}})
            tx.emit(FollowUpDue(**_fields(plan)), subject=pid)
            return 1

        sent += store.transact(body)
    return sent


def to_plan(store: Store, keys: Keyring, doc: dict, now: datetime, horizon_days: int) -> FollowUpPlan:
    booked = booked_for(store, doc)
    due = date.fromisoformat(doc["due_date"])
    proposed = [] if booked else proposals(store, doc["doctor_id"], doc["service"], due, now, horizon_days)
    note = keys.decrypt(doc["note"], field="note", record=doc["_id"]) if doc.get("note") else None
    return FollowUpPlan(
        id=doc["_id"], appointment_id=doc["appointment_id"], patient_id=doc["patient_id"], doctor_id=doc["doctor_id"],
        department=doc["department"], service=doc["service"], due_date=doc["due_date"], remind_on=doc["remind_on"],
        note=note, status="booked" if booked else "planned", booked_appointment_id=booked,
        planned_at=to_local_iso(doc["planned_at"]),
        reminded_at=to_local_iso(doc["reminded_at"]) if doc.get("reminded_at") else None, proposed=proposed)


def _fields(doc: dict) -> dict:
    return {"plan_id": doc["_id"], "appointment_id": doc["appointment_id"], "patient_id": doc["patient_id"],
            "doctor_id": doc["doctor_id"], "department": doc["department"], "service": doc["service"],
            "due_date": doc["due_date"]}
