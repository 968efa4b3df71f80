"""Every MongoDB query of the desk: consultations and their messages, shared files (GridFS), the shift table, the
consultants' roster and the incidents. Message text, closing and handover notes, the structured history and files are
encrypted here (AES-GCM, bound to the consultation, a file to itself) and decrypted on the way out.

Each change that another writer could race is a conditional update with its precondition in the filter (an offer
``queued → assigned``, a breach raised once by its key in ``sla_raised``, a rating once), so the desk loop, a
picking consultant and a second intake process change nothing twice."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import gridfs
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.intake.consultations import Attachment, Message, RosterEntry, Shift
from services.intake.desk import routing, shifts
from services.intake.desk.files import StoredFile
from services.intake.desk.rules import OPEN, PATIENT_AUTHORS, STAFF_AUTHORS, Chat, Incident
from wenzhen import ids
from wenzhen.errors import Conflict, NotFound
from wenzhen.storage import CapabilityStore, Index, Tx, find_and_modify
from wenzhen.timez import as_utc, to_local_iso

CONSULTATIONS = "consultations"
MESSAGES = "consultation_messages"
ATTACHMENTS = "attachments"
BUCKET = "attachment_blobs"
DESK_SETTINGS = "desk_settings"
ROSTER = "consultant_roster"
INCIDENTS = "consultation_incidents"

INDEXES = [
    Index(CONSULTATIONS, [("status", ASCENDING), ("urgent", DESCENDING), ("opened_at", ASCENDING)], name="queue"),
    Index(CONSULTATIONS, [("consultant_id", ASCENDING), ("status", ASCENDING)], name="by_consultant"),
    Index(CONSULTATIONS, [("visitor_id", ASCENDING)], name="by_visitor", options={"sparse": True}),
    Index(CONSULTATIONS, [("account_id", ASCENDING), ("opened_at", DESCENDING)], name="by_account"),
    Index(CONSULTATIONS, [("patient_id", ASCENDING), ("opened_at", DESCENDING)], name="by_patient"),
    Index(CONSULTATIONS, [("closed_at", DESCENDING)], name="by_closed"),
    # one message per position, and a client's retried post stored once
    Index(MESSAGES, [("consultation_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="unique_seq"),
    Index(MESSAGES, [("consultation_id", ASCENDING), ("client_id", ASCENDING)], unique=True, name="unique_client_id",
          options={"partialFilterExpression": {"client_id": {"$type": "string"}}}),
    Index(ATTACHMENTS, [("consultation_id", ASCENDING)], name="by_consultation"),
    Index(INCIDENTS, [("resolved_at", ASCENDING), ("opened_at", DESCENDING)], name="open_incidents"),
    Index(INCIDENTS, [("consultation_id", ASCENDING)], unique=True, name="one_incident_per_chat"),
]


class AlreadyPosted(Exception):
    """A message with this ``client_id`` was stored by a concurrent attempt (the unique index said so)."""


def _chat(doc: dict) -> Chat:
    return Chat(
        id=doc["_id"], channel=doc["channel"], status=doc["status"], opened_at=doc["opened_at"],
        language=doc.get("language", "zh"), department=doc.get("department"),
        department_source=doc.get("department_source"), urgent=bool(doc.get("urgent")),
        red_flags=tuple(doc.get("red_flags", ())), visitor_id=doc.get("visitor_id"),
        account_id=doc.get("account_id"), patient_id=doc.get("patient_id"), consultant_id=doc.get("consultant_id"),
        staff_ids=tuple(doc.get("staff_ids", ())), excluded=tuple(doc.get("excluded", ())), seq=doc.get("seq", 0),
        read=dict(doc.get("read", {})), accepted_at=doc.get("accepted_at"), awaiting_since=doc.get("awaiting_since"),
        awaiting_seq=doc.get("awaiting_seq"), last_side=doc.get("last_side"),
        sla_raised=tuple(doc.get("sla_raised", ())), in_service_hours=doc.get("in_service_hours", True),
        auto_replied_at=doc.get("auto_replied_at"), escalated=bool(doc.get("escalated")), outcome=doc.get("outcome"),
        disease_category=doc.get("disease_category"), tags=tuple(doc.get("tags", [])), rating=doc.get("rating"),
        closed_at=doc.get("closed_at"), history_completion=dict(doc.get("history_completion", {})),
        follow_up_eligible=bool(doc.get("follow_up_eligible")), has_history=bool(doc.get("history")))


class DeskStore(CapabilityStore):
    # consultations -----------------------------------------------------------------------------------------------
    def insert_chat(self, tx: Tx, chat: Chat, now: datetime) -> None:
        tx[CONSULTATIONS].insert_one({
            "_id": chat.id, "channel": chat.channel, "status": chat.status, "opened_at": chat.opened_at,
            "language": chat.language, "department": chat.department, "department_source": chat.department_source,
            "urgent": False, "red_flags": [], "visitor_id": chat.visitor_id, "account_id": chat.account_id,
            "patient_id": chat.patient_id, "consultant_id": chat.consultant_id, "staff_ids": list(chat.staff_ids),
            "excluded": [], "seq": 0, "read": {}, "accepted_at": chat.accepted_at, "awaiting_since": None,
            "sla_raised": [], "in_service_hours": chat.in_service_hours, "last_activity_at": now})

    def chat(self, consultation_id: str, tx: Tx | None = None) -> Chat | None:
        doc = self._on(tx)[CONSULTATIONS].find_one({"_id": consultation_id})
        return _chat(doc) if doc else None

    def chats_of(self, *, visitor_id: str | None = None, account_id: str | None = None,
                 patient_ids: set[str] | None = None, consultant_id: str | None = None, include_closed: bool,
                 limit: int) -> list[Chat]:
        """A visitor's, an account's (and its linked patients'), or a consultant's chats, newest first."""
        if visitor_id is not None:
            query: dict = {"visitor_id": visitor_id}
        elif account_id is not None:
            query = {"$or": [{"account_id": account_id}, {"patient_id": {"$in": sorted(patient_ids or ())}}]}
        else:
            query = {"consultant_id": consultant_id}
        if not include_closed:
            query["status"] = {"$in": list(OPEN)}
        return [_chat(d) for d in self.db[CONSULTATIONS].find(query).sort(
            "opened_at", -1).limit(limit)]

    def queued(self, limit: int = 500, tx: Tx | None = None) -> list[Chat]:
        """Waiting chats, urgent first, then oldest."""
        return [_chat(d) for d in self._on(tx)[CONSULTATIONS].find({"status": "queued"}).sort(
            [("urgent", DESCENDING), ("opened_at", ASCENDING)]).limit(limit)]

    def open_chats(self) -> list[Chat]:
        """Every chat not closed, oldest first."""
        return [_chat(d) for d in self.db[CONSULTATIONS].find({"status": {"$in": list(OPEN)}}).sort(
            "opened_at", ASCENDING)]

    def breach_keys_since(self, since: datetime) -> list[str]:
        """The breach keys of the chats opened since ``since``."""
        return [key for doc in self.db[CONSULTATIONS].find({"opened_at": {"$gte": since}}, {"sla_raised": 1})
                for key in doc.get("sla_raised", ())]

    def handle_seconds(self, sample: int) -> list[float]:
        """How long the most recently closed chats took from acceptance to closing."""
        return [(as_utc(d["closed_at"]) - as_utc(d["accepted_at"])).total_seconds()
                for d in self.db[CONSULTATIONS].find({"status": "closed", "accepted_at": {"$ne": None}},
                                                     {"closed_at": 1, "accepted_at": 1}).sort("closed_at", -1)
                .limit(sample) if d.get("accepted_at") and d.get("closed_at")]

    def mark_urgent(self, tx: Tx, consultation_id: str, codes: list[str]) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {"urgent": True},
                                                                "$addToSet": {"red_flags": {"$each": codes}}})

    def set_auto_replied(self, tx: Tx, consultation_id: str, now: datetime) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {"auto_replied_at": now}})

    def raise_read(self, tx: Tx, consultation_id: str, reader: str, seq: int) -> dict[str, int]:
        """Move ``reader``'s receipt up to ``seq`` (never down); the receipts before."""
        before = find_and_modify(tx[CONSULTATIONS], {"_id": consultation_id}, {"$max": {f"read.{reader}": seq}},
                                 before=True)
        return dict(before.get("read", {}))

    def accept(self, tx: Tx, consultation_id: str, consultant_id: str, now: datetime) -> Chat | None:
        """The offer to ``consultant_id`` accepted, or None when it is not offered to them (any more)."""
        doc = find_and_modify(tx[CONSULTATIONS],
                              {"_id": consultation_id, "status": "assigned", "consultant_id": consultant_id},
                              {"$set": {"status": "active", "accepted_at": now}})
        return _chat(doc) if doc else None

    def pick(self, tx: Tx, consultation_id: str, consultant_id: str, now: datetime) -> Chat | None:
        """A waiting chat taken (offered and accepted at once), or None when it no longer waits."""
        doc = find_and_modify(
            tx[CONSULTATIONS],
            {"_id": consultation_id, "status": "queued"},
            {"$set": {"status": "active", "consultant_id": consultant_id, "assigned_at": now, "accepted_at": now},
            "$addToSet": {"staff_ids": consultant_id}})
        return _chat(doc) if doc else None

    def offer(self, tx: Tx, consultation_id: str, consultant_id: str, now: datetime) -> bool:
        """Offer a waiting chat to a consultant, unless someone else got it first (False)."""
        doc = find_and_modify(tx[CONSULTATIONS],
                              {"_id": consultation_id, "status": "queued"},
                              {"$set": {"status": "assigned", "consultant_id": consultant_id, "assigned_at": now},
                               "$addToSet": {"staff_ids": consultant_id}}, before=True)
        if doc is None:
            return False
        tx[ROSTER].update_one({"_id": consultant_id}, {"$set": {"last_assigned_at": now}})
        return True

    def await_answer(self, tx: Tx, consultation_id: str, since: datetime, seq: int) -> None:
        """The patient waits for an answer to message ``seq`` from ``since`` on."""
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {"awaiting_since": since,
                                                                         "awaiting_seq": seq}})

    def transfer(self, tx: Tx, consultation_id: str, expected_consultant: str | None, target: str | None,
                 previous: str, reason: str, note: str | None, now: datetime) -> Chat | None:
        """Hand the chat on (to ``target``, or back to the queue) when it is still open and still
        ``expected_consultant``'s; None when it changed hands meanwhile."""
        values = {"status": "assigned" if target else "queued", "consultant_id": target, "assigned_at": now,
                  "escalated": reason in ("team_lead", "abusive")}
        if reason == "abusive":
            values["abusive"] = True
        sealed = self.keys.encrypt(note, field="note", record=consultation_id) if note else None
        doc = find_and_modify(
            tx[CONSULTATIONS],
            {"_id": consultation_id, "status": {"$in": list(OPEN)}, "consultant_id": expected_consultant},
            {"$set": values, "$addToSet": {"excluded": previous, **({"staff_ids": target} if target else {})},
            "$push": {"transfers": {"from": previous, "to": target, "reason": reason, "note": sealed, "at": now}}})
        return _chat(doc) if doc else None

    def handover_notes(self, consultation_id: str) -> list[dict]:
        doc = self.db[CONSULTATIONS].find_one({"_id": consultation_id}, {"transfers": 1}) or {}
        return [{"from": t["from"], "to": t.get("to"), "reason": t["reason"], "at": to_local_iso(t["at"]),
                 "note": self.keys.decrypt(t["note"], field="note", record=consultation_id) if t.get("note") else None}
                for t in doc.get("transfers", [])]

    def link_patient(self, tx: Tx, consultation_id: str, visitor_id: str | None, patient_id: str) -> list[str]:
        """The chat, and the same visitor's chats with no patient yet, now the patient's; the ids changed."""
        query: dict = {"_id": consultation_id}
        if visitor_id:
            query = {"$or": [{"_id": consultation_id}, {"visitor_id": visitor_id, "patient_id": None}]}
        changed = []
        for other in list(tx[CONSULTATIONS].find(query, {"_id": 1, "patient_id": 1})):
            if other.get("patient_id") == patient_id:
                continue
            tx[CONSULTATIONS].update_one({"_id": other["_id"]}, {"$set": {"patient_id": patient_id}})
            changed.append(other["_id"])
        return changed

    def close(self, tx: Tx, consultation_id: str, by: str, outcome: str, disease_category: str | None,
              tags: list[str], note: str | None, keep_until: datetime, now: datetime) -> Chat | None:
        doc = find_and_modify(
            tx[CONSULTATIONS],
            {"_id": consultation_id, "status": {"$in": list(OPEN)}},
            {"$set": {"status": "closed", "closed_at": now, "closed_by": by, "outcome": outcome,
            "disease_category": disease_category, "tags": tags, "awaiting_since": None,
            "keep_until": keep_until,
            "close_note": self.keys.encrypt(note, field="note", record=consultation_id) if note else None}})
        return _chat(doc) if doc else None

    def rate(self, tx: Tx, consultation_id: str, rating: int, comment: str | None) -> Chat | None:
        """Rated, or None when it was rated before."""
        doc = find_and_modify(
            tx[CONSULTATIONS],
            {"_id": consultation_id, "rating": None}, {"$set": {"rating": rating, "rating_comment": comment}})
        return _chat(doc) if doc else None

    def mark_example(self, tx: Tx, consultation_id: str, kind: str, title: str, by: str, now: datetime) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {"example": {
            "kind": kind, "title": title, "by": by, "at": now}}})

    def examples(self, by: str | None, limit: int) -> list[dict]:
        """Saved training examples, newest chat first (``by``: one consultant's only)."""
        query: dict = {"example": {"$ne": None}}
        if by is not None:
            query["example.by"] = by
        return [{"consultation_id": d["_id"], "example": d["example"]["kind"], "title": d["example"]["title"],
                 "by": d["example"]["by"], "at": to_local_iso(d["example"]["at"])}
                for d in self.db[CONSULTATIONS].find(query, {"example": 1}).sort("opened_at", -1).limit(limit)
                if d.get("example")]

    def choose_department(self, tx: Tx, consultation_id: str, department: str, triage: dict) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {
            "department": department, "department_source": "consultant", "triage": triage}})

    def add_appointment(self, tx: Tx, consultation_id: str, appointment_id: str) -> None:
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$addToSet": {"appointment_ids": appointment_id}})

    # service levels and incidents --------------------------------------------------------------------------------
    def raise_breach(self, tx: Tx, consultation_id: str, key: str, requeue_from: str | None) -> Chat | None:
        """Record breach ``key`` once on an open chat (None when it was raised already or the chat closed); a missed
        offer (``requeue_from``) goes back to the queue, that consultant off the desk and excluded from it."""
        updates: dict = {"$addToSet": {"sla_raised": key}}
        if requeue_from:
            updates["$set"] = {"status": "queued", "consultant_id": None}
            updates["$addToSet"]["excluded"] = requeue_from
            tx[ROSTER].update_one({"_id": requeue_from}, {"$set": {"available": False}})
        doc = find_and_modify(
            tx[CONSULTATIONS],
            {"_id": consultation_id, "sla_raised": {"$ne": key}, "status": {"$in": list(OPEN)}}, updates, before=True)
        return _chat(doc) if doc else None  # as it was before the update

    def open_incident(self, tx: Tx, incident: Incident) -> None:
        tx[INCIDENTS].insert_one({"_id": incident.id, "consultation_id": incident.consultation_id,
                                  "opened_at": incident.opened_at, "resolved_at": None, "shift": incident.shift,
                                  "team_lead_id": incident.team_lead_id, "waited_seconds": incident.waited_seconds})

    def resolve_incident(self, tx: Tx, consultation_id: str, now: datetime) -> None:
        tx[INCIDENTS].update_one({"consultation_id": consultation_id, "resolved_at": None},
                                 {"$set": {"resolved_at": now}})

    def open_incidents(self, limit: int = 50) -> list[Incident]:
        return [Incident(id=i["_id"], consultation_id=i["consultation_id"], opened_at=i["opened_at"],
                         shift=i.get("shift"), team_lead_id=i.get("team_lead_id"),
                         waited_seconds=i.get("waited_seconds"))
                for i in self.db[INCIDENTS].find({"resolved_at": None}).sort("opened_at", DESCENDING).limit(limit)]

    # messages ----------------------------------------------------------------------------------------------------
    def append_message(self, tx: Tx, consultation_id: str, *, author: str, kind: str, text: str | None = None,
                       author_id: str | None = None, attachment: dict | None = None, client_id: str | None = None,
                       now: datetime) -> Message:
        """Store one message at the chat's next position (the text encrypted); the author has read up to it, a
        patient's message starts the answer clock of an active chat, a staff message stops it. A closed chat is a
        409; a ``client_id`` stored already is :class:`AlreadyPosted`."""
        from_patient, from_staff = author in PATIENT_AUTHORS, author in STAFF_AUTHORS
        update: dict = {"$inc": {"seq": 1}, "$set": {"last_activity_at": now}}
        if from_staff:
            update["$set"].update(awaiting_since=None, awaiting_seq=None, last_side="staff")
        elif from_patient:
            update["$set"]["last_side"] = "patient"
        doc = find_and_modify(tx[CONSULTATIONS], {"_id": consultation_id, "status": {"$in": list(OPEN)}}, update)
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
                   "text": self.keys.encrypt(text, field="message", record=consultation_id) if text is not None
                   else None, "attachment": attachment}
        if client_id:
            message["client_id"] = client_id
        try:
            tx[MESSAGES].insert_one(message)
        except DuplicateKeyError:
            if client_id:
                raise AlreadyPosted(client_id) from None
            raise
        return self._message({**message, "text": text}, decrypted=True)

    def message_by_client_id(self, consultation_id: str, client_id: str) -> Message | None:
        doc = self.db[MESSAGES].find_one({"consultation_id": consultation_id, "client_id": client_id})
        return self._message(doc) if doc else None

    def messages(self, consultation_id: str, after: int, limit: int) -> list[Message]:
        cursor = self.db[MESSAGES].find({"consultation_id": consultation_id, "seq": {"$gt": after}}).sort(
            "seq", ASCENDING).limit(limit)
        return [self._message(m) for m in cursor]

    def unread(self, consultation_id: str, after: int, own_authors: tuple[str, ...]) -> int:
        """Messages after ``after`` not written by ``own_authors``."""
        return self.db[MESSAGES].count_documents({"consultation_id": consultation_id, "seq": {"$gt": after},
                                                  "author": {"$nin": list(own_authors)}})

    def patient_texts(self, consultation_id: str, limit: int = 200) -> list[str]:
        """What the patient side wrote, in order (decrypted)."""
        return [self.keys.decrypt(m["text"], field="message", record=consultation_id) for m in self.db[MESSAGES].find(
            {"consultation_id": consultation_id, "author": {"$in": list(PATIENT_AUTHORS)}, "text": {"$ne": None}},
            {"text": 1}).sort("seq", ASCENDING).limit(limit)]

    def _message(self, doc: dict, decrypted: bool = False) -> Message:
        text = doc.get("text")
        if text is not None and not decrypted:
            text = self.keys.decrypt(text, field="message", record=doc["consultation_id"])
        staff = doc["author"] in STAFF_AUTHORS
        return Message(id=doc["_id"], seq=doc["seq"], author=doc["author"],
                       author_id=doc.get("author_id") if staff else None, kind=doc["kind"], text=text,
                       attachment=Attachment(**doc["attachment"]) if doc.get("attachment") else None,
                       at=to_local_iso(doc["at"]))

    # the structured history --------------------------------------------------------------------------------------
    def history(self, consultation_id: str, tx: Tx | None = None) -> dict[str, dict]:
        doc = self._on(tx)[CONSULTATIONS].find_one({"_id": consultation_id}, {"history": 1}) or {}
        sealed = doc.get("history")
        return json.loads(self.keys.decrypt(sealed, field="history", record=consultation_id)) if sealed else {}

    def save_history(self, tx: Tx, consultation_id: str, sections: dict[str, dict], completion: dict[str, bool],
                     follow_up_eligible: bool) -> None:
        """The whole history encrypted as one document; completion and eligibility in the clear."""
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {
            "history": self.keys.encrypt(json.dumps(sections, ensure_ascii=False), field="history",
                                         record=consultation_id),
            "history_completion": completion, "follow_up_eligible": follow_up_eligible}})

    def history_completed(self, tx: Tx, consultation_id: str, now: datetime) -> bool:
        """Mark the history complete; True the first time only."""
        return find_and_modify(tx[CONSULTATIONS], {"_id": consultation_id, "history_completed_at": None},
                               {"$set": {"history_completed_at": now}}, before=True) is not None

    # files -------------------------------------------------------------------------------------------------------
    def _bucket(self) -> gridfs.GridFSBucket:
        return gridfs.GridFSBucket(self.db.db, bucket_name=BUCKET)

    def put_file(self, consultation_id: str, data: bytes, name: str, content_type: str, kind: str,
                 now: datetime) -> StoredFile:
        """Keep the file encrypted (GridFS in intake's database); not yet part of a message (:meth:`discard_file`
        undoes it)."""
        file_id = ids.new_id("att")
        kid, blob = self.keys.encrypt_bytes(data, field="attachment", record=file_id)
        blob_id = self._bucket().upload_from_stream(file_id, blob)
        self.db[ATTACHMENTS].insert_one({"_id": file_id, "consultation_id": consultation_id, "name": name,
                                         "content_type": content_type, "kind": kind, "size": len(data), "kid": kid,
                                         "blob_id": blob_id, "uploaded_at": now})
        return StoredFile(id=file_id, consultation_id=consultation_id, name=name, content_type=content_type,
                          kind=kind, size=len(data), uploaded_at=now)

    def discard_file(self, file_id: str) -> None:
        doc = self.db[ATTACHMENTS].find_one({"_id": file_id}, {"blob_id": 1})
        if doc is not None:
            self._bucket().delete(doc["blob_id"])
            self.db[ATTACHMENTS].delete_one({"_id": file_id})

    def file_exists(self, consultation_id: str, file_id: str) -> bool:
        return self.db[ATTACHMENTS].find_one({"_id": file_id, "consultation_id": consultation_id},
                                             {"_id": 1}) is not None

    def read_file(self, consultation_id: str, file_id: str) -> tuple[StoredFile, bytes]:
        doc = self.db[ATTACHMENTS].find_one({"_id": file_id, "consultation_id": consultation_id})
        if doc is None:
            raise NotFound(f"No attachment {file_id} in this consultation.")
        blob = self._bucket().open_download_stream(doc["blob_id"]).read()
        stored = StoredFile(id=doc["_id"], consultation_id=consultation_id, name=doc["name"],
                            content_type=doc["content_type"], kind=doc["kind"], size=doc["size"],
                            uploaded_at=doc["uploaded_at"])
        return stored, self.keys.decrypt_bytes(doc["kid"], blob, field="attachment", record=file_id)

    # shifts and the roster ---------------------------------------------------------------------------------------
    def shifts(self, tx: Tx | None = None) -> list[Shift]:
        """The team leads' shift table, or the defaults when none was saved."""
        doc = self._on(tx)[DESK_SETTINGS].find_one({"_id": "shifts"})
        if doc is None:
            return list(shifts.DEFAULT_SHIFTS)
        return [Shift.model_validate(item) for item in doc["shifts"]]

    def save_shifts(self, table: list[Shift], by: str, now: datetime) -> None:
        self.db[DESK_SETTINGS].update_one(
            {"_id": "shifts"},
            {"$set": {"shifts": [s.model_dump(mode="json") for s in table], "updated_by": by, "updated_at": now},
             "$inc": {"revision": 1}}, upsert=True)

    def put_roster(self, consultant_id: str, entry: RosterEntry, by: str) -> None:
        self.db[ROSTER].update_one({"_id": consultant_id},
                                   {"$set": {**entry.model_dump(), "updated_by": by},
                                    "$setOnInsert": {"available": False, "last_assigned_at": None}}, upsert=True)

    def set_presence(self, consultant_id: str, available: bool, defaults: RosterEntry) -> None:
        """On or off the desk; a consultant not rostered yet gets ``defaults``."""
        self.db[ROSTER].update_one({"_id": consultant_id},
                                   {"$set": {"available": available},
                                    "$setOnInsert": {**defaults.model_dump(), "last_assigned_at": None}}, upsert=True)

    def on_roster(self, consultant_id: str) -> bool:
        return self.db[ROSTER].find_one({"_id": consultant_id}, {"_id": 1}) is not None

    def agents(self, tx: Tx | None = None) -> list[routing.Agent]:
        """The roster as routing sees it, loads counted from the chats themselves (so nothing drifts)."""
        on = self._on(tx)
        loads = Counter(doc["consultant_id"] for doc in on[CONSULTATIONS].find(
            {"status": {"$in": ["assigned", "active"]}}, {"consultant_id": 1}) if doc.get("consultant_id"))
        return [routing.Agent(id=doc["_id"], skills=frozenset(doc.get("skills", ())),
                              max_chats=doc.get("max_chats", 5), load=loads[doc["_id"]],
                              available=bool(doc.get("available")), shifts=frozenset(doc.get("shifts", ())),
                              last_assigned_at=as_utc(doc["last_assigned_at"]) if doc.get("last_assigned_at")
                              else None)
                for doc in on[ROSTER].find({})]
