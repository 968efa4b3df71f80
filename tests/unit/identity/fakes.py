"""identity's three stores in one memory (they share the accounts, and a use case of one capability writes through
another's store in the same transaction: a sign-up opens a session), plus what the use cases need beside a store:
a fast stand-in for Argon2id, a real token signer and an explicit clock."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from services.identity.sessions.usecases import TokenIssuer
from services.identity.settings import Policy
from tests.unit.identity.sessions.fakes import FakeSessions
from tests.unit.identity.staff.fakes import FakeStaff
from wenzhen.tokens import Signer, new_signing_settings

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday, 14:00 in Shanghai; on a window boundary
POLICY = Policy(otp_resend=timedelta(seconds=60))  # the defaults: 30-day patient and 12-hour staff sessions, …
_KEYS = new_signing_settings()
SIGNER = Signer.from_env(_KEYS)


class FakeIdentityStore(FakeSessions, FakeStaff):
    """Accounts', sessions' and staff accounts' named methods over one set of dicts."""


class FakePasswords:
    """Argon2id's interface without its cost: ``hash`` marks the password, ``verify`` checks the mark (a stored hash
    ``old:`` is one made with weaker parameters)."""

    def __init__(self) -> None:
        self.hashed: list[str] = []

    def hash(self, password: str) -> str:
        self.hashed.append(password)
        return f"h:{password}"

    def verify(self, stored: str | None, password: str) -> bool:
        return stored is not None and stored.split(":", 1)[1] == password

    def needs_rehash(self, stored: str) -> bool:
        return stored.startswith("old:")


def issuer(policy: Policy = POLICY, links: dict[str, list[str]] | None = None) -> TokenIssuer:
    """Tokens signed with a test key; ``links``: what intake answers (None: intake does not answer)."""
    return TokenIssuer(SIGNER, policy, linked_patients=(lambda account_id: links.get(account_id, []))
                       if links is not None else (lambda account_id: None))


def claims(access_token: str) -> dict:
    """An access token's claims (its signature and expiry are test_tokens' business)."""
    return jwt.decode(access_token, options={"verify_signature": False})
