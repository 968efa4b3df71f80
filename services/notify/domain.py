"""notify's rules: which notification a fact deserves, and what it says."""
from __future__ import annotations

from pymongo import DESCENDING

from wenzhen import ids
from wenzhen.crypto import Keyring
from wenzhen.storage import Store, Tx
from wenzhen.timez import to_local_iso, utcnow

NOTIFICATIONS = "notifications"
ENCRYPTED = ("to", "text")  # the address and the text name the patient

WELCOME_TEXT = (
    "{name}，您好！您已成功注册问诊在线服务。如有不适可随时在线咨询；"
    "紧急情况请拨打120或前往最近的急诊。"
)


def record_welcome(tx: Tx, keys: Keyring, patient_id: str, contact: dict, event_id: str) -> dict:
    """The welcome SMS for a newly registered patient (delivery channels come with notify's own issue)."""
    notification_id = ids.new_id("ntf")
    plain = {"to": contact["phone"], "text": WELCOME_TEXT.format(name=contact["name"])}
    doc = {
        "_id": notification_id,
        "patient_id": patient_id,
        "channel": "sms",
        "template": "welcome",
        "status": "recorded",
        "cause": event_id,
        "created_at": utcnow(),
        **{field: keys.encrypt(plain[field], field=field, record=notification_id) for field in ENCRYPTED},
    }
    tx[NOTIFICATIONS].insert_one(doc)
    return doc


def list_for_patient(store: Store, keys: Keyring, patient_id: str, limit: int = 100) -> list[dict]:
    cursor = store[NOTIFICATIONS].find({"patient_id": patient_id}).sort("created_at", DESCENDING).limit(limit)
    return [
        {
            "id": doc["_id"],
            "channel": doc["channel"],
            "template": doc["template"],
            "text": keys.decrypt(doc["text"], field="text", record=doc["_id"]),
            "status": doc["status"],
            "created_at": to_local_iso(doc["created_at"]),
        }
        for doc in cursor
    ]
