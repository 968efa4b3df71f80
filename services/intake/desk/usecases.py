"""The chat's operations: opening, the conversation, taking it on, handing it over, linking the visitor to a patient,
closing and marking it, files, the structured history, the triage advice and booking from the chat. Each is
authorize → store → emit → audit, in one transaction where it changes something.

Messages are kept in order by a per-consultation sequence number taken in the same transaction that stores the
message and its event, so both sides and every subscriber see one order. Each message from the patient side is
checked for red flags before anything else happens to it: on a hit the emergency advice is stored right behind it, in
the same transaction, the chat becomes urgent (it jumps the queue) and ``red_flag_raised`` tells the team lead —
routing never stands between a patient in danger and that advice.

The desk's use cases get a :class:`Desk`: its store and policy, and the two capabilities it asks through their narrow
interfaces (``patients.usecases.PatientAccess``, ``triage.usecases.TriageRules``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from contracts.intake.consultations import (
    Close,
    Consultation,
    ConsultationOpen,
    DepartmentChoice,
    DoctorPreference,
    ExampleMark,
    Message,
    MessageInput,
    Messages,
    Opened,
    QueueInfo,
    Rating,
    Transfer,
    TriageAdvice,
)
from contracts.intake.events import (
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationClosed,
    ConsultationExampleMarked,
    ConsultationIntakeCompleted,
    ConsultationMessagePosted,
    ConsultationOpened,
    ConsultationPatientLinked,
    ConsultationRated,
    ConsultationRead,
    ConsultationTransferred,
    RedFlagRaised,
    TriageRecommended,
)
from contracts.intake.history import SECTIONS, History, HistoryPatch
from services.intake.desk import files, routing, rules, shifts
from services.intake.desk.rules import (
    CHAT_CARE,
    CHAT_CARE_AFTER_CLOSE,
    OPEN,
    PATIENT_SIDE,
    STAFF_SIDE,
    Chat,
    DeskPolicy,
)
from services.intake.desk.store import AlreadyPosted, DeskStore
from services.intake.patients.usecases import PatientAccess
from services.intake.triage.advice import DoctorProfile
from services.intake.triage.usecases import TriageRules
from wenzhen import audit, ids
from wenzhen import files as shared_files
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import as_utc, to_local_iso

# ``render(article_id, values)``: the knowledge base's template filled (``knowledge.usecases.render_article``)
Render = Callable[[str, dict], str]
# ``doctors(department)``: the department's doctors and their free places in the next days (None: unknown)
DoctorSource = Callable[[str], tuple[list[DoctorProfile], dict[str, int] | None]]
# ``book(consultation_id, appointment_request, idempotency_key)``: booking's ``book_for_consultation``
Book = Callable[[str, dict, str | None], dict]


@dataclass(frozen=True)
class Desk:
    """What the desk's use cases work with."""

    store: DeskStore
    patients: PatientAccess  # who may see a patient, an account's links, care relationships, a surname
    triage: TriageRules  # red flags, the department guess and advice, the departments' names
    policy: DeskPolicy


# loading a chat ------------------------------------------------------------------------------------------------------
def load(desk: Desk, caller: Caller, consultation_id: str, *, act: bool = False, subtype: str = "read",
         tx: Tx | None = None) -> Chat:
    """The chat when the caller may read it (or act on it); a refusal is audited and looks like a missing chat."""
    chat = desk.store.chat(consultation_id, tx)
    principal = caller.principal

    def linked() -> set[str]:
        return desk.patients.linked(principal.sub, tx)

    allowed = chat is not None and (rules.may_act(principal, chat, linked) if act
                                    else rules.may_read(principal, chat, linked))
    if not allowed:
        audit.record(tx if tx is not None else desk.store, caller, UPDATE if act else READ, subtype, "Consultation",
                     consultation_id, patient_id=chat.patient_id if chat else None, outcome=Outcome.denied)
        raise rules.not_found(consultation_id)
    return chat


# posting (inside a transaction) --------------------------------------------------------------------------------------
def _post(desk: Desk, tx: Tx, consultation_id: str, *, author: str, kind: str, text: str | None = None,
          author_id: str | None = None, attachment: dict | None = None, client_id: str | None = None,
          now: datetime) -> Message:
    """Store one message at the next position, with its event."""
    message = desk.store.append_message(tx, consultation_id, author=author, kind=kind, text=text,
                                        author_id=author_id, attachment=attachment, client_id=client_id, now=now)
    tx.emit(ConsultationMessagePosted(consultation_id=consultation_id, message_id=message.id, seq=message.seq,
                                      author=author, kind=kind), subject=consultation_id)
    return message


