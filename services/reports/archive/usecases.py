"""The archive's operations: authorize → read (what it answers is aggregates and chain heads: nothing personal, so
nothing to audit beyond the role check)."""
from __future__ import annotations

from services.reports.archive import rules
from services.reports.archive.store import ArchiveStore
from wenzhen.auth import Caller


def event_counts(store: ArchiveStore, caller: Caller) -> dict[str, int]:
    rules.require_manager(caller.principal)
    return store.event_counts()


def audit_checkpoints(store: ArchiveStore, caller: Caller) -> dict[str, dict]:
    """The newest published checkpoint of each service's audit chain (admins check the chains against them)."""
    rules.require_admin(caller.principal)
    return store.audit_checkpoints()
