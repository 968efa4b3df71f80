"""Versioned rule tables (red flags, triage) that managers edit.

Every edit is a new, complete version; nothing is changed in place, so the version a red-flag alert or a
department advice was made with (``rules_version`` in the events) can always be looked up. Version 0 is the
built-in defaults and is never stored: a hospital that has published nothing runs on them.

Two managers publishing at the same moment must not both get version *n*: the unique index on
(table, table_version) makes the second insert fail, which is reported as a Conflict. A manager who edited
version *n* may also say so (``based_on``) and is refused if someone else published in between, instead of
silently replacing the other's edit.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.intake.events import RuleTablePublished
from services.intake.redflags import DEFAULT_RED_FLAGS, RedFlagRule
from services.intake.triage import DEFAULT_TRIAGE_RULES, TriageRule
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error, validated
from wenzhen.fields import printable
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, utcnow

RULE_TABLES = "rule_tables"

INDEXES = [
    Index(RULE_TABLES, [("table", ASCENDING), ("table_version", ASCENDING)], unique=True,
          name="unique_table_version"),
]

TABLES: dict[str, type[BaseModel]] = {"red_flags": RedFlagRule, "triage": TriageRule}
DEFAULTS: dict[str, list[BaseModel]] = {"red_flags": DEFAULT_RED_FLAGS, "triage": DEFAULT_TRIAGE_RULES}
KEYS = {"red_flags": "code", "triage": "department"}  # what must be unique among a table's rules
MAX_RULES = 500
MAX_HISTORY = 100

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                 AfterValidator(printable)]


class _RedFlagsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RedFlagRule] = Field(min_length=1, max_length=MAX_RULES)
    note: Note | None = None


class _TriageInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[TriageRule] = Field(min_length=1, max_length=MAX_RULES)
    note: Note | None = None


_INPUTS: dict[str, type[BaseModel]] = {"red_flags": _RedFlagsInput, "triage": _TriageInput}


class RuleTable(BaseModel):
    """One version of a rule table."""

    table: str = Field(description="red_flags or triage")
    table_version: int = Field(ge=0, description="0: the built-in defaults (never stored)")
    rules: list[RedFlagRule] | list[TriageRule]
    published_at: datetime | None = Field(default=None, description="UTC; None for the defaults")
    published_by: str | None = Field(default=None, description="The manager's account id")
    note: str | None = None


def _model(table: str) -> type[BaseModel]:
    if table not in TABLES:
        raise NotFound(f"No rule table {table!r}; the tables are {', '.join(sorted(TABLES))}.")
    return TABLES[table]


def _doc_id(table: str, version: int) -> str:
    # deterministic, so a second insert of the same version fails on _id as well as on the unique index
    return f"{table}.v{version}"


def _latest(target: Store | Tx, table: str) -> dict | None:
    """The newest stored version's document (one indexed query)."""
    for doc in target[RULE_TABLES].find({"table": table}).sort("table_version", DESCENDING).limit(1):
        return doc
    return None


def _to_table(doc: dict) -> RuleTable:
    # the rules were validated when they were published; validating ~2,000 terms again on every chat message
    # would cost milliseconds for nothing
    model = _model(doc["table"])
    return RuleTable(table=doc["table"], table_version=doc["table_version"],
                     rules=[model.model_construct(**rule) for rule in doc["rules"]],
                     published_at=as_utc(doc["published_at"]), published_by=doc.get("published_by"),
                     note=doc.get("note"))


def _copied(value: Any) -> Any:
    return [_copied(item) for item in value] if isinstance(value, list) else value


def defaults(table: str) -> RuleTable:
    """The built-in rules as version 0 (copies: a caller changing them changes nothing else)."""
    _model(table)
    rules = [rule.model_copy(update={name: _copied(value) for name, value in rule if isinstance(value, list)})
             for rule in DEFAULTS[table]]
    return RuleTable(table=table, table_version=0, rules=rules)


