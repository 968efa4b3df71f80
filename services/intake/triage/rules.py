"""What a rule table is, pure: its kinds (red flags, triage), the built-in defaults (version 0), and what a manager's
new version must satisfy (every rule valid, named by position; keys unique; a base version that is the newest)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.intake.triage.advice import DEFAULT_TRIAGE_RULES, TriageRule
from services.intake.triage.redflags import DEFAULT_RED_FLAGS, RedFlagRule
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error, validated
from wenzhen.fields import printable

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


def model(table: str) -> type[BaseModel]:
    """The rule model of ``table``; an unknown table is a 404 naming the known ones."""
    if table not in TABLES:
        raise NotFound(f"No rule table {table!r}; the tables are {', '.join(sorted(TABLES))}.")
    return TABLES[table]


def _copied(value: Any) -> Any:
    return [_copied(item) for item in value] if isinstance(value, list) else value


def defaults(table: str) -> RuleTable:
    """The built-in rules as version 0 (copies: a caller changing them changes nothing else)."""
    model(table)
    rules = [rule.model_copy(update={name: _copied(value) for name, value in rule if isinstance(value, list)})
             for rule in DEFAULTS[table]]
    return RuleTable(table=table, table_version=0, rules=rules)


def require_publisher(principal: Principal) -> None:
    if not principal.has_role(Role.manager):
        raise Forbidden("Only managers publish rule tables.")


def check_version(table_version: int) -> None:
    if isinstance(table_version, bool) or not isinstance(table_version, int) or table_version < 0:
        raise InvalidInput("The version is not valid.", [field_error("table_version", "must be 0 or more")])


def check_based_on(based_on: int | None) -> None:
    if based_on is not None and (isinstance(based_on, bool) or not isinstance(based_on, int) or based_on < 0):
        raise InvalidInput("The base version is not valid.", [field_error("based_on", "must be 0 or more")])


def check_history_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput("The limit is out of range.",
                           [field_error("limit", f"must be a whole number from 1 to {MAX_HISTORY}")])


def parse(table: str, rules: list[dict], note: str | None) -> tuple[list[BaseModel], str | None]:
    """A manager's new version: every rule validated (named by position, ``rules.3.keywords``), keys unique."""
    parsed = validated(_INPUTS[table], {"rules": rules, "note": note})
    key = KEYS[table]
    seen: set[str] = set()
    errors = []
    for position, rule in enumerate(parsed.rules):
        value = getattr(rule, key)
        if value in seen:
            errors.append(field_error(f"rules.{position}.{key}", f"{value} appears more than once", "duplicate"))
        seen.add(value)
    if errors:
        raise InvalidInput("Each rule needs its own " + key + ".", errors)
    return parsed.rules, parsed.note


def next_version(latest: int | None, table: str, based_on: int | None) -> int:
    """The version a publish makes, refused when the manager edited one that is no longer the newest."""
    version = (latest or 0) + 1
    if based_on is not None and based_on != version - 1:
        raise Conflict(f"Version {version - 1} of the {table} table was published since you loaded version "
                       f"{based_on}; reload and apply your changes to it.",
                       [field_error("based_on", f"the newest version is {version - 1}", "stale")])
    return version
