"""Patient logs: Nameko entrypoints (thin adapters over ``usecases``)."""
from __future__ import annotations

from contracts.records.results import LogEntry, LogEntryInput, LogQuery
from services.records.encounters.store import EncounterStore
from services.records.encounters.usecases import ClinicalContext
from services.records.logs import usecases
from services.records.logs.store import LogStore
from wenzhen.crypto import keyring
from wenzhen.fields import PatientId
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class LogEntrypoints:
    @property
    def logs(self) -> LogStore:
        return LogStore(self.store, keyring())

    @rpc
    def record_log(self, patient_id: PatientId, entry: LogEntryInput) -> LogEntry:
        return usecases.record(self.logs, self.caller, patient_id, entry, utcnow())

    @rpc
    def list_logs(self, patient_id: PatientId, query: LogQuery) -> list[LogEntry]:
        return usecases.series(self.logs, ClinicalContext(EncounterStore(self.store, keyring())), self.caller,
                               patient_id, query, utcnow())
