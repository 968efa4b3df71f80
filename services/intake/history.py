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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake import attachments
from services.intake.chats import CONSULTATIONS, OPEN, load
from services.intake.consultation_schemas import ChatText
from services.intake.events import ConsultationIntakeCompleted
from wenzhen import audit
from wenzhen.audit import READ, UPDATE
from wenzhen.auth import Caller
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, InvalidInput, field_error
from wenzhen.storage import Store, Tx
from wenzhen.timez import utcnow

Short = ChatText


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def complete(self) -> bool:
        raise TypeError  # every section below says what complete means


class Subject(Section):
    """Who the patient is: the person typing, or a relative."""

    relationship: Literal["self", "relative"] | None = None
    relation: Short | None = Field(default=None, max_length=20, description="For a relative: e.g. 母亲, child.")
    sex: Literal["male", "female", "other", "unknown"] | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    occupation: Short | None = Field(default=None, max_length=40)

    def complete(self) -> bool:
        return None not in (self.relationship, self.sex, self.age) and (
            self.relationship == "self" or bool(self.relation))


class PresentIllness(Section):
    chief_complaint: Short | None = Field(default=None, max_length=200)
    site: Short | None = Field(default=None, max_length=60, description="Where: e.g. 小腹, left knee.")
    character: Literal["dull", "sharp", "colic", "stabbing", "burning", "pressure", "itching", "other"] | None = None
    onset: Short | None = Field(default=None, max_length=60, description="When it began, in the patient's words.")
    duration: Short | None = Field(default=None, max_length=60, description="How long: e.g. 3天, two weeks.")
    severity: Literal["mild", "moderate", "severe"] | None = None

    def complete(self) -> bool:
        return bool(self.chief_complaint) and bool(self.onset or self.duration) and self.severity is not None


class PastHistory(Section):
    happened_before: bool | None = None
    cured: bool | None = None
    prior_treatment: Short | None = Field(default=None, max_length=200)
    treated_where: Short | None = Field(default=None, max_length=100)
    prior_examinations: Short | None = Field(default=None, max_length=200)
    prior_diagnosis: Short | None = Field(default=None, max_length=200)

    def complete(self) -> bool:
        return self.happened_before is False or (self.happened_before is True and self.cured is not None)


class Allergies(Section):
    none_known: bool = False
    items: list[Short] = Field(default_factory=list, max_length=20)

    def complete(self) -> bool:
        return self.none_known or bool(self.items)


class Medications(Section):
    none: bool = False
    items: list[Short] = Field(default_factory=list, max_length=30)

    def complete(self) -> bool:
        return self.none or bool(self.items)


class FollowUp(Section):
    """A prior in-person diagnosis, shown by a document shared in the chat or a hospital record reference."""

    prior_in_person_diagnosis: bool | None = None
    diagnosis: Short | None = Field(default=None, max_length=200)
    evidence_attachment_id: str | None = Field(default=None, max_length=40)
    record_reference: Short | None = Field(default=None, max_length=60, description="e.g. the hospital's visit or "
                                                                                    "record number")

    def complete(self) -> bool:
        return self.prior_in_person_diagnosis is False or self.eligible()

    def eligible(self) -> bool:
        return bool(self.prior_in_person_diagnosis and self.diagnosis
                    and (self.evidence_attachment_id or self.record_reference))


SECTIONS: dict[str, type[Section]] = {"subject": Subject, "present_illness": PresentIllness,
                                      "past_history": PastHistory, "allergies": Allergies,
                                      "medications": Medications, "follow_up": FollowUp}


class HistoryPatch(BaseModel):
    """Any sections; each one sent replaces the stored one."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    present_illness: PresentIllness | None = None
    past_history: PastHistory | None = None
    allergies: Allergies | None = None
    medications: Medications | None = None
    follow_up: FollowUp | None = None

    @model_validator(mode="after")
    def _something(self):
        if not any(getattr(self, name) is not None for name in SECTIONS):
            raise ValueError("send at least one section")
        return self


class History(BaseModel):
    consultation_id: str
    sections: dict[str, dict]
    completion: dict[str, bool]
    complete: bool
    follow_up_eligible: bool


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
