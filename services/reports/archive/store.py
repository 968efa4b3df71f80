"""Every MongoDB query of the archive (its writes are ``wenzhen.consumer.archives``' idempotent insert into
``EVENT_LOG``)."""
from __future__ import annotations

from pymongo import ASCENDING

from services.reports.archive.rules import count_key
from wenzhen.audit import latest_checkpoints
from wenzhen.storage import CapabilityStore, Index

EVENT_LOG = "event_log"

INDEXES = [Index(EVENT_LOG, [("source", ASCENDING), ("type", ASCENDING)])]


class ArchiveStore(CapabilityStore):
    def event_counts(self) -> dict[str, int]:
        """Events kept, by ``<source>.<type>``."""
        pipeline = [{"$group": {"_id": {"source": "$source", "type": "$type"}, "count": {"$sum": 1}}}]
        return {count_key(row["_id"]["source"], row["_id"]["type"]): row["count"]
                for row in self.db[EVENT_LOG].aggregate(pipeline)}

    def audit_checkpoints(self) -> dict[str, dict]:
        """The newest published checkpoint of each service's audit chain."""
        return latest_checkpoints(self.db.db)