def check_red_flags(desk: Desk, tx: Tx, chat: Chat, texts: list[str], found_in: str, now: datetime
                    ) -> list[Message]:
    """Emergency advice and an alert for red flags not raised in this chat before; returns the advice message."""
    fresh, version = desk.triage.red_flags(texts, chat.red_flags, tx)
    if not fresh:
        return []
    desk.store.mark_urgent(tx, chat.id, fresh)
    advice = _post(desk, tx, chat.id, author="system", kind="emergency",
                   text=desk.triage.emergency_advice(chat.language), now=now)
    tx.emit(RedFlagRaised(consultation_id=chat.id, codes=fresh, found_in=found_in, rules_version=version,
                          patient_id=chat.patient_id), subject=chat.id)
    return [advice]


def _auto_reply(desk: Desk, tx: Tx, chat: Chat, now: datetime) -> list[Message]:
    """Out of service hours: say when the next shift opens (at most once an hour); the chat stays queued."""
    table = desk.store.shifts(tx)
    if shifts.in_service(table, now) or not rules.wants_auto_reply(chat.auto_replied_at, now):
        return []
    desk.store.set_auto_replied(tx, chat.id, now)
    text = shifts.opening_text(shifts.next_opening(table, now))[chat.language]
    return [_post(desk, tx, chat.id, author="system", kind="auto_reply", text=text, now=now)]


# viewing -------------------------------------------------------------------------------------------------------------
def queue_info(desk: Desk, chat: Chat, now: datetime) -> QueueInfo | None:
    """The patient's place in the queue and an estimate of the wait, or the next opening out of hours."""
    if chat.status not in ("queued", "assigned"):
        return None
    table = desk.store.shifts()
    if not shifts.in_service(table, now):
        opening = shifts.next_opening(table, now)
        return QueueInfo(next_opening=to_local_iso(opening) if opening else None)
    if chat.status == "assigned":
        return QueueInfo(position=0, expected_wait_seconds=0)
    position = routing.position([rules.waiting(c) for c in desk.store.queued()], chat.id)
    on_duty = {s.code for s in shifts.active(table, now)}
    wait = routing.expected_wait_seconds(position, desk.store.agents(), on_duty,
                                         rules.average_handle_seconds(desk.store.handle_seconds(50))) \
        if position is not None else None
    return QueueInfo(position=position, expected_wait_seconds=wait)


def view(desk: Desk, caller: Caller, chat: Chat, now: datetime) -> Consultation:
    reader = rules.side(caller.principal)
    read_up_to = chat.read.get(reader, 0)
    own = rules.PATIENT_AUTHORS if reader == "patient" else rules.STAFF_AUTHORS
    unread = desk.store.unread(chat.id, read_up_to, own) if read_up_to < chat.seq else 0
    return Consultation(
        id=chat.id, status=chat.status, channel=chat.channel, opened_at=to_local_iso(chat.opened_at),
        department=chat.department, department_source=chat.department_source, urgent=chat.urgent,
        red_flags=list(chat.red_flags), patient_id=chat.patient_id,
        visitor=chat.visitor_id is not None and chat.patient_id is None, consultant_id=chat.consultant_id,
        accepted_at=to_local_iso(chat.accepted_at) if chat.accepted_at else None, last_seq=chat.seq,
        unread=max(0, unread), read=chat.read, queue=queue_info(desk, chat, now),
        in_service_hours=chat.in_service_hours, outcome=chat.outcome, disease_category=chat.disease_category,
        tags=list(chat.tags), rating=chat.rating, closed_at=to_local_iso(chat.closed_at) if chat.closed_at else None,
        history_completion=chat.history_completion, follow_up_eligible=chat.follow_up_eligible)


def get(desk: Desk, caller: Caller, consultation_id: str, now: datetime) -> Consultation:
    chat = load(desk, caller, consultation_id)
    audit.record(desk.store, caller, READ, "read", "Consultation", consultation_id, patient_id=chat.patient_id)
    return view(desk, caller, chat, now)


