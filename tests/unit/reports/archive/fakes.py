"""The archive's store in memory: events kept as ``rules.archived`` makes them, counted and searched over a list."""
from __future__ import annotations

from tests.fakes import FakeCapabilityStore
from wenzhen.audit import CHECKPOINT_TYPE


class FakeArchiveStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.event_log: dict[str, dict] = {}

    def keep(self, envelope_id: str, document: dict) -> None:
        """What ``wenzhen.consumer.archives`` does with the handler's document (once per event id)."""
        self.event_log.setdefault(envelope_id, {**document, "_id": envelope_id})

    def event_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.event_log.values():
            key = f"{doc['source']}.{doc['type']}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def audit_checkpoints(self) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for doc in self.event_log.values():
            data = doc["envelope"]["data"]
            if doc["type"] == CHECKPOINT_TYPE and data["seq"] > found.get(doc["source"], {"seq": -1})["seq"]:
                found[doc["source"]] = {"seq": data["seq"], "hash": data["hash"]}
        return found
