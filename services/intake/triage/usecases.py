"""Triage's operations: the rule tables in force, their versions and history, publishing a new version (authorize →
store → emit); and :class:`TriageRules`, the narrow interface through which the desk uses them."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from contracts.intake.consultations import DoctorPreference
from contracts.intake.events import RuleTablePublished
from services.intake.triage import advice, redflags, rules
from services.intake.triage.advice import DepartmentAdvice, DoctorAdvice, DoctorProfile
from services.intake.triage.rules import RuleTable
from services.intake.triage.store import RuleTableStore
from wenzhen.auth import Caller
from wenzhen.errors import NotFound
from wenzhen.storage import Tx


def current(store: RuleTableStore, table: str, tx: Tx | None = None) -> RuleTable:
    """The newest published version, or the built-in defaults as version 0 (in a transaction too)."""
    rules.model(table)
    return store.latest(table, tx) or rules.defaults(table)


def get_version(store: RuleTableStore, table: str, table_version: int) -> RuleTable:
    """One version (0: the defaults), e.g. the one an event's ``rules_version`` names."""
    rules.model(table)
    rules.check_version(table_version)
    if table_version == 0:
        return rules.defaults(table)
    found = store.version(table, table_version)
    if found is None:
        raise NotFound(f"No version {table_version} of the {table} table.")
    return found


def history(store: RuleTableStore, table: str, limit: int = 20) -> list[RuleTable]:
    """Published versions, newest first, with their rules (the defaults, version 0, are not listed)."""
    rules.model(table)
    rules.check_history_limit(limit)
    return store.history(table, limit)


def publish(store: RuleTableStore, caller: Caller, table: str, items: list[dict], note: str | None, now: datetime,
            *, based_on: int | None = None) -> RuleTable:
    """Validate ``items`` and store them as the table's next version; managers only. ``based_on``: the version the
    manager edited; when another was published since, the publish is refused (409) rather than replacing it unseen."""
    rules.require_publisher(caller.principal)
    rules.model(table)
    rules.check_based_on(based_on)
    parsed, clean_note = rules.parse(table, items, note)

    def body(tx: Tx) -> RuleTable:
        version = rules.next_version(store.latest_version(table, tx), table, based_on)
        published = store.insert_version(tx, table, version, parsed, clean_note, caller.principal.sub, now)
        tx.emit(RuleTablePublished(table=table, table_version=version, rules=len(parsed)), subject=f"rules-{table}")
        return published

    return store.transact(body)


class TriageRules:
    """What the desk asks of triage, and nothing more: red flags in texts (and the advice that answers them), a
    department guessed from a first message, the departments' names, and the department and doctor advice, each by
    the table in force (in the caller's transaction when given one)."""

    def __init__(self, store: RuleTableStore) -> None:
        self.store = store

    def red_flags(self, texts: Iterable[str | None], known: Iterable[str], tx: Tx | None = None
                  ) -> tuple[list[str], int]:
        """The codes of the red flags found in ``texts`` that are not in ``known``, and the table's version."""
        table = current(self.store, "red_flags", tx)
        seen = set(known)
        fresh = [hit.code for hit in redflags.scan(list(texts), table.rules) if hit.code not in seen]
        return fresh, table.table_version

    def guess_department(self, text: str) -> str | None:
        found = advice.recommend_departments([text], current(self.store, "triage").rules, limit=1)
        return found[0].department if found else None

    def department_names(self) -> dict[str, tuple[str, str]]:
        """Department code -> (Chinese, English) name, from the triage table in force."""
        return {r.department: (r.department_zh, r.department_en) for r in current(self.store, "triage").rules}

    def departments(self, texts: list[str]) -> tuple[int, list[DepartmentAdvice]]:
        """The table's version and its department advice for ``texts``, best first."""
        table = current(self.store, "triage")
        return table.table_version, advice.recommend_departments(texts, table.rules)

    def doctors(self, department: str, texts: list[str], profiles: list[DoctorProfile], free: dict[str, int] | None,
                preference: DoctorPreference | None = None) -> list[DoctorAdvice]:
        """Doctors of ``department`` best first, each with its reasons (``advice.recommend_doctors``)."""
        return advice.recommend_doctors(department, texts, profiles, free, preference)

    @staticmethod
    def emergency_advice(language: str) -> str:
        """What a patient with a red flag is told at once (call 120, the nearest emergency department)."""
        return redflags.EMERGENCY_ADVICE[language]