def mine(desk: Desk, caller: Caller, include_closed: bool, now: datetime, limit: int = 50) -> list[Consultation]:
    """A patient's or visitor's consultations; a consultant's or team lead's current chats."""
    p = caller.principal
    if p.has_role(Role.visitor):
        found = desk.store.chats_of(visitor_id=p.sub, include_closed=include_closed, limit=limit)
    elif p.has_role(Role.patient):
        found = desk.store.chats_of(account_id=p.sub, patient_ids=desk.patients.linked(p.sub),
                                    include_closed=include_closed, limit=limit)
    elif p.has_role(*STAFF_SIDE):
        found = desk.store.chats_of(consultant_id=p.sub, include_closed=include_closed, limit=limit)
    else:
        raise Forbidden("Only patients, visitors and consultants have consultations.")
    return [view(desk, caller, chat, now) for chat in found]


# opening -------------------------------------------------------------------------------------------------------------
def open_consultation(desk: Desk, caller: Caller, request: ConsultationOpen, now: datetime) -> Opened:
    """A visitor or patient opens a chat with a first message; a consultant or team lead logs a phone call (the chat
    is then theirs at once). The department is the patient's choice or the first triage guess from the text."""
    p = caller.principal
    logged_call = p.has_role(*STAFF_SIDE)
    if not (p.has_role(*PATIENT_SIDE) or logged_call):
        raise Forbidden("Consultations are opened by patients, visitors, or consultants logging a call.")
    if logged_call and request.channel != "phone":
        raise InvalidInput("Staff open consultations only to log a phone call.",
                           [field_error("channel", "must be phone for a consultation opened by staff")])
    if request.patient_id:
        if p.has_role(Role.visitor):
            raise InvalidInput("A visitor cannot name a patient record; sign in first.",
                               [field_error("patient_id", "not allowed for an anonymous visitor")])
        if not desk.patients.may_see(caller, request.patient_id, now):
            raise NotFound(f"No patient with id {request.patient_id}.")
    department, source = request.department, "patient" if request.department else None
    if department is None:
        department = desk.triage.guess_department(request.message)
        source = "triage" if department else None
    in_service = shifts.in_service(desk.store.shifts(), now)
    chat = Chat(id=ids.new_id("con"), channel=request.channel.value, status="active" if logged_call else "queued",
                opened_at=now, language=request.language, department=department, department_source=source,
                visitor_id=p.sub if p.has_role(Role.visitor) else None,
                account_id=p.sub if p.has_role(Role.patient) else None, patient_id=request.patient_id,
                consultant_id=p.sub if logged_call else None, staff_ids=(p.sub,) if logged_call else (),
                accepted_at=now if logged_call else None, in_service_hours=in_service)
    cid = chat.id

    def body(tx: Tx) -> list[Message]:
        desk.store.insert_chat(tx, chat, now)
        tx.emit(ConsultationOpened(consultation_id=cid, channel=chat.channel, department=department,
                                   department_source=source, patient_id=request.patient_id,
                                   visitor=chat.visitor_id is not None, in_service_hours=in_service), subject=cid)
        first = _post(desk, tx, cid, author="visitor" if p.has_role(Role.visitor) else "patient", kind="text",
                      text=request.message, now=now)
        replies = check_red_flags(desk, tx, chat, [request.message], "message", now)
        if not logged_call:
            replies += _auto_reply(desk, tx, chat, now)
        if logged_call and request.patient_id:
            desk.patients.grant_care(tx, p.sub, request.patient_id, "consultation", cid, now, now + CHAT_CARE)
        audit.record(tx, caller, CREATE, "create", "Consultation", cid, patient_id=request.patient_id)
        return [first, *replies]

    posted = desk.store.transact(body)
    return Opened(consultation=view(desk, caller, desk.store.chat(cid), now), messages=posted)


