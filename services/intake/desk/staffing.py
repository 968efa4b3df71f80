"""The desk around the chats: the shift table, the consultants' roster and presence, the queue and the team lead's
view, and the rounds of the desk loop — routing waiting chats (``routing.plan``) and the service-level clocks
(``sla.due``): breaches raised once, a missed offer back to the queue, incidents opened and resolved.

The rules are the pure ``shifts``, ``routing`` and ``sla`` (driven by an explicit ``now``); these use cases apply
them to the store. :class:`DeskLoop` runs the rounds in one intake process at a time (a lease), every
``DESK_POLL_INTERVAL`` seconds or sooner when a chat opens, closes or a consultant's presence changes in the same
process. Each effect is a conditional update, so a round that overlaps a picking consultant (or a second desk after a
lease hand-over) changes nothing twice.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from contracts.intake.consultations import DeskView, QueueItem, RosterEntry, RosterView, Shift
from contracts.intake.events import ConsultationAssigned, ConsultationIncidentOpened, ServiceLevelBreached
from services.intake.desk import routing, rules, shifts, sla
from services.intake.desk.rules import Chat, Incident
from services.intake.desk.usecases import Desk, picker
from wenzhen import ids
from wenzhen.auth import Caller, Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound, field_error
from wenzhen.lease import LeasedLoop
from wenzhen.storage import Store, Tx
from wenzhen.timez import hospital_zone, to_local_iso, utcnow


# shifts and the roster -----------------------------------------------------------------------------------------------
def current_shifts(desk: Desk) -> list[Shift]:
    return desk.store.shifts()


def set_shifts(desk: Desk, caller: Caller, items: list[dict], now: datetime) -> list[Shift]:
    """Team leads (and managers) edit the shift table; the routing and the service-hours rules follow at once."""
    if not caller.principal.has_role(Role.team_lead, Role.manager):
        raise Forbidden("Only team leads and managers edit shifts.")
    table = shifts.validate_shifts(items)
    desk.store.save_shifts(table, caller.principal.sub, now)
    return table


def _roster_view(desk: Desk, consultant_id: str, now: datetime) -> RosterView:
    on_duty = {s.code for s in shifts.active(desk.store.shifts(), now)}
    agent = next(a for a in desk.store.agents() if a.id == consultant_id)
    return _agent_view(agent, on_duty)


def _agent_view(agent: routing.Agent, on_duty: set[str]) -> RosterView:
    return RosterView(consultant_id=agent.id, skills=sorted(agent.skills), max_chats=agent.max_chats,
                      shifts=sorted(agent.shifts), available=agent.available, load=agent.load,
                      on_duty=bool(agent.shifts & on_duty))


def put_roster(desk: Desk, caller: Caller, consultant_id: str, entry: RosterEntry, now: datetime) -> RosterView:
    """Team leads set a consultant's skills, shifts and chat limit."""
    if not caller.principal.has_role(Role.team_lead):
        raise Forbidden("Only team leads set consultants' skills, shifts and chat limits.")
    if not ids.is_id(consultant_id, "acc"):  # a roster entry for what cannot be an account would never be used
        raise NotFound("No such staff account.")
    known = {s.code for s in desk.store.shifts()}
    for i, code in enumerate(entry.shifts):
        if code not in known:
            raise InvalidInput("Unknown shift.", [field_error(f"shifts[{i}]", f"no shift {code!r}; known: "
                                                                              f"{', '.join(sorted(known))}")])
    desk.store.put_roster(consultant_id, entry, caller.principal.sub)
    return _roster_view(desk, consultant_id, now)


def set_presence(desk: Desk, caller: Caller, available: bool, now: datetime) -> RosterView:
    """A consultant goes on (or off) the desk. A consultant the team lead has not rostered yet starts with their
    own department as skill, both default shifts and 5 chats."""
    principal = caller.principal
    if not principal.has_role(Role.consultant, Role.team_lead):
        raise Forbidden("Only consultants and team leads take chats.")
    defaults = RosterEntry(skills=[principal.department] if principal.department else [])
    desk.store.set_presence(principal.sub, available, defaults)
    return _roster_view(desk, principal.sub, now)


# what consultants and the team lead see ------------------------------------------------------------------------------
def queue(desk: Desk, caller: Caller, now: datetime) -> list[QueueItem]:
    """Waiting chats, urgent first then oldest: all of them for a team lead, a consultant's own queue (what they may
    pick now, see ``routing.why_not_pick``) for a consultant. No message text here."""
    principal = caller.principal
    if not principal.has_role(Role.consultant, Role.team_lead):
        raise Forbidden("The queue is for consultants and team leads.")
    waiting = desk.store.queued(200)
    if principal.has_role(Role.consultant):
        why_not = picker(desk, principal.sub, now)
        waiting = [chat for chat in waiting if why_not(chat) is None]
    return [rules.queue_item(chat, now, with_consultant=False) for chat in waiting]


