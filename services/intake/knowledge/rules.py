"""The knowledge base's decisions, pure: who edits and reads, how a search matches and ranks, when a programme has
ended, and how a template's variables are filled."""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from contracts.intake.knowledge import TEXT, VARIABLES, Kind, parse_template
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error

EDITORS = (Role.manager,)
READERS = (Role.consultant, Role.team_lead, Role.manager)
MAX_LIVE = 2000  # live entries; a search scans them all (≈60 ms on SecantusDB at this size)
MAX_SCAN = 5000  # entries a search reads at most, newest first (retired ones count when asked for)
MAX_TERMS = 8

LIVE, RETIRED = "live", "retired"
KIND_ORDER = {kind: n for n, kind in enumerate(Kind)}


@dataclass(frozen=True)
class Searchable:
    """What a search matches and orders an entry by."""

    id: str
    kind: str
    title: str
    body: str
    department: str | None = None
    condition: str | None = None
    tags: tuple[str, ...] = ()
    valid_until: str | None = None  # a programme's last day (ISO date)


@dataclass(frozen=True)
class Template:
    """An entry as a template to fill: stored text, not re-validated (a rule may have changed since)."""

    id: str
    kind: str
    status: str
    body: str
    valid_until: str | None = None


def require_editor(principal: Principal) -> None:
    if not principal.has_role(*EDITORS):
        raise Forbidden("Only managers maintain the knowledge base.")


def require_reader(principal: Principal) -> None:
    if not principal.has_role(*READERS):
        raise Forbidden("The knowledge base is for consultants, team leads and managers.")


def not_found(article_id: str) -> NotFound:
    return NotFound(f"No knowledge-base entry with id {article_id}.")


def profile_taken() -> Conflict:
    return Conflict("This doctor has a live profile already; change that one.",
                    [field_error("doctor_id", "has a live profile already", "duplicate")])


def fold(text: str | None) -> str:
    """For matching: full-width letters and digits as plain ones, case folded (Chinese is unchanged)."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def terms(q: str | None) -> list[str]:
    found = list(dict.fromkeys(fold(q).split()))
    if len(found) > MAX_TERMS:
        raise InvalidInput("Search for fewer words.", [field_error("q", f"has more than {MAX_TERMS} words",
                                                                   "too_long")])
    return found


def rank(entry: Searchable, words: list[str]) -> tuple[int, int] | None:
    """A sort key (smaller is better) when every word occurs somewhere, else None: more words in the title, then in
    the condition or tags, then the body."""
    title, body = fold(entry.title), fold(entry.body)
    labels = [fold(entry.condition), *(fold(tag) for tag in entry.tags)]
    in_title = in_labels = 0
    for word in words:
        if word in title:
            in_title += 1
        elif any(word in label for label in labels):
            in_labels += 1
        elif word not in body:
            return None
    return -in_title, -in_labels


def ordered(entries: list[Searchable], words: list[str]) -> list[Searchable]:
    """With words: the matching entries, best first (rank, then title, then id). Without: by kind, department and
    title."""
    if words:
        ranked = [(key, entry) for entry in entries if (key := rank(entry, words)) is not None]
        ranked.sort(key=lambda pair: (pair[0], fold(pair[1].title), pair[1].id))
        return [entry for _, entry in ranked]
    return sorted(entries, key=lambda e: (KIND_ORDER.get(e.kind, len(KIND_ORDER)), e.department or "", fold(e.title),
                                          e.id))


def ended(kind: str, valid_until: str | None, today: date) -> bool:
    """A programme whose last day (local date, stored as ISO text) is before ``today``."""
    return kind == Kind.programme and valid_until is not None and valid_until < today.isoformat()


def public_order(department: str | None, title: str, article_id: str) -> tuple:
    """The neutral order of the public lists: department (hospital-wide first), then title."""
    return department or "", fold(title), article_id


def render(article: Any, values: Mapping[str, str]) -> str:
    """The entry's body with its variables filled from ``values``; values it does not use are ignored.

    A variable without a (non-empty) value raises InvalidInput naming it (``values.surname``). Values are inserted
    as they are, once: a value that itself looks like ``{doctor}`` stays text.
    """
    body = article["body"] if isinstance(article, Mapping) else article.body
    try:
        parts = parse_template(body)
    except ValueError as exc:  # stored before a rule changed: say so rather than guess
        raise InvalidInput("The entry's text cannot be filled in.", [field_error("body", str(exc))]) from None
    missing = [value for part, value in parts if part != TEXT and not _filled(values.get(value))]
    if missing:
        raise InvalidInput("Give a value for every variable the entry uses.",
                           [field_error(f"values.{name}", f"is needed: {VARIABLES[name]}", "missing")
                            for name in dict.fromkeys(missing)])
    return "".join(value if part == TEXT else values[value].strip() for part, value in parts)


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def renderable(template: Template, today: date) -> Template:
    """A live entry whose programme (if it is one) has not ended; otherwise a 409 naming why."""
    if template.status != LIVE:
        raise Conflict("The entry is retired; search for the current one.",
                       [field_error("status", "is retired", "state")])
    if ended(template.kind, template.valid_until, today):
        raise Conflict(f"The programme ended on {template.valid_until}.",
                       [field_error("valid_until", "has passed", "state")])
    return template
