"""Online consultations: opening, the conversation, taking it on, handing it over, linking the visitor to a patient,
closing and marking it.

Messages are kept in order by a per-consultation sequence number taken in the same transaction that stores the
message and its event, so both sides and every subscriber see one order. Text is encrypted at rest. Each message
from the patient side is checked for red flags before anything else happens to it: on a hit the emergency advice
is stored right behind it, in the same transaction, the chat becomes urgent (it jumps the queue) and
``red_flag_raised`` tells the team lead — routing never stands between a patient in danger and that advice.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.intake.consultations import (
    Attachment,
    Close,
    Consultation,
    ConsultationOpen,
    DepartmentChoice,
    ExampleMark,
    Message,
    MessageInput,
    Messages,
    Opened,
    Rating,
    Transfer,
    TriageAdvice,
)
from contracts.intake.events import (
    ConsultationAccepted,
    ConsultationAssigned,
    ConsultationClosed,
    ConsultationExampleMarked,
    ConsultationMessagePosted,
    ConsultationOpened,
    ConsultationPatientLinked,
    ConsultationRated,
    ConsultationRead,
    ConsultationTransferred,
    RedFlagRaised,
    TriageRecommended,
)
from services.intake import access, attachments, desk, redflags, rulebook, shifts, triage
from services.intake.chats import (
    CHAT_CARE,
    CHAT_CARE_AFTER_CLOSE,
    CONSULTATIONS,
    MESSAGES,
    OPEN,
    PATIENT_SIDE,
    STAFF_SIDE,
    load,
    side,
)
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.config import settings
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Store, Tx
from wenzhen.timez import as_utc, to_local_iso, utcnow

AUTO_REPLY_EVERY = timedelta(hours=1)  # out of hours, one automatic reply per hour of patient messages is enough
STATUS_TEXT = {
    "accepted": {"zh": "咨询师已接入，正在查看您的问题。",
                 "en": "A consultant has joined and is reading your question."},
    "transferred": {"zh": "正在为您转接给同事，请稍候。",
                    "en": "Transferring you to a colleague, one moment please."},
    "closed": {"zh": "本次咨询已结束，祝您早日康复。",
               "en": "This consultation has ended. We wish you a speedy recovery."},
}


# helpers -----------------------------------------------------------------------------------------------------------
def _author(caller: Caller) -> str:
    p = caller.principal
    return p.role.value if p.kind == "user" and p.role else "system"


def _message_view(keys: Keyring, doc: dict) -> Message:
    text = keys.decrypt(doc["text"], field="message", record=doc["consultation_id"]) if doc.get("text") else None
    staff = doc["author"] in ("consultant", "team_lead")
    return Message(id=doc["_id"], seq=doc["seq"], author=doc["author"], author_id=doc.get("author_id") if staff
                   else None, kind=doc["kind"], text=text,
                   attachment=Attachment(**doc["attachment"]) if doc.get("attachment") else None,
                   at=to_local_iso(doc["at"]))


def append(tx: Tx, keys: Keyring, consultation_id: str, *, author: str, kind: str, text: str | None = None,
           author_id: str | None = None, attachment: dict | None = None, client_id: str | None = None,
           now: datetime | None = None) -> dict:
    """Store one message at the next position, with its event; returns the stored document."""
    now = now or utcnow()
    from_patient = author in ("patient", "visitor")
    from_staff = author in ("consultant", "team_lead")
    update: dict = {"$inc": {"seq": 1}, "$set": {"last_activity_at": now}}
    if from_staff:
        update["$set"].update(awaiting_since=None, awaiting_seq=None, last_side="staff")
    elif from_patient:
        update["$set"]["last_side"] = "patient"
    doc = tx[CONSULTATIONS].find_one_and_update({"_id": consultation_id, "status": {"$in": list(OPEN)}}, update,
                                                return_document=ReturnDocument.AFTER)
    if doc is None:
        raise Conflict("The consultation is closed; open a new one.")
    seq = doc["seq"]
    reader = "patient" if from_patient else "staff" if from_staff else None
    if reader:  # the author has read everything up to their own message
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$max": {f"read.{reader}": seq}})
    if from_patient and doc["status"] == "active" and doc.get("awaiting_since") is None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id, "awaiting_since": None},
                                     {"$set": {"awaiting_since": now, "awaiting_seq": seq}})
    message = {"_id": ids.new_id("msg"), "consultation_id": consultation_id, "seq": seq, "author": author,
               "author_id": author_id, "kind": kind, "at": now,
               "text": keys.encrypt(text, field="message", record=consultation_id) if text is not None else None,
               "attachment": attachment}
    if client_id:
        message["client_id"] = client_id
    tx[MESSAGES].insert_one(message)
    tx.emit(ConsultationMessagePosted(consultation_id=consultation_id, message_id=message["_id"], seq=seq,
                                      author=author, kind=kind), subject=consultation_id)
    return message


def check_red_flags(tx: Tx, keys: Keyring, doc: dict, texts: list[str], found_in: str,
                     now: datetime) -> list[dict]:
    """Emergency advice and an alert for red flags not raised in this chat before; returns the advice message."""
    table = rulebook.current(tx, "red_flags")
    known = set(doc.get("red_flags", ()))
    fresh = [hit.code for hit in redflags.scan(texts, table.rules) if hit.code not in known]
    if not fresh:
        return []
    tx[CONSULTATIONS].update_one({"_id": doc["_id"]}, {"$set": {"urgent": True},
                                                       "$addToSet": {"red_flags": {"$each": fresh}}})
    advice = append(tx, keys, doc["_id"], author="system", kind="emergency",
                    text=redflags.EMERGENCY_ADVICE[doc.get("language", "zh")], now=now)
    tx.emit(RedFlagRaised(consultation_id=doc["_id"], codes=fresh, found_in=found_in,
                          rules_version=table.table_version, patient_id=doc.get("patient_id")), subject=doc["_id"])
    return [advice]


def _auto_reply(tx: Tx, keys: Keyring, doc: dict, now: datetime) -> list[dict]:
    """Out of service hours: say when the next shift opens (at most once an hour); the chat stays queued."""
    table = desk.current_shifts(tx)
    if shifts.in_service(table, now):
        return []
    last = doc.get("auto_replied_at")
    if last is not None and now - as_utc(last) < AUTO_REPLY_EVERY:
        return []
    tx[CONSULTATIONS].update_one({"_id": doc["_id"]}, {"$set": {"auto_replied_at": now}})
    text = shifts.opening_text(shifts.next_opening(table, now))[doc.get("language", "zh")]
    return [append(tx, keys, doc["_id"], author="system", kind="auto_reply", text=text, now=now)]


# opening -----------------------------------------------------------------------------------------------------------
def open_consultation(store: Store, keys: Keyring, caller: Caller, request: ConsultationOpen,
                      now: datetime | None = None) -> Opened:
    """A visitor or patient opens a chat with a first message; a consultant or team lead logs a phone call (the
    chat is then theirs at once)."""
    now = now or utcnow()
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
        if not access.may_see(store, caller, request.patient_id):
            raise NotFound(f"No patient with id {request.patient_id}.")
    department, department_source = request.department, "patient" if request.department else None
    if department is None:
        advice = triage.recommend_departments([request.message], rulebook.current(store, "triage").rules, limit=1)
        if advice:
            department, department_source = advice[0].department, "triage"
    in_service = shifts.in_service(desk.current_shifts(store), now)
    cid = ids.new_id("con")

    def body(tx: Tx) -> list[dict]:
        doc = {
            "_id": cid, "channel": request.channel.value, "status": "active" if logged_call else "queued",
            "opened_at": now, "language": request.language, "department": department,
            "department_source": department_source, "urgent": False, "red_flags": [],
            "visitor_id": p.sub if p.has_role(Role.visitor) else None,
            "account_id": p.sub if p.has_role(Role.patient) else None,
            "patient_id": request.patient_id, "consultant_id": p.sub if logged_call else None,
            "staff_ids": [p.sub] if logged_call else [], "excluded": [], "seq": 0, "read": {},
            "accepted_at": now if logged_call else None, "awaiting_since": None, "sla_raised": [],
            "in_service_hours": in_service, "last_activity_at": now,
        }
        tx[CONSULTATIONS].insert_one(doc)
        tx.emit(ConsultationOpened(consultation_id=cid, channel=doc["channel"], department=department,
                                   department_source=department_source, patient_id=request.patient_id,
                                   visitor=doc["visitor_id"] is not None, in_service_hours=in_service),
                subject=cid)
        first = append(tx, keys, cid, author="visitor" if p.has_role(Role.visitor) else "patient", kind="text",
                       text=request.message, now=now)
        replies = check_red_flags(tx, keys, doc, [request.message], "message", now)
        if not logged_call:
            replies += _auto_reply(tx, keys, doc, now)
        if logged_call and request.patient_id:
            access.grant_care(tx, p.sub, request.patient_id, "consultation", ref=cid, until=now + CHAT_CARE)
        audit.record(tx, caller, CREATE, "create", "Consultation", cid, patient_id=request.patient_id)
        return [first, *replies]

    stored = store.transact(body)
    doc = store[CONSULTATIONS].find_one({"_id": cid})
    return Opened(consultation=view(store, caller, doc, now), messages=[_message_view(keys, m) for m in stored])


# the conversation --------------------------------------------------------------------------------------------------
def post_message(store: Store, keys: Keyring, caller: Caller, consultation_id: str, message: MessageInput,
                 render: Callable[[str, dict], str] | None = None, now: datetime | None = None) -> list[Message]:
    """Store a message; returns it followed by any system message it caused (emergency advice, automatic reply).
    A retried post with the same ``client_id`` returns the first one and stores nothing new."""
    now = now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="message")
    if message.client_id:
        earlier = store[MESSAGES].find_one({"consultation_id": consultation_id, "client_id": message.client_id})
        if earlier is not None:
            return [_message_view(keys, earlier)]
    author = _author(caller)
    if author in ("consultant", "team_lead") and doc["status"] != "active":
        raise Conflict("Accept the consultation before writing in it.")
    text = message.text
    if message.template_id is not None:
        if side(caller) != "staff" or render is None:
            raise Forbidden("Only staff insert knowledge-base templates.")
        text = render(message.template_id, {**_template_values(store, keys, doc), **message.values})

    def body(tx: Tx) -> list[dict]:
        stored = append(tx, keys, consultation_id, author=author, kind="text", text=text,
                        author_id=caller.principal.sub if author in ("consultant", "team_lead") else None,
                        client_id=message.client_id, now=now)
        replies: list[dict] = []
        if author in ("patient", "visitor"):
            replies = check_red_flags(tx, keys, doc, [text], "message", now) + _auto_reply(tx, keys, doc, now)
        return [stored, *replies]

    try:
        stored = store.transact(body)
    except DuplicateKeyError:  # the same client_id raced itself: the other attempt stored it
        earlier = store[MESSAGES].find_one({"consultation_id": consultation_id, "client_id": message.client_id})
        if earlier is None:
            raise
        return [_message_view(keys, earlier)]
    return [_message_view(keys, m) for m in stored]


def _template_values(store: Store, keys: Keyring, doc: dict) -> dict[str, str]:
    """What a chat can fill in a reply template by itself: the patient's surname and the department."""
    values: dict[str, str] = {}
    if doc.get("patient_id"):
        patient = store["patients"].find_one({"_id": doc["patient_id"]}, {"name": 1})
        if patient and patient.get("name"):
            values["surname"] = keys.decrypt(patient["name"], field="name", record=doc["patient_id"])[:1]
    if doc.get("department"):
        names = {r.department: (r.department_zh, r.department_en) for r in rulebook.current(store, "triage").rules}
        zh, en = names.get(doc["department"], (doc["department"], doc["department"]))
        values["department"] = en if doc.get("language") == "en" else zh
    return values


