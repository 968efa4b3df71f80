"""The consultants' knowledge base: reply templates, care tips (温馨提示), the base fee schedule, doctors' profiles and
current programmes, as plain functions over a store (no Nameko here).

Managers maintain it; consultants, team leads and managers search it and fill an entry's variables to insert it into
a chat. The fee schedule and the doctors' profiles are public (they are quoted to patients). It supports honest
consultation only: no sales scripts, and profiles are listed in a neutral order (department, then name), never
"featured", because consultants must not push a patient toward a particular expert.

Nothing here is personal patient data, so reads are not audited; every change names who made it (``updated_by``),
entries are never deleted (retiring keeps them, with ``retired_at``), and a change carries the ``revision`` it was
read at, so two managers editing one entry cannot silently overwrite each other (optimistic concurrency).

Search is substring matching done here, in Python, over the entries the equality filters select: Chinese has no word
boundaries, the base is small (hundreds of entries), and ranking needs the text anyway. Measured against the embedded
SecantusDB (which does support ``$regex``, ``i`` option included): 500 entries of ~300 characters, 15 ms either way,
2,000 entries 58 ms in Python against 69 ms with ``$regex`` (SecantusDB scans for a regex too); so Python, where the
matching can also fold full-width letters and case (NFKC, casefold). It is bounded: at most ``MAX_LIVE`` live entries
(creating more is refused) and a search reads at most ``MAX_SCAN`` entries, the newest first.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.intake.knowledge import (
    ARTICLE_VIEWS,
    TEXT,
    VARIABLES,
    Article,
    ArticleChange,
    ArticleInput,
    FeeScheduleItem,
    Kind,
    KnowledgeQuery,
    PublicDoctorProfile,
    parse_template,
)
from wenzhen import ids
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Index, Store
from wenzhen.timez import hospital_zone, to_local_iso, utcnow

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

EDITORS = (Role.manager,)
READERS = (Role.consultant, Role.team_lead, Role.manager)
MAX_LIVE = 2000  # live entries; a search scans them all (≈60 ms on SecantusDB at this size)
MAX_SCAN = 5000  # entries a search reads at most, newest first (retired ones count when asked for)
MAX_TERMS = 8

LIVE, RETIRED = "live", "retired"
_META = ("revision", "status", "created_at", "created_by", "updated_at", "updated_by", "retired_at", "retired_by")


def _may_edit(caller: Caller) -> None:
    if not caller.principal.has_role(*EDITORS):
        raise Forbidden("Only managers maintain the knowledge base.")


def _may_read(caller: Caller) -> None:
    if not caller.principal.has_role(*READERS):
        raise Forbidden("The knowledge base is for consultants, team leads and managers.")


def _not_found(article_id: str) -> NotFound:
    return NotFound(f"No knowledge-base entry with id {article_id}.")


def _today() -> date:
    return datetime.now(hospital_zone()).date()


def _content(entry: BaseModel) -> dict:
    """The stored form of an entry's own fields (dates as ISO strings: BSON has no date type)."""
    return entry.model_dump(mode="json", exclude={"revision"})


# changing (managers) -------------------------------------------------------------------------------------------------
def create_article(store: Store, caller: Caller, article: ArticleInput) -> Article:
    _may_edit(caller)
    live = store[KNOWLEDGE].find({"status": LIVE}, {"_id": 1}).limit(MAX_LIVE)
    if len(list(live)) >= MAX_LIVE:
        raise Conflict(f"The knowledge base holds {MAX_LIVE} live entries, its limit; retire some first.")
    doc = new_document(article.root, caller.principal.sub)
    try:
        store[KNOWLEDGE].insert_one(doc)
    except DuplicateKeyError:
        raise _profile_taken() from None
    return to_article(doc)


def new_document(entry: BaseModel, author: str) -> dict:
    """A new live entry as stored, at revision 1."""
    now = utcnow()
    return {"_id": ids.new_id("kb"), **_content(entry), "revision": 1, "status": LIVE, "created_at": now,
            "created_by": author, "updated_at": now, "updated_by": author, "retired_at": None, "retired_by": None}


