"""Patient logs' operations: the patient records, the patient and a caring doctor read the series (audited)."""
from __future__ import annotations

from datetime import datetime

from contracts.records.results import LogEntry, LogEntryInput, LogQuery
from services.records.encounters.usecases import ClinicalContext
from services.records.logs import rules
from services.records.logs.rules import ENTITY, UNITS, LogRecord
from services.records.logs.store import LogStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, Outcome
from wenzhen.auth import Caller
from wenzhen.errors import Forbidden
from wenzhen.storage import Tx
from wenzhen.timez import as_utc, to_local_iso


def view(entry: LogRecord) -> LogEntry:
    return LogEntry(id=entry.id, patient_id=entry.patient_id, kind=entry.kind,
                    measured_at=to_local_iso(entry.measured_at), recorded_at=to_local_iso(entry.recorded_at),
                    systolic=entry.systolic, diastolic=entry.diastolic, value=entry.value, unit=UNITS[entry.kind],
                    timing=entry.timing, note=entry.note)


def record(store: LogStore, caller: Caller, patient_id: str, given: LogEntryInput, now: datetime) -> LogEntry:
    rules.require_writer(caller.principal, patient_id)
    measured_at = as_utc(given.measured_at)
    rules.require_plausible(given.kind, given.value, measured_at, now)
    entry = LogRecord(id=ids.new_id("log"), patient_id=patient_id, kind=given.kind, measured_at=measured_at,
                      recorded_at=now, recorded_by=caller.principal.sub, systolic=given.systolic,
                      diastolic=given.diastolic, value=given.value, timing=given.timing, note=given.note)

    def body(tx: Tx) -> None:
        store.insert(tx, entry)
        audit.record(tx, caller, CREATE, "log", ENTITY, entry.id, patient_id=patient_id, detail=given.kind.value)

    store.transact(body)
    return view(entry)


def series(store: LogStore, clinical: ClinicalContext, caller: Caller, patient_id: str, query: LogQuery,
           now: datetime) -> list[LogEntry]:
    """Newest first; one audited read naming the patient."""
    if not rules.may_read(caller.principal, patient_id, clinical.cares_for(caller.principal, patient_id, now)):
        audit.record(store, caller, READ, "list", ENTITY, None, patient_id=patient_id, outcome=Outcome.denied)
        raise Forbidden("The patient's own logs, or a patient the doctor cares for.")
    found = store.entries(patient_id, kind=query.kind.value if query.kind else None,
                          since=as_utc(query.since) if query.since else None,
                          until=as_utc(query.until) if query.until else None, limit=query.limit)
    audit.record(store, caller, READ, "list", ENTITY, None, patient_id=patient_id, detail=f"{len(found)} entries")
    return [view(e) for e in found]
