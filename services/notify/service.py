"""notify's Nameko entrypoints."""
from __future__ import annotations

from nameko.rpc import ServiceRpc
from pymongo import ASCENDING, DESCENDING

from services.intake.events import PatientRegistered
from services.notify import domain
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import ServiceBase, call, rpc
from wenzhen.storage import Index, Tx


class NotifyService(ServiceBase):
    name = "notify"
    indexes = [Index(domain.NOTIFICATIONS, [("patient_id", ASCENDING), ("created_at", DESCENDING)])]

    intake = ServiceRpc("intake")

    @consumes("intake", "patient_registered")
    def welcome_patient(self, tx: Tx, event: PatientRegistered, envelope: Envelope) -> None:
        contact = call(self.intake.get_contact, event.patient_id)
        domain.record_welcome(tx, keyring(), event.patient_id, contact, envelope.id)

    @rpc
    def list_notifications(self, patient_id: str) -> list[dict]:
        return domain.list_for_patient(self.store, keyring(), patient_id)
