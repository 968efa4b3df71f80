"""Every MongoDB query of the code lists: one collection per list, an entry per code (``_id``), its ``revision``
moved on by the conditional update that changes it."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pymongo import ASCENDING
from pymongo.database import Database

from contracts.records.codes import DiagnosisCodeEntry, DrugEntry
from services.records.codes.rules import FORMULARY, ICD10
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read

DATA = Path(__file__).resolve().parent.parent / "data"
FILES = {ICD10: DATA / "icd10.json", FORMULARY: DATA / "formulary.json"}
COLLECTIONS = {ICD10: "icd10_codes", FORMULARY: "formulary"}
MODELS = {ICD10: DiagnosisCodeEntry, FORMULARY: DrugEntry}

INDEXES = [Index(COLLECTIONS[name], [("active", ASCENDING), ("_id", ASCENDING)], name="active_by_code")
           for name in (ICD10, FORMULARY)]


def _entry(code_list: str, doc: dict):
    return MODELS[code_list].model_validate({**{k: v for k, v in doc.items() if k not in ("_id", "updated_at",
                                                                                          "updated_by")},
                                             "code": doc["_id"]})


def shipped_digest() -> str:
    digest = hashlib.sha256()
    for path in FILES.values():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_shipped(db: Database) -> None:
    """Insert the shipped entries that are missing (an upgrade: idempotent, and a hospital's changes stay)."""
    for code_list, path in FILES.items():
        for raw in json.loads(path.read_text("utf-8")):
            entry = MODELS[code_list].model_validate({**raw, "revision": 1})
            doc = entry.model_dump(mode="json", exclude={"code"})
            db[COLLECTIONS[code_list]].update_one({"_id": entry.code}, {"$setOnInsert": doc}, upsert=True)


UPGRADES = {f"code lists {shipped_digest()}": load_shipped}


class CodeStore(CapabilityStore):
    def entries(self, code_list: str, codes: Iterable[str], tx: Tx | None = None) -> dict:
        """The entries of these codes (active or not), by code: one indexed read."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        on = tx if tx is not None else self.db
        return {d["_id"]: _entry(code_list, d) for d in on[COLLECTIONS[code_list]].find({"_id": {"$in": wanted}})}

    def listing(self, code_list: str, include_inactive: bool) -> list:
        """The whole list in code order (a few hundred entries: a hospital's list, not a history)."""
        query = {} if include_inactive else {"active": True}
        return [_entry(code_list, d) for d in self.db[COLLECTIONS[code_list]].find(query).sort("_id", ASCENDING)]

    def put(self, tx: Tx, code_list: str, code: str, values: dict, revision: int | None, actor: str,
            now: datetime):
        """Insert a new code (``revision`` None) or change the one at ``revision``; None when someone else changed it
        first (or the code exists already)."""
        collection = tx[COLLECTIONS[code_list]]
        stamp = {"updated_at": now, "updated_by": actor}
        if revision is None:
            done = collection.update_one({"_id": code}, {"$setOnInsert": {**values, **stamp, "revision": 1}},
                                         upsert=True)
            return _entry(code_list, collection.find_one({"_id": code})) if done.upserted_id is not None else None
        doc = update_and_read(collection, {"_id": code, "revision": revision},
                              {"$set": {**values, **stamp}, "$inc": {"revision": 1}})
        return _entry(code_list, doc) if doc is not None else None