def current(store: Store | Tx, table: str) -> RuleTable:
    """The newest published version, or the built-in defaults as version 0 (in a transaction too)."""
    _model(table)
    doc = _latest(store, table)
    return defaults(table) if doc is None else _to_table(doc)


def get_version(store: Store | Tx, table: str, table_version: int) -> RuleTable:
    """One version (0: the defaults), e.g. the one an event's ``rules_version`` names."""
    _model(table)
    if isinstance(table_version, bool) or not isinstance(table_version, int) or table_version < 0:
        raise InvalidInput("The version is not valid.", [field_error("table_version", "must be 0 or more")])
    if table_version == 0:
        return defaults(table)
    doc = store[RULE_TABLES].find_one({"table": table, "table_version": table_version})
    if doc is None:
        raise NotFound(f"No version {table_version} of the {table} table.")
    return _to_table(doc)


def history(store: Store | Tx, table: str, limit: int = 20) -> list[RuleTable]:
    """Published versions, newest first, with their rules (the defaults, version 0, are not listed)."""
    _model(table)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput("The limit is out of range.",
                           [field_error("limit", f"must be a whole number from 1 to {MAX_HISTORY}")])
    cursor = store[RULE_TABLES].find({"table": table}).sort("table_version", DESCENDING).limit(limit)
    return [_to_table(doc) for doc in cursor]


def _duplicates(table: str, rules: list[BaseModel]) -> list[dict]:
    key = KEYS[table]
    seen: set[str] = set()
    errors = []
    for position, rule in enumerate(rules):
        value = getattr(rule, key)
        if value in seen:
            errors.append(field_error(f"rules.{position}.{key}", f"{value} appears more than once", "duplicate"))
        seen.add(value)
    return errors


def publish(store: Store, caller: Caller, table: str, rules: list[dict], note: str | None = None, *,
            based_on: int | None = None) -> RuleTable:
    """Validate ``rules`` and store them as the table's next version; managers only.

    ``based_on``: the version the manager edited; when given and another version was published since, the
    publish is refused (Conflict) rather than replacing that version's changes unseen.
    """
    if not caller.principal.has_role(Role.manager):
        raise Forbidden("Only managers publish rule tables.")
    _model(table)
    if based_on is not None and (isinstance(based_on, bool) or not isinstance(based_on, int) or based_on < 0):
        raise InvalidInput("The base version is not valid.", [field_error("based_on", "must be 0 or more")])
    data: dict[str, Any] = {"rules": rules, "note": note}
    parsed = validated(_INPUTS[table], data)
    duplicates = _duplicates(table, parsed.rules)
    if duplicates:
        raise InvalidInput("Each rule needs its own " + KEYS[table] + ".", duplicates)

    def body(tx: Tx) -> dict:
        latest = _latest(tx, table)
        version = (latest["table_version"] if latest else 0) + 1
        if based_on is not None and based_on != version - 1:
            raise Conflict(f"Version {version - 1} of the {table} table was published since you loaded version "
                           f"{based_on}; reload and apply your changes to it.",
                           [field_error("based_on", f"the newest version is {version - 1}", "stale")])
        doc = {"_id": _doc_id(table, version), "table": table, "table_version": version,
               "rules": [rule.model_dump(mode="json") for rule in parsed.rules],
               "published_at": utcnow(), "published_by": caller.principal.sub, "note": parsed.note}
        tx[RULE_TABLES].insert_one(doc)
        tx.emit(RuleTablePublished(table=table, table_version=version, rules=len(parsed.rules)),
                subject=f"rules-{table}")
        return doc

    try:
        doc = store.transact(body)
    except DuplicateKeyError:
        raise Conflict("Another version was published at the same time; reload and try again.",
                       [field_error("table_version", "was taken by a concurrent publish", "duplicate")]) from None
    return _to_table(doc)
