"""notify's Nameko entrypoints."""
from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from services.intake.events import PatientRegistered
from services.notify import domain
from wenzhen.consumer import consumes
from wenzhen.events import Envelope
from wenzhen.service import ServiceBase, rpc
from wenzhen.storage import Index, Tx


class NotifyService(ServiceBase):
    name = "notify"
    indexes = [Index(domain.NOTIFICATIONS, [("patient_id", ASCENDING), ("created_at", DESCENDING)])]

    @consumes("intake", "patient_registered")
    def welcome_patient(self, tx: Tx, event: PatientRegistered, envelope: Envelope) -> None:
        domain.record_welcome(tx, event, envelope.id)

    @rpc
    def list_notifications(self, patient_id: str) -> list[dict]:
        return domain.list_for_patient(self.store, patient_id)
