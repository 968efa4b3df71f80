"""The structured history taken during a consultation (the seed's 网络咨询流程, steps 1–3), and follow-up
eligibility.

Filled by the consultant during the chat or by the patient in a form; each section is replaced whole when sent,
and its completion is shown. The content is health data: encrypted at rest, every read audited. Only completion
flags and the follow-up eligibility are kept in the clear, for the desk and for booking's rule that online
diagnosis and prescribing need a prior in-person diagnosis (互联网诊疗管理办法: follow-up visits only).
"""
from __future__ import annotations

import json
from datetime import datetime

from contracts.intake.events import ConsultationIntakeCompleted
from contracts.intake.history import SECTIONS, History, HistoryPatch
from services.intake import attachments
from services.intake.chats import CONSULTATIONS, OPEN, load
from wenzhen import audit
from wenzhen.audit import READ, UPDATE
from wenzhen.auth import Caller
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, InvalidInput, field_error
from wenzhen.storage import Store, Tx
from wenzhen.timez import utcnow


def _stored(keys: Keyring, doc: dict) -> dict[str, dict]:
    sealed = doc.get("history")
    return json.loads(keys.decrypt(sealed, field="history", record=doc["_id"])) if sealed else {}


def _view(doc: dict, sections: dict[str, dict]) -> History:
    parsed = {name: SECTIONS[name].model_validate(sections.get(name, {})) for name in SECTIONS}
    completion = {name: section.complete() for name, section in parsed.items()}
    return History(consultation_id=doc["_id"], sections={n: s.model_dump() for n, s in parsed.items()},
                   completion=completion, complete=all(completion.values()),
                   follow_up_eligible=parsed["follow_up"].eligible())


def read(store: Store, keys: Keyring, caller: Caller, consultation_id: str) -> History:
    doc = load(store, caller, consultation_id, subtype="history")
    audit.record(store, caller, READ, "read", "ConsultationHistory", consultation_id, patient_id=doc.get("patient_id"))
    return _view(doc, _stored(keys, doc))


def texts(sections: dict[str, dict]) -> list[str]:
    """The free text of a history (for the red-flag and department rules)."""
    out: list[str] = []
    for section in sections.values():
        for value in section.values():
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, str))
    return out


def save(store: Store, keys: Keyring, caller: Caller, consultation_id: str, patch: HistoryPatch,
         on_saved=None, now: datetime | None = None) -> History:
    """Replace the sections sent. ``on_saved(tx, doc, sections)`` runs in the same transaction (the red-flag check)."""
    now = now or utcnow()
    doc = load(store, caller, consultation_id, act=True, subtype="history")
    if doc["status"] not in OPEN:
        raise Conflict("The consultation is closed; its history can no longer change.")
    evidence = patch.follow_up.evidence_attachment_id if patch.follow_up else None
    if evidence and store[attachments.ATTACHMENTS].find_one({"_id": evidence, "consultation_id": consultation_id},
                                                            {"_id": 1}) is None:
        raise InvalidInput("Share the document in this chat first.",
                           [field_error("follow_up.evidence_attachment_id", "no such file in this consultation")])

    def body(tx: Tx) -> History:
        current = tx[CONSULTATIONS].find_one({"_id": consultation_id})
        sections = {**_stored(keys, current),
                    **{name: getattr(patch, name).model_dump() for name in SECTIONS if getattr(patch, name)}}
        result = _view(current, sections)
        tx[CONSULTATIONS].update_one({"_id": consultation_id}, {"$set": {
            "history": keys.encrypt(json.dumps(sections, ensure_ascii=False), field="history",
                                    record=consultation_id),
            "history_completion": result.completion, "follow_up_eligible": result.follow_up_eligible}})
        if result.complete and tx[CONSULTATIONS].find_one_and_update(
                {"_id": consultation_id, "history_completed_at": None},
                {"$set": {"history_completed_at": now}}) is not None:
            tx.emit(ConsultationIntakeCompleted(consultation_id=consultation_id, patient_id=current.get("patient_id"),
                                                follow_up_eligible=result.follow_up_eligible),
                    subject=consultation_id)
        if on_saved is not None:
            on_saved(tx, current, sections)
        audit.record(tx, caller, UPDATE, "update", "ConsultationHistory", consultation_id,
                     patient_id=current.get("patient_id"))
        return result

    return store.transact(body)
