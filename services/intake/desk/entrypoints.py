"""The desk's Nameko entrypoints (thin adapters over ``usecases`` and ``staffing``), and :class:`DeskRunner`, which
runs the desk loop beside the workers — or, in a process that leaves the desk loop to another
(``service.IntakeBesideDesk``), does not. Booking is called with the consultant's own identity (Nameko's plain proxy
keeps the caller's context): booking checks the consultant, not intake."""
from __future__ import annotations

import base64
import logging
from collections import Counter
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider
from nameko.rpc import ServiceRpc as NamekoServiceRpc

from contracts.intake.consultations import (
    Close,
    Consultation,
    ConsultationOpen,
    DepartmentChoice,
    DeskView,
    DoctorPreference,
    ExampleMark,
    Message,
    MessageInput,
    Messages,
    Opened,
    PatientLink,
    Presence,
    QueueItem,
    Rating,
    ReadReceipt,
    RosterEntry,
    RosterView,
    Shift,
    ShiftTable,
    Transfer,
    TriageAdvice,
)
from contracts.intake.history import History, HistoryPatch
from services.intake.desk import staffing, usecases
from services.intake.desk.rules import DeskPolicy
from services.intake.desk.staffing import DeskLoop
from services.intake.desk.store import DeskStore
from services.intake.desk.usecases import Desk
from services.intake.knowledge import usecases as knowledge
from services.intake.knowledge.store import KnowledgeStore
from services.intake.patients.store import PatientStore
from services.intake.patients.usecases import PatientAccess
from services.intake.triage.advice import DoctorProfile
from services.intake.triage.store import RuleTableStore
from services.intake.triage.usecases import TriageRules
from wenzhen.config import settings
from wenzhen.crypto import keyring
from wenzhen.errors import InvalidInput, field_error
from wenzhen.service import call, rpc
from wenzhen.storage import Store
from wenzhen.timez import hospital_zone, utcnow

log = logging.getLogger("intake.desk")


def desk_on(store: Store, policy: DeskPolicy) -> Desk:
    """The desk over intake's database, with the patients' and triage's narrow interfaces."""
    keys = keyring()
    return Desk(store=DeskStore(store, keys), patients=PatientAccess(PatientStore(store, keys)),
                triage=TriageRules(RuleTableStore(store)), policy=policy)


