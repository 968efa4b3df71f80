"""The desk's store, in memory: the same named methods as ``DeskStore`` over dicts of :class:`Chat` records, messages,
files, the roster, the shifts and incidents. Each conditional update of the real store is the same condition here
(an offer only of a queued chat, a breach once per key, a rating once), so the use cases' races can be driven by
hand; nothing here is encrypted (the real store's job, covered by the integration tests)."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime

from contracts.intake.consultations import Attachment, Message, RosterEntry, Shift
from services.intake.desk import routing, shifts
from services.intake.desk.files import StoredFile
from services.intake.desk.rules import OPEN, PATIENT_AUTHORS, STAFF_AUTHORS, Chat, Incident
from services.intake.desk.store import AlreadyPosted
from tests.fakes import FakeCapabilityStore
from wenzhen import ids
from wenzhen.errors import Conflict, NotFound
from wenzhen.timez import as_utc, to_local_iso


class FakeDeskStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.chats: dict[str, Chat] = {}
        self.extra: dict[str, dict] = {}  # per chat: what the record does not carry (transfers, marks, history)
        self.messages_: list[dict] = []
        self.files: dict[str, tuple[StoredFile, bytes]] = {}
        self.shift_table: list[Shift] | None = None
        self.roster: dict[str, dict] = {}
        self.incidents: dict[str, dict] = {}

    def _set(self, consultation_id: str, **changes) -> Chat:
        self.chats[consultation_id] = replace(self.chats[consultation_id], **changes)
        return self.chats[consultation_id]

    # consultations -----------------------------------------------------------------------------------------------
    def insert_chat(self, tx, chat: Chat, now: datetime) -> None:
        assert chat.id not in self.chats
        self.chats[chat.id] = chat
        self.extra[chat.id] = {"transfers": [], "appointment_ids": []}

    def chat(self, consultation_id: str, tx=None) -> Chat | None:
        return self.chats.get(consultation_id)

    def chats_of(self, *, visitor_id=None, account_id=None, patient_ids=None, consultant_id=None, include_closed,
                 limit) -> list[Chat]:
        def mine(c: Chat) -> bool:
            if visitor_id is not None:
                return c.visitor_id == visitor_id
            if account_id is not None:
                return c.account_id == account_id or c.patient_id in (patient_ids or ())
            return c.consultant_id == consultant_id

        found = [c for c in self.chats.values() if mine(c) and (include_closed or c.status in OPEN)]
        return sorted(found, key=lambda c: c.opened_at, reverse=True)[:limit]

    def queued(self, limit: int = 500, tx=None) -> list[Chat]:
        waiting = [c for c in self.chats.values() if c.status == "queued"]
        return sorted(waiting, key=lambda c: (not c.urgent, as_utc(c.opened_at)))[:limit]

    def open_chats(self) -> list[Chat]:
        return sorted((c for c in self.chats.values() if c.status in OPEN), key=lambda c: as_utc(c.opened_at))

    def breach_keys_since(self, since: datetime) -> list[str]:
        return [key for c in self.chats.values() if as_utc(c.opened_at) >= as_utc(since) for key in c.sla_raised]

    def handle_seconds(self, sample: int) -> list[float]:
        done = sorted((c for c in self.chats.values() if c.status == "closed" and c.accepted_at and c.closed_at),
                      key=lambda c: c.closed_at, reverse=True)[:sample]
        return [(as_utc(c.closed_at) - as_utc(c.accepted_at)).total_seconds() for c in done]

    def mark_urgent(self, tx, consultation_id: str, codes: list[str]) -> None:
        chat = self.chats[consultation_id]
        self._set(consultation_id, urgent=True, red_flags=tuple(dict.fromkeys([*chat.red_flags, *codes])))

    def set_auto_replied(self, tx, consultation_id: str, now: datetime) -> None:
        self._set(consultation_id, auto_replied_at=now)

    def raise_read(self, tx, consultation_id: str, reader: str, seq: int) -> dict[str, int]:
        before = dict(self.chats[consultation_id].read)
        self._set(consultation_id, read={**before, reader: max(seq, before.get(reader, 0))})
        return before

    def accept(self, tx, consultation_id, consultant_id, now) -> Chat | None:
        chat = self.chats.get(consultation_id)
        if chat is None or chat.status != "assigned" or chat.consultant_id != consultant_id:
            return None
        return self._set(consultation_id, status="active", accepted_at=now)

    def pick(self, tx, consultation_id, consultant_id, now) -> Chat | None:
        chat = self.chats.get(consultation_id)
        if chat is None or chat.status != "queued":
            return None
        return self._set(consultation_id, status="active", consultant_id=consultant_id, accepted_at=now,
                         staff_ids=tuple(dict.fromkeys([*chat.staff_ids, consultant_id])))

    def offer(self, tx, consultation_id, consultant_id, now) -> bool:
        chat = self.chats.get(consultation_id)
        if chat is None or chat.status != "queued":
            return False
        self._set(consultation_id, status="assigned", consultant_id=consultant_id,
                  staff_ids=tuple(dict.fromkeys([*chat.staff_ids, consultant_id])))
        if consultant_id in self.roster:
            self.roster[consultant_id]["last_assigned_at"] = now
        return True

    def await_answer(self, tx, consultation_id, since, seq) -> None:
        self._set(consultation_id, awaiting_since=since, awaiting_seq=seq)

    def transfer(self, tx, consultation_id, expected_consultant, target, previous, reason, note, now) -> Chat | None:
        chat = self.chats.get(consultation_id)
        if chat is None or chat.status not in OPEN or chat.consultant_id != expected_consultant:
            return None
        self.extra[consultation_id]["transfers"].append({"from": previous, "to": target, "reason": reason,
                                                         "note": note, "at": now})
        return self._set(consultation_id, status="assigned" if target else "queued", consultant_id=target,
                         escalated=reason in ("team_lead", "abusive"),
                         excluded=tuple(dict.fromkeys([*chat.excluded, previous])),
                         staff_ids=tuple(dict.fromkeys([*chat.staff_ids, *([target] if target else [])])))

    def handover_notes(self, consultation_id: str) -> list[dict]:
        return [{**t, "at": to_local_iso(t["at"])} for t in self.extra[consultation_id]["transfers"]]

    def link_patient(self, tx, consultation_id, visitor_id, patient_id) -> list[str]:
        changed = []
        for other in list(self.chats.values()):
            if other.id == consultation_id or (visitor_id and other.visitor_id == visitor_id
                                                and other.patient_id is None):
                if other.patient_id != patient_id:
                    self._set(other.id, patient_id=patient_id)
                    changed.append(other.id)
        return changed

    def close(self, tx, consultation_id, by, outcome, disease_category, tags, note, keep_until, now) -> Chat | None:
        chat = self.chats.get(consultation_id)
        if chat is None or chat.status not in OPEN:
            return None
        self.extra[consultation_id].update(closed_by=by, keep_until=keep_until, close_note=note)
        return self._set(consultation_id, status="closed", closed_at=now, outcome=outcome,
                         disease_category=disease_category, tags=tuple(tags), awaiting_since=None)

    def rate(self, tx, consultation_id, rating, comment) -> Chat | None:
        if self.chats[consultation_id].rating is not None:
            return None
        self.extra[consultation_id]["rating_comment"] = comment
        return self._set(consultation_id, rating=rating)

    def mark_example(self, tx, consultation_id, kind, title, by, now) -> None:
        self.extra[consultation_id]["example"] = {"kind": kind, "title": title, "by": by, "at": now}

    def examples(self, by, limit) -> list[dict]:
        found = [(self.chats[cid], e["example"]) for cid, e in self.extra.items() if e.get("example")]
        return [{"consultation_id": chat.id, "example": ex["kind"], "title": ex["title"], "by": ex["by"],
                 "at": to_local_iso(ex["at"])}
                for chat, ex in sorted(found, key=lambda pair: pair[0].opened_at, reverse=True)
                if by in (None, ex["by"])][:limit]

    def choose_department(self, tx, consultation_id, department, triage) -> None:
        self.extra[consultation_id]["triage"] = triage
        self._set(consultation_id, department=department, department_source="consultant")

    def add_appointment(self, tx, consultation_id, appointment_id) -> None:
        self.extra[consultation_id]["appointment_ids"].append(appointment_id)

    # service levels and incidents --------------------------------------------------------------------------------
    def raise_breach(self, tx, consultation_id, key, requeue_from) -> Chat | None:
        if requeue_from and requeue_from in self.roster:
            self.roster[requeue_from]["available"] = False
        chat = self.chats.get(consultation_id)
        if chat is None or key in chat.sla_raised or chat.status not in OPEN:
            return None
        changes: dict = {"sla_raised": (*chat.sla_raised, key)}
        if requeue_from:
            changes.update(status="queued", consultant_id=None,
                           excluded=tuple(dict.fromkeys([*chat.excluded, requeue_from])))
        self._set(consultation_id, **changes)
        return chat  # as it was before

    def open_incident(self, tx, incident: Incident) -> None:
        assert not any(i["incident"].consultation_id == incident.consultation_id for i in self.incidents.values())
        self.incidents[incident.id] = {"incident": incident, "resolved_at": None}

    def resolve_incident(self, tx, consultation_id, now) -> None:
        for item in self.incidents.values():
            if item["incident"].consultation_id == consultation_id and item["resolved_at"] is None:
                item["resolved_at"] = now

    def open_incidents(self, limit: int = 50) -> list[Incident]:
        open_ = [i["incident"] for i in self.incidents.values() if i["resolved_at"] is None]
        return sorted(open_, key=lambda i: i.opened_at, reverse=True)[:limit]

    # messages ----------------------------------------------------------------------------------------------------
    def append_message(self, tx, consultation_id, *, author, kind, text=None, author_id=None, attachment=None,
                       client_id=None, now) -> Message:
        chat = self.chats.get(consultation_id)
        if chat is None or chat.status not in OPEN:
            raise Conflict("The consultation is closed; open a new one.")
        if client_id and any(m["consultation_id"] == consultation_id and m.get("client_id") == client_id
                             for m in self.messages_):
            raise AlreadyPosted(client_id)
        seq = chat.seq + 1
        changes: dict = {"seq": seq}
        if author in STAFF_AUTHORS:
            changes.update(awaiting_since=None, awaiting_seq=None, last_side="staff",
                           read={**chat.read, "staff": max(seq, chat.read.get("staff", 0))})
        elif author in PATIENT_AUTHORS:
            changes.update(last_side="patient", read={**chat.read, "patient": max(seq, chat.read.get("patient", 0))})
            if chat.status == "active" and chat.awaiting_since is None:
                changes.update(awaiting_since=now, awaiting_seq=seq)
        self._set(consultation_id, **changes)
        stored = {"id": ids.new_id("msg"), "consultation_id": consultation_id, "seq": seq, "author": author,
                  "author_id": author_id, "kind": kind, "text": text, "attachment": attachment, "at": now,
                  "client_id": client_id}
        self.messages_.append(stored)
        return self._message(stored)

    def _message(self, m: dict) -> Message:
        return Message(id=m["id"], seq=m["seq"], author=m["author"],
                       author_id=m["author_id"] if m["author"] in STAFF_AUTHORS else None, kind=m["kind"],
                       text=m["text"], attachment=Attachment(**m["attachment"]) if m["attachment"] else None,
                       at=to_local_iso(m["at"]))

    def message_by_client_id(self, consultation_id, client_id) -> Message | None:
        return next((self._message(m) for m in self.messages_
                     if m["consultation_id"] == consultation_id and m.get("client_id") == client_id), None)

    def messages(self, consultation_id, after, limit) -> list[Message]:
        return [self._message(m) for m in self.messages_ if m["consultation_id"] == consultation_id
                and m["seq"] > after][:limit]

    def unread(self, consultation_id, after, own_authors) -> int:
        return sum(1 for m in self.messages_ if m["consultation_id"] == consultation_id and m["seq"] > after
                   and m["author"] not in own_authors)

    def patient_texts(self, consultation_id, limit=200) -> list[str]:
        return [m["text"] for m in self.messages_ if m["consultation_id"] == consultation_id
                and m["author"] in PATIENT_AUTHORS and m["text"] is not None][:limit]

    # the structured history --------------------------------------------------------------------------------------
    def history(self, consultation_id, tx=None) -> dict[str, dict]:
        return dict(self.extra[consultation_id].get("history", {}))

    def save_history(self, tx, consultation_id, sections, completion, follow_up_eligible) -> None:
        self.extra[consultation_id]["history"] = dict(sections)
        self._set(consultation_id, history_completion=dict(completion), follow_up_eligible=follow_up_eligible,
                  has_history=True)

    def history_completed(self, tx, consultation_id, now) -> bool:
        if self.extra[consultation_id].get("history_completed_at"):
            return False
        self.extra[consultation_id]["history_completed_at"] = now
        return True

    # files -------------------------------------------------------------------------------------------------------
    def put_file(self, consultation_id, data, name, content_type, kind, now) -> StoredFile:
        stored = StoredFile(id=ids.new_id("att"), consultation_id=consultation_id, name=name,
                            content_type=content_type, kind=kind, size=len(data), uploaded_at=now)
        self.files[stored.id] = (stored, data)
        return stored

    def discard_file(self, file_id) -> None:
        self.files.pop(file_id, None)

    def file_exists(self, consultation_id, file_id) -> bool:
        return file_id in self.files and self.files[file_id][0].consultation_id == consultation_id

    def read_file(self, consultation_id, file_id) -> tuple[StoredFile, bytes]:
        if not self.file_exists(consultation_id, file_id):
            raise NotFound(f"No attachment {file_id} in this consultation.")
        return self.files[file_id]

    # shifts and the roster ---------------------------------------------------------------------------------------
    def shifts(self, tx=None) -> list[Shift]:
        return list(self.shift_table) if self.shift_table is not None else list(shifts.DEFAULT_SHIFTS)

    def save_shifts(self, table, by, now) -> None:
        self.shift_table = list(table)

    def put_roster(self, consultant_id, entry: RosterEntry, by) -> None:
        known = self.roster.setdefault(consultant_id, {"available": False, "last_assigned_at": None})
        known.update(entry.model_dump())

    def set_presence(self, consultant_id, available, defaults: RosterEntry) -> None:
        known = self.roster.setdefault(consultant_id, {**defaults.model_dump(), "last_assigned_at": None})
        known["available"] = available

    def on_roster(self, consultant_id) -> bool:
        return consultant_id in self.roster

    def agents(self, tx=None) -> list[routing.Agent]:
        loads = Counter(c.consultant_id for c in self.chats.values()
                        if c.status in ("assigned", "active") and c.consultant_id)
        return [routing.Agent(id=aid, skills=frozenset(r.get("skills", ())), max_chats=r.get("max_chats", 5),
                              load=loads[aid], available=bool(r.get("available")),
                              shifts=frozenset(r.get("shifts", ())), last_assigned_at=r.get("last_assigned_at"))
                for aid, r in self.roster.items()]
