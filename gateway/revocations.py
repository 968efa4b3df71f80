"""What ended before the access tokens that claim it expire: sessions (logout, a reused refresh token, a disabled
account), and the records an account acted for (a relative's record unlinked).

Access tokens are short-lived (``ACCESS_TOKEN_TTL_SECONDS``), but "logout" and
"unlink" must mean now, in every service. Each gateway worker keeps

* the ids of sessions revoked within the last token lifetime, from identity's
  ``session_revoked`` events and ``identity.revoked_sessions``;
* the (account, patient) links removed within the last token lifetime, from
  intake's ``patient_link_removed`` events and ``intake.removed_links``: a token
  issued before the removal still lists the patient (``pat``), and the gateway
  takes it out of the principal it hands to the services, so booking, notify
  and the rest never see it. Tokens issued afterwards are built from intake's
  live links already.

Both are followed on the worker's RPC connection and caught up each time the
subscription is (re)bound; until both have loaded the gateway refuses tokens
(503). An entry is forgotten once no token it could concern can still be valid.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from wenzhen.auth import Principal
from wenzhen.config import settings
from wenzhen.rpc_client import Subscription
from wenzhen.timez import parse_iso, to_utc_iso
from wenzhen.tokens import LEEWAY_SECONDS

log = logging.getLogger("gateway.revocations")


class Revocations:
    def __init__(self, token_ttl: float):
        self.token_ttl = token_ttl
        self._until: dict[str, float] = {}  # session id -> epoch seconds after which no token of it is valid
        # (account id, patient id) -> (removed at, forget after), epoch seconds
        self._unlinked: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._loaded: set[str] = set()  # which of SOURCES have caught up since they were last bound
        self.caught_up = threading.Event()

    def _bound(self, source: str) -> None:
        with self._lock:
            self._loaded.discard(source)
            self.caught_up.clear()

    def _loaded_now(self, source: str) -> None:
        with self._lock:
            self._loaded.add(source)
            if self._loaded >= set(SOURCES):
                self.caught_up.set()

    @property
    def window(self) -> float:
        """How long a token issued at some moment can still be accepted after it."""
        return self.token_ttl + LEEWAY_SECONDS

    # links ---------------------------------------------------------------------------------------------
    def unlink(self, account_id: str, patient_id: str, removed_at: float) -> None:
        with self._lock:
            earlier = self._unlinked.get((account_id, patient_id), (0.0, 0.0))[0]
            removed = max(earlier, removed_at)
            self._unlinked[(account_id, patient_id)] = (removed, removed + self.window)

    def current(self, principal: Principal, issued_at: float, now: float | None = None) -> Principal:
        """``principal`` without the patients its account was unlinked from after the token was issued."""
        if not principal.patients or not self._unlinked:
            return principal
        now = now or time.time()
        kept = []
        for patient_id in principal.patients:
            entry = self._unlinked.get((principal.sub, patient_id))
            if entry is not None and entry[1] < now:
                with self._lock:
                    self._unlinked.pop((principal.sub, patient_id), None)
                entry = None
            if entry is None or issued_at > entry[0]:
                kept.append(patient_id)
        return principal if len(kept) == len(principal.patients) else principal.model_copy(
            update={"patients": tuple(kept)})

    def revoke(self, session_id: str, until: float) -> None:
        with self._lock:
            self._until[session_id] = max(until, self._until.get(session_id, 0.0))

    def is_revoked(self, session_id: str | None, now: float | None = None) -> bool:
        if not session_id:
            return False
        until = self._until.get(session_id)
        if until is None:
            return False
        if until < (now or time.time()):
            with self._lock:
                self._until.pop(session_id, None)
            return False
        return True

    def __len__(self) -> int:
        return len(self._until)

    # feeding ---------------------------------------------------------------------------------------
    def on_event(self, envelope: dict) -> None:
        data = envelope.get("data", {})
        if data.get("session_id"):
            self.revoke(data["session_id"], parse_iso(data["expires_at"]).timestamp())

    def on_unlinked(self, envelope: dict) -> None:
        data = envelope.get("data", {})
        if data.get("account_id") and data.get("patient_id") and envelope.get("time"):
            self.unlink(data["account_id"], data["patient_id"], parse_iso(envelope["time"]).timestamp())

    def catch_up(self, rpc_client, attempts: int | None = None) -> None:
        """Load the sessions revoked within the last token lifetime (identity)."""
        def load(since: str) -> None:
            for item in rpc_client.call("identity", "revoked_sessions", since, timeout=5):
                self.revoke(item["session_id"], parse_iso(item["revoked_at"]).timestamp() + self.window)

        self._catch_up("sessions", "ended sessions", load, attempts)

    def catch_up_links(self, rpc_client, attempts: int | None = None) -> None:
        """Load the links removed within the last token lifetime (intake)."""
        def load(since: str) -> None:
            for item in rpc_client.call("intake", "removed_links", since, timeout=5):
                self.unlink(item["account_id"], item["patient_id"], parse_iso(item["removed_at"]).timestamp())

        self._catch_up("links", "removed links", load, attempts)

    def _catch_up(self, source: str, what: str, load, attempts: int | None) -> None:
        """Retry (with a capped backoff) until the owner answers. Until then the gateway refuses tokens with 503 (see
        gateway.auth): it cannot tell a live session or link from an ended one."""
        self._bound(source)
        since = to_utc_iso(datetime.now(UTC) - timedelta(seconds=self.window))
        attempt = 0
        while attempts is None or attempt < attempts:
            try:
                load(since)
                self._loaded_now(source)
                return
            except Exception as exc:  # noqa: BLE001 - the owner starting, its database not ready: retry
                attempt += 1
                log.warning("%s not loaded yet (%s); tokens are refused until they are", what, type(exc).__name__)
                time.sleep(min(5.0, 0.2 * attempt))
        log.error("%s could not be loaded after %d attempts", what, attempt)


SOURCES = ("sessions", "links")


_revocations: Revocations | None = None
_lock = threading.Lock()


def revocations() -> Revocations:
    global _revocations
    if _revocations is None:
        with _lock:
            if _revocations is None:
                _revocations = Revocations(settings().access_token_ttl)
    return _revocations


def subscriptions() -> tuple[Subscription, ...]:
    """What the worker's RPC client follows: session_revoked and patient_link_removed, each with a catch-up every
    time it is bound."""
    tracker = revocations()
    return (Subscription("identity.events", "session_revoked", tracker.on_event, on_bound=tracker.catch_up),
            Subscription("intake.events", "patient_link_removed", tracker.on_unlinked,
                         on_bound=tracker.catch_up_links))
