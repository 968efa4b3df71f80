"""Triage's Nameko entrypoints: the rule tables (thin adapters over ``usecases``). The advice on a consultation is
the desk's (``desk.entrypoints``: it reads the chat), made with :class:`usecases.TriageRules`."""
from __future__ import annotations

from services.intake.triage import usecases
from services.intake.triage.rules import RuleTable
from services.intake.triage.store import RuleTableStore
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class TriageEntrypoints:
    @property
    def rule_tables(self) -> RuleTableStore:
        return RuleTableStore(self.store)

    @rpc
    def get_rule_table(self, table: str) -> RuleTable:
        return usecases.current(self.rule_tables, table)

    @rpc
    def publish_rule_table(self, table: str, rules: list[dict], note: str | None = None) -> RuleTable:
        return usecases.publish(self.rule_tables, self.caller, table, rules, note, utcnow())