def messages(store: Store, keys: Keyring, caller: Caller, consultation_id: str, after: int = 0,
             limit: int = 100) -> Messages:
    doc = load(store, caller, consultation_id)
    cursor = store[MESSAGES].find({"consultation_id": consultation_id, "seq": {"$gt": after}}).sort(
        "seq", ASCENDING).limit(limit)
    items = [_message_view(keys, m) for m in cursor]
    audit.record(store, caller, READ, "read", "Communication", consultation_id, patient_id=doc.get("patient_id"),
                 detail=f"seq>{after}")
    return Messages(items=items, last_seq=doc.get("seq", 0), read=doc.get("read", {}))


def mark_read(store: Store, caller: Caller, consultation_id: str, seq: int) -> dict[str, int]:
    doc = load(store, caller, consultation_id, act=side(caller) == "patient", subtype="read-receipt")
    reader = side(caller)
    if seq > doc.get("seq", 0):
        raise InvalidInput("That message does not exist yet.", [field_error("seq", f"at most {doc.get('seq', 0)}")])

    def body(tx: Tx) -> dict:
        before = tx[CONSULTATIONS].find_one_and_update({"_id": consultation_id}, {"$max": {f"read.{reader}": seq}})
        if before.get("read", {}).get(reader, 0) < seq:
            tx.emit(ConsultationRead(consultation_id=consultation_id, side=reader, seq=seq), subject=consultation_id)
        return {**before.get("read", {}), reader: max(seq, before.get("read", {}).get(reader, 0))}

    return store.transact(body)


