"""The desk's decisions about a chat, pure: what a chat is (:class:`Chat`), who may read and act on it, who writes as
whom, the system's texts, what a reply template is filled with, the confirmation of a booking, the structured
history's view, and the policy the settings make. Routing, shifts and service levels have modules of their own
(``routing.py``, ``shifts.py``, ``sla.py``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts.intake.consultations import QueueItem
from contracts.intake.history import SECTIONS, History
from services.intake.desk import routing, sla
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, NotFound
from wenzhen.timez import as_utc

# A consultant who takes a chat naming a patient may read that patient's record while the chat needs it: from taking
# it until it is handed on, or until a day after it closes (the chat's marks, renaming the visitor, the follow-up
# call); at most a day from taking it while it stays open without being closed (a chat is a conversation, not a
# standing relationship: the doctor of an appointment has one of those).
CHAT_CARE = timedelta(days=1)
CHAT_CARE_AFTER_CLOSE = timedelta(days=1)

PATIENT_SIDE = (Role.patient, Role.visitor)
STAFF_SIDE = (Role.consultant, Role.team_lead)
PATIENT_AUTHORS = ("patient", "visitor")
STAFF_AUTHORS = ("consultant", "team_lead")
OPEN = ("queued", "assigned", "active")

AUTO_REPLY_EVERY = timedelta(hours=1)  # out of hours, one automatic reply per hour of patient messages is enough
DEFAULT_HANDLE_SECONDS = 300.0
STATUS_TEXT = {
    "accepted": {"zh": "咨询师已接入，正在查看您的问题。",
                 "en": "A consultant has joined and is reading your question."},
    "transferred": {"zh": "正在为您转接给同事，请稍候。",
                    "en": "Transferring you to a colleague, one moment please."},
    "closed": {"zh": "本次咨询已结束，祝您早日康复。",
               "en": "This consultation has ended. We wish you a speedy recovery."},
}


@dataclass(frozen=True)
class Chat:
    """A consultation as the desk works with it (``store.DeskStore``'s typed record; no message text, no history)."""

    id: str
    channel: str
    status: str
    opened_at: datetime
    language: str = "zh"
    department: str | None = None
    department_source: str | None = None
    urgent: bool = False
    red_flags: tuple[str, ...] = ()
    visitor_id: str | None = None
    account_id: str | None = None
    patient_id: str | None = None
    consultant_id: str | None = None
    staff_ids: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # consultants who handed it on
    seq: int = 0  # the last message's number
    read: dict[str, int] = field(default_factory=dict)  # side -> last seq read
    accepted_at: datetime | None = None
    awaiting_since: datetime | None = None  # the oldest patient message staff have not answered
    awaiting_seq: int | None = None
    last_side: str | None = None  # who wrote last: patient or staff
    sla_raised: tuple[str, ...] = ()  # keys of the breaches raised already
    in_service_hours: bool = True  # opened in service hours
    auto_replied_at: datetime | None = None
    escalated: bool = False  # handed to the team lead
    outcome: str | None = None
    disease_category: str | None = None
    tags: tuple[str, ...] = ()
    rating: int | None = None
    closed_at: datetime | None = None
    history_completion: dict[str, bool] = field(default_factory=dict)
    follow_up_eligible: bool = False
    has_history: bool = False


@dataclass(frozen=True)
class DeskPolicy:
    """What the settings decide for the desk (``IntakeSettings.desk``)."""

    service_levels: sla.Policy = field(default_factory=sla.Policy)
    skill_wait_seconds: float = 15
    transcript_retention: timedelta = timedelta(days=1096)
    attachment_max_bytes: int = 10_485_760
    poll_interval: float = 0.5


@dataclass(frozen=True)
class Incident:
    id: str
    consultation_id: str
    opened_at: datetime
    shift: str | None
    team_lead_id: str | None
    waited_seconds: int


# who may see and act -------------------------------------------------------------------------------------------------
def side(principal: Principal) -> str:
    return "patient" if principal.has_role(*PATIENT_SIDE) else "staff"


def author(principal: Principal) -> str:
    """Who a message is from: the role of a person, else the system."""
    return principal.role.value if principal.kind == "user" and principal.role else "system"


def may_read(principal: Principal, chat: Chat, linked: Callable[[], set[str]]) -> bool:
    """* a visitor: the chats they opened; * a patient account: those it opened and those of patients it acts for
    (``linked()``: intake's live links, asked only when it matters); * a team lead: every chat; * a consultant: the
    chat they are on, chats they were on before, and waiting chats (to pick one); * nobody else."""
    if principal.has_role(Role.visitor):
        return chat.visitor_id == principal.sub
    if principal.has_role(Role.patient):
        if chat.account_id == principal.sub:
            return True
        return chat.patient_id is not None and chat.patient_id in linked()
    if principal.has_role(Role.team_lead):
        return True
    if principal.has_role(Role.consultant):
        return chat.consultant_id == principal.sub or principal.sub in chat.staff_ids or chat.status == "queued"
    return False


def may_act(principal: Principal, chat: Chat, linked: Callable[[], set[str]]) -> bool:
    """Write: the patient side on its own chat, the consultant on the chat, any team lead."""
    if principal.has_role(*PATIENT_SIDE):
        return may_read(principal, chat, linked)
    if principal.has_role(Role.team_lead):
        return True
    return principal.has_role(Role.consultant) and chat.consultant_id == principal.sub


def not_found(consultation_id: str) -> NotFound:
    return NotFound(f"No consultation with id {consultation_id}.")


def require_staff(principal: Principal) -> str:
    if not principal.has_role(*STAFF_SIDE):
        raise Forbidden("Only consultants and team leads take chats.")
    return principal.sub


def transfer_target_is_team_lead(reason: str) -> bool:
    return reason in ("team_lead", "abusive")


# texts ---------------------------------------------------------------------------------------------------------------
def template_values(language: str | None, surname: str | None, department: str | None,
                    names: Callable[[], dict[str, tuple[str, str]]]) -> dict[str, str]:
    """What a chat fills in a reply template by itself: the patient's surname and the department's name (``names()``:
    code -> (Chinese, English), asked only when there is a department)."""
    values: dict[str, str] = {}
    if surname:
        values["surname"] = surname
    if department:
        zh, en = names().get(department, (department, department))
        values["department"] = en if language == "en" else zh
    return values


def booking_text(appointment: dict, language: str) -> str:
    """The confirmation posted in the chat: department, time in the hospital's zone, room or online, and the payment
    deadline when the booking is held for prepayment."""
    zh = appointment.get("department_zh") or appointment["department"]
    en = appointment.get("department_en") or appointment["department"]
    when = appointment["start"][:16].replace("T", " ")
    where = ("线上视频" if language == "zh" else "online video") if appointment["online"] else (
        appointment.get("room_name") or appointment.get("room") or "")
    text = f"已为您预约：{zh}，{when}，{where}。" if language == "zh" else f"Booked for you: {en}, {when}, {where}."
    if appointment.get("prepayment") and appointment.get("hold_expires_at"):
        text += (f"请在 {appointment['hold_expires_at'][11:16]} 前完成支付，否则号源将自动释放。" if language == "zh"
                 else f" Please pay by {appointment['hold_expires_at'][11:16]}, or the place is released.")
    if appointment.get("notice"):
        text += " " + appointment["notice"]
    return text


def wants_auto_reply(last: datetime | None, now: datetime) -> bool:
    return last is None or now - as_utc(last) >= AUTO_REPLY_EVERY


# the structured history -----------------------------------------------------------------------------------------------
def history_view(consultation_id: str, sections: dict[str, dict]) -> History:
    parsed = {name: SECTIONS[name].model_validate(sections.get(name, {})) for name in SECTIONS}
    completion = {name: section.complete() for name, section in parsed.items()}
    return History(consultation_id=consultation_id, sections={n: s.model_dump() for n, s in parsed.items()},
                   completion=completion, complete=all(completion.values()),
                   follow_up_eligible=parsed["follow_up"].eligible())


def history_texts(sections: dict[str, dict]) -> list[str]:
    """The free text of a history (for the red-flag and department rules)."""
    out: list[str] = []
    for section in sections.values():
        for value in section.values():
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, str))
    return out


