"""Triage's store, in memory: the same named methods as ``RuleTableStore`` over a dict of versions."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.intake.triage.rules import RuleTable
from tests.fakes import FakeCapabilityStore
from wenzhen.errors import Conflict, field_error


class FakeRuleTableStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.versions: dict[tuple[str, int], RuleTable] = {}

    def latest(self, table: str, tx=None) -> RuleTable | None:
        found = [v for (name, _), v in self.versions.items() if name == table]
        return max(found, key=lambda v: v.table_version) if found else None

    def latest_version(self, table: str, tx=None) -> int | None:
        latest = self.latest(table)
        return latest.table_version if latest else None

    def version(self, table: str, table_version: int) -> RuleTable | None:
        return self.versions.get((table, table_version))

    def history(self, table: str, limit: int) -> list[RuleTable]:
        return sorted((v for (name, _), v in self.versions.items() if name == table),
                      key=lambda v: -v.table_version)[:limit]

    def insert_version(self, tx, table: str, version: int, rules: list[BaseModel], note: str | None,
                       published_by: str, now: datetime) -> RuleTable:
        if (table, version) in self.versions:  # the unique index on (table, table_version)
            raise Conflict("Another version was published at the same time; reload and try again.",
                           [field_error("table_version", "was taken by a concurrent publish", "duplicate")])
        self.versions[(table, version)] = RuleTable(table=table, table_version=version, rules=list(rules),
                                                    published_at=now, published_by=published_by, note=note)
        return self.versions[(table, version)]
