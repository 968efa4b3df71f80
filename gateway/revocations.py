"""Sessions that ended before their access tokens expire (logout, a reused refresh token, a disabled account).

Access tokens are short-lived (``ACCESS_TOKEN_TTL_SECONDS``), but "logout" must
mean now. Each gateway worker keeps the ids of sessions revoked within the last
token lifetime: it follows identity's ``session_revoked`` events on its RPC
connection, and every time that subscription is (re)bound it catches up with
``identity.revoked_sessions`` (what happened while it was not listening). An
entry is forgotten once no token of its session can still be valid.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from wenzhen.config import settings
from wenzhen.rpc_client import Subscription
from wenzhen.timez import to_utc_iso
from wenzhen.tokens import LEEWAY_SECONDS

log = logging.getLogger("gateway.revocations")


class Revocations:
    def __init__(self, token_ttl: float):
        self.token_ttl = token_ttl
        self._until: dict[str, float] = {}  # session id -> epoch seconds after which no token of it is valid
        self._lock = threading.Lock()
        self.caught_up = threading.Event()

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
            until = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")).timestamp()
            self.revoke(data["session_id"], until)

    def catch_up(self, rpc_client, attempts: int | None = None) -> None:
        """Load the sessions revoked within the last token lifetime, retrying (with a capped backoff) until
        identity answers. Until then the gateway refuses tokens with 503 (see gateway.auth): it cannot tell a
        live session from an ended one."""
        self.caught_up.clear()
        since = datetime.now(UTC) - timedelta(seconds=self.token_ttl + LEEWAY_SECONDS)
        attempt = 0
        while attempts is None or attempt < attempts:
            try:
                for item in rpc_client.call("identity", "revoked_sessions", to_utc_iso(since), timeout=5):
                    revoked = datetime.fromisoformat(item["revoked_at"].replace("Z", "+00:00")).timestamp()
                    self.revoke(item["session_id"], revoked + self.token_ttl + LEEWAY_SECONDS)
                self.caught_up.set()
                return
            except Exception as exc:  # noqa: BLE001 - identity starting, its database not ready: retry
                attempt += 1
                log.warning("ended sessions not loaded yet (%s); tokens are refused until they are",
                            type(exc).__name__)
                time.sleep(min(5.0, 0.2 * attempt))
        log.error("ended sessions could not be loaded after %d attempts", attempt)


_revocations: Revocations | None = None
_lock = threading.Lock()


def revocations() -> Revocations:
    global _revocations
    if _revocations is None:
        with _lock:
            if _revocations is None:
                _revocations = Revocations(settings().access_token_ttl)
    return _revocations


def subscription() -> Subscription:
    """What the worker's RPC client follows: session_revoked, with a catch-up each time it is bound."""
    tracker = revocations()
    return Subscription("identity.events", "session_revoked", tracker.on_event, on_bound=tracker.catch_up)