# viewing -----------------------------------------------------------------------------------------------------------
def view(store: Store | Tx, caller: Caller, doc: dict, now: datetime | None = None) -> Consultation:
    now = now or utcnow()
    reader = side(caller)
    last = doc.get("seq", 0)
    other_read = doc.get("read", {}).get(reader, 0)
    return Consultation(
        id=doc["_id"], status=doc["status"], channel=doc["channel"], opened_at=to_local_iso(doc["opened_at"]),
        department=doc.get("department"), department_source=doc.get("department_source"),
        urgent=bool(doc.get("urgent")), red_flags=doc.get("red_flags", []), patient_id=doc.get("patient_id"),
        visitor=doc.get("visitor_id") is not None and doc.get("patient_id") is None,
        consultant_id=doc.get("consultant_id"),
        accepted_at=to_local_iso(doc["accepted_at"]) if doc.get("accepted_at") else None,
        last_seq=last, unread=max(0, _unread(store, doc, reader, other_read)), read=doc.get("read", {}),
        queue=desk.queue_info(store, doc, now), in_service_hours=doc.get("in_service_hours", True),
        outcome=doc.get("outcome"), disease_category=doc.get("disease_category"), tags=doc.get("tags", []),
        rating=doc.get("rating"), closed_at=to_local_iso(doc["closed_at"]) if doc.get("closed_at") else None,
        history_completion=doc.get("history_completion", {}), follow_up_eligible=bool(doc.get("follow_up_eligible")),
    )


