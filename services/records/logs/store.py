"""Every MongoDB query of the patient logs: one document per entry, inserted once; the values and the note
encrypted, ``patient_id``, ``kind`` and ``measured_at`` plain for the series' index."""
from __future__ import annotations

import json
from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from contracts.records.results import GlucoseTiming, LogKind
from services.records.logs.rules import LogRecord
from wenzhen.storage import CapabilityStore, Index, Tx

LOGS = "patient_logs"

INDEXES = [Index(LOGS, [("patient_id", ASCENDING), ("kind", ASCENDING), ("measured_at", DESCENDING)],
                 name="series"),
           Index(LOGS, [("patient_id", ASCENDING), ("measured_at", DESCENDING)], name="by_patient")]


class LogStore(CapabilityStore):
    def insert(self, tx: Tx, entry: LogRecord) -> None:
        values = {"systolic": entry.systolic, "diastolic": entry.diastolic, "value": entry.value,
                  "timing": entry.timing.value if entry.timing else None, "note": entry.note}
        tx[LOGS].insert_one({
            "_id": entry.id, "patient_id": entry.patient_id, "kind": entry.kind.value,
            "measured_at": entry.measured_at, "recorded_at": entry.recorded_at, "recorded_by": entry.recorded_by,
            "values": self.keys.encrypt(json.dumps(values, ensure_ascii=False), field="values", record=entry.id)})

    def entries(self, patient_id: str, *, kind: str | None, since: datetime | None, until: datetime | None,
                limit: int) -> list[LogRecord]:
        query: dict = {"patient_id": patient_id}
        if kind is not None:
            query["kind"] = kind
        when = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
        if when:
            query["measured_at"] = when
        found = []
        for doc in self.db[LOGS].find(query).sort("measured_at", DESCENDING).limit(limit):
            values = json.loads(self.keys.decrypt(doc["values"], field="values", record=doc["_id"]))
            found.append(LogRecord(
                id=doc["_id"], patient_id=doc["patient_id"], kind=LogKind(doc["kind"]),
                measured_at=doc["measured_at"], recorded_at=doc["recorded_at"], recorded_by=doc["recorded_by"],
                systolic=values.get("systolic"), diastolic=values.get("diastolic"), value=values.get("value"),
                timing=GlucoseTiming(values["timing"]) if values.get("timing") else None, note=values.get("note")))
        return found


