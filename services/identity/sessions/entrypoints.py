"""Sessions' Nameko entrypoints: thin adapters over ``usecases``. :class:`SigningIn` is what every identity
capability's entrypoints sign with: the session store, the token issuer (asking intake for the links at every issue)
and the password hasher, all from the settings read at start."""
from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache

from contracts.identity.schemas import Login, MfaChallenge, MfaVerify, RefreshRequest, RevokedSession, Tokens
from services.identity.passwords import Passwords
from services.identity.sessions import usecases
from services.identity.sessions.store import SessionStore
from services.identity.sessions.usecases import TokenIssuer
from services.identity.settings import IdentitySettings, Policy
from wenzhen.crypto import keyring
from wenzhen.service import ServiceRpc, call, rpc
from wenzhen.timez import as_utc, utcnow
from wenzhen.tokens import Signer

log = logging.getLogger("identity")


@lru_cache(maxsize=1)
def signer() -> Signer:
    """The token-signing keys (identity only): read once; a missing key refuses the start."""
    return Signer.from_env()


@lru_cache(maxsize=4)
def password_hasher(settings: IdentitySettings) -> Passwords:
    import eventlet.tpool

    # Argon2id is CPU and memory bound: run it in a real thread so the service's other workers keep going
    return Passwords(*settings.argon2, offload=eventlet.tpool.execute)


class SigningIn:
    """What identity's entrypoints sign people in with (``self.settings`` is the service's IdentitySettings)."""

    intake = ServiceRpc("intake")

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    @property
    def session_store(self) -> SessionStore:
        return SessionStore(self.store, keyring())

    @property
    def passwords(self) -> Passwords:
        return password_hasher(self.settings)

    @property
    def issuer(self) -> TokenIssuer:
        return TokenIssuer(signer(), self.policy, linked_patients=self._linked_patients)

    def _linked_patients(self, account_id: str) -> list[str] | None:
        try:
            return call(self.intake.linked_patient_ids, account_id, timeout=2)
        except Exception as exc:  # noqa: BLE001 - sign-in goes on with the copy kept from intake's events
            log.warning("intake did not list linked patients (%s); using the kept copy", type(exc).__name__)
            return None


class SessionEntrypoints(SigningIn):
    @rpc
    def open_visitor_session(self) -> Tokens:
        return usecases.open_visitor_session(self.session_store, self.caller, utcnow(), issuer=self.issuer)

    @rpc
    def login(self, request: Login) -> Tokens | MfaChallenge:
        return usecases.login(self.session_store, self.caller, request, utcnow(), issuer=self.issuer,
                              passwords=self.passwords)

    @rpc
    def verify_mfa(self, request: MfaVerify) -> Tokens:
        return usecases.verify_mfa(self.session_store, self.caller, request, utcnow(), issuer=self.issuer)

    @rpc
    def refresh(self, request: RefreshRequest) -> Tokens:
        return usecases.refresh(self.session_store, self.caller, request.refresh_token, utcnow(), issuer=self.issuer)

    @rpc
    def logout(self) -> None:
        usecases.logout(self.session_store, self.caller, self.policy, utcnow())

    @rpc
    def revoked_sessions(self, since: datetime) -> list[RevokedSession]:
        return usecases.revoked_sessions(self.session_store, as_utc(since))