def _unread(store: Store | Tx, doc: dict, reader: str, read_up_to: int) -> int:
    """Messages after the reader's receipt that the reader's own side did not write."""
    if read_up_to >= doc.get("seq", 0):
        return 0
    own = ("patient", "visitor") if reader == "patient" else ("consultant", "team_lead")
    return store[MESSAGES].count_documents({"consultation_id": doc["_id"], "seq": {"$gt": read_up_to},
                                            "author": {"$nin": list(own)}})


def get(store: Store, caller: Caller, consultation_id: str) -> Consultation:
    doc = load(store, caller, consultation_id)
    audit.record(store, caller, READ, "read", "Consultation", consultation_id, patient_id=doc.get("patient_id"))
    return view(store, caller, doc)


def mine(store: Store, caller: Caller, include_closed: bool = False, limit: int = 50) -> list[Consultation]:
    """A patient's or visitor's consultations; a consultant's or team lead's current chats."""
    p = caller.principal
    if p.has_role(Role.visitor):
        query: dict = {"visitor_id": p.sub}
    elif p.has_role(Role.patient):
        query = {"$or": [{"account_id": p.sub},
                         {"patient_id": {"$in": sorted(access.linked_patients(store, p.sub))}}]}
    elif p.has_role(*STAFF_SIDE):
        query = {"consultant_id": p.sub}
    else:
        raise Forbidden("Only patients, visitors and consultants have consultations.")
    if not include_closed:
        query["status"] = {"$in": list(OPEN)}
    docs = list(store[CONSULTATIONS].find(query).sort("opened_at", -1).limit(limit))
    now = utcnow()
    return [view(store, caller, d, now) for d in docs]


# taking a chat on, handing it over -------------------------------------------------------------------------------
def _staff_only(caller: Caller) -> str:
    if not caller.principal.has_role(*STAFF_SIDE):
        raise Forbidden("Only consultants and team leads take chats.")
    return caller.principal.sub