# the conversation ----------------------------------------------------------------------------------------------------
def post_message(desk: Desk, caller: Caller, consultation_id: str, message: MessageInput, now: datetime,
                 render: Render | None = None) -> list[Message]:
    """Store a message; returns it followed by any system message it caused (emergency advice, automatic reply).
    A retried post with the same ``client_id`` returns the first one and stores nothing new."""
    chat = load(desk, caller, consultation_id, act=True, subtype="message")
    if message.client_id:
        earlier = desk.store.message_by_client_id(consultation_id, message.client_id)
        if earlier is not None:
            return [earlier]
    author = rules.author(caller.principal)
    from_staff = author in rules.STAFF_AUTHORS
    if from_staff and chat.status != "active":
        raise Conflict("Accept the consultation before writing in it.")
    text = message.text
    if message.template_id is not None:
        if rules.side(caller.principal) != "staff" or render is None:
            raise Forbidden("Only staff insert knowledge-base templates.")
        surname = desk.patients.surname(chat.patient_id) if chat.patient_id else None
        values = rules.template_values(chat.language, surname, chat.department, desk.triage.department_names)
        text = render(message.template_id, {**values, **message.values})

    def body(tx: Tx) -> list[Message]:
        stored = _post(desk, tx, consultation_id, author=author, kind="text", text=text,
                       author_id=caller.principal.sub if from_staff else None, client_id=message.client_id, now=now)
        replies: list[Message] = []
        if author in rules.PATIENT_AUTHORS:
            replies = check_red_flags(desk, tx, chat, [text], "message", now) + _auto_reply(desk, tx, chat, now)
        return [stored, *replies]

    try:
        return desk.store.transact(body)
    except AlreadyPosted:  # the same client_id raced itself: the other attempt stored it
        earlier = desk.store.message_by_client_id(consultation_id, message.client_id)
        if earlier is None:
            raise
        return [earlier]


def messages(desk: Desk, caller: Caller, consultation_id: str, after: int = 0, limit: int = 100) -> Messages:
    chat = load(desk, caller, consultation_id)
    items = desk.store.messages(consultation_id, after, limit)
    audit.record(desk.store, caller, READ, "read", "Communication", consultation_id, patient_id=chat.patient_id,
                 detail=f"seq>{after}")
    return Messages(items=items, last_seq=chat.seq, read=chat.read)


def mark_read(desk: Desk, caller: Caller, consultation_id: str, seq: int) -> dict[str, int]:
    reader = rules.side(caller.principal)
    chat = load(desk, caller, consultation_id, act=reader == "patient", subtype="read-receipt")
    if seq > chat.seq:
        raise InvalidInput("That message does not exist yet.", [field_error("seq", f"at most {chat.seq}")])

    def body(tx: Tx) -> dict[str, int]:
        before = desk.store.raise_read(tx, consultation_id, reader, seq)
        if before.get(reader, 0) < seq:
            tx.emit(ConsultationRead(consultation_id=consultation_id, side=reader, seq=seq), subject=consultation_id)
        return {**before, reader: max(seq, before.get(reader, 0))}

    return desk.store.transact(body)


# taking a chat on, handing it over -----------------------------------------------------------------------------------
def _took_on(desk: Desk, tx: Tx, caller: Caller, chat: Chat, now: datetime) -> None:
    me = caller.principal.sub
    if chat.last_side == "patient":  # the patient is waiting for an answer from now on
        desk.store.await_answer(tx, chat.id, now, chat.seq)
    if chat.patient_id:
        desk.patients.grant_care(tx, me, chat.patient_id, "consultation", chat.id, now, now + CHAT_CARE)
    desk.store.resolve_incident(tx, chat.id, now)
    tx.emit(ConsultationAccepted(consultation_id=chat.id, consultant_id=me,
                                 waited_ms=rules.whole_ms(now - as_utc(chat.opened_at))), subject=chat.id)
    _post(desk, tx, chat.id, author="system", kind="status", text=rules.STATUS_TEXT["accepted"][chat.language],
          now=now)
    audit.record(tx, caller, UPDATE, "accept", "Consultation", chat.id, patient_id=chat.patient_id)


def accept(desk: Desk, caller: Caller, consultation_id: str, now: datetime) -> Consultation:
    """The consultant accepts the chat offered to them."""
    me = rules.require_staff(caller.principal)

    def body(tx: Tx) -> Chat | None:
        chat = desk.store.accept(tx, consultation_id, me, now)
        if chat is not None:
            _took_on(desk, tx, caller, chat, now)
        return chat

    chat = desk.store.transact(body)
    if chat is None:
        load(desk, caller, consultation_id)  # 404 when the caller may not even see it
        raise Conflict("This consultation is not offered to you (it was accepted, re-queued or closed).")
    return view(desk, caller, chat, now)


def picker(desk: Desk, consultant_id: str, now: datetime) -> Callable[[Chat], str | None]:
    """For one consultant now (the shifts and the roster read once): why they may not take a waiting chat from the
    queue themself (``routing.why_not_pick``), or None."""
    on_duty = {s.code for s in shifts.active(desk.store.shifts(), now)}
    agent = next((a for a in desk.store.agents() if a.id == consultant_id), None)

    def why_not(chat: Chat) -> str | None:
        if chat.escalated:
            return "This chat was handed to the team lead; a team lead takes it."
        return routing.why_not_pick(agent, rules.waiting(chat), on_duty, now, desk.policy.skill_wait_seconds)

    return why_not


