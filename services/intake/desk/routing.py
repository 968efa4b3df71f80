"""Which consultant gets which waiting chat, and what to tell a patient in the queue; pure functions.

A waiting chat must be accepted within 25 seconds (``sla``), so the desk offers chats to consultants instead of
letting them pick: by skill (the chat's department), by load (each consultant has a cap of concurrent chats)
and by waiting time, red-flag ("urgent") chats first. The service calls ``plan`` whenever something changes
(a chat opens or closes, a consultant signs in, a shift starts) and on its timer, with the state it read from
storage and an explicit ``now``; nothing here reads a clock or a database.

Who is a candidate for a chat (``plan``), in tiers:

1. consultants skilled in the chat's department; for a chat with no department yet, the generalists;
2. for a chat with a department, the generalists (an empty skill set means "takes any department"), who are
   there for exactly this;
3. only for an urgent chat, or one that has waited ``skill_wait_seconds`` or longer: any eligible consultant,
   so no patient waits for ever for a specialist who is not coming.

Eligible means: present (``available``), working a shift that is on duty now, below their cap, and not one of
the consultants who handed this chat on. Within a tier the least loaded (open chats ÷ cap) wins, then the one
whose last assignment is oldest (never assigned counts as oldest), then the order the agents were given in.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from wenzhen.errors import InvalidInput, field_error
from wenzhen.timez import as_utc


@dataclass(frozen=True)
class Agent:
    """A consultant as routing sees them now."""

    id: str
    skills: frozenset[str]  # department codes; empty: a generalist, takes any department
    max_chats: int  # concurrent chats this consultant may hold
    load: int  # open chats now
    available: bool  # presence: signed in and not on a break
    shifts: frozenset[str]  # codes of the shifts they work
    last_assigned_at: datetime | None = None


@dataclass(frozen=True)
class Waiting:
    """A chat waiting for a consultant."""

    id: str
    department: str | None
    urgent: bool  # red-flag symptoms: jumps the queue and does not wait for a specialist
    opened_at: datetime
    excluded: frozenset[str] = field(default_factory=frozenset)  # consultants who handed it on


def queue_order(waiting: Iterable[Waiting]) -> list[Waiting]:
    """Urgent chats first, then the longest waiting; equal ones keep the order given."""
    return sorted(waiting, key=lambda chat: (not chat.urgent, as_utc(chat.opened_at)))


def _eligible(agent: Agent, load: int, chat: Waiting, on_duty: set[str]) -> bool:
    return (agent.available and bool(agent.shifts & on_duty) and agent.max_chats > 0 and load < agent.max_chats
            and agent.id not in chat.excluded)


def _tiers(chat: Waiting, agents: list[Agent], now: datetime, skill_wait_seconds: float) -> list[list[Agent]]:
    """The candidate agents for ``chat`` by preference (see the module docstring)."""
    generalists = [agent for agent in agents if not agent.skills]
    if chat.department is None:
        tiers = [generalists]
    else:
        tiers = [[agent for agent in agents if chat.department in agent.skills], generalists]
    if chat.urgent or (as_utc(now) - as_utc(chat.opened_at)).total_seconds() >= skill_wait_seconds:
        tiers.append(agents)
    return tiers


def _rank(agent: Agent, load: int, last: datetime | None) -> tuple:
    return Fraction(load, agent.max_chats), last is not None, as_utc(last) if last is not None else None


def plan(waiting: Iterable[Waiting], agents: Sequence[Agent], on_duty: set[str], now: datetime,
         skill_wait_seconds: float = 30) -> list[tuple[str, str]]:
    """``(consultation id, agent id)`` offers for this round, greedily in queue order.

    Loads (and last-assignment times, set to ``now``) are updated as chats are placed, so one round never
    puts anyone over their cap and spreads equal work evenly. Chats with no candidate stay queued: they are
    simply absent from the result.
    """
    agents = list(agents)
    on_duty = set(on_duty)
    loads = {agent.id: agent.load for agent in agents}
    last = {agent.id: agent.last_assigned_at for agent in agents}
    offers: list[tuple[str, str]] = []
    for chat in queue_order(waiting):
        for tier in _tiers(chat, agents, now, skill_wait_seconds):
            candidates = [agent for agent in tier if _eligible(agent, loads[agent.id], chat, on_duty)]
            if candidates:
                chosen = min(candidates, key=lambda agent: _rank(agent, loads[agent.id], last[agent.id]))
                offers.append((chat.id, chosen.id))
                loads[chosen.id] += 1
                last[chosen.id] = now
                break
    return offers


def why_not_pick(agent: Agent | None, chat: Waiting, on_duty: set[str], now: datetime,
                 skill_wait_seconds: float = 30) -> str | None:
    """Why this consultant may not take ``chat`` from the queue themself, or None when they may.

    A consultant picks only from their own queue: the chats the router could offer them now (the rules of
    ``plan``: present, on a shift on duty, below their cap, not someone who handed it on, and in one of the
    chat's tiers). Whatever the router would not give them, picking does not either — a pick gives access to the
    patient's record, so it follows the same rule as an offer. (Team leads assign; they are not asked this.)
    """
    if agent is None:
        return "You are not on the desk's roster: go on the desk (presence) first."
    if not agent.available:
        return "You are not on the desk: set your presence to available first."
    if not agent.shifts & on_duty:
        return "None of your shifts is on duty now."
    if agent.load >= agent.max_chats:
        return f"You hold {agent.load} chats, your limit."
    if agent.id in chat.excluded:
        return "You handed this chat on."
    if not any(agent in tier for tier in _tiers(chat, [agent], now, skill_wait_seconds)):
        return f"This chat waits for a consultant skilled in {chat.department} (or a generalist) for now."
    return None


def position(waiting: Iterable[Waiting], consultation_id: str) -> int | None:
    """The chat's place in the queue (1 = next), or None when it is not waiting."""
    for place, chat in enumerate(queue_order(waiting), start=1):
        if chat.id == consultation_id:
            return place
    return None


def expected_wait_seconds(position: int, agents: Sequence[Agent], on_duty: set[str],
                          average_handle_seconds: float) -> int | None:
    """An honest estimate of the wait, in whole seconds (rounded up), for the chat at ``position``.

    Staffed consultants are those available and working an on-duty shift (with a cap above zero); their free
    slots are ``max_chats - load``. Then:

    * nobody staffed: None (the caller shows the opening time instead);
    * ``position`` ≤ free slots: 0 (a consultant can take the chat now);
    * otherwise ``(position - free slots) × average_handle_seconds ÷ staffed consultants``: the chats ahead
      fill the free slots at once, and each further place waits for one chat to end somewhere, the staffed
      consultants finishing one each ``average_handle_seconds`` between them. With no free slot this is
      ``position × average_handle_seconds ÷ staffed``.

    It ignores skills (a department chat may wait longer for its specialist) and handovers: it is a hint.
    """
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise InvalidInput("The queue position is invalid.", [field_error("position", "must be 1 or more")])
    if not average_handle_seconds >= 0 or math.isinf(average_handle_seconds):
        raise InvalidInput("The average handling time is invalid.",
                           [field_error("average_handle_seconds", "must be a finite number of seconds, 0 or more")])
    staffed = [agent for agent in agents
               if agent.available and agent.max_chats > 0 and agent.shifts & set(on_duty)]
    if not staffed:
        return None
    free = sum(max(0, agent.max_chats - agent.load) for agent in staffed)
    if position <= free:
        return 0
    return math.ceil((position - free) * average_handle_seconds / len(staffed))