def accept(store: Store, keys: Keyring, caller: Caller, consultation_id: str, now: datetime | None = None) -> dict:
    """The consultant accepts the chat offered to them."""
    me, now = _staff_only(caller), now or utcnow()

    def body(tx: Tx) -> dict | None:
        doc = tx[CONSULTATIONS].find_one_and_update(
            {"_id": consultation_id, "status": "assigned", "consultant_id": me},
            {"$set": {"status": "active", "accepted_at": now}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            return None
        _took_on(tx, keys, caller, doc, now)
        return doc

    doc = store.transact(body)
    if doc is None:
        load(store, caller, consultation_id)  # 404 when the caller may not even see it
        raise Conflict("This consultation is not offered to you (it was accepted, re-queued or closed).")
    return view(store, caller, doc, now).model_dump(mode="json")


def pick(store: Store, keys: Keyring, caller: Caller, consultation_id: str, skill_wait_seconds: float,
         now: datetime | None = None) -> dict:
    """A team lead takes (or a consultant takes from their own queue) a waiting chat: offered and accepted in one
    step. A consultant may pick only what the router could offer them now (``routing.why_not_pick``): on the desk,
    on a shift on duty, below their limit and in the chat's tier of skills. Picking gives access to the patient's
    record, so it is no wider than an offer."""
    me, now = _staff_only(caller), now or utcnow()
    if caller.principal.has_role(Role.consultant):
        queued = load(store, caller, consultation_id)  # 404 for a chat the consultant may not see at all
        if queued["status"] == "queued":
            refusal = desk.picker(store, me, now)(queued, skill_wait_seconds)
            if refusal is not None:
                audit.record(store, caller, UPDATE, "pick", "Consultation", consultation_id,
                             patient_id=queued.get("patient_id"), outcome=Outcome.denied)
                raise Conflict(f"Not in your queue: {refusal}", [field_error("consultation_id", refusal, "queue")])

    def body(tx: Tx) -> dict | None:
        doc = tx[CONSULTATIONS].find_one_and_update(
            {"_id": consultation_id, "status": "queued"},
            {"$set": {"status": "active", "consultant_id": me, "assigned_at": now, "accepted_at": now},
             "$addToSet": {"staff_ids": me}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            return None
        tx.emit(ConsultationAssigned(consultation_id=consultation_id, consultant_id=me, by="pick"),
                subject=consultation_id)
        _took_on(tx, keys, caller, doc, now)
        return doc

    doc = store.transact(body)
    if doc is None:
        load(store, caller, consultation_id)
        raise Conflict("This consultation is no longer waiting.")
    return view(store, caller, doc, now).model_dump(mode="json")


def _took_on(tx: Tx, keys: Keyring, caller: Caller, doc: dict, now: datetime) -> None:
    me = caller.principal.sub
    if doc.get("last_side") == "patient":  # the patient is waiting for an answer from now on
        tx[CONSULTATIONS].update_one({"_id": doc["_id"]}, {"$set": {"awaiting_since": now,
                                                                    "awaiting_seq": doc["seq"]}})
    if doc.get("patient_id"):
        access.grant_care(tx, me, doc["patient_id"], "consultation", ref=doc["_id"], until=now + CHAT_CARE)
    desk.resolve_incident(tx, doc["_id"], now)
    waited = int((now - as_utc(doc["opened_at"])).total_seconds() * 1000)
    tx.emit(ConsultationAccepted(consultation_id=doc["_id"], consultant_id=me, waited_ms=waited), subject=doc["_id"])
    append(tx, keys, doc["_id"], author="system", kind="status",
           text=STATUS_TEXT["accepted"][doc.get("language", "zh")], now=now)
    audit.record(tx, caller, UPDATE, "accept", "Consultation", doc["_id"], patient_id=doc.get("patient_id"))


def transfer(store: Store, keys: Keyring, caller: Caller, consultation_id: str, request: Transfer,
             now: datetime | None = None) -> dict:
    """Hand the chat to a colleague (who accepts it) or to the team lead on duty (abusive visitors too)."""
    me, now = _staff_only(caller), now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="transfer")
    if doc["status"] not in OPEN:
        raise Conflict("The consultation is closed.")
    target = request.to
    if target is None or request.reason in ("team_lead", "abusive"):
        on_duty = shifts.responsible(desk.current_shifts(store), now)
        target = request.to or (on_duty.team_lead_id if on_duty else None)
    if target is not None:
        if target == doc.get("consultant_id"):
            raise InvalidInput("The chat is already theirs.", [field_error("to", "is the current consultant")])
        leads = {s.team_lead_id for s in desk.current_shifts(store) if s.team_lead_id}
        if target not in leads and store[desk.ROSTER].find_one({"_id": target}, {"_id": 1}) is None:
            raise InvalidInput("Not a consultant on the desk.", [field_error("to", "no such consultant on the roster")])
    previous = doc.get("consultant_id") or me
    note = keys.encrypt(request.note, field="note", record=consultation_id) if request.note else None

    def body(tx: Tx) -> dict:
        values = {"status": "assigned" if target else "queued", "consultant_id": target, "assigned_at": now,
                  "escalated": request.reason in ("team_lead", "abusive")}
        if request.reason == "abusive":
            values["abusive"] = True
        changed = tx[CONSULTATIONS].find_one_and_update(
            {"_id": consultation_id, "status": {"$in": list(OPEN)}, "consultant_id": doc.get("consultant_id")},
            {"$set": values, "$addToSet": {"excluded": previous, **({"staff_ids": target} if target else {})},
             "$push": {"transfers": {"from": previous, "to": target, "reason": request.reason, "note": note,
                                     "at": now}}},
            return_document=ReturnDocument.AFTER)
        if changed is None:
            raise Conflict("The consultation changed hands meanwhile; reload it.")
        access.set_care_end(tx, "consultation", consultation_id, now, staff_id=previous)  # handed on: theirs no more
        tx.emit(ConsultationTransferred(consultation_id=consultation_id, from_consultant_id=previous,
                                        to_consultant_id=target or "queue", reason=request.reason),
                subject=consultation_id)
        append(tx, keys, consultation_id, author="system", kind="status",
               text=STATUS_TEXT["transferred"][doc.get("language", "zh")], now=now)
        audit.record(tx, caller, UPDATE, "transfer", "Consultation", consultation_id, patient_id=doc.get("patient_id"))
        return changed

    changed = store.transact(body)
    return view(store, caller, changed, now).model_dump(mode="json")


def handover_notes(store: Store, keys: Keyring, caller: Caller, consultation_id: str) -> list[dict]:
    """The transfer notes (staff only: they are about the patient, for the next consultant)."""
    _staff_only(caller)
    doc = load(store, caller, consultation_id)
    audit.record(store, caller, READ, "read", "ConsultationHandover", consultation_id, patient_id=doc.get("patient_id"))
    return [{"from": t["from"], "to": t.get("to"), "reason": t["reason"], "at": to_local_iso(t["at"]),
             "note": keys.decrypt(t["note"], field="note", record=consultation_id) if t.get("note") else None}
            for t in doc.get("transfers", [])]


def link_patient(store: Store, caller: Caller, consultation_id: str, patient_id: str,
                 now: datetime | None = None) -> dict:
    """"Rename the visitor": the consultation (and the same visitor's other ones) now belong to a registered patient
    the staff member may see (e.g. one they just registered)."""
    _staff_only(caller)
    now = now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="link-patient")
    if doc.get("patient_id") not in (None, patient_id):
        raise Conflict("The consultation belongs to another patient already.")
    if store["patients"].find_one({"_id": patient_id}, {"_id": 1}) is None or not access.may_see(
            store, caller, patient_id):
        raise InvalidInput("No such patient in your care.", [field_error("patient_id", "no patient you may see")])

    def body(tx: Tx) -> None:
        query: dict = {"_id": consultation_id}
        if doc.get("visitor_id"):
            query = {"$or": [{"_id": consultation_id}, {"visitor_id": doc["visitor_id"], "patient_id": None}]}
        for other in list(tx[CONSULTATIONS].find(query, {"_id": 1, "patient_id": 1})):
            if other.get("patient_id") == patient_id:
                continue
            tx[CONSULTATIONS].update_one({"_id": other["_id"]}, {"$set": {"patient_id": patient_id}})
            tx.emit(ConsultationPatientLinked(consultation_id=other["_id"], patient_id=patient_id),
                    subject=other["_id"])
        audit.record(tx, caller, UPDATE, "link-patient", "Consultation", consultation_id, patient_id=patient_id)

    store.transact(body)
    return view(store, caller, store[CONSULTATIONS].find_one({"_id": consultation_id}), now).model_dump(mode="json")


# closing -----------------------------------------------------------------------------------------------------------
def close(store: Store, keys: Keyring, caller: Caller, consultation_id: str, request: Close,
          now: datetime | None = None) -> dict:
    _staff_only(caller)
    now = now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="close")
    keep_until = now + timedelta(days=settings().transcript_retention_days)

    def body(tx: Tx) -> dict:
        append(tx, keys, consultation_id, author="system", kind="status",
               text=STATUS_TEXT["closed"][doc.get("language", "zh")], now=now)
        closed = tx[CONSULTATIONS].find_one_and_update(
            {"_id": consultation_id, "status": {"$in": list(OPEN)}},
            {"$set": {"status": "closed", "closed_at": now, "closed_by": caller.principal.sub,
                      "outcome": request.outcome.value, "disease_category": request.disease_category,
                      "tags": request.tags, "awaiting_since": None, "keep_until": keep_until,
                      "close_note": keys.encrypt(request.note, field="note", record=consultation_id)
                      if request.note else None}},
            return_document=ReturnDocument.AFTER)
        desk.resolve_incident(tx, consultation_id, now)
        access.set_care_end(tx, "consultation", consultation_id, now + CHAT_CARE_AFTER_CLOSE)
        tx.emit(ConsultationClosed(consultation_id=consultation_id, outcome=request.outcome.value,
                                   disease_category=request.disease_category, tags=request.tags,
                                   department=closed.get("department"), channel=closed["channel"],
                                   consultant_id=closed.get("consultant_id"), patient_id=closed.get("patient_id"),
                                   messages=closed["seq"],
                                   duration_seconds=int((now - as_utc(closed["opened_at"])).total_seconds())),
                subject=consultation_id)
        audit.record(tx, caller, UPDATE, "close", "Consultation", consultation_id, patient_id=doc.get("patient_id"))
        return closed

    try:
        closed = store.transact(body)
    except Conflict:
        raise Conflict("The consultation is closed already.") from None
    return view(store, caller, closed, now).model_dump(mode="json")


def rate(store: Store, caller: Caller, consultation_id: str, request: Rating) -> dict:
    if not caller.principal.has_role(*PATIENT_SIDE):
        raise Forbidden("Patients rate their consultations.")
    doc = load(store, caller, consultation_id, act=True, subtype="rate")
    if doc["status"] != "closed":
        raise Conflict("Rate a consultation once it is closed.")

    def body(tx: Tx) -> dict | None:
        rated = tx[CONSULTATIONS].find_one_and_update(
            {"_id": consultation_id, "rating": None},
            {"$set": {"rating": request.rating, "rating_comment": request.comment}},
            return_document=ReturnDocument.AFTER)
        if rated is not None:
            tx.emit(ConsultationRated(consultation_id=consultation_id, rating=request.rating,
                                      consultant_id=rated.get("consultant_id")), subject=consultation_id)
        return rated

    rated = store.transact(body)
    if rated is None:
        raise Conflict("This consultation has been rated already.")
    return view(store, caller, rated).model_dump(mode="json")


def mark_example(store: Store, caller: Caller, consultation_id: str, request: ExampleMark) -> dict:
    """A consultant saves a chat they handled as a satisfied or unsatisfied example for training."""
    me = _staff_only(caller)
    doc = load(store, caller, consultation_id, subtype="mark-example")
    if me not in doc.get("staff_ids", ()) and not caller.principal.has_role(Role.team_lead):
        raise Forbidden("Mark chats you handled.")

    def body(tx: Tx) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {"example": {
            "kind": request.example, "title": request.title, "by": me, "at": utcnow()}}})
        tx.emit(ConsultationExampleMarked(consultation_id=consultation_id, consultant_id=me, example=request.example),
                subject=consultation_id)

    store.transact(body)
    return {"consultation_id": consultation_id, "example": request.example, "title": request.title}


