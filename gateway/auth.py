"""Who is calling the gateway: the bearer token, the origin and the stated purpose.

* ``Authorization: Bearer <JWT>`` is verified with identity's *public* keys
  (``WENZHEN_JWT_PUBLIC_KEYS``; the gateway cannot issue tokens). A token that
  is present but bad is a 401 even on a public route — a client should know.
* A token of a session that was revoked (logout, reused refresh token, disabled
  account) is refused too: the gateway follows identity's ``session_revoked``
  events (see :mod:`gateway.revocations`). A patient record the account was
  unlinked from after the token was issued is taken out of the principal the
  services receive (intake's ``patient_link_removed``). Until a worker has
  caught up with both (at start, after a broker reconnect) it answers 503: it
  fails closed.
* The origin is the peer address, or with ``GATEWAY_TRUSTED_PROXIES=n`` the
  n-th address from the right of ``X-Forwarded-For`` (only what trusted proxies
  wrote is believed).
* ``X-Purpose-Of-Use`` may state an HL7 PurposeOfUse the role is allowed to
  state (e.g. ``ETREAT`` for a doctor in an emergency); it is recorded with
  every audit entry. Absent, the role's default applies.
"""
from __future__ import annotations

import threading
import time
from functools import lru_cache

import falcon

from gateway.problems import HttpProblem
from gateway.revocations import revocations
from wenzhen.auth import ALLOWED_PURPOSES, ANONYMOUS, Principal, PurposeOfUse
from wenzhen.config import settings
from wenzhen.tokens import LEEWAY_SECONDS, InvalidToken, Verifier

PUBLIC = "public"


@lru_cache(maxsize=1)
def verifier() -> Verifier:
    return Verifier.from_env()


class VerifiedTokens:
    """Tokens whose signature and claims were verified, kept until they expire: a client sends the same token on
    every request for its ten minutes, and an Ed25519 verification costs about 0.24 ms. What can change while a
    token is valid (a revoked session, an unlinked record) is not cached: it is checked on every request."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._claims: dict[str, dict] = {}
        self._lock = threading.Lock()

    def verify(self, token: str, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        claims = self._claims.get(token)
        if claims is not None and claims["exp"] + LEEWAY_SECONDS > now:
            return claims
        claims = verifier().verify(token)  # raises InvalidToken
        with self._lock:
            if len(self._claims) >= self.capacity:
                self._forget_expired(now)
            if len(self._claims) < self.capacity:
                self._claims[token] = claims
        return claims

    def _forget_expired(self, now: float) -> None:
        for token in [t for t, c in self._claims.items() if c["exp"] + LEEWAY_SECONDS <= now]:
            del self._claims[token]
        if len(self._claims) >= self.capacity:  # all still valid: start afresh rather than grow
            self._claims.clear()


verified_tokens = VerifiedTokens()


def unauthorized(detail: str, error: str = "invalid_token") -> HttpProblem:
    return HttpProblem(401, detail, slug="unauthorized",
                       headers={"WWW-Authenticate": f'Bearer realm="wenzhen", error="{error}"'})


def authenticate(req: falcon.Request) -> Principal:
    header = req.get_header("Authorization")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Send the access token as `Authorization: Bearer <token>`.", "invalid_request")
    try:
        claims = verified_tokens.verify(token.strip())
        principal = verifier().principal_of(claims)
    except InvalidToken as exc:
        raise unauthorized(f"The access token was refused: {exc}.") from None
    tracker = revocations()
    if not tracker.caught_up.is_set():
        raise HttpProblem(503, "The gateway is still loading which sessions and links have ended; retry in a "
                               "moment.", slug="starting", headers={"Retry-After": "2"})
    if tracker.is_revoked(principal.sid):
        raise unauthorized("The session of this access token has ended; sign in again.")
    return tracker.current(principal, claims["iat"])  # without records unlinked since the token was issued


def origin_ip(req: falcon.Request) -> str:
    trusted = settings().gateway_trusted_proxies
    if trusted > 0:
        forwarded = [part.strip() for part in (req.get_header("X-Forwarded-For") or "").split(",") if part.strip()]
        if len(forwarded) >= trusted:
            return forwarded[-trusted]
    return req.remote_addr or "unknown"


def purpose(req: falcon.Request, principal: Principal) -> PurposeOfUse:
    stated = req.get_header("X-Purpose-Of-Use")
    if not stated:
        return principal.default_purpose
    allowed = ALLOWED_PURPOSES.get(principal.role, set()) if principal.kind == "user" else set()
    try:
        value = PurposeOfUse(stated.strip().upper())
    except ValueError:
        value = None
    if value not in allowed:
        raise HttpProblem(400, f"X-Purpose-Of-Use must be one of {', '.join(sorted(allowed)) or 'nothing'} for "
                               "this role.", slug="bad-header",
                          errors=[{"field": "X-Purpose-Of-Use", "message": "not allowed for this role",
                                   "type": "header"}])
    return value
