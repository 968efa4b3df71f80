"""Every MongoDB query of messages. A notification's address and text are encrypted here, on the way in, and
decrypted on the way out (for the channel, and the text for the patient who reads it)."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from contracts.notify.schemas import Notification
from services.notify.messages.rules import QueuedSms
from wenzhen.storage import CapabilityStore, Index, Tx
from wenzhen.timez import to_local_iso

NOTIFICATIONS = "notifications"
UNCONFIRMED = "unconfirmed_contacts"  # records whose number nobody confirmed (relatives'): no SMS about them
ENCRYPTED = ("to", "text")  # the address and the text name the person

INDEXES = [
    Index(NOTIFICATIONS, [("patient_id", ASCENDING), ("created_at", DESCENDING)]),
    Index(NOTIFICATIONS, [("status", ASCENDING), ("_id", ASCENDING)], name="queued"),
]


class MessageStore(CapabilityStore):
    def insert_sms(self, tx: Tx, notification_id: str, *, to: str, text: str, template: str, cause: str,
                   patient_id: str | None, now: datetime) -> None:
        tx[NOTIFICATIONS].insert_one({
            "_id": notification_id, "patient_id": patient_id, "channel": "sms", "template": template,
            "status": "queued", "cause": cause, "created_at": now,
            **{name: self.keys.encrypt(value, field=name, record=notification_id)
               for name, value in (("to", to), ("text", text))},
        })

    def note_unconfirmed(self, tx: Tx, patient_id: str, now: datetime) -> None:
        tx[UNCONFIRMED].update_one({"_id": patient_id}, {"$setOnInsert": {"seen_at": now}}, upsert=True)

    def reachable(self, patient_id: str, tx: Tx | None = None) -> bool:
        return self._on(tx)[UNCONFIRMED].find_one({"_id": patient_id}) is None

    def queued_sms(self, limit: int) -> list[QueuedSms]:
        """The oldest queued SMS first."""
        cursor = self.db[NOTIFICATIONS].find({"status": "queued", "channel": "sms"}).sort("_id", ASCENDING)
        return [QueuedSms(id=doc["_id"], **{name: self.keys.decrypt(doc[name], field=name, record=doc["_id"])
                                            for name in ENCRYPTED})
                for doc in cursor.limit(limit)]

    def mark_sent(self, notification_id: str, via: str, now: datetime) -> None:
        self.db[NOTIFICATIONS].update_one({"_id": notification_id, "status": "queued"},
                                          {"$set": {"status": "sent", "sent_at": now, "via": via}})

    def for_patient(self, patient_id: str, limit: int) -> list[Notification]:
        """A patient's notifications, newest first (the number is not shown back)."""
        cursor = self.db[NOTIFICATIONS].find({"patient_id": patient_id}).sort("created_at", DESCENDING).limit(limit)
        return [Notification(id=doc["_id"], channel=doc["channel"], template=doc["template"],
                             text=self.keys.decrypt(doc["text"], field="text", record=doc["_id"]),
                             status=doc["status"], created_at=to_local_iso(doc["created_at"]))
                for doc in cursor]
