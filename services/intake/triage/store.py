"""Every MongoDB query of triage: the rule tables' versions (``rule_tables``), one document per version, ``_id``
``<table>.v<n>``, with a unique index on (table, table_version)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.intake.triage.rules import RuleTable, model
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import CapabilityStore, Index, Tx
from wenzhen.timez import as_utc

RULE_TABLES = "rule_tables"

INDEXES = [
    Index(RULE_TABLES, [("table", ASCENDING), ("table_version", ASCENDING)], unique=True,
          name="unique_table_version"),
]


def _doc_id(table: str, version: int) -> str:
    # deterministic, so a second insert of the same version fails on _id as well as on the unique index
    return f"{table}.v{version}"


def _to_table(doc: dict) -> RuleTable:
    # the rules were validated when they were published; validating ~2,000 terms again on every chat message
    # would cost milliseconds for nothing
    rule = model(doc["table"])
    return RuleTable(table=doc["table"], table_version=doc["table_version"],
                     rules=[rule.model_construct(**item) for item in doc["rules"]],
                     published_at=as_utc(doc["published_at"]), published_by=doc.get("published_by"),
                     note=doc.get("note"))


class RuleTableStore(CapabilityStore):
    def latest(self, table: str, tx: Tx | None = None) -> RuleTable | None:
        """The newest stored version (one indexed query), in ``tx`` when given."""
        for doc in self._on(tx)[RULE_TABLES].find({"table": table}).sort("table_version", DESCENDING).limit(1):
            return _to_table(doc)
        return None

    def latest_version(self, table: str, tx: Tx | None = None) -> int | None:
        for doc in self._on(tx)[RULE_TABLES].find({"table": table}, {"table_version": 1}).sort(
                "table_version", DESCENDING).limit(1):
            return doc["table_version"]
        return None

    def version(self, table: str, table_version: int) -> RuleTable | None:
        doc = self.db[RULE_TABLES].find_one({"table": table, "table_version": table_version})
        return _to_table(doc) if doc else None

    def history(self, table: str, limit: int) -> list[RuleTable]:
        cursor = self.db[RULE_TABLES].find({"table": table}).sort("table_version", DESCENDING).limit(limit)
        return [_to_table(doc) for doc in cursor]

    def insert_version(self, tx: Tx, table: str, version: int, rules: list[BaseModel], note: str | None,
                       published_by: str, now: datetime) -> RuleTable:
        doc = {"_id": _doc_id(table, version), "table": table, "table_version": version,
               "rules": [rule.model_dump(mode="json") for rule in rules],
               "published_at": now, "published_by": published_by, "note": note}
        try:
            tx[RULE_TABLES].insert_one(doc)
        except DuplicateKeyError:  # a concurrent publish took the version: the unique index decides
            raise Conflict("Another version was published at the same time; reload and try again.",
                           [field_error("table_version", "was taken by a concurrent publish", "duplicate")]
                           ) from None
        return _to_table(doc)
