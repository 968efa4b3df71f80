"""The consultation desk's entrypoints (thin adapters), and the desk loop that routes chats and runs the clocks."""
from __future__ import annotations

import base64
import logging
from collections import Counter
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider
from nameko.rpc import ServiceRpc as NamekoServiceRpc

from contracts.intake.consultations import (
    Close,
    ConsultationOpen,
    DepartmentChoice,
    ExampleMark,
    MessageInput,
    PatientLink,
    Presence,
    Rating,
    ReadReceipt,
    RosterEntry,
    ShiftTable,
    Transfer,
)
from services.intake import consultations, desk, history, rulebook
from services.intake.triage import DoctorPreference, DoctorProfile
from wenzhen.config import settings
from wenzhen.crypto import keyring
from wenzhen.errors import InvalidInput, field_error, validated
from wenzhen.service import StoreProvider, call, rpc
from wenzhen.storage import Tx
from wenzhen.timez import hospital_zone, utcnow

log = logging.getLogger("intake.desk")


class Desk(DependencyProvider):
    """Runs :class:`~services.intake.desk.DeskLoop` beside the workers; the dependency wakes it (a chat opened or
    closed, a consultant came on the desk: route now rather than at the next poll)."""

    extra_rounds: tuple = ()

    def start(self) -> None:
        stores = [d for d in self.container.dependencies if isinstance(d, StoreProvider)]
        self.loop = desk.DeskLoop(stores[0].store, settings(), extra_rounds=self.container.service_cls.desk_rounds)
        self.container.spawn_managed_thread(self.loop.run, identifier="desk")

    def stop(self) -> None:
        self.loop.stop()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx):
        return self.loop.wake


