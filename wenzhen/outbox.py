"""The outbox relay: publishes committed events, at least once, in order per subject.

One relay runs in every service process; a lease in the service's database lets
only one of them publish at a time (so order per subject holds when a service
is scaled out). Each round reads pending entries ordered by (subject,
sequence), publishes each with publisher confirms and ``mandatory=True`` to
the ``<service>.events`` exchange, and only then marks the confirmed ones sent
(in one call per round). Any failure
(broker down, negative confirm, unroutable) ends the round and the relay
backs off exponentially; entries stay pending, so a crash anywhere between
commit and mark means a republish, never a loss. Consumers deduplicate by
event id.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from kombu import Exchange
from nameko.amqp.publish import Publisher, UndeliverableMessage
from pymongo.database import Database

from wenzhen import faults
from wenzhen.config import Settings
from wenzhen.lease import LeasedLoop
from wenzhen.storage import OUTBOX
from wenzhen.timez import utcnow

log = logging.getLogger("wenzhen.outbox")

PERSISTENT = 2
SENT_RETENTION = timedelta(days=7)


def events_exchange(service: str) -> Exchange:
    """Nameko's exchange for a service's events, so plain ``@event_handler`` works."""
    return Exchange(f"{service}.events", type="topic", durable=True, auto_delete=False)


def amqp_headers(envelope: dict) -> dict:
    """Nameko context data (``nameko.*`` headers) for the consumer's worker."""
    headers = {"nameko.event_id": envelope["id"]}
    if envelope.get("correlationid"):
        headers["nameko.request_id"] = envelope["correlationid"]
    return headers


class Relay(LeasedLoop):
    lease_name = "outbox-relay"

    def __init__(self, db: Database, service: str, settings: Settings):
        super().__init__(db, lease_seconds=settings.outbox_lease_seconds, poll_interval=settings.outbox_poll_interval,
                         retry_max=settings.outbox_retry_max)
        self.service = service
        self.settings = settings
        self.exchange = events_exchange(service)
        self.publisher = Publisher(
            settings.amqp_uri,
            use_confirms=True,
            mandatory=True,
            delivery_mode=PERSISTENT,
            serializer="json",
            declare=[self.exchange],
            retry=False,
        )
        self.published = 0

    def round(self) -> int:
        return self.publish_pending()

    # publishing --------------------------------------------------------
    def publish_pending(self) -> int:
        """Publish one batch in (subject, sequence) order; returns how many were sent."""
        entries = list(
            self.db[OUTBOX]
            .find({"status": "pending"}, {"envelope": 1, "subject": 1})
            .sort([("subject", 1), ("sequence", 1)])
            .limit(self.settings.outbox_batch)
        )
        sent: list[str] = []
        try:
            for entry in entries:
                self.publish(entry)
                sent.append(entry["_id"])
        finally:  # what was confirmed is marked in one call, also when a later entry failed
            self._mark_sent(sent)
        return len(sent)

    def _mark_sent(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        now = utcnow()
        self.db[OUTBOX].update_many(
            {"_id": {"$in": entry_ids}, "status": "pending"},
            {"$set": {"status": "sent", "sent_at": now, "expires_at": now + SENT_RETENTION}},
        )
        self.published += len(entry_ids)

    def publish(self, entry: dict) -> None:
        """Publish one entry and wait for the broker's confirm (marking it sent is the round's)."""
        envelope = entry["envelope"]
        faults.point("relay.before_publish", envelope["type"])
        try:
            self.publisher.publish(
                envelope,
                exchange=self.exchange,
                routing_key=envelope["type"],
                message_id=envelope["id"],
                extra_headers=amqp_headers(envelope),
            )
        except UndeliverableMessage:
            self._record_failure(entry, "unroutable: no queue is bound for this event type")
            raise
        except Exception as exc:
            self._record_failure(entry, f"{type(exc).__name__}: {str(exc)[:200]}")
            raise
        faults.point("relay.after_publish", envelope["type"])

    def _record_failure(self, entry: dict, error: str) -> None:
        try:
            self.db[OUTBOX].update_one(
                {"_id": entry["_id"]}, {"$inc": {"attempts": 1}, "$set": {"last_error": error}}
            )
        except Exception:  # noqa: BLE001 - the database may be what failed
            pass