def pick(desk: Desk, caller: Caller, consultation_id: str, now: datetime) -> Consultation:
    """A team lead takes (or a consultant takes from their own queue) a waiting chat: offered and accepted in one
    step. A consultant may pick only what the router could offer them now (``routing.why_not_pick``): on the desk,
    on a shift on duty, below their limit and in the chat's tier of skills. Picking gives access to the patient's
    record, so it is no wider than an offer."""
    me = rules.require_staff(caller.principal)
    if caller.principal.has_role(Role.consultant):
        queued = load(desk, caller, consultation_id)  # 404 for a chat the consultant may not see at all
        if queued.status == "queued":
            refusal = picker(desk, me, now)(queued)
            if refusal is not None:
                audit.record(desk.store, caller, UPDATE, "pick", "Consultation", consultation_id,
                             patient_id=queued.patient_id, outcome=Outcome.denied)
                raise Conflict(f"Not in your queue: {refusal}", [field_error("consultation_id", refusal, "queue")])

    def body(tx: Tx) -> Chat | None:
        chat = desk.store.pick(tx, consultation_id, me, now)
        if chat is None:
            return None
        tx.emit(ConsultationAssigned(consultation_id=consultation_id, consultant_id=me, by="pick"),
                subject=consultation_id)
        _took_on(desk, tx, caller, chat, now)
        return chat

    chat = desk.store.transact(body)
    if chat is None:
        load(desk, caller, consultation_id)
        raise Conflict("This consultation is no longer waiting.")
    return view(desk, caller, chat, now)


def transfer(desk: Desk, caller: Caller, consultation_id: str, request: Transfer, now: datetime) -> Consultation:
    """Hand the chat to a colleague (who accepts it) or to the team lead on duty (abusive visitors too). The one who
    handed it on loses the care relationship the chat gave them at once."""
    me = rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id, act=True, subtype="transfer")
    if chat.status not in OPEN:
        raise Conflict("The consultation is closed.")
    table = desk.store.shifts()
    target = request.to
    if target is None or rules.transfer_target_is_team_lead(request.reason):
        on_duty = shifts.responsible(table, now)
        target = request.to or (on_duty.team_lead_id if on_duty else None)
    if target is not None:
        if target == chat.consultant_id:
            raise InvalidInput("The chat is already theirs.", [field_error("to", "is the current consultant")])
        leads = {s.team_lead_id for s in table if s.team_lead_id}
        if target not in leads and not desk.store.on_roster(target):
            raise InvalidInput("Not a consultant on the desk.", [field_error("to", "no such consultant on the roster")])
    previous = chat.consultant_id or me

    def body(tx: Tx) -> Chat:
        changed = desk.store.transfer(tx, consultation_id, chat.consultant_id, target, previous, request.reason,
                                      request.note, now)
        if changed is None:
            raise Conflict("The consultation changed hands meanwhile; reload it.")
        desk.patients.end_care(tx, "consultation", consultation_id, now, staff_id=previous)  # handed on: not theirs
        tx.emit(ConsultationTransferred(consultation_id=consultation_id, from_consultant_id=previous,
                                        to_consultant_id=target or "queue", reason=request.reason),
                subject=consultation_id)
        _post(desk, tx, consultation_id, author="system", kind="status",
              text=rules.STATUS_TEXT["transferred"][chat.language], now=now)
        audit.record(tx, caller, UPDATE, "transfer", "Consultation", consultation_id, patient_id=chat.patient_id)
        return changed

    return view(desk, caller, desk.store.transact(body), now)


def handover_notes(desk: Desk, caller: Caller, consultation_id: str) -> list[dict]:
    """The transfer notes (staff only: they are about the patient, for the next consultant)."""
    rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id)
    audit.record(desk.store, caller, READ, "read", "ConsultationHandover", consultation_id, patient_id=chat.patient_id)
    return desk.store.handover_notes(consultation_id)


