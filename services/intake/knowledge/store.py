"""Every MongoDB query of the knowledge base (``knowledge_articles``): entries in and typed entries out (``Article``
views, the public lists' lines, search candidates, templates)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.intake.knowledge import ARTICLE_VIEWS, Article, FeeScheduleItem, Kind, PublicDoctorProfile
from services.intake.knowledge.rules import LIVE, MAX_LIVE, RETIRED, Searchable, Template, profile_taken
from wenzhen import ids
from wenzhen.storage import CapabilityStore, Index, Tx, find_and_modify
from wenzhen.timez import to_local_iso

KNOWLEDGE = "knowledge_articles"

INDEXES = [
    Index(KNOWLEDGE, [("kind", ASCENDING), ("department", ASCENDING), ("status", ASCENDING)],
          name="by_kind_department"),
    Index(KNOWLEDGE, [("condition", ASCENDING), ("status", ASCENDING)], name="by_condition"),
    Index(KNOWLEDGE, [("status", ASCENDING), ("_id", DESCENDING)], name="by_status"),
    # one live profile per doctor (retired ones stay as history)
    Index(KNOWLEDGE, [("doctor_id", ASCENDING)], unique=True, name="one_live_profile",
          options={"partialFilterExpression": {"kind": "doctor_profile", "status": "live"}}),
]
META = ("revision", "status", "created_at", "created_by", "updated_at", "updated_by", "retired_at", "retired_by")


def content(entry: BaseModel) -> dict:
    """The stored form of an entry's own fields (dates as ISO strings: BSON has no date type)."""
    return entry.model_dump(mode="json", exclude={"revision"})


def new_document(entry: BaseModel, author: str, now: datetime) -> dict:
    """A new live entry as stored, at revision 1."""
    return {"_id": ids.new_id("kb"), **content(entry), "revision": 1, "status": LIVE, "created_at": now,
            "created_by": author, "updated_at": now, "updated_by": author, "retired_at": None, "retired_by": None}


def to_article(doc: dict) -> Article:
    view = ARTICLE_VIEWS[doc["kind"]]
    own = {name: doc[name] for name in view.model_fields if name in doc and name not in ("id", *META)}
    meta = {name: doc.get(name) for name in META}
    for name in ("created_at", "updated_at", "retired_at"):
        if meta[name] is not None:
            meta[name] = to_local_iso(meta[name])
    return view.model_validate({"id": doc["_id"], **own, **meta})


class KnowledgeStore(CapabilityStore):
    # changing ----------------------------------------------------------------------------------------------------
    def live_count(self, at_most: int = MAX_LIVE) -> int:
        return len(list(self.db[KNOWLEDGE].find({"status": LIVE}, {"_id": 1}).limit(at_most)))

    def insert(self, entry: BaseModel, author: str, now: datetime) -> Article:
        doc = new_document(entry, author, now)
        try:
            self.db[KNOWLEDGE].insert_one(doc)
        except DuplicateKeyError:
            raise profile_taken() from None
        return to_article(doc)

    def update(self, article_id: str, revision: int, entry: BaseModel, by: str, now: datetime) -> Article | None:
        """Replace a live entry's content when it is still at ``revision``; None otherwise (changed or retired)."""
        update = {"$set": {**content(entry), "updated_at": now, "updated_by": by}, "$inc": {"revision": 1}}
        try:
            doc = find_and_modify(self.db[KNOWLEDGE], {"_id": article_id, "status": LIVE, "revision": revision},
                                  update)
        except DuplicateKeyError:
            raise profile_taken() from None
        return to_article(doc) if doc else None

    def revision(self, article_id: str) -> int | None:
        doc = self.db[KNOWLEDGE].find_one({"_id": article_id}, {"revision": 1, "status": 1}) or {}
        return doc.get("revision")

    def retire(self, article_id: str, by: str, now: datetime) -> Article | None:
        """Retired now, or None when it was not live."""
        doc = find_and_modify(
            self.db[KNOWLEDGE],
            {"_id": article_id, "status": LIVE},
            {"$set": {"status": RETIRED, "retired_at": now, "retired_by": by, "updated_at": now, "updated_by": by},
            "$inc": {"revision": 1}})
        return to_article(doc) if doc else None

    # reading -----------------------------------------------------------------------------------------------------
    def article(self, article_id: str) -> Article | None:
        doc = self.db[KNOWLEDGE].find_one({"_id": article_id})
        return to_article(doc) if doc else None

    def candidates(self, filters: dict[str, Any], include_retired: bool, limit: int) -> list[Searchable]:
        """Entries matching the equality ``filters`` (kind, department, condition), live only unless asked, newest
        first, at most ``limit``."""
        wanted = {**({} if include_retired else {"status": LIVE}), **filters}
        return [Searchable(id=d["_id"], kind=d["kind"], title=d.get("title") or "", body=d.get("body") or "",
                           department=d.get("department"), condition=d.get("condition"),
                           tags=tuple(d.get("tags", ())), valid_until=d.get("valid_until"))
                for d in self.db[KNOWLEDGE].find(wanted).sort("_id", DESCENDING).limit(limit)]

    def articles(self, article_ids: list[str]) -> list[Article]:
        """The entries with these ids, in that order."""
        found = {d["_id"]: d for d in self.db[KNOWLEDGE].find({"_id": {"$in": article_ids}})}
        return [to_article(found[i]) for i in article_ids if i in found]

    def template(self, article_id: str) -> Template | None:
        doc = self.db[KNOWLEDGE].find_one({"_id": article_id}, {"kind": 1, "status": 1, "body": 1, "valid_until": 1})
        if doc is None:
            return None
        return Template(id=doc["_id"], kind=doc["kind"], status=doc["status"], body=doc["body"],
                        valid_until=doc.get("valid_until"))

    def fee_items(self, department: str | None) -> list[FeeScheduleItem]:
        wanted: dict[str, Any] = {"kind": Kind.fee_item.value, "status": LIVE}
        if department is not None:
            wanted["department"] = department
        return [FeeScheduleItem(id=d["_id"], title=d["title"], body=d["body"], department=d.get("department"),
                                condition=d.get("condition"), amount_fen=d["amount_fen"], unit=d["unit"],
                                language=d["language"], updated_at=to_local_iso(d["updated_at"]))
                for d in self.db[KNOWLEDGE].find(wanted).limit(MAX_LIVE)]

    def doctor_profiles(self, department: str | None) -> list[PublicDoctorProfile]:
        """The profile fields only (no internal note, no editors' ids)."""
        wanted: dict[str, Any] = {"kind": Kind.doctor_profile.value, "status": LIVE}
        if department is not None:
            wanted["department"] = department
        return [PublicDoctorProfile(id=d["_id"], doctor_id=d["doctor_id"], name=d["title"],
                                    title=d["professional_title"], department=d.get("department"),
                                    expertise=d.get("expertise", []), sex=d.get("sex"), introduction=d["body"],
                                    language=d["language"])
                for d in self.db[KNOWLEDGE].find(wanted).limit(MAX_LIVE)]

    # the starter set ---------------------------------------------------------------------------------------------
    def is_empty(self, tx: Tx) -> bool:
        return tx[KNOWLEDGE].find_one({}, {"_id": 1}) is None

    def insert_all(self, tx: Tx, entries: list[BaseModel], author: str, now: datetime) -> None:
        for entry in entries:
            tx[KNOWLEDGE].insert_one(new_document(entry, author, now))
