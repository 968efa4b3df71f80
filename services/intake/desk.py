"""The service desk around the chats: shifts, the consultants' roster and presence, routing waiting chats,
service-level clocks and incidents, queue positions, and the team lead's live view.

The rules are pure functions in ``shifts``, ``routing`` and ``sla`` (driven by an explicit ``now`` in the unit
tests); this module applies them to the database. The :class:`DeskLoop` runs them in one process of the service at
a time (a lease), every ``DESK_POLL_INTERVAL`` seconds or sooner when a chat opens, closes or a consultant's
presence changes in the same process. Each effect is a conditional update, so a round that overlaps a picking
consultant (or a second desk after a lease hand-over) changes nothing twice.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING

from contracts.intake.consultations import DeskView, QueueInfo, QueueItem, RosterEntry, RosterView
from contracts.intake.events import ConsultationAssigned, ConsultationIncidentOpened, ServiceLevelBreached
from services.intake import routing, shifts, sla
from services.intake.chats import CONSULTATIONS, OPEN
from wenzhen import ids
from wenzhen.auth import Caller, Role
from wenzhen.config import Settings
from wenzhen.errors import Forbidden, InvalidInput, NotFound, field_error
from wenzhen.lease import LeasedLoop
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, hospital_zone, to_local_iso, utcnow

log = logging.getLogger("intake.desk")

DESK_SETTINGS = "desk_settings"
ROSTER = "consultant_roster"
INCIDENTS = "consultation_incidents"
DEFAULT_HANDLE_SECONDS = 300.0

INDEXES = [
    Index(INCIDENTS, [("resolved_at", ASCENDING), ("opened_at", DESCENDING)], name="open_incidents"),
    Index(INCIDENTS, [("consultation_id", ASCENDING)], unique=True, name="one_incident_per_chat"),
]


def policy(cfg: Settings) -> sla.Policy:
    return sla.Policy(accept_seconds=cfg.consult_accept_seconds, answer_seconds=cfg.consult_answer_seconds,
                      unattended_seconds=cfg.consult_unattended_seconds)


# shifts ------------------------------------------------------------------------------------------------------------
def current_shifts(store: Store | Tx) -> list[shifts.Shift]:
    doc = store[DESK_SETTINGS].find_one({"_id": "shifts"})
    if doc is None:
        return list(shifts.DEFAULT_SHIFTS)
    return [shifts.Shift.model_validate(item) for item in doc["shifts"]]


def set_shifts(store: Store, caller: Caller, items: list[dict]) -> list[shifts.Shift]:
    """Team leads (and managers) edit the shift table; the routing and the service-hours rules follow at once."""
    if not caller.principal.has_role(Role.team_lead, Role.manager):
        raise Forbidden("Only team leads and managers edit shifts.")
    table = shifts.validate_shifts(items)
    store[DESK_SETTINGS].update_one(
        {"_id": "shifts"},
        {"$set": {"shifts": [s.model_dump(mode="json") for s in table], "updated_by": caller.principal.sub,
                  "updated_at": utcnow()}, "$inc": {"revision": 1}}, upsert=True)
    return table


# roster ------------------------------------------------------------------------------------------------------------
def put_roster(store: Store, caller: Caller, consultant_id: str, entry: RosterEntry) -> RosterView:
    if not caller.principal.has_role(Role.team_lead):
        raise Forbidden("Only team leads set consultants' skills, shifts and chat limits.")
    if not ids.is_id(consultant_id, "acc"):  # a roster entry for what cannot be an account would never be used
        raise NotFound("No such staff account.")
    known = {s.code for s in current_shifts(store)}
    for i, code in enumerate(entry.shifts):
        if code not in known:
            raise InvalidInput("Unknown shift.", [field_error(f"shifts[{i}]", f"no shift {code!r}; known: "
                                                                              f"{', '.join(sorted(known))}")])
    store[ROSTER].update_one({"_id": consultant_id},
                             {"$set": {**entry.model_dump(), "updated_by": caller.principal.sub},
                              "$setOnInsert": {"available": False, "last_assigned_at": None}}, upsert=True)
    return _view(store, consultant_id, utcnow())


def set_presence(store: Store, caller: Caller, available: bool, department: str | None = None) -> RosterView:
    """A consultant goes on (or off) the desk. A consultant the team lead has not rostered yet starts with their
    own department as skill, both default shifts and 5 chats."""
    if not caller.principal.has_role(Role.consultant, Role.team_lead):
        raise Forbidden("Only consultants and team leads take chats.")
    me = caller.principal.sub
    defaults = RosterEntry(skills=[department] if department else []).model_dump()
    store[ROSTER].update_one({"_id": me}, {"$set": {"available": available},
                                           "$setOnInsert": {**defaults, "last_assigned_at": None}}, upsert=True)
    return _view(store, me, utcnow())


def _loads(store: Store | Tx) -> Counter:
    return Counter(doc["consultant_id"] for doc in store[CONSULTATIONS].find(
        {"status": {"$in": ["assigned", "active"]}}, {"consultant_id": 1}) if doc.get("consultant_id"))


def _agents(store: Store | Tx) -> list[routing.Agent]:
    loads = _loads(store)
    return [routing.Agent(id=doc["_id"], skills=frozenset(doc.get("skills", ())), max_chats=doc.get("max_chats", 5),
                          load=loads[doc["_id"]], available=bool(doc.get("available")),
                          shifts=frozenset(doc.get("shifts", ())),
                          last_assigned_at=as_utc(doc["last_assigned_at"]) if doc.get("last_assigned_at") else None)
            for doc in store[ROSTER].find({})]


def picker(store: Store | Tx, consultant_id: str, now: datetime) -> Callable[[dict, float], str | None]:
    """For one consultant now: why they may not take a queued chat themself (``routing.why_not_pick``), or None."""
    on_duty = {s.code for s in shifts.active(current_shifts(store), now)}
    agent = next((a for a in _agents(store) if a.id == consultant_id), None)

    def why_not(doc: dict, skill_wait_seconds: float) -> str | None:
        if doc.get("escalated"):
            return "This chat was handed to the team lead; a team lead takes it."
        return routing.why_not_pick(agent, _waiting(doc), on_duty, now, skill_wait_seconds)

    return why_not


def _view(store: Store | Tx, consultant_id: str, now: datetime) -> RosterView:
    on_duty = {s.code for s in shifts.active(current_shifts(store), now)}
    agent = next(a for a in _agents(store) if a.id == consultant_id)
    return _agent_view(agent, on_duty)


def _agent_view(agent: routing.Agent, on_duty: set[str]) -> RosterView:
    return RosterView(consultant_id=agent.id, skills=sorted(agent.skills), max_chats=agent.max_chats,
                      shifts=sorted(agent.shifts), available=agent.available, load=agent.load,
                      on_duty=bool(agent.shifts & on_duty))


# routing -----------------------------------------------------------------------------------------------------------
def _waiting(doc: dict) -> routing.Waiting:
    return routing.Waiting(id=doc["_id"], department=doc.get("department"), urgent=bool(doc.get("urgent")),
                           opened_at=as_utc(doc["opened_at"]), excluded=frozenset(doc.get("excluded", ())))


def _queued(store: Store | Tx, limit: int = 500) -> list[dict]:
    return list(store[CONSULTATIONS].find({"status": "queued"}).sort(
        [("urgent", DESCENDING), ("opened_at", ASCENDING)]).limit(limit))


def route(store: Store, now: datetime, skill_wait_seconds: float) -> int:
    """Offer waiting chats to consultants on duty; returns how many were offered."""
    on_duty = {s.code for s in shifts.active(current_shifts(store), now)}
    if not on_duty:
        return 0
    # a chat handed to the team lead (no team lead named on the shift) waits for one to pick it: not for consultants
    waiting = [_waiting(doc) for doc in _queued(store) if not doc.get("escalated")]
    if not waiting:
        return 0
    offered = 0
    for consultation_id, consultant_id in routing.plan(waiting, _agents(store), on_duty, now, skill_wait_seconds):
        offered += assign(store, consultation_id, consultant_id, "router", now)
    return offered


def assign(store: Store, consultation_id: str, consultant_id: str, by: str, now: datetime) -> int:
    """Offer a queued chat to a consultant (1), unless someone else got it first (0)."""
    def body(tx: Tx) -> int:
        doc = tx[CONSULTATIONS].find_one_and_update(
            {"_id": consultation_id, "status": "queued"},
            {"$set": {"status": "assigned", "consultant_id": consultant_id, "assigned_at": now},
             "$addToSet": {"staff_ids": consultant_id}})
        if doc is None:
            return 0
        tx[ROSTER].update_one({"_id": consultant_id}, {"$set": {"last_assigned_at": now}})
        tx.emit(ConsultationAssigned(consultation_id=consultation_id, consultant_id=consultant_id, by=by),
                subject=consultation_id)
        return 1

    return store.transact(body)


# service levels ----------------------------------------------------------------------------------------------------
def _clock(doc: dict) -> sla.ChatClock:
    return sla.ChatClock(id=doc["_id"], opened_at=as_utc(doc["opened_at"]),
                         accepted_at=as_utc(doc["accepted_at"]) if doc.get("accepted_at") else None,
                         closed=doc["status"] == "closed",
                         awaiting_since=as_utc(doc["awaiting_since"]) if doc.get("awaiting_since") else None,
                         awaiting_seq=doc.get("awaiting_seq"), raised=frozenset(doc.get("sla_raised", ())))


def sweep(store: Store, rules: sla.Policy, now: datetime) -> int:
    """Raise every service-level breach and incident whose time has come; returns how many were raised."""
    table = current_shifts(store)
    raised = 0
    for doc in store[CONSULTATIONS].find({"status": {"$in": list(OPEN)}}):
        for breach in sla.due(_clock(doc), rules, table, now):
            raised += _raise(store, doc, breach, table, now)
    return raised


def _raise(store: Store, doc: dict, breach: sla.Breach, table: list[shifts.Shift], now: datetime) -> int:
    on_duty = sla.responsible_shift(breach, table)  # the shift whose running clock ran out
    cid = doc["_id"]

    def body(tx: Tx) -> int:
        updates: dict = {"$addToSet": {"sla_raised": breach.key}}
        offered_to = doc.get("consultant_id") if doc["status"] == "assigned" else None
        if breach.kind == "accept" and offered_to:
            # the offer was missed: back to the queue for someone else, and the consultant off the desk until they
            # say they are back (a consultant away from the screen keeps getting nothing)
            updates["$set"] = {"status": "queued", "consultant_id": None}
            updates["$addToSet"]["excluded"] = offered_to
            tx[ROSTER].update_one({"_id": offered_to}, {"$set": {"available": False}})
        current = tx[CONSULTATIONS].find_one_and_update(
            {"_id": cid, "sla_raised": {"$ne": breach.key}, "status": {"$in": list(OPEN)}}, updates)
        if current is None:
            return 0
        if breach.kind == "incident":
            waited = int((now - as_utc(doc["opened_at"])).total_seconds())
            incident_id = ids.new_id("inc")
            tx[INCIDENTS].insert_one({
                "_id": incident_id, "consultation_id": cid, "opened_at": now, "resolved_at": None,
                "shift": on_duty.code if on_duty else None,
                "team_lead_id": on_duty.team_lead_id if on_duty else None, "waited_seconds": waited})
            tx.emit(ConsultationIncidentOpened(incident_id=incident_id, consultation_id=cid,
                                               shift=on_duty.code if on_duty else None,
                                               team_lead_id=on_duty.team_lead_id if on_duty else None,
                                               waited_seconds=waited), subject=cid)
        else:
            tx.emit(ServiceLevelBreached(consultation_id=cid, kind=breach.kind, limit_seconds=breach.limit_seconds,
                                         consultant_id=current.get("consultant_id"),
                                         shift=on_duty.code if on_duty else None), subject=cid)
        return 1

    return store.transact(body)


def resolve_incident(tx: Tx, consultation_id: str, now: datetime) -> None:
    tx[INCIDENTS].update_one({"consultation_id": consultation_id, "resolved_at": None},
                             {"$set": {"resolved_at": now}})


# what the patient and the team lead see -------------------------------------------------------------------------
def average_handle_seconds(store: Store | Tx, sample: int = 50) -> float:
    durations = [(as_utc(d["closed_at"]) - as_utc(d["accepted_at"])).total_seconds()
                 for d in store[CONSULTATIONS].find({"status": "closed", "accepted_at": {"$ne": None}},
                                                    {"closed_at": 1, "accepted_at": 1}).sort("closed_at", -1)
                 .limit(sample) if d.get("accepted_at") and d.get("closed_at")]
    return sum(durations) / len(durations) if durations else DEFAULT_HANDLE_SECONDS


def queue_info(store: Store | Tx, doc: dict, now: datetime) -> QueueInfo | None:
    if doc["status"] not in ("queued", "assigned"):
        return None
    table = current_shifts(store)
    if not shifts.in_service(table, now):
        opening = shifts.next_opening(table, now)
        return QueueInfo(next_opening=to_local_iso(opening) if opening else None)
    if doc["status"] == "assigned":
        return QueueInfo(position=0, expected_wait_seconds=0)
    waiting = [_waiting(d) for d in _queued(store)]
    position = routing.position(waiting, doc["_id"])
    on_duty = {s.code for s in shifts.active(table, now)}
    wait = routing.expected_wait_seconds(position, _agents(store), on_duty, average_handle_seconds(store)) \
        if position is not None else None
    return QueueInfo(position=position, expected_wait_seconds=wait)


def desk_view(store: Store, caller: Caller, now: datetime) -> DeskView:
    if not caller.principal.has_role(Role.team_lead):
        raise Forbidden("The desk view is for team leads.")
    table = current_shifts(store)
    on_duty = {s.code for s in shifts.active(table, now)}
    open_docs = list(store[CONSULTATIONS].find({"status": {"$in": list(OPEN)}}).sort("opened_at", ASCENDING))
    day_start = now.astimezone(hospital_zone()).replace(hour=0, minute=0, second=0, microsecond=0)
    breaches = Counter()
    for doc in store[CONSULTATIONS].find({"opened_at": {"$gte": day_start - timedelta(seconds=0)}},
                                         {"sla_raised": 1}):
        for key in doc.get("sla_raised", ()):
            breaches[key.split(":")[0]] += 1
    incidents = [{"id": i["_id"], "consultation_id": i["consultation_id"], "shift": i.get("shift"),
                  "team_lead_id": i.get("team_lead_id"), "waited_seconds": i.get("waited_seconds"),
                  "opened_at": to_local_iso(i["opened_at"])}
                 for i in store[INCIDENTS].find({"resolved_at": None}).sort("opened_at", DESCENDING).limit(50)]
    return DeskView(
        now=to_local_iso(now), in_service_hours=bool(on_duty), on_duty_shifts=sorted(on_duty),
        queue=[QueueItem(id=d["_id"], channel=d["channel"], department=d.get("department"),
                         urgent=bool(d.get("urgent")), status=d["status"], consultant_id=d.get("consultant_id"),
                         waited_seconds=int((now - as_utc(d["opened_at"])).total_seconds()))
               for d in open_docs if d["status"] in ("queued", "assigned")],
        consultants=[_agent_view(a, on_duty) for a in _agents(store)],
        red_flags=[{"consultation_id": d["_id"], "codes": d.get("red_flags", []), "status": d["status"],
                    "consultant_id": d.get("consultant_id")} for d in open_docs if d.get("urgent")],
        breaches_today={"accept": breaches["accept"], "answer": breaches["answer"],
                        "incident": breaches["incident"]},
        open_incidents=incidents,
        escalated=[d["_id"] for d in open_docs if d.get("escalated")],
    )


def queue(store: Store, caller: Caller, now: datetime, skill_wait_seconds: float) -> list[QueueItem]:
    """Waiting chats, urgent first then oldest: all of them for a team lead, a consultant's own queue (what they may
    pick now, see ``why_not_pick``) for a consultant. No message text here."""
    principal = caller.principal
    if not principal.has_role(Role.consultant, Role.team_lead):
        raise Forbidden("The queue is for consultants and team leads.")
    waiting = _queued(store, 200)
    if principal.has_role(Role.consultant):
        why_not = picker(store, principal.sub, now)
        waiting = [d for d in waiting if why_not(d, skill_wait_seconds) is None]
    return [QueueItem(id=d["_id"], channel=d["channel"], department=d.get("department"), urgent=bool(d.get("urgent")),
                      status=d["status"], waited_seconds=int((now - as_utc(d["opened_at"])).total_seconds()))
            for d in waiting]


# the loop ----------------------------------------------------------------------------------------------------------
class DeskLoop(LeasedLoop):
    """Routing, service-level clocks and complaint deadlines, in one process of intake at a time."""

    lease_name = "intake-desk"

    def __init__(self, store: Store, cfg: Settings, extra_rounds=()):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=cfg.desk_poll_interval,
                         retry_max=cfg.outbox_retry_max)
        self.store = store
        self.cfg = cfg
        self.rules = policy(cfg)
        self.extra_rounds = tuple(extra_rounds)  # callables (store, now) -> int, e.g. complaint escalation

    def round(self) -> int:
        now = utcnow()
        done = route(self.store, now, self.cfg.consult_skill_wait_seconds)
        done += sweep(self.store, self.rules, now)
        for extra in self.extra_rounds:
            done += extra(self.store, now)
        return done
