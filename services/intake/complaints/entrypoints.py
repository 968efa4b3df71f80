"""Complaints' Nameko entrypoints: filing, the handlers' queue, the workflow (thin adapters over ``usecases``), and
the deadlines' loop (:class:`ComplaintDeadlines`), which runs in one intake process at a time by lease."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from contracts.intake.complaints import (
    Complaint,
    ComplaintFiling,
    ComplaintQuery,
    ComplaintStatusChange,
    ComplaintSummary,
)
from services.intake.complaints import rules, usecases
from services.intake.complaints.store import ComplaintStore
from services.intake.patients.store import PatientStore
from services.intake.patients.usecases import PatientAccess
from wenzhen.config import settings
from wenzhen.crypto import keyring
from wenzhen.lease import LeasedLoop
from wenzhen.service import rpc
from wenzhen.storage import Store
from wenzhen.timez import utcnow


class ComplaintEntrypoints:
    @property
    def complaints(self) -> ComplaintStore:
        return ComplaintStore(self.store, keyring())

    @property
    def complaint_patients(self) -> PatientAccess:
        return PatientAccess(PatientStore(self.store, keyring()))

    @rpc
    def file_complaint(self, filing: ComplaintFiling) -> Complaint:
        return usecases.file_complaint(self.complaints, self.complaint_patients, self.caller, filing, utcnow())

    @rpc
    def get_complaint(self, complaint_id: str) -> Complaint:
        return usecases.get_complaint(self.complaints, self.complaint_patients, self.caller, complaint_id, utcnow())

    @rpc
    def list_complaints(self, query: ComplaintQuery | None = None) -> list[ComplaintSummary]:
        return usecases.list_complaints(self.complaints, self.complaint_patients, self.caller,
                                        query or ComplaintQuery(), utcnow())

    @rpc
    def change_complaint_status(self, complaint_id: str, change: ComplaintStatusChange) -> Complaint:
        return usecases.change_status(self.complaints, self.complaint_patients, self.caller, complaint_id, change,
                                      utcnow())


class ComplaintDeadlines(LeasedLoop):
    """Escalates overdue complaints (``usecases.escalate_overdue``) every ``rules.SWEEP_EVERY_SECONDS``, in one process
    of intake at a time (its own lease, apart from the desk's)."""

    lease_name = "intake-complaints"

    def __init__(self, store: Store, lease_seconds: float, retry_max: float,
                 poll_interval: float = rules.SWEEP_EVERY_SECONDS) -> None:
        super().__init__(store.db, lease_seconds=lease_seconds, poll_interval=poll_interval, retry_max=retry_max)
        self.complaints = ComplaintStore(store, keyring())

    def round(self) -> int:
        usecases.escalate_overdue(self.complaints, utcnow())
        return 0  # then wait a poll interval (a round does all that is due)


class ComplaintLoop(DependencyProvider):
    """Runs :class:`ComplaintDeadlines` beside the workers."""

    def setup(self) -> None:
        self.loop: ComplaintDeadlines | None = None

    def start(self) -> None:  # after every dependency's setup, so the store exists
        deps = {dep.attr_name: dep for dep in self.container.dependencies}
        cfg = settings()
        self.loop = ComplaintDeadlines(deps["store"].store, cfg.outbox_lease_seconds, cfg.outbox_retry_max)
        self.container.spawn_managed_thread(self.loop.run, identifier=self.loop.lease_name)

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.loop