# routing and clocks, from a chat -------------------------------------------------------------------------------------
def waiting(chat: Chat) -> routing.Waiting:
    return routing.Waiting(id=chat.id, department=chat.department, urgent=chat.urgent,
                           opened_at=as_utc(chat.opened_at), excluded=frozenset(chat.excluded))


def clock(chat: Chat) -> sla.ChatClock:
    return sla.ChatClock(id=chat.id, opened_at=as_utc(chat.opened_at),
                         accepted_at=as_utc(chat.accepted_at) if chat.accepted_at else None,
                         closed=chat.status == "closed",
                         awaiting_since=as_utc(chat.awaiting_since) if chat.awaiting_since else None,
                         awaiting_seq=chat.awaiting_seq, raised=frozenset(chat.sla_raised))


def average_handle_seconds(durations: list[float]) -> float:
    return sum(durations) / len(durations) if durations else DEFAULT_HANDLE_SECONDS


def waited_seconds(chat: Chat, now: datetime) -> int:
    return int((now - as_utc(chat.opened_at)).total_seconds())


def queue_item(chat: Chat, now: datetime, with_consultant: bool = True) -> QueueItem:
    return QueueItem(id=chat.id, channel=chat.channel, department=chat.department, urgent=chat.urgent,
                     status=chat.status, consultant_id=chat.consultant_id if with_consultant else None,
                     waited_seconds=waited_seconds(chat, now))


def whole_ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