def examples(store: Store, caller: Caller, limit: int = 50) -> list[dict]:
    """Saved training examples (team leads see all, consultants their own)."""
    me = _staff_only(caller)
    query: dict = {"example": {"$ne": None}}
    if not caller.principal.has_role(Role.team_lead):
        query["example.by"] = me
    return [{"consultation_id": d["_id"], "example": d["example"]["kind"], "title": d["example"]["title"],
             "by": d["example"]["by"], "at": to_local_iso(d["example"]["at"])}
            for d in store[CONSULTATIONS].find(query).sort("opened_at", -1).limit(limit) if d.get("example")]



# files -------------------------------------------------------------------------------------------------------------
def post_attachment(store: Store, keys: Keyring, caller: Caller, consultation_id: str, data: bytes,
                    name: str | None, now: datetime | None = None) -> list[Message]:
    """Share a photo, short video or document in the chat: stored encrypted, then posted as a message."""
    now = now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="attachment")
    author = _author(caller)
    if author in ("consultant", "team_lead") and doc["status"] != "active":
        raise Conflict("Accept the consultation before writing in it.")
    if doc["status"] not in OPEN:
        raise Conflict("The consultation is closed; open a new one.")
    stored_file = attachments.put(store, keys, consultation_id, data, name, settings().attachment_max_bytes)

    def body(tx: Tx) -> dict:
        return append(tx, keys, consultation_id, author=author, kind=stored_file["kind"],
                      author_id=caller.principal.sub if author in ("consultant", "team_lead") else None,
                      attachment=attachments.summary(stored_file), now=now)

    try:
        message = store.transact(body)
    except Exception:
        attachments.discard(store, stored_file)
        raise
    return [_message_view(keys, message)]