def _json(value):
    if isinstance(value, list):
        return [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


class ConsultationEntrypoints:
    wake_desk = Desk()
    # Nameko's own proxy keeps the caller's context: booking checks the consultant, not intake, for a booking
    booking = NamekoServiceRpc("booking")
    desk_rounds: tuple = ()  # more (store, now) -> int callables for the desk loop (complaint deadlines)

    # the conversation --------------------------------------------------------------------------------------------
    @rpc
    def open_consultation(self, request: dict) -> dict:
        opened = consultations.open_consultation(self.store, keyring(), self.caller,
                                                 validated(ConsultationOpen, request))
        self.wake_desk()
        return _json(opened)

    @rpc
    def get_consultation(self, consultation_id: str) -> dict:
        return _json(consultations.get(self.store, self.caller, consultation_id))

    @rpc
    def my_consultations(self, include_closed: bool = False) -> list[dict]:
        return _json(consultations.mine(self.store, self.caller, include_closed))

    @rpc
    def post_message(self, consultation_id: str, message: dict) -> list[dict]:
        posted = consultations.post_message(self.store, keyring(), self.caller, consultation_id,
                                            validated(MessageInput, message), render=self._render)
        return _json(posted)

    def _render(self, article_id: str, values: dict) -> str:
        from services.intake import knowledge

        return knowledge.render_article(self.store, self.caller, article_id, values)

    @rpc
    def post_attachment(self, consultation_id: str, data_b64: str, name: str | None = None) -> list[dict]:
        try:
            data = base64.b64decode(data_b64, validate=True)
        except ValueError:
            raise InvalidInput("The file is not valid base64.", [field_error("file", "is not base64")]) from None
        return _json(consultations.post_attachment(self.store, keyring(), self.caller, consultation_id, data, name))

    @rpc
    def get_attachment(self, consultation_id: str, attachment_id: str) -> dict:
        meta, data = consultations.attachment(self.store, keyring(), self.caller, consultation_id, attachment_id)
        return {"name": meta["name"], "content_type": meta["content_type"],
                "data_b64": base64.b64encode(data).decode()}

    @rpc
    def list_messages(self, consultation_id: str, after: int = 0, limit: int = 100) -> dict:
        return _json(consultations.messages(self.store, keyring(), self.caller, consultation_id, after,
                                            max(1, min(limit, 500))))

    @rpc
    def mark_read(self, consultation_id: str, receipt: dict) -> dict:
        return consultations.mark_read(self.store, self.caller, consultation_id, validated(ReadReceipt, receipt).seq)

    # taking chats on ---------------------------------------------------------------------------------------------
    @rpc
    def accept_consultation(self, consultation_id: str) -> dict:
        return consultations.accept(self.store, keyring(), self.caller, consultation_id)

    @rpc
    def pick_consultation(self, consultation_id: str) -> dict:
        return consultations.pick(self.store, keyring(), self.caller, consultation_id,
                                  settings().consult_skill_wait_seconds)

    @rpc
    def transfer_consultation(self, consultation_id: str, request: dict) -> dict:
        moved = consultations.transfer(self.store, keyring(), self.caller, consultation_id,
                                       validated(Transfer, request))
        self.wake_desk()
        return moved

    @rpc
    def handover_notes(self, consultation_id: str) -> list[dict]:
        return consultations.handover_notes(self.store, keyring(), self.caller, consultation_id)

    @rpc
    def link_patient(self, consultation_id: str, request: dict) -> dict:
        return consultations.link_patient(self.store, self.caller, consultation_id,
                                          validated(PatientLink, request).patient_id)

    @rpc
    def close_consultation(self, consultation_id: str, request: dict) -> dict:
        closed = consultations.close(self.store, keyring(), self.caller, consultation_id, validated(Close, request))
        self.wake_desk()
        return closed

    @rpc
    def rate_consultation(self, consultation_id: str, request: dict) -> dict:
        return consultations.rate(self.store, self.caller, consultation_id, validated(Rating, request))

    @rpc
    def mark_example(self, consultation_id: str, request: dict) -> dict:
        return consultations.mark_example(self.store, self.caller, consultation_id, validated(ExampleMark, request))

    @rpc
    def training_examples(self) -> list[dict]:
        return consultations.examples(self.store, self.caller)

    @rpc
    def book_from_chat(self, consultation_id: str, request: dict) -> dict:
        def book(cid: str, appointment: dict, key: str | None) -> dict:
            booked = call(self.booking.book_for_consultation, cid, appointment, key)
            # the names the patient knows (booking's catalogue), for the confirmation in the chat
            departments = {d["code"]: d for d in call(self.booking.list_departments)}
            rooms = {r["code"]: r["name"] for r in call(self.booking.list_rooms)}
            department = departments.get(booked["department"], {})
            return {**booked, "department_zh": department.get("name_zh"), "department_en": department.get("name_en"),
                    "room_name": rooms.get(booked.get("room"))}

        return consultations.book_from_chat(self.store, keyring(), self.caller, consultation_id, dict(request), book)

    # structured history and triage -------------------------------------------------------------------------------
    @rpc
    def get_history(self, consultation_id: str) -> dict:
        return _json(history.read(self.store, keyring(), self.caller, consultation_id))

    @rpc
    def save_history(self, consultation_id: str, patch: dict) -> dict:
        keys = keyring()

        def red_flags(tx: Tx, doc: dict, sections: dict) -> None:
            consultations.check_red_flags(tx, keys, doc, history.texts(sections), "intake", utcnow())

        saved = history.save(self.store, keys, self.caller, consultation_id, validated(history.HistoryPatch, patch),
                             on_saved=red_flags)
        return _json(saved)

    @rpc
    def get_triage(self, consultation_id: str, preference: dict | None = None) -> dict:
        wanted = validated(DoctorPreference, preference) if preference else None
        return _json(consultations.triage_advice(self.store, keyring(), self.caller, consultation_id, self._doctors,
                                                 wanted))

    @rpc
    def choose_department(self, consultation_id: str, choice: dict) -> dict:
        return _json(consultations.choose_department(self.store, keyring(), self.caller, consultation_id,
                                                     validated(DepartmentChoice, choice), self._doctors))

    def _doctors(self, department: str) -> tuple[list[DoctorProfile], dict[str, int] | None]:
        """The department's bookable doctors and their free places in the next 3 days, from booking's catalogue;
        when booking does not answer, the knowledge base's doctor profiles with availability unknown."""
        today = datetime.now(hospital_zone()).date()
        try:
            listed = call(self.booking.list_doctors, department, timeout=2)
            slots = call(self.booking.search_slots, {"department": department, "from": today.isoformat(),
                                                     "to": (today + timedelta(days=2)).isoformat(), "limit": 200},
                         timeout=2)
        except Exception as exc:  # noqa: BLE001 - advice goes on without booking's figures
            log.warning("booking did not answer for the doctor advice (%s)", type(exc).__name__)
            from services.intake import knowledge

            return [DoctorProfile.model_validate(p.model_dump())
                    for p in knowledge.doctor_profiles(self.store, department)], None
        free = Counter()
        for slot in slots:
            free[slot["doctor_id"]] += slot["free"]
        profiles = [DoctorProfile(doctor_id=d["id"], department=d["department"], title=d["title"],
                                  expertise=d["expertise"]) for d in listed if d.get("active", True)]
        return profiles, {p.doctor_id: free[p.doctor_id] for p in profiles}

    # the desk ----------------------------------------------------------------------------------------------------
    @rpc
    def set_presence(self, presence: dict) -> dict:
        view = desk.set_presence(self.store, self.caller, validated(Presence, presence).available,
                                 self.caller.principal.department)
        self.wake_desk()
        return _json(view)

    @rpc
    def put_roster(self, consultant_id: str, entry: dict) -> dict:
        view = desk.put_roster(self.store, self.caller, consultant_id, validated(RosterEntry, entry))
        self.wake_desk()
        return _json(view)

    @rpc
    def get_shifts(self) -> list[dict]:
        return [s.model_dump(mode="json") for s in desk.current_shifts(self.store)]

    @rpc
    def put_shifts(self, table: dict) -> list[dict]:
        saved = desk.set_shifts(self.store, self.caller, validated(ShiftTable, table).shifts)
        self.wake_desk()
        return [s.model_dump(mode="json") for s in saved]

    @rpc
    def consultation_queue(self) -> list[dict]:
        return _json(desk.queue(self.store, self.caller, utcnow(), settings().consult_skill_wait_seconds))

    @rpc
    def desk_view(self) -> dict:
        return _json(desk.desk_view(self.store, self.caller, utcnow()))

    # rule tables -------------------------------------------------------------------------------------------------
    @rpc
    def get_rule_table(self, table: str) -> dict:
        return _json(rulebook.current(self.store, table))

    @rpc
    def publish_rule_table(self, table: str, rules: list[dict], note: str | None = None) -> dict:
        return _json(rulebook.publish(self.store, self.caller, table, rules, note))

