"""The knowledge base's store, in memory: the same named methods as ``KnowledgeStore`` over a dict of documents (as
the real store builds them: ``store.new_document``, read back by ``store.to_article``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from contracts.intake.knowledge import Article, FeeScheduleItem, Kind, PublicDoctorProfile
from services.intake.knowledge import store as real
from services.intake.knowledge.rules import LIVE, RETIRED, Searchable, Template, profile_taken
from tests.fakes import FakeCapabilityStore
from wenzhen.timez import to_local_iso


class FakeKnowledgeStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.docs: dict[str, dict] = {}

    def _check_profile(self, doc: dict) -> None:  # the unique partial index one_live_profile
        if doc.get("kind") == Kind.doctor_profile and doc.get("status") == LIVE and any(
                other["_id"] != doc["_id"] and other.get("kind") == Kind.doctor_profile and other["status"] == LIVE
                and other.get("doctor_id") == doc.get("doctor_id") for other in self.docs.values()):
            raise profile_taken()

    def live_count(self, at_most: int) -> int:
        return min(at_most, sum(1 for d in self.docs.values() if d["status"] == LIVE))

    def insert(self, entry: BaseModel, author: str, now: datetime) -> Article:
        doc = real.new_document(entry, author, now)
        self._check_profile(doc)
        self.docs[doc["_id"]] = doc
        return real.to_article(doc)

    def update(self, article_id, revision, entry, by, now) -> Article | None:
        doc = self.docs.get(article_id)
        if doc is None or doc["status"] != LIVE or doc["revision"] != revision:
            return None
        kept = {name: doc[name] for name in real.META if name in doc}
        changed = {"_id": article_id, **kept, **real.content(entry), "updated_at": now, "updated_by": by,
                   "revision": revision + 1}
        self._check_profile(changed)
        self.docs[article_id] = changed
        return real.to_article(changed)

    def revision(self, article_id: str) -> int | None:
        return self.docs.get(article_id, {}).get("revision")

    def retire(self, article_id, by, now) -> Article | None:
        doc = self.docs.get(article_id)
        if doc is None or doc["status"] != LIVE:
            return None
        doc.update(status=RETIRED, retired_at=now, retired_by=by, updated_at=now, updated_by=by,
                   revision=doc["revision"] + 1)
        return real.to_article(doc)

    def article(self, article_id: str) -> Article | None:
        doc = self.docs.get(article_id)
        return real.to_article(doc) if doc else None

    def candidates(self, filters: dict[str, Any], include_retired: bool, limit: int) -> list[Searchable]:
        found = [d for d in sorted(self.docs.values(), key=lambda d: d["_id"], reverse=True)
                 if (include_retired or d["status"] == LIVE) and all(d.get(k) == v for k, v in filters.items())]
        return [Searchable(id=d["_id"], kind=d["kind"], title=d.get("title") or "", body=d.get("body") or "",
                           department=d.get("department"), condition=d.get("condition"),
                           tags=tuple(d.get("tags", ())), valid_until=d.get("valid_until")) for d in found[:limit]]

    def articles(self, article_ids: list[str]) -> list[Article]:
        return [real.to_article(self.docs[i]) for i in article_ids if i in self.docs]

    def template(self, article_id: str) -> Template | None:
        d = self.docs.get(article_id)
        return None if d is None else Template(id=d["_id"], kind=d["kind"], status=d["status"], body=d["body"],
                                               valid_until=d.get("valid_until"))

    def _live(self, kind: Kind, department: str | None) -> list[dict]:
        return [d for d in self.docs.values() if d["kind"] == kind.value and d["status"] == LIVE
                and department in (None, d.get("department"))]

    def fee_items(self, department: str | None) -> list[FeeScheduleItem]:
        return [FeeScheduleItem(id=d["_id"], title=d["title"], body=d["body"], department=d.get("department"),
                                condition=d.get("condition"), amount_fen=d["amount_fen"], unit=d["unit"],
                                language=d["language"], updated_at=to_local_iso(d["updated_at"]))
                for d in self._live(Kind.fee_item, department)]

    def doctor_profiles(self, department: str | None) -> list[PublicDoctorProfile]:
        return [PublicDoctorProfile(id=d["_id"], doctor_id=d["doctor_id"], name=d["title"],
                                    title=d["professional_title"], department=d.get("department"),
                                    expertise=d.get("expertise", []), sex=d.get("sex"), introduction=d["body"],
                                    language=d["language"]) for d in self._live(Kind.doctor_profile, department)]

    def is_empty(self, tx) -> bool:
        return not self.docs

    def insert_all(self, tx, entries, author, now) -> None:
        for entry in entries:
            doc = real.new_document(entry, author, now)
            self.docs[doc["_id"]] = doc
