"""intake's Nameko service: five capabilities, each a mixin of thin entrypoints (``<capability>/entrypoints.py``), over
one database, plus their background loops — the desk loop (routing, service-level clocks: ``DeskRunner``) and the
complaints' deadlines (``ComplaintLoop``), each run by one intake process at a time (a lease).

``python -m services intake`` runs :class:`IntakeService`: everything in one process (scale it by starting more).

A capability's background work can run as a process of its own, by the classes below (``DEPLOYABLES``):
``python -m services intake --only desk`` runs :class:`IntakeDesk` (the desk loop alone, answering no RPC) and
``python -m services intake --without desk`` runs :class:`IntakeBesideDesk` (every RPC and event handler, the
complaints' loop, no desk loop). Both are ``intake`` on the broker and work on intake's database. The desk's RPCs stay
with the rest: Nameko routes every RPC of a service name to one queue whose consumers must each answer all of them,
so RPCs move only with a service name of their own (and the gateway calling it). docs/architecture.md says why.
"""
from __future__ import annotations

from services.intake.complaints import store as complaints_store
from services.intake.complaints.entrypoints import ComplaintEntrypoints, ComplaintLoop
from services.intake.desk import store as desk_store
from services.intake.desk.entrypoints import DeskEntrypoints, DeskRunner
from services.intake.knowledge import store as knowledge_store
from services.intake.knowledge.entrypoints import KnowledgeEntrypoints
from services.intake.patients import store as patients_store
from services.intake.patients.entrypoints import PatientEntrypoints
from services.intake.settings import IntakeSettings
from services.intake.triage import store as triage_store
from services.intake.triage.entrypoints import TriageEntrypoints
from wenzhen.service import ServiceBase, ServiceProcess

INDEXES = [*patients_store.INDEXES, *desk_store.INDEXES, *triage_store.INDEXES, *knowledge_store.INDEXES,
           *complaints_store.INDEXES]


class IntakeService(PatientEntrypoints, DeskEntrypoints, TriageEntrypoints, KnowledgeEntrypoints, ComplaintEntrypoints,
                    ServiceBase):
    name = "intake"
    settings_class = IntakeSettings
    indexes = INDEXES
    retired_indexes = patients_store.RETIRED_INDEXES

    complaint_deadlines = ComplaintLoop()  # the desk's loop comes with DeskEntrypoints (``wake_desk``)


class IntakeDesk(ServiceProcess):
    """The desk loop as a process of its own: routing rounds, service-level clocks and incidents on intake's database
    (its events published by intake's outbox). No RPC, so it does not join intake's RPC queue; beside it runs
    :class:`IntakeBesideDesk`."""

    name = "intake"
    settings_class = IntakeSettings
    indexes = INDEXES
    retired_indexes = patients_store.RETIRED_INDEXES

    wake_desk = DeskRunner()


class IntakeBesideDesk(IntakeService):
    """Everything but the desk loop, for a deployment that runs :class:`IntakeDesk` apart. The desk's RPCs cannot
    wake that loop (another process): it polls every ``DESK_POLL_INTERVAL``."""

    wake_desk = DeskRunner(enabled=False)


DEPLOYABLES = {("only", "desk"): IntakeDesk, ("without", "desk"): IntakeBesideDesk}