def link_patient(desk: Desk, caller: Caller, consultation_id: str, patient_id: str, now: datetime) -> Consultation:
    """"Rename the visitor": the consultation (and the same visitor's other ones) now belong to a registered patient
    the staff member may see (e.g. one they just registered)."""
    rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id, act=True, subtype="link-patient")
    if chat.patient_id not in (None, patient_id):
        raise Conflict("The consultation belongs to another patient already.")
    if not desk.patients.exists(patient_id) or not desk.patients.may_see(caller, patient_id, now):
        raise InvalidInput("No such patient in your care.", [field_error("patient_id", "no patient you may see")])

    def body(tx: Tx) -> None:
        for linked_id in desk.store.link_patient(tx, consultation_id, chat.visitor_id, patient_id):
            tx.emit(ConsultationPatientLinked(consultation_id=linked_id, patient_id=patient_id), subject=linked_id)
        audit.record(tx, caller, UPDATE, "link-patient", "Consultation", consultation_id, patient_id=patient_id)

    desk.store.transact(body)
    return view(desk, caller, desk.store.chat(consultation_id), now)


# closing -------------------------------------------------------------------------------------------------------------
def close(desk: Desk, caller: Caller, consultation_id: str, request: Close, now: datetime) -> Consultation:
    """Outcome, disease category and tags for the statistics; the transcript is kept ``transcript_retention``. The
    consultant's care relationship ends a day after."""
    rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id, act=True, subtype="close")
    keep_until = now + desk.policy.transcript_retention

    def body(tx: Tx) -> Chat:
        _post(desk, tx, consultation_id, author="system", kind="status",
              text=rules.STATUS_TEXT["closed"][chat.language], now=now)
        closed = desk.store.close(tx, consultation_id, caller.principal.sub, request.outcome.value,
                                  request.disease_category, request.tags, request.note, keep_until, now)
        if closed is None:
            raise Conflict("The consultation is closed already.")
        desk.store.resolve_incident(tx, consultation_id, now)
        desk.patients.end_care(tx, "consultation", consultation_id, now + CHAT_CARE_AFTER_CLOSE)
        tx.emit(ConsultationClosed(consultation_id=consultation_id, outcome=request.outcome.value,
                                   disease_category=request.disease_category, tags=request.tags,
                                   department=closed.department, channel=closed.channel,
                                   consultant_id=closed.consultant_id, patient_id=closed.patient_id,
                                   messages=closed.seq, duration_seconds=rules.waited_seconds(closed, now)),
                subject=consultation_id)
        audit.record(tx, caller, UPDATE, "close", "Consultation", consultation_id, patient_id=chat.patient_id)
        return closed

    try:
        closed = desk.store.transact(body)
    except Conflict:
        raise Conflict("The consultation is closed already.") from None
    return view(desk, caller, closed, now)


def rate(desk: Desk, caller: Caller, consultation_id: str, request: Rating, now: datetime) -> Consultation:
    if not caller.principal.has_role(*PATIENT_SIDE):
        raise Forbidden("Patients rate their consultations.")
    chat = load(desk, caller, consultation_id, act=True, subtype="rate")
    if chat.status != "closed":
        raise Conflict("Rate a consultation once it is closed.")

    def body(tx: Tx) -> Chat | None:
        rated = desk.store.rate(tx, consultation_id, request.rating, request.comment)
        if rated is not None:
            tx.emit(ConsultationRated(consultation_id=consultation_id, rating=request.rating,
                                      consultant_id=rated.consultant_id), subject=consultation_id)
        return rated

    rated = desk.store.transact(body)
    if rated is None:
        raise Conflict("This consultation has been rated already.")
    return view(desk, caller, rated, now)


def mark_example(desk: Desk, caller: Caller, consultation_id: str, request: ExampleMark, now: datetime) -> dict:
    """A consultant saves a chat they handled as a satisfied or unsatisfied example for training."""
    me = rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id, subtype="mark-example")
    if me not in chat.staff_ids and not caller.principal.has_role(Role.team_lead):
        raise Forbidden("Mark chats you handled.")

    def body(tx: Tx) -> None:
        desk.store.mark_example(tx, consultation_id, request.example, request.title, me, now)
        tx.emit(ConsultationExampleMarked(consultation_id=consultation_id, consultant_id=me, example=request.example),
                subject=consultation_id)

    desk.store.transact(body)
    return {"consultation_id": consultation_id, "example": request.example, "title": request.title}


def examples(desk: Desk, caller: Caller, limit: int = 50) -> list[dict]:
    """Saved training examples (team leads see all, consultants their own)."""
    me = rules.require_staff(caller.principal)
    return desk.store.examples(None if caller.principal.has_role(Role.team_lead) else me, limit)