def attachment(store: Store, keys: Keyring, caller: Caller, consultation_id: str,
               attachment_id: str) -> tuple[dict, bytes]:
    doc = load(store, caller, consultation_id, subtype="attachment")
    meta, data = attachments.read(store, keys, consultation_id, attachment_id)
    audit.record(store, caller, READ, "read", "Media", attachment_id, patient_id=doc.get("patient_id"))
    return meta, data


# triage ------------------------------------------------------------------------------------------------------------
def _patient_texts(store: Store, keys: Keyring, doc: dict) -> list[str]:
    """What the patient side wrote, and the structured history: the input of the department and doctor advice."""
    texts = [keys.decrypt(m["text"], field="message", record=doc["_id"]) for m in store[MESSAGES].find(
        {"consultation_id": doc["_id"], "author": {"$in": ["patient", "visitor"]}, "text": {"$ne": None}},
        {"text": 1}).sort("seq", ASCENDING).limit(200)]
    if doc.get("history"):
        from services.intake import history

        texts += history.texts(history._stored(keys, doc))
    return texts


DoctorSource = Callable[[str], tuple[list[triage.DoctorProfile], dict[str, int] | None]]


def triage_advice(store: Store, keys: Keyring, caller: Caller, consultation_id: str, doctors: DoctorSource,
                  preference: triage.DoctorPreference | None = None) -> TriageAdvice:
    """Department advice from the complaint and history (the managers' rule table), and doctor advice for the
    first department (expertise, free places in the next days, the patient's stated preference), each with its
    reasons. Advice only. ``doctors(department)`` gives the department's doctors and their free places (None when
    unknown)."""
    _staff_only(caller)
    doc = load(store, caller, consultation_id, subtype="triage")
    texts = _patient_texts(store, keys, doc)
    table = rulebook.current(store, "triage")
    departments = triage.recommend_departments(texts, table.rules)
    focus = departments[0].department if departments else doc.get("department")
    advice: list = []
    if focus:
        profiles, free = doctors(focus)
        advice = triage.recommend_doctors(focus, texts, profiles, free, preference)
    audit.record(store, caller, READ, "read", "ConsultationTriage", consultation_id, patient_id=doc.get("patient_id"))
    return TriageAdvice(rules_version=table.table_version, departments=departments, doctors=advice,
                        current_department=doc.get("department"))


