"""Messages' store in memory: the same named methods as ``MessageStore`` over dicts (nothing encrypted here; the
encryption at rest is the real store's, see integration/test_gateway.py's raw dump)."""
from __future__ import annotations

from datetime import datetime

from contracts.notify.schemas import Notification
from services.notify.messages.rules import QueuedSms
from tests.fakes import FakeCapabilityStore
from wenzhen.timez import to_local_iso


class FakeMessageStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.notifications: dict[str, dict] = {}
        self.unconfirmed: set[str] = set()

    def insert_sms(self, tx, notification_id: str, *, to, text, template, cause, patient_id, now: datetime) -> None:
        self.notifications[notification_id] = {"id": notification_id, "to": to, "text": text, "template": template,
                                               "cause": cause, "patient_id": patient_id, "channel": "sms",
                                               "status": "queued", "created_at": now}

    def note_unconfirmed(self, tx, patient_id: str, now: datetime) -> None:
        self.unconfirmed.add(patient_id)

    def reachable(self, patient_id: str, tx=None) -> bool:
        return patient_id not in self.unconfirmed

    def queued_sms(self, limit: int) -> list[QueuedSms]:
        queued = sorted((n for n in self.notifications.values() if n["status"] == "queued"), key=lambda n: n["id"])
        return [QueuedSms(n["id"], n["to"], n["text"]) for n in queued[:limit]]

    def mark_sent(self, notification_id: str, via: str, now: datetime) -> None:
        if self.notifications[notification_id]["status"] == "queued":
            self.notifications[notification_id].update(status="sent", sent_at=now, via=via)

    def for_patient(self, patient_id: str, limit: int) -> list[Notification]:
        mine = sorted((n for n in self.notifications.values() if n["patient_id"] == patient_id),
                      key=lambda n: n["created_at"], reverse=True)
        return [Notification(id=n["id"], channel=n["channel"], template=n["template"], text=n["text"],
                             status=n["status"], created_at=to_local_iso(n["created_at"])) for n in mine[:limit]]


class FakeChannel:
    """An SMS channel that keeps what it sent; ``fail_on``: the send (0-based) that fails like a gateway down."""

    name = "test"

    def __init__(self, fail_on: int | None = None):
        self.sent: list[tuple[str, str, str]] = []
        self.fail_on = fail_on

    def send(self, message_id: str, to: str, text: str) -> None:
        if self.fail_on is not None and len(self.sent) == self.fail_on:
            raise ConnectionError("SMS gateway down")
        self.sent.append((message_id, to, text))