# files ---------------------------------------------------------------------------------------------------------------
def post_attachment(desk: Desk, caller: Caller, consultation_id: str, data: bytes, name: str | None,
                    now: datetime) -> list[Message]:
    """Share a photo, short video or document in the chat: stored encrypted, then posted as a message."""
    chat = load(desk, caller, consultation_id, act=True, subtype="attachment")
    author = rules.author(caller.principal)
    from_staff = author in rules.STAFF_AUTHORS
    if from_staff and chat.status != "active":
        raise Conflict("Accept the consultation before writing in it.")
    if chat.status not in OPEN:
        raise Conflict("The consultation is closed; open a new one.")
    content_type, kind = shared_files.check(data, desk.policy.attachment_max_bytes)
    stored = desk.store.put_file(consultation_id, data, shared_files.clean_name(name, content_type), content_type,
                                 kind, now)

    def body(tx: Tx) -> Message:
        return _post(desk, tx, consultation_id, author=author, kind=stored.kind,
                     author_id=caller.principal.sub if from_staff else None, attachment=stored.summary(), now=now)

    try:
        return [desk.store.transact(body)]
    except Exception:
        desk.store.discard_file(stored.id)
        raise


def attachment(desk: Desk, caller: Caller, consultation_id: str, attachment_id: str) -> tuple[files.StoredFile, bytes]:
    chat = load(desk, caller, consultation_id, subtype="attachment")
    found = desk.store.read_file(consultation_id, attachment_id)
    audit.record(desk.store, caller, READ, "read", "Media", attachment_id, patient_id=chat.patient_id)
    return found


def attachment_for_record(desk: Desk, caller: Caller, consultation_id: str, attachment_id: str,
                          patient_id: str) -> tuple[files.StoredFile, bytes]:
    """A file of a patient's chat, for records only: the encounter's doctor keeps it in the patient's record (records
    checked the doctor; intake checks that the chat is that patient's). Audited as read by records."""
    if not caller.principal.is_service("records"):
        raise Forbidden("Only the records service takes a chat's files into a record.")
    chat = desk.store.chat(consultation_id)
    if chat is None or chat.patient_id != patient_id:
        audit.record(desk.store, caller, READ, "attachment", "Consultation", consultation_id, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise NotFound(f"No file {attachment_id} in a consultation of this patient.",
                       [field_error("attachment_id", "is not a file of this patient's consultation", "not_found")])
    found = desk.store.read_file(consultation_id, attachment_id)
    audit.record(desk.store, caller, READ, "read", "Media", attachment_id, patient_id=patient_id,
                 detail="into the record")
    return found


# the structured history ----------------------------------------------------------------------------------------------
def read_history(desk: Desk, caller: Caller, consultation_id: str) -> History:
    chat = load(desk, caller, consultation_id, subtype="history")
    audit.record(desk.store, caller, READ, "read", "ConsultationHistory", consultation_id, patient_id=chat.patient_id)
    return rules.history_view(consultation_id, desk.store.history(consultation_id))


def save_history(desk: Desk, caller: Caller, consultation_id: str, patch: HistoryPatch, now: datetime) -> History:
    """Replace the sections sent; red flags in them raise the same alert as in a message, in the same transaction;
    ``consultation_intake_completed`` fires once, when every section is complete."""
    chat = load(desk, caller, consultation_id, act=True, subtype="history")
    if chat.status not in OPEN:
        raise Conflict("The consultation is closed; its history can no longer change.")
    evidence = patch.follow_up.evidence_attachment_id if patch.follow_up else None
    if evidence and not desk.store.file_exists(consultation_id, evidence):
        raise InvalidInput("Share the document in this chat first.",
                           [field_error("follow_up.evidence_attachment_id", "no such file in this consultation")])

    def body(tx: Tx) -> History:
        current = desk.store.chat(consultation_id, tx)
        sections = {**desk.store.history(consultation_id, tx),
                    **{name: getattr(patch, name).model_dump() for name in SECTIONS if getattr(patch, name)}}
        result = rules.history_view(consultation_id, sections)
        desk.store.save_history(tx, consultation_id, sections, result.completion, result.follow_up_eligible)
        if result.complete and desk.store.history_completed(tx, consultation_id, now):
            tx.emit(ConsultationIntakeCompleted(consultation_id=consultation_id, patient_id=current.patient_id,
                                                follow_up_eligible=result.follow_up_eligible),
                    subject=consultation_id)
        check_red_flags(desk, tx, current, rules.history_texts(sections), "intake", now)
        audit.record(tx, caller, UPDATE, "update", "ConsultationHistory", consultation_id,
                     patient_id=current.patient_id)
        return result

    return desk.store.transact(body)


# triage --------------------------------------------------------------------------------------------------------------
def _patient_texts(desk: Desk, chat: Chat) -> list[str]:
    """What the patient side wrote, and the structured history: the input of the department and doctor advice."""
    texts = desk.store.patient_texts(chat.id)
    if chat.has_history:
        texts += rules.history_texts(desk.store.history(chat.id))
    return texts


def triage_advice(desk: Desk, caller: Caller, consultation_id: str, doctors: DoctorSource,
                  preference: DoctorPreference | None = None) -> TriageAdvice:
    """Department advice from the complaint and history (the managers' rule table), and doctor advice for the
    first department (expertise, free places in the next days, the patient's stated preference), each with its
    reasons. Advice only."""
    rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id, subtype="triage")
    texts = _patient_texts(desk, chat)
    version, departments = desk.triage.departments(texts)
    focus = departments[0].department if departments else chat.department
    doctor_advice: list = []
    if focus:
        profiles, free = doctors(focus)
        doctor_advice = desk.triage.doctors(focus, texts, profiles, free, preference)
    audit.record(desk.store, caller, READ, "read", "ConsultationTriage", consultation_id, patient_id=chat.patient_id)
    return TriageAdvice(rules_version=version, departments=departments, doctors=doctor_advice,
                        current_department=chat.department)


