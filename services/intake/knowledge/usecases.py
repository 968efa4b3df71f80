"""The knowledge base's operations: authorize → store (nothing here is personal data: no events, no audit; every
change names who made it)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from contracts.intake.knowledge import (
    Article,
    ArticleChange,
    ArticleInput,
    FeeScheduleItem,
    KnowledgeQuery,
    PublicDoctorProfile,
)
from services.intake.knowledge import rules
from services.intake.knowledge.rules import LIVE
from services.intake.knowledge.store import KnowledgeStore
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, InvalidInput, field_error


# changing (managers) -------------------------------------------------------------------------------------------------
def create_article(store: KnowledgeStore, caller: Caller, article: ArticleInput, now: datetime) -> Article:
    rules.require_editor(caller.principal)
    if store.live_count(rules.MAX_LIVE) >= rules.MAX_LIVE:
        raise Conflict(f"The knowledge base holds {rules.MAX_LIVE} live entries, its limit; retire some first.")
    return store.insert(article.root, caller.principal.sub, now)


def update_article(store: KnowledgeStore, caller: Caller, article_id: str, change: ArticleChange, now: datetime
                   ) -> Article:
    """Replace the entry's content (the whole of it, like PUT) when ``change.revision`` is still the stored one."""
    rules.require_editor(caller.principal)
    entry = change.root
    current = store.article(article_id)
    if current is None:
        raise rules.not_found(article_id)
    if current.status != LIVE:
        raise Conflict("The entry is retired; create a new one instead.",
                       [field_error("status", "is retired", "state")])
    if current.kind != entry.kind:
        raise InvalidInput("The kind of an entry cannot change; retire it and create a new one.",
                           [field_error("kind", f"is {current.kind} and cannot change", "immutable")])
    changed = store.update(article_id, entry.revision, entry, caller.principal.sub, now)
    if changed is None:
        raise Conflict("Someone changed or retired the entry since you read it; reload it and apply your change "
                       "again.", [field_error("revision", f"is {entry.revision}; the entry is at revision "
                                                         f"{store.revision(article_id)} now", "stale")])
    return changed


def retire_article(store: KnowledgeStore, caller: Caller, article_id: str, now: datetime) -> Article:
    """Soft delete: the entry stays (with ``retired_at``) but no longer shows in searches or public lists. Retiring a
    retired entry changes nothing."""
    rules.require_editor(caller.principal)
    retired = store.retire(article_id, caller.principal.sub, now) or store.article(article_id)
    if retired is None:
        raise rules.not_found(article_id)
    return retired


# reading (consultants, team leads, managers) --------------------------------------------------------------------------
def get_article(store: KnowledgeStore, caller: Caller, article_id: str) -> Article:
    rules.require_reader(caller.principal)
    found = store.article(article_id)
    if found is None:
        raise rules.not_found(article_id)
    return found


def search(store: KnowledgeStore, caller: Caller, query: KnowledgeQuery, today: date) -> list[Article]:
    """Entries matching every word of ``q`` (substrings of title, body, condition or tags, ignoring case and full
    width) and the filters; best first (``rules.ordered``). Retired entries and ended programmes only when asked."""
    rules.require_reader(caller.principal)
    filters = {name: str(value) for name in ("kind", "department", "condition")
               if (value := getattr(query, name)) is not None}
    found = store.candidates(filters, query.include_retired, rules.MAX_SCAN)
    if not query.include_retired:
        found = [e for e in found if not rules.ended(e.kind, e.valid_until, today)]
    words = rules.terms(query.q)
    return store.articles([e.id for e in rules.ordered(found, words)[:query.limit]])


def render_article(store: KnowledgeStore, caller: Caller, article_id: str, values: Mapping[str, str],
                   today: date) -> str:
    """The text a consultant inserts into a chat: a live entry's body, its variables filled."""
    rules.require_reader(caller.principal)
    template = store.template(article_id)
    if template is None:
        raise rules.not_found(article_id)
    return rules.render(rules.renderable(template, today), values)


# public: the fee schedule and the doctors' profiles ---------------------------------------------------------------
def fee_schedule(store: KnowledgeStore, department: str | None = None) -> list[FeeScheduleItem]:
    """Every live fee item (quotable to patients), by department (hospital-wide first), then title."""
    return sorted(store.fee_items(department), key=lambda f: rules.public_order(f.department, f.title, f.id))


def doctor_profiles(store: KnowledgeStore, department: str | None = None) -> list[PublicDoctorProfile]:
    """Every live doctor's profile, by department then name: a neutral order, no doctor is featured."""
    return sorted(store.doctor_profiles(department), key=lambda p: rules.public_order(p.department, p.name, p.id))