def update_article(store: Store, caller: Caller, article_id: str, change: ArticleChange) -> Article:
    """Replace the entry's content (the whole of it, like PUT) when ``change.revision`` is still the stored one."""
    _may_edit(caller)
    entry = change.root
    current = store[KNOWLEDGE].find_one({"_id": article_id})
    if current is None:
        raise _not_found(article_id)
    if current["status"] != LIVE:
        raise Conflict("The entry is retired; create a new one instead.",
                       [field_error("status", "is retired", "state")])
    if current["kind"] != entry.kind:
        raise InvalidInput("The kind of an entry cannot change; retire it and create a new one.",
                           [field_error("kind", f"is {current['kind']} and cannot change", "immutable")])
    update = {"$set": {**_content(entry), "updated_at": utcnow(), "updated_by": caller.principal.sub},
              "$inc": {"revision": 1}}
    try:
        doc = store[KNOWLEDGE].find_one_and_update({"_id": article_id, "status": LIVE, "revision": entry.revision},
                                                   update, return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:
        raise _profile_taken() from None
    if doc is None:
        stored = store[KNOWLEDGE].find_one({"_id": article_id}, {"revision": 1, "status": 1}) or {}
        raise Conflict("Someone changed or retired the entry since you read it; reload it and apply your change "
                       "again.", [field_error("revision", f"is {entry.revision}; the entry is at revision "
                                                         f"{stored.get('revision')} now", "stale")])
    return to_article(doc)


def retire_article(store: Store, caller: Caller, article_id: str) -> Article:
    """Soft delete: the entry stays (with ``retired_at``) but no longer shows in searches or public lists. Retiring a
    retired entry changes nothing."""
    _may_edit(caller)
    now = utcnow()
    doc = store[KNOWLEDGE].find_one_and_update(
        {"_id": article_id, "status": LIVE},
        {"$set": {"status": RETIRED, "retired_at": now, "retired_by": caller.principal.sub, "updated_at": now,
                  "updated_by": caller.principal.sub}, "$inc": {"revision": 1}},
        return_document=ReturnDocument.AFTER)
    if doc is None:
        doc = store[KNOWLEDGE].find_one({"_id": article_id})
        if doc is None:
            raise _not_found(article_id)
    return to_article(doc)


def _profile_taken() -> Conflict:
    return Conflict("This doctor has a live profile already; change that one.",
                    [field_error("doctor_id", "has a live profile already", "duplicate")])


# reading (consultants, team leads, managers) --------------------------------------------------------------------------
def get_article(store: Store, caller: Caller, article_id: str) -> Article:
    _may_read(caller)
    doc = store[KNOWLEDGE].find_one({"_id": article_id})
    if doc is None:
        raise _not_found(article_id)
    return to_article(doc)


def search(store: Store, caller: Caller, query: KnowledgeQuery, today: date | None = None) -> list[Article]:
    """Entries matching every word of ``q`` (substrings of title, body, condition or tags, ignoring case and full
    width) and the filters; best first: more words in the title, then in condition or tags, then the title's order.
    Without ``q``: by kind, department and title. Retired entries and ended programmes only when asked for."""
    _may_read(caller)
    today = today or _today()
    wanted: dict[str, Any] = {} if query.include_retired else {"status": LIVE}
    for name in ("kind", "department", "condition"):
        value = getattr(query, name)
        if value is not None:
            wanted[name] = str(value)
    docs = list(store[KNOWLEDGE].find(wanted).sort("_id", DESCENDING).limit(MAX_SCAN))
    if not query.include_retired:
        docs = [d for d in docs if not _ended(d, today)]
    terms = _terms(query.q)
    if terms:
        ranked = [(rank, d) for d in docs if (rank := _rank(d, terms)) is not None]
        ranked.sort(key=lambda pair: (pair[0], _fold(pair[1]["title"]), pair[1]["_id"]))
        docs = [d for _, d in ranked]
    else:
        order = {kind: n for n, kind in enumerate(Kind)}
        docs.sort(key=lambda d: (order.get(d["kind"], len(order)), d.get("department") or "", _fold(d["title"]),
                                 d["_id"]))
    return [to_article(d) for d in docs[:query.limit]]


def _fold(text: str | None) -> str:
    """For matching: full-width letters and digits as plain ones, case folded (Chinese is unchanged)."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def _terms(q: str | None) -> list[str]:
    terms = list(dict.fromkeys(_fold(q).split()))
    if len(terms) > MAX_TERMS:
        raise InvalidInput("Search for fewer words.", [field_error("q", f"has more than {MAX_TERMS} words",
                                                                   "too_long")])
    return terms


def _rank(doc: dict, terms: list[str]) -> tuple[int, int] | None:
    """A sort key (smaller is better) when every term occurs somewhere, else None."""
    title, body = _fold(doc.get("title")), _fold(doc.get("body"))
    labels = [_fold(doc.get("condition")), *(_fold(tag) for tag in doc.get("tags", ()))]
    in_title = in_labels = 0
    for term in terms:
        if term in title:
            in_title += 1
        elif any(term in label for label in labels):
            in_labels += 1
        elif term not in body:
            return None
    return -in_title, -in_labels


def _ended(doc: dict, today: date) -> bool:
    """A programme whose last day (local date, stored as ISO text) is before ``today``."""
    until = doc.get("valid_until")
    return doc["kind"] == Kind.programme and until is not None and until < today.isoformat()


# filling the variables ---------------------------------------------------------------------------------------------
def render(article: BaseModel | Mapping[str, Any], values: Mapping[str, str]) -> str:
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


def render_article(store: Store, caller: Caller, article_id: str, values: Mapping[str, str],
                   today: date | None = None) -> str:
    """The text a consultant inserts into a chat: a live entry's body, its variables filled."""
    _may_read(caller)
    doc = store[KNOWLEDGE].find_one({"_id": article_id})
    if doc is None:
        raise _not_found(article_id)
    if doc["status"] != LIVE:
        raise Conflict("The entry is retired; search for the current one.",
                       [field_error("status", "is retired", "state")])
    if _ended(doc, today or _today()):
        raise Conflict(f"The programme ended on {doc['valid_until']}.",
                       [field_error("valid_until", "has passed", "state")])
    return render(doc, values)


# public: the fee schedule and the doctors' profiles ---------------------------------------------------------------
def fee_schedule(store: Store, department: str | None = None) -> list[FeeScheduleItem]:
    """Every live fee item (quotable to patients), by department (hospital-wide first), then title."""
    wanted: dict[str, Any] = {"kind": Kind.fee_item.value, "status": LIVE}
    if department is not None:
        wanted["department"] = department
    docs = sorted(store[KNOWLEDGE].find(wanted).limit(MAX_LIVE),
                  key=lambda d: (d.get("department") or "", _fold(d["title"]), d["_id"]))
    return [FeeScheduleItem(id=d["_id"], title=d["title"], body=d["body"], department=d.get("department"),
                            condition=d.get("condition"), amount_fen=d["amount_fen"], unit=d["unit"],
                            language=d["language"], updated_at=to_local_iso(d["updated_at"])) for d in docs]


def doctor_profiles(store: Store, department: str | None = None) -> list[PublicDoctorProfile]:
    """Every live doctor's profile, the profile fields only (no internal note), by department then name: a neutral
    order, no doctor is featured."""
    wanted: dict[str, Any] = {"kind": Kind.doctor_profile.value, "status": LIVE}
    if department is not None:
        wanted["department"] = department
    docs = sorted(store[KNOWLEDGE].find(wanted).limit(MAX_LIVE),
                  key=lambda d: (d.get("department") or "", _fold(d["title"]), d["_id"]))
    return [PublicDoctorProfile(id=d["_id"], doctor_id=d["doctor_id"], name=d["title"],
                                title=d["professional_title"], department=d.get("department"),
                                expertise=d.get("expertise", []), sex=d.get("sex"), introduction=d["body"],
                                language=d["language"])
            for d in docs]


# the view ----------------------------------------------------------------------------------------------------------
def to_article(doc: dict) -> Article:
    view = ARTICLE_VIEWS[doc["kind"]]
    content = {name: doc[name] for name in view.model_fields if name in doc and name not in ("id", *_META)}
    meta = {name: doc.get(name) for name in _META}
    for name in ("created_at", "updated_at", "retired_at"):
        if meta[name] is not None:
            meta[name] = to_local_iso(meta[name])
    return view.model_validate({"id": doc["_id"], **content, **meta})
