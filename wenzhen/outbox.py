"""The outbox relay: publishes committed events, at least once, in order per subject.

One relay runs in every service process; a lease in the service's database lets
only one of them publish at a time (so order per subject holds when a service
is scaled out). Each round reads pending entries ordered by (subject,
sequence), publishes each with publisher confirms and ``mandatory=True`` to
the ``<service>.events`` exchange, and only then marks it sent. Any failure
(broker down, negative confirm, unroutable) ends the round and the relay
backs off exponentially; entries stay pending, so a crash anywhere between
commit and mark means a republish, never a loss. Consumers deduplicate by
event id.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from kombu import Exchange
from nameko.amqp.publish import Publisher, UndeliverableMessage
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from wenzhen import faults
from wenzhen.config import Settings
from wenzhen.storage import LEASES, OUTBOX
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


class Relay:
    def __init__(self, db: Database, service: str, settings: Settings):
        self.db = db
        self.service = service
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
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
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self.published = 0

    # lifecycle ---------------------------------------------------------
    def wake(self, *_args) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wakeup.set()

    def run(self) -> None:
        backoff = 0.0
        while not self._stopped.is_set():
            try:
                if not self.hold_lease():
                    self._sleep(self.settings.outbox_lease_seconds / 3)
                    continue
                if self.publish_pending() == 0:
                    self._sleep(self.settings.outbox_poll_interval)
                backoff = 0.0
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any failure
                backoff = min(max(backoff * 2, 0.2), self.settings.outbox_retry_max)
                log.warning("outbox relay round failed (%s: %s); retrying in %.1fs",
                            type(exc).__name__, str(exc)[:200], backoff)
                self._sleep(backoff)
        self.release_lease()

    def _sleep(self, seconds: float) -> None:
        self._wakeup.wait(seconds)
        self._wakeup.clear()

    # lease -------------------------------------------------------------
    def hold_lease(self) -> bool:
        """Take or renew the publishing lease; False while another relay holds it."""
        now = utcnow()
        until = now + timedelta(seconds=self.settings.outbox_lease_seconds)
        try:
            self.db[LEASES].find_one_and_update(
                {"_id": "outbox-relay", "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": until}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:
            return False

    def release_lease(self) -> None:
        try:
            self.db[LEASES].delete_one({"_id": "outbox-relay", "owner": self.owner})
        except Exception:  # noqa: BLE001 - best effort on shutdown; the lease expires anyway
            pass

    # publishing --------------------------------------------------------
    def publish_pending(self) -> int:
        """Publish one batch in (subject, sequence) order; returns how many were sent."""
        entries = list(
            self.db[OUTBOX]
            .find({"status": "pending"}, {"envelope": 1, "subject": 1})
            .sort([("subject", 1), ("sequence", 1)])
            .limit(self.settings.outbox_batch)
        )
        sent = 0
        for entry in entries:
            self.publish(entry)
            sent += 1
        return sent

    def publish(self, entry: dict) -> None:
        envelope = entry["envelope"]
        faults.point("relay.before_publish")
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
        faults.point("relay.after_publish")
        now = utcnow()
        self.db[OUTBOX].update_one(
            {"_id": entry["_id"], "status": "pending"},
            {"$set": {"status": "sent", "sent_at": now, "expires_at": now + SENT_RETENTION}},
        )
        self.published += 1

    def _record_failure(self, entry: dict, error: str) -> None:
        try:
            self.db[OUTBOX].update_one(
                {"_id": entry["_id"]}, {"$inc": {"attempts": 1}, "$set": {"last_error": error}}
            )
        except Exception:  # noqa: BLE001 - the database may be what failed
            pass