class DeskRunner(DependencyProvider):
    """Runs :class:`~services.intake.desk.staffing.DeskLoop` beside the workers; the dependency wakes it (a chat
    opened or closed, a consultant came on the desk: route now rather than at the next poll). ``enabled=False``: the
    loop runs in another process (which polls: a wake-up does not cross processes)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def setup(self) -> None:
        self.loop: DeskLoop | None = None

    def start(self) -> None:  # after every dependency's setup, so the store exists
        if not self.enabled:
            return
        deps = {dep.attr_name: dep for dep in self.container.dependencies}
        store, own, cfg = deps["store"].store, deps["settings"].value, settings()
        self.loop = DeskLoop(store, desk_on(store, own.desk), cfg.outbox_lease_seconds, cfg.outbox_retry_max)
        self.container.spawn_managed_thread(self.loop.run, identifier=self.loop.lease_name)

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.loop.wake if self.loop is not None else _nothing


def _nothing() -> None:
    """No desk loop in this process: its own poll will see the change."""


class DeskEntrypoints:
    wake_desk = DeskRunner()
    # Nameko's own proxy keeps the caller's context: booking checks the consultant, not intake, for a booking
    booking = NamekoServiceRpc("booking")

    @property
    def desk(self) -> Desk:
        return desk_on(self.store, self.settings.desk)

    # the conversation --------------------------------------------------------------------------------------------
    @rpc
    def open_consultation(self, request: ConsultationOpen) -> Opened:
        opened = usecases.open_consultation(self.desk, self.caller, request, utcnow())
        self.wake_desk()
        return opened

    @rpc
    def get_consultation(self, consultation_id: str) -> Consultation:
        return usecases.get(self.desk, self.caller, consultation_id, utcnow())

    @rpc
    def my_consultations(self, include_closed: bool = False) -> list[Consultation]:
        return usecases.mine(self.desk, self.caller, include_closed, utcnow())

    @rpc
    def post_message(self, consultation_id: str, message: MessageInput) -> list[Message]:
        return usecases.post_message(self.desk, self.caller, consultation_id, message, utcnow(), render=self._render)

    def _render(self, article_id: str, values: dict) -> str:
        """A knowledge-base template filled for the chat (the knowledge base's use case)."""
        today = utcnow().astimezone(hospital_zone()).date()
        return knowledge.render_article(KnowledgeStore(self.store), self.caller, article_id, values, today)

    @rpc
    def post_attachment(self, consultation_id: str, data_b64: str, name: str | None = None) -> list[Message]:
        try:
            data = base64.b64decode(data_b64, validate=True)
        except ValueError:
            raise InvalidInput("The file is not valid base64.", [field_error("file", "is not base64")]) from None
        return usecases.post_attachment(self.desk, self.caller, consultation_id, data, name, utcnow())

    @rpc
    def get_attachment(self, consultation_id: str, attachment_id: str) -> dict:
        stored, data = usecases.attachment(self.desk, self.caller, consultation_id, attachment_id)
        return {"name": stored.name, "content_type": stored.content_type, "data_b64": base64.b64encode(data).decode()}

    @rpc
    def attachment_for_record(self, consultation_id: str, attachment_id: str, patient_id: str) -> dict:
        """For records: a file of the patient's chat, to keep in their record."""
        stored, data = usecases.attachment_for_record(self.desk, self.caller, consultation_id, attachment_id,
                                                      patient_id)
        return {"name": stored.name, "content_type": stored.content_type, "data_b64": base64.b64encode(data).decode()}

    @rpc
    def list_messages(self, consultation_id: str, after: int = 0, limit: int = 100) -> Messages:
        return usecases.messages(self.desk, self.caller, consultation_id, after, max(1, min(limit, 500)))

    @rpc
    def mark_read(self, consultation_id: str, receipt: ReadReceipt) -> dict[str, int]:
        return usecases.mark_read(self.desk, self.caller, consultation_id, receipt.seq)

    # taking chats on ---------------------------------------------------------------------------------------------
    @rpc
    def accept_consultation(self, consultation_id: str) -> Consultation:
        return usecases.accept(self.desk, self.caller, consultation_id, utcnow())

    @rpc
    def pick_consultation(self, consultation_id: str) -> Consultation:
        return usecases.pick(self.desk, self.caller, consultation_id, utcnow())

    @rpc
    def transfer_consultation(self, consultation_id: str, request: Transfer) -> Consultation:
        moved = usecases.transfer(self.desk, self.caller, consultation_id, request, utcnow())
        self.wake_desk()
        return moved

    @rpc
    def handover_notes(self, consultation_id: str) -> list[dict]:
        return usecases.handover_notes(self.desk, self.caller, consultation_id)

    @rpc
    def link_patient(self, consultation_id: str, request: PatientLink) -> Consultation:
        return usecases.link_patient(self.desk, self.caller, consultation_id, request.patient_id, utcnow())

    @rpc
    def close_consultation(self, consultation_id: str, request: Close) -> Consultation:
        closed = usecases.close(self.desk, self.caller, consultation_id, request, utcnow())
        self.wake_desk()
        return closed

    @rpc
    def rate_consultation(self, consultation_id: str, request: Rating) -> Consultation:
        return usecases.rate(self.desk, self.caller, consultation_id, request, utcnow())

    @rpc
    def mark_example(self, consultation_id: str, request: ExampleMark) -> dict:
        return usecases.mark_example(self.desk, self.caller, consultation_id, request, utcnow())

    @rpc
    def training_examples(self) -> list[dict]:
        return usecases.examples(self.desk, self.caller)

    @rpc
    def book_from_chat(self, consultation_id: str, request: dict) -> dict:
        return usecases.book_from_chat(self.desk, self.caller, consultation_id, request, self._book, utcnow())

    def _book(self, consultation_id: str, appointment: dict, key: str | None) -> dict:
        """booking's ``book_for_consultation``, and the names the patient knows (booking's catalogue) for the
        confirmation in the chat."""
        booked = call(self.booking.book_for_consultation, consultation_id, appointment, key)
        departments = {d["code"]: d for d in call(self.booking.list_departments)}
        rooms = {r["code"]: r["name"] for r in call(self.booking.list_rooms)}
        department = departments.get(booked["department"], {})
        return {**booked, "department_zh": department.get("name_zh"), "department_en": department.get("name_en"),
                "room_name": rooms.get(booked.get("room"))}

    # structured history and triage -------------------------------------------------------------------------------
    @rpc
    def get_history(self, consultation_id: str) -> History:
        return usecases.read_history(self.desk, self.caller, consultation_id)

    @rpc
    def save_history(self, consultation_id: str, patch: HistoryPatch) -> History:
        return usecases.save_history(self.desk, self.caller, consultation_id, patch, utcnow())

    @rpc
    def get_triage(self, consultation_id: str, preference: DoctorPreference | None = None) -> TriageAdvice:
        return usecases.triage_advice(self.desk, self.caller, consultation_id, self._doctors, preference)

    @rpc
    def choose_department(self, consultation_id: str, choice: DepartmentChoice) -> TriageAdvice:
        return usecases.choose_department(self.desk, self.caller, consultation_id, choice, self._doctors)

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
            return [DoctorProfile.model_validate(p.model_dump())
                    for p in knowledge.doctor_profiles(KnowledgeStore(self.store), department)], None
        free = Counter()
        for slot in slots:
            free[slot["doctor_id"]] += slot["free"]
        profiles = [DoctorProfile(doctor_id=d["id"], department=d["department"], title=d["title"],
                                  expertise=d["expertise"]) for d in listed if d.get("active", True)]
        return profiles, {p.doctor_id: free[p.doctor_id] for p in profiles}

    # the desk ----------------------------------------------------------------------------------------------------
    @rpc
    def set_presence(self, presence: Presence) -> RosterView:
        view = staffing.set_presence(self.desk, self.caller, presence.available, utcnow())
        self.wake_desk()
        return view

    @rpc
    def put_roster(self, consultant_id: str, entry: RosterEntry) -> RosterView:
        view = staffing.put_roster(self.desk, self.caller, consultant_id, entry, utcnow())
        self.wake_desk()
        return view

    @rpc
    def get_shifts(self) -> list[Shift]:
        return staffing.current_shifts(self.desk)

    @rpc
    def put_shifts(self, table: ShiftTable) -> list[Shift]:
        saved = staffing.set_shifts(self.desk, self.caller, table.shifts, utcnow())
        self.wake_desk()
        return saved

    @rpc
    def consultation_queue(self) -> list[QueueItem]:
        return staffing.queue(self.desk, self.caller, utcnow())

    @rpc
    def desk_view(self) -> DeskView:
        return staffing.desk_view(self.desk, self.caller, utcnow())
