"""The code lists' operations: read them (any signed-in person: they are the hospital's public vocabulary), and
maintain them (managers the diagnoses, pharmacists the formulary), each change a revision, audited."""
from __future__ import annotations

from datetime import datetime

from contracts.records.codes import CodeQuery, DiagnosisCode, DiagnosisCodeEntry, Drug, DrugEntry
from services.records.codes import rules
from services.records.codes.rules import ENTITY
from services.records.codes.store import CodeStore
from wenzhen import audit
from wenzhen.audit import CREATE, UPDATE
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import Tx


def search(store: CodeStore, code_list: str, query: CodeQuery) -> list:
    return [e for e in store.listing(code_list, query.include_inactive)
            if rules.matches(e.model_dump(), query.q)][:query.limit]


def get(store: CodeStore, code_list: str, code: str):
    found = store.entries(code_list, [code]).get(code)
    if found is None:
        raise rules.not_found(code_list, code)
    return found


def put(store: CodeStore, caller: Caller, code_list: str, code: str, change: DiagnosisCode | Drug,
        revision: int | None, now: datetime) -> DiagnosisCodeEntry | DrugEntry:
    """Create (no ``revision``) or change the entry at ``revision`` (the one the editor read: a stale one is 409)."""
    rules.require_maintainer(caller.principal, code_list)
    values = change.model_dump(mode="json")

    def body(tx: Tx):
        saved = store.put(tx, code_list, code, values, revision, caller.principal.sub, now)
        if saved is None:
            if revision is None:
                raise Conflict(f"{code} exists already: change it with the revision you read.",
                               [field_error("revision", "is needed to change an existing entry", "missing")])
            raise Conflict(f"{code} changed since revision {revision}: read it again.",
                           [field_error("revision", f"is not the current revision of {code}", "stale")])
        audit.record(tx, caller, CREATE if revision is None else UPDATE, "maintain", ENTITY[code_list], code,
                     detail=f"revision {saved.revision}")
        return saved

    return store.transact(body)
