"""records: the electronic record — the code lists (``codes/``), encounters and the doctor's signed reports
(``encounters/``), e-prescriptions and the pharmacists' review (``prescriptions/``), examination orders and their
results (``results/``), the patients' own logs (``logs/``), legal holds and retention (``holds/``) — over one
database, and one
background loop, the **sweeper** (one records process at a time, by lease, every ``RECORDS_SWEEP_SECONDS``): it
lapses prescriptions no pharmacist approved within their validity.

Each capability is a sub-package with ``rules.py``, ``store.py``, ``usecases.py`` and ``entrypoints.py``
(docs/adding-a-service.md); its entrypoint mixin joins the bases below and its store's ``INDEXES`` the list. Clinical
text is encrypted at rest; every read is audited in records' own hash-chained audit log.
"""
from __future__ import annotations

from services.records.codes import store as code_store
from services.records.codes.entrypoints import CodeEntrypoints
from services.records.encounters import store as encounter_store
from services.records.encounters.entrypoints import EncounterEntrypoints
from services.records.holds import store as hold_store
from services.records.holds.entrypoints import HoldEntrypoints
from services.records.logs import store as log_store
from services.records.logs.entrypoints import LogEntrypoints
from services.records.prescriptions import store as prescription_store
from services.records.prescriptions import usecases as prescriptions
from services.records.prescriptions.entrypoints import PrescriptionEntrypoints
from services.records.prescriptions.store import PrescriptionStore
from services.records.results import store as result_store
from services.records.results.entrypoints import ResultEntrypoints
from services.records.settings import RecordsSettings
from wenzhen.auth import Caller, bind_caller
from wenzhen.config import Settings, settings
from wenzhen.crypto import keyring
from wenzhen.lease import LeasedLoop
from wenzhen.service import LeasedLoops, ServiceBase
from wenzhen.storage import Store
from wenzhen.timez import utcnow

SYSTEM = Caller.service("records")


class Sweeper(LeasedLoop):
    lease_name = "records-sweeper"

    def __init__(self, store: Store, cfg: Settings, sweep_seconds: float):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=sweep_seconds,
                         retry_max=cfg.outbox_retry_max)
        self.prescriptions = PrescriptionStore(store, keyring())

    def round(self) -> int:
        bind_caller(SYSTEM)  # the events it emits name records itself as their actor
        return prescriptions.lapse_due(self.prescriptions, SYSTEM, utcnow())


class RecordsService(CodeEntrypoints, EncounterEntrypoints, PrescriptionEntrypoints, ResultEntrypoints,
                     LogEntrypoints, HoldEntrypoints, ServiceBase):
    name = "records"
    settings_class = RecordsSettings
    indexes = [*code_store.INDEXES, *encounter_store.INDEXES, *prescription_store.INDEXES, *result_store.INDEXES,
               *log_store.INDEXES, *hold_store.INDEXES]
    upgrades = code_store.UPGRADES

    timers = LeasedLoops(lambda store, own: [Sweeper(store, settings(), own.sweep_seconds)])
