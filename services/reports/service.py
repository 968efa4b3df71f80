"""reports' Nameko entrypoints.

reports subscribes to every event of every service (binding ``#`` on each
``<service>.events`` exchange) and keeps them in its ``event_log``: the raw
material of its read models. Because that queue is bound before anything
else starts, every published event is routable, which is what lets the
outbox relay publish with ``mandatory=True`` and treat a return as a fault.
"""
from __future__ import annotations

from pymongo import ASCENDING

from wenzhen.audit import latest_checkpoints
from wenzhen.auth import Role
from wenzhen.config import SERVICES
from wenzhen.consumer import consumes_all
from wenzhen.errors import Forbidden
from wenzhen.events import Envelope
from wenzhen.service import ServiceBase, rpc
from wenzhen.storage import Index, Tx
from wenzhen.timez import utcnow

EVENT_LOG = "event_log"


def _archiver(source: str):
    def archive(self, tx: Tx, event, envelope: Envelope) -> None:
        tx[EVENT_LOG].insert_one({"_id": envelope.id, "source": source, "type": envelope.type,
                                  "subject": envelope.subject, "time": envelope.time,
                                  "envelope": envelope.model_dump(mode="json"), "received_at": utcnow()})

    archive.__name__ = f"archive_{source}"
    return consumes_all(source)(archive)


class ReportsService(ServiceBase):
    name = "reports"
    indexes = [Index(EVENT_LOG, [("source", ASCENDING), ("type", ASCENDING)])]

    @rpc
    def event_counts(self) -> dict:
        if not self.caller.principal.has_role(Role.manager):
            raise Forbidden("Aggregates are for managers.")
        pipeline = [{"$group": {"_id": {"source": "$source", "type": "$type"}, "count": {"$sum": 1}}}]
        return {f"{row['_id']['source']}.{row['_id']['type']}": row["count"]
                for row in self.store[EVENT_LOG].aggregate(pipeline)}


    @rpc
    def audit_checkpoints(self) -> dict:
        """The newest published checkpoint of each service's audit chain (admins check the chains against them)."""
        if not self.caller.principal.has_role(Role.admin):
            raise Forbidden("Only admins verify the audit trail.")
        return latest_checkpoints(self.store.db)


for _source in SERVICES:
    setattr(ReportsService, f"archive_{_source}", _archiver(_source))