def choose_department(store: Store, keys: Keyring, caller: Caller, consultation_id: str, choice: DepartmentChoice,
                      doctors: DoctorSource) -> TriageAdvice:
    """The consultant's final choice, recorded with the advice it was given (``triage_recommended``)."""
    advice = triage_advice(store, keys, caller, consultation_id, doctors)
    load(store, caller, consultation_id, act=True, subtype="triage")
    recommended = [d["department"] for d in advice.departments]

    def body(tx: Tx) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {
            "department": choice.department, "department_source": "consultant",
            "triage": {"rules_version": advice.rules_version, "recommended": recommended,
                       "chosen": choice.department, "doctor_id": choice.doctor_id, "by": caller.principal.sub}}})
        tx.emit(TriageRecommended(consultation_id=consultation_id, rules_version=advice.rules_version,
                                  recommended=recommended, doctors=[d["doctor_id"] for d in advice.doctors],
                                  chosen_department=choice.department,
                                  followed=bool(recommended) and recommended[0] == choice.department),
                subject=consultation_id)

    store.transact(body)
    return advice.model_copy(update={"current_department": choice.department})


# booking from the chat ---------------------------------------------------------------------------------------------
def book_from_chat(store: Store, keys: Keyring, caller: Caller, consultation_id: str, request: dict,
                   book: Callable[[str, dict, str | None], dict], now: datetime | None = None) -> dict:
    """The consultant books for the chat's patient without leaving the chat (booking decides: capacity, rules,
    fees); the confirmation is posted in the chat. ``book(consultation_id, appointment_request, idempotency_key)``
    is booking's ``book_for_consultation``, called with the consultant's own identity. A retried request with the
    same ``client_id`` gets the first booking back and posts nothing new."""
    _staff_only(caller)
    now = now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="book")
    if doc["status"] != "active":
        raise Conflict("Accept the consultation before booking from it.")
    if not doc.get("patient_id"):
        raise Conflict("Link the chat to a registered patient first (POST …/patient); bookings are for patients.")
    client_id = request.pop("client_id", None)
    key = f"chat-{consultation_id}-{client_id}" if client_id else None
    appointment = book(consultation_id, {**request, "patient_id": doc["patient_id"]}, key)
    if client_id:
        earlier = store[MESSAGES].find_one({"consultation_id": consultation_id, "client_id": key})
        if earlier is not None:
            return {"appointment": appointment, "message": _message_view(keys, earlier).model_dump(mode="json")}
    language = doc.get("language", "zh")
    zh = appointment.get("department_zh") or appointment["department"]
    en = appointment.get("department_en") or appointment["department"]
    when = appointment["start"][:16].replace("T", " ")
    where = ("线上视频" if language == "zh" else "online video") if appointment["online"] else (
        appointment.get("room_name") or appointment.get("room") or "")
    text = (f"已为您预约：{zh}，{when}，{where}。" if language == "zh"
            else f"Booked for you: {en}, {when}, {where}.")
    if appointment.get("prepayment") and appointment.get("hold_expires_at"):
        text += (f"请在 {appointment['hold_expires_at'][11:16]} 前完成支付，否则号源将自动释放。" if language == "zh"
                 else f" Please pay by {appointment['hold_expires_at'][11:16]}, or the place is released.")
    if appointment.get("notice"):
        text += " " + appointment["notice"]

    def body(tx: Tx) -> dict:
        message = append(tx, keys, consultation_id, author="system", kind="booking", text=text, client_id=key,
                         now=now)
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$addToSet": {"appointment_ids": appointment["id"]}})
        audit.record(tx, caller, CREATE, "book", "Appointment", appointment["id"], patient_id=doc["patient_id"])
        return message

    try:
        message = store.transact(body)
    except DuplicateKeyError:  # the same retry raced itself: the other attempt posted the confirmation
        message = store[MESSAGES].find_one({"consultation_id": consultation_id, "client_id": key})
        if message is None:
            raise
    return {"appointment": appointment, "message": _message_view(keys, message).model_dump(mode="json")}
