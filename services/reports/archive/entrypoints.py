"""The archive's Nameko entrypoints: one archiving handler per service (``archive_<service>``, bound to ``#`` on its
exchange), and the two reads."""
from __future__ import annotations

from services.reports.archive import rules, usecases
from services.reports.archive.store import EVENT_LOG, ArchiveStore
from wenzhen.config import SERVICES
from wenzhen.consumer import archives
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class ArchiveEntrypoints:
    @property
    def archive(self) -> ArchiveStore:
        return ArchiveStore(self.store)

    @rpc
    def event_counts(self) -> dict[str, int]:
        return usecases.event_counts(self.archive, self.caller)

    @rpc
    def audit_checkpoints(self) -> dict[str, dict]:
        return usecases.audit_checkpoints(self.archive, self.caller)


def _archiver(source: str):
    def archive(self, envelope: Envelope) -> dict:
        return rules.archived(source, envelope, utcnow())

    archive.__name__ = archive.__qualname__ = f"archive_{source}"
    return archives(source, EVENT_LOG)(archive)


for _source in SERVICES:
    setattr(ArchiveEntrypoints, f"archive_{_source}", _archiver(_source))
