"""Service-level clocks of a chat: when the accept and answer limits and the unattended incident fall due.

The desk's rules (DOMAIN.md): accept a waiting chat within 25 seconds, answer each patient message within 60
seconds, and a patient left waiting with nobody on the chat is an incident with a responsible person. The
timer loop in the service reads each open chat's clock from storage, asks ``due`` which breaches to raise now
(it records their keys in ``raised`` so none is raised twice) and sleeps until ``next_due_at``.

The clocks count service time only (``shifts``): a chat opened at 23:30 starts its accept clock at 08:00 the
next morning, and a clock still running when the desk closes stops and resumes at the next opening. A limit
is reached at the instant its full length of service time has passed: at 25.0 seconds, not 24.9.

The answer clock of a patient message runs from the later of the message and the acceptance: before a
consultant is on the chat the accept clock and the incident cover the wait, and a consultant who accepts
gets the full answer time for a message posted before they took the chat.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Literal

from services.intake.desk.shifts import Shift, next_opening, responsible, service_end
from wenzhen.errors import InvalidInput, field_error
from wenzhen.timez import as_utc

BreachKind = Literal["accept", "answer", "incident"]
ACCEPT = "accept"
INCIDENT = "incident"


@dataclass(frozen=True)
class Policy:
    """The limits, in seconds of service time (the hospital may configure them)."""

    accept_seconds: int = 25
    answer_seconds: int = 60
    unattended_seconds: int = 120  # a chat not accepted this long after its clock started is an incident

    def __post_init__(self) -> None:
        errors = [field_error(item.name, "must be a whole number of seconds, 1 or more")
                  for item in fields(self)
                  if isinstance(getattr(self, item.name), bool) or not isinstance(getattr(self, item.name), int)
                  or getattr(self, item.name) < 1]
        if not errors and self.unattended_seconds < self.accept_seconds:
            errors.append(field_error("unattended_seconds", "must not be shorter than accept_seconds"))
        if errors:
            raise InvalidInput("The service-level policy is invalid.", errors)


@dataclass(frozen=True)
class ChatClock:
    """What the clocks need to know about one chat."""

    id: str
    opened_at: datetime
    accepted_at: datetime | None = None
    closed: bool = False
    awaiting_since: datetime | None = None  # the oldest patient message staff have not answered yet
    awaiting_seq: int | None = None  # that message's sequence number
    raised: frozenset[str] = field(default_factory=frozenset)  # keys of the breaches raised already

    def __post_init__(self) -> None:
        if (self.awaiting_since is None) != (self.awaiting_seq is None):
            raise InvalidInput("The chat clock is inconsistent.",
                               [field_error("awaiting_seq", "is set exactly when awaiting_since is")])


@dataclass(frozen=True)
class Breach:
    """A limit passed: ``key`` is unique per chat ("accept", "answer:<seq>", "incident")."""

    kind: BreachKind
    key: str
    limit_seconds: int
    due_at: datetime


def clock_start(at: datetime, shifts: Sequence[Shift]) -> datetime | None:
    """When a clock for something that happened at ``at`` (a chat opened, a message posted) starts running.

    ``at`` in service hours; otherwise the next opening. None when there are no shifts: the desk never opens,
    so no clock runs (``shifts.validate_shifts`` requires at least one shift).
    """
    return next_opening(shifts, at)


def service_deadline(start: datetime, seconds: float, shifts: Sequence[Shift]) -> datetime | None:
    """The moment ``seconds`` of service time have passed since ``start`` (pausing while the desk is closed)."""
    remaining = timedelta(seconds=seconds)
    at: datetime | None = as_utc(start)
    while True:
        at = next_opening(shifts, at)
        if at is None:
            return None
        end = service_end(shifts, at, until=at + remaining)
        if at + remaining <= end:
            return at + remaining
        remaining -= end - at
        at = end


def _pending(chat: ChatClock, policy: Policy, shifts: Sequence[Shift]) -> list[Breach]:
    """The breaches not raised yet that can still fall due, each with its due time, earliest first."""
    if chat.closed:
        return []
    found: list[Breach] = []

    def add(kind: BreachKind, key: str, limit: int, start: datetime) -> None:
        if key not in chat.raised:
            due_at = service_deadline(start, limit, shifts)
            if due_at is not None:
                found.append(Breach(kind=kind, key=key, limit_seconds=limit, due_at=due_at))

    if chat.accepted_at is None:
        add("accept", ACCEPT, policy.accept_seconds, chat.opened_at)
        add("incident", INCIDENT, policy.unattended_seconds, chat.opened_at)
    elif chat.awaiting_since is not None:
        start = max(as_utc(chat.awaiting_since), as_utc(chat.accepted_at))
        add("answer", f"answer:{chat.awaiting_seq}", policy.answer_seconds, start)
    return sorted(found, key=lambda breach: breach.due_at)


def due(chat: ChatClock, policy: Policy, shifts: Sequence[Shift], now: datetime) -> list[Breach]:
    """The breaches to raise at ``now``: due, not raised before, earliest first; none for a closed chat.

    * ``accept``: not accepted ``accept_seconds`` of service time after opening (only while still unaccepted);
    * ``incident``: not accepted ``unattended_seconds`` after opening: nobody is on the chat
      (``responsible_shift`` names the shift that answers for it);
    * ``answer:<seq>``: the oldest unanswered patient message of an accepted chat is ``answer_seconds`` old.
    """
    now = as_utc(now)
    return [breach for breach in _pending(chat, policy, shifts) if breach.due_at <= now]


def next_due_at(chat: ChatClock, policy: Policy, shifts: Sequence[Shift]) -> datetime | None:
    """The earliest due time of a breach not raised yet, so the timer loop can sleep until then.

    It may lie in the past (a breach overdue but not raised, e.g. after a restart): the loop then runs ``due``
    at once. None when nothing can fall due (closed, or accepted with no message waiting, or no shifts).
    """
    pending = _pending(chat, policy, shifts)
    return pending[0].due_at if pending else None


def responsible_shift(breach: Breach, shifts: Sequence[Shift]) -> Shift | None:
    """The shift that answers for ``breach``: the one responsible in the last instant its clock was running.

    That is just before ``due_at``: a limit reached exactly as a shift ends (23:00:00) is that shift's.
    """
    return responsible(shifts, as_utc(breach.due_at) - timedelta(microseconds=1))