def desk_view(desk: Desk, caller: Caller, now: datetime) -> DeskView:
    """The team lead's live view: the queue, consultants and their loads, red flags, today's breaches, open
    incidents and the chats handed to the team lead."""
    if not caller.principal.has_role(Role.team_lead):
        raise Forbidden("The desk view is for team leads.")
    table = desk.store.shifts()
    on_duty = {s.code for s in shifts.active(table, now)}
    open_chats = desk.store.open_chats()
    day_start = now.astimezone(hospital_zone()).replace(hour=0, minute=0, second=0, microsecond=0)
    breaches = Counter(key.split(":")[0] for key in desk.store.breach_keys_since(day_start))
    incidents = [{"id": i.id, "consultation_id": i.consultation_id, "shift": i.shift, "team_lead_id": i.team_lead_id,
                  "waited_seconds": i.waited_seconds, "opened_at": to_local_iso(i.opened_at)}
                 for i in desk.store.open_incidents(50)]
    return DeskView(
        now=to_local_iso(now), in_service_hours=bool(on_duty), on_duty_shifts=sorted(on_duty),
        queue=[rules.queue_item(c, now) for c in open_chats if c.status in ("queued", "assigned")],
        consultants=[_agent_view(a, on_duty) for a in desk.store.agents()],
        red_flags=[{"consultation_id": c.id, "codes": list(c.red_flags), "status": c.status,
                    "consultant_id": c.consultant_id} for c in open_chats if c.urgent],
        breaches_today={"accept": breaches["accept"], "answer": breaches["answer"],
                        "incident": breaches["incident"]},
        open_incidents=incidents,
        escalated=[c.id for c in open_chats if c.escalated],
    )


# the routing round ---------------------------------------------------------------------------------------------------
def route(desk: Desk, now: datetime) -> int:
    """Offer waiting chats to consultants on duty by ``routing.plan``; returns how many were offered."""
    on_duty = {s.code for s in shifts.active(desk.store.shifts(), now)}
    if not on_duty:
        return 0
    # a chat handed to the team lead (no team lead named on the shift) waits for one to pick it: not for consultants
    waiting = [rules.waiting(chat) for chat in desk.store.queued() if not chat.escalated]
    if not waiting:
        return 0
    offered = 0
    for consultation_id, consultant_id in routing.plan(waiting, desk.store.agents(), on_duty, now,
                                                       desk.policy.skill_wait_seconds):
        offered += offer(desk, consultation_id, consultant_id, "router", now)
    return offered


def offer(desk: Desk, consultation_id: str, consultant_id: str, by: str, now: datetime) -> int:
    """Offer a queued chat to a consultant (1), unless someone else got it first (0)."""
    def body(tx: Tx) -> int:
        if not desk.store.offer(tx, consultation_id, consultant_id, now):
            return 0
        tx.emit(ConsultationAssigned(consultation_id=consultation_id, consultant_id=consultant_id, by=by),
                subject=consultation_id)
        return 1

    return desk.store.transact(body)


# the service-level round ---------------------------------------------------------------------------------------------
def sweep(desk: Desk, now: datetime) -> int:
    """Raise every service-level breach and incident whose time has come; returns how many were raised."""
    table = desk.store.shifts()
    raised = 0
    for chat in desk.store.open_chats():
        for breach in sla.due(rules.clock(chat), desk.policy.service_levels, table, now):
            raised += _raise(desk, chat, breach, table, now)
    return raised


def _raise(desk: Desk, chat: Chat, breach: sla.Breach, table: list[Shift], now: datetime) -> int:
    on_duty = sla.responsible_shift(breach, table)  # the shift whose running clock ran out
    # a missed offer goes back to the queue for someone else, and the consultant off the desk until they say they
    # are back (a consultant away from the screen keeps getting nothing)
    offered_to = chat.consultant_id if chat.status == "assigned" and breach.kind == "accept" else None

    def body(tx: Tx) -> int:
        before = desk.store.raise_breach(tx, chat.id, breach.key, offered_to)
        if before is None:
            return 0
        shift, lead = (on_duty.code, on_duty.team_lead_id) if on_duty else (None, None)
        if breach.kind == "incident":
            incident = Incident(id=ids.new_id("inc"), consultation_id=chat.id, opened_at=now, shift=shift,
                                team_lead_id=lead, waited_seconds=rules.waited_seconds(chat, now))
            desk.store.open_incident(tx, incident)
            tx.emit(ConsultationIncidentOpened(incident_id=incident.id, consultation_id=chat.id, shift=shift,
                                               team_lead_id=lead, waited_seconds=incident.waited_seconds),
                    subject=chat.id)
        else:
            tx.emit(ServiceLevelBreached(consultation_id=chat.id, kind=breach.kind, limit_seconds=breach.limit_seconds,
                                         consultant_id=before.consultant_id, shift=shift), subject=chat.id)
        return 1

    return desk.store.transact(body)


# the loop ------------------------------------------------------------------------------------------------------------
class DeskLoop(LeasedLoop):
    """Routing and the service-level clocks, in one process of intake at a time."""

    lease_name = "intake-desk"

    def __init__(self, store: Store, desk: Desk, lease_seconds: float, retry_max: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(store.db, lease_seconds=lease_seconds, poll_interval=desk.policy.poll_interval,
                         retry_max=retry_max)
        self.desk = desk
        self.clock = clock

    def round(self) -> int:
        now = self.clock()
        return route(self.desk, now) + sweep(self.desk, now)