def choose_department(desk: Desk, caller: Caller, consultation_id: str, choice: DepartmentChoice,
                      doctors: DoctorSource) -> TriageAdvice:
    """The consultant's final choice, recorded with the advice it was given (``triage_recommended``)."""
    given = triage_advice(desk, caller, consultation_id, doctors)
    load(desk, caller, consultation_id, act=True, subtype="triage")
    recommended = [d["department"] for d in given.departments]

    def body(tx: Tx) -> None:
        desk.store.choose_department(tx, consultation_id, choice.department, {
            "rules_version": given.rules_version, "recommended": recommended, "chosen": choice.department,
            "doctor_id": choice.doctor_id, "by": caller.principal.sub})
        tx.emit(TriageRecommended(consultation_id=consultation_id, rules_version=given.rules_version,
                                  recommended=recommended, doctors=[d["doctor_id"] for d in given.doctors],
                                  chosen_department=choice.department,
                                  followed=bool(recommended) and recommended[0] == choice.department),
                subject=consultation_id)

    desk.store.transact(body)
    return given.model_copy(update={"current_department": choice.department})


# booking from the chat -----------------------------------------------------------------------------------------------
def book_from_chat(desk: Desk, caller: Caller, consultation_id: str, request: dict, book: Book, now: datetime
                   ) -> dict:
    """The consultant books for the chat's patient without leaving the chat (booking decides: capacity, rules,
    fees); the confirmation is posted in the chat. ``book`` is booking's ``book_for_consultation``, called with the
    consultant's own identity. A retried request with the same ``client_id`` gets the first booking back and posts
    nothing new."""
    rules.require_staff(caller.principal)
    chat = load(desk, caller, consultation_id, act=True, subtype="book")
    if chat.status != "active":
        raise Conflict("Accept the consultation before booking from it.")
    if not chat.patient_id:
        raise Conflict("Link the chat to a registered patient first (POST …/patient); bookings are for patients.")
    request = dict(request)
    client_id = request.pop("client_id", None)
    key = f"chat-{consultation_id}-{client_id}" if client_id else None
    appointment = book(consultation_id, {**request, "patient_id": chat.patient_id}, key)
    if key:
        earlier = desk.store.message_by_client_id(consultation_id, key)
        if earlier is not None:
            return {"appointment": appointment, "message": earlier.model_dump(mode="json")}
    text = rules.booking_text(appointment, chat.language)

    def body(tx: Tx) -> Message:
        message = _post(desk, tx, consultation_id, author="system", kind="booking", text=text, client_id=key, now=now)
        desk.store.add_appointment(tx, consultation_id, appointment["id"])
        audit.record(tx, caller, CREATE, "book", "Appointment", appointment["id"], patient_id=chat.patient_id)
        return message

    try:
        message = desk.store.transact(body)
    except AlreadyPosted:  # the same retry raced itself: the other attempt posted the confirmation
        message = desk.store.message_by_client_id(consultation_id, key)
        if message is None:
            raise
    return {"appointment": appointment, "message": message.model_dump(mode="json")}
