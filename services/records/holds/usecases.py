"""Legal holds (admins, audited; an event each, with no reason in it) and the retention view."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts.records.events import LegalHoldPlaced, LegalHoldReleased
from contracts.records.retention import HoldRequest, LegalHold, RecordRetention
from services.records.holds import rules
from services.records.holds.rules import ENTITY
from services.records.holds.store import HoldExists, HoldStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import to_local_iso


def place(store: HoldStore, caller: Caller, patient_id: str, request: HoldRequest, now: datetime) -> LegalHold:
    rules.require_admin(caller.principal)

    def body(tx: Tx) -> LegalHold:
        hold = store.place(tx, ids.new_id("hold"), patient_id, request.reason, caller.principal.sub, now)
        tx.emit(LegalHoldPlaced(hold_id=hold.id, patient_id=patient_id, placed_by=caller.principal.sub),
                subject=hold.id)
        audit.record(tx, caller, CREATE, "legal-hold", ENTITY, hold.id, patient_id=patient_id)
        return hold

    try:
        return store.transact(body)
    except HoldExists:
        raise Conflict("The patient's record is held already.",
                       [field_error("patient_id", "has an active legal hold", "duplicate")]) from None


def release(store: HoldStore, caller: Caller, patient_id: str, request: HoldRequest, now: datetime) -> LegalHold:
    rules.require_admin(caller.principal)
    held = store.active(patient_id)
    if held is None:
        raise NotFound(f"No active legal hold on patient {patient_id}.")

    def body(tx: Tx) -> LegalHold:
        done = store.release(tx, held.id, request.reason, caller.principal.sub, now)
        if done is None:
            raise Conflict("The hold was released meanwhile.")
        tx.emit(LegalHoldReleased(hold_id=done.id, patient_id=patient_id, released_by=caller.principal.sub),
                subject=done.id)
        audit.record(tx, caller, UPDATE, "legal-hold-release", ENTITY, done.id, patient_id=patient_id)
        return done

    return store.transact(body)


Span = Callable[[str], tuple[int, datetime | None]]  # a patient's count of records, and a date


def retention(store: HoldStore, caller: Caller, patient_id: str, encounters_of: Span, prescriptions_of: Span
              ) -> RecordRetention:
    """``encounters_of``: the count and newest opening (the encounters' store); ``prescriptions_of``: the count and
    latest retention end (the prescriptions' store)."""
    rules.require_admin(caller.principal)
    (encounters, newest), (prescriptions, latest) = encounters_of(patient_id), prescriptions_of(patient_id)
    audit.record(store, caller, READ, "retention", ENTITY, None, patient_id=patient_id)
    until = rules.records_until(newest)
    return RecordRetention(patient_id=patient_id, records_until=to_local_iso(until)[:10] if until else None,
                     prescriptions_until=to_local_iso(latest)[:10] if latest else None, encounters=encounters,
                     prescriptions=prescriptions, hold=store.active(patient_id))
