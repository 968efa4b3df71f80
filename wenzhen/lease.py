"""A background loop that works only while it holds a named lease in its service's database.

Every process of a service runs the loop; the lease (a document in ``leases``
with an owner and an expiry) lets exactly one of them do the work at a time, so
work that must happen in one order (publishing the outbox, sealing the audit
chain) stays ordered when the service is scaled out. A holder that dies simply
stops renewing; another takes over when the lease expires.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from abc import ABC, abstractmethod
from datetime import timedelta

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from wenzhen.storage import LEASES
from wenzhen.timez import utcnow

log = logging.getLogger("wenzhen.lease")


class LeasedLoop(ABC):
    """Subclass: set ``lease_name`` and implement ``round()`` (returns how much work it did)."""

    lease_name: str

    def __init__(self, db: Database, *, lease_seconds: float, poll_interval: float, retry_max: float):
        self.db = db
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.retry_max = retry_max
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self._held_until = None  # when the lease this loop holds ends (as last written)

    @abstractmethod
    def round(self) -> int:
        """Do one batch of work while holding the lease; 0 means idle (the loop then sleeps)."""

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
                    self._sleep(self.lease_seconds / 3)
                    continue
                if self.round() == 0:
                    self._sleep(self.poll_interval)
                backoff = 0.0
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure
                backoff = min(max(backoff * 2, 0.2), self.retry_max)
                log.warning("%s round failed (%s: %s); retrying in %.1fs",
                            self.lease_name, type(exc).__name__, str(exc)[:200], backoff)
                self._sleep(backoff)
        self.release_lease()

    def _sleep(self, seconds: float) -> None:
        self._wakeup.wait(seconds)
        self._wakeup.clear()

    # lease -------------------------------------------------------------
    def hold_lease(self) -> bool:
        """Take or renew the lease; False while another process holds it. A lease held with more than half its
        time left is not written again (a busy loop would otherwise write it every round)."""
        now = utcnow()
        if self._held_until is not None and now < self._held_until - timedelta(seconds=self.lease_seconds / 2):
            return True
        until = now + timedelta(seconds=self.lease_seconds)
        try:
            self.db[LEASES].update_one(
                {"_id": self.lease_name, "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": until}},
                upsert=True,
            )
        except DuplicateKeyError:  # another holds it: the upsert of a second document with its _id is refused
            self._held_until = None
            return False
        self._held_until = until
        return True

    def release_lease(self) -> None:
        self._held_until = None
        try:
            self.db[LEASES].delete_one({"_id": self.lease_name, "owner": self.owner})
        except Exception:  # noqa: BLE001 - best effort on shutdown; the lease expires anyway
            pass
