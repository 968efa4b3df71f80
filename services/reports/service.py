"""reports: read models for managers and the hospital's other systems — ``ReportsService`` is its archive's
entrypoints (every event of every service in ``event_log``, event counts, the audit chains' checkpoints).

Because the archive's queues are bound before anything else starts, every published event is routable, which is
what lets the outbox relay publish with ``mandatory=True`` and treat a return as a fault."""
from __future__ import annotations

from services.reports.archive import store as archive_store
from services.reports.archive.entrypoints import ArchiveEntrypoints
from wenzhen.service import ServiceBase


class ReportsService(ArchiveEntrypoints, ServiceBase):
    name = "reports"
    indexes = archive_store.INDEXES
