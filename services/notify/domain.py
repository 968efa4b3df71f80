"""notify's rules: which notification a fact deserves, and what it says."""
from __future__ import annotations

from pymongo import DESCENDING

from services.intake.events import PatientRegistered
from wenzhen import ids
from wenzhen.storage import Store, Tx
from wenzhen.timez import to_local_iso, utcnow

NOTIFICATIONS = "notifications"

WELCOME_TEXT = (
    "{name}，您好！您已成功注册问诊在线服务。如有不适可随时在线咨询；"
    "紧急情况请拨打120或前往最近的急诊。"
)


def record_welcome(tx: Tx, event: PatientRegistered, event_id: str) -> dict:
    """The welcome SMS for a newly registered patient (delivery channels come with notify's own issue)."""
    doc = {
        "_id": ids.new_id("ntf"),
        "patient_id": event.patient_id,
        "channel": "sms",
        "to": event.phone,
        "template": "welcome",
        "text": WELCOME_TEXT.format(name=event.name),
        "status": "recorded",
        "cause": event_id,
        "created_at": utcnow(),
    }
    tx[NOTIFICATIONS].insert_one(doc)
    return doc


def list_for_patient(store: Store, patient_id: str, limit: int = 100) -> list[dict]:
    cursor = store[NOTIFICATIONS].find({"patient_id": patient_id}).sort("created_at", DESCENDING).limit(limit)
    return [
        {
            "id": doc["_id"],
            "channel": doc["channel"],
            "template": doc["template"],
            "text": doc["text"],
            "status": doc["status"],
            "created_at": to_local_iso(doc["created_at"]),
        }
        for doc in cursor
    ]
