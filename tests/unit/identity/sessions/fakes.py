"""Sessions' store in memory: the same named methods as ``SessionStore``, over the accounts of
:class:`FakeAccounts`; its conditional updates decide with the capability's own pure rules."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.identity.accounts.rules import VISITOR, Account
from services.identity.sessions import rules
from services.identity.sessions.rules import Challenge, Session, token_hash
from tests.unit.identity.accounts.fakes import FakeAccounts
from wenzhen.auth import Role


class FakeSessions(FakeAccounts):
    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, Session] = {}
        self.revoked_reasons: dict[str, str] = {}
        self.challenges: dict[str, Challenge] = {}
        self.failures: dict[str, int] = {}
        self.locks: dict[str, datetime] = {}

    # accounts, as signing in sees them ---------------------------------------------------------------------------
    def account_by_login(self, login_index: str) -> Account | None:
        return self._by_login(login_index)

    def rehash_password(self, account_id: str, password_hash: str) -> None:
        self.accounts[account_id] = replace(self.accounts[account_id], password_hash=password_hash)

    def set_pending_totp(self, account_id: str, secret: str) -> None:
        self.accounts[account_id] = replace(self.accounts[account_id], totp_pending=secret)

    def finish_mfa(self, tx, account: Account, step: int, enrol: bool) -> bool:
        current = self.accounts[account.id]
        if not (current.totp_last_step < step and current.status == account.status):
            return False
        changes: dict = {"totp_last_step": step}
        if enrol:
            changes.update(totp_secret=account.totp_pending, totp_pending=None, totp_enrolled=True, status="active")
        self.accounts[account.id] = replace(current, **changes)
        return True

    def insert_visitor(self, tx, visitor_id: str, now: datetime) -> Account:
        self.accounts[visitor_id] = Account(id=visitor_id, kind=VISITOR, role=Role.visitor, status="active",
                                            login_index=f"visitor:{visitor_id}", created_at=now)
        return self.accounts[visitor_id]

    # sessions ----------------------------------------------------------------------------------------------------
    def insert_session(self, tx, session_id, account_id, refresh_secret, amr, origin_ip, now, expires_at) -> None:
        self.sessions[session_id] = Session(id=session_id, account_id=account_id, created_at=now,
                                            expires_at=expires_at, refresh_hash=token_hash(refresh_secret),
                                            amr=tuple(amr))

    def rotate_refresh(self, session_id: str, secret: str, new_secret: str, now: datetime) -> Session | None:
        session = self.sessions.get(session_id)
        if not rules.may_rotate(session, secret, now):
            return None
        self.sessions[session_id] = replace(session, refresh_hash=token_hash(new_secret),
                                            previous_hashes=rules.kept_hashes(session.previous_hashes,
                                                                              session.refresh_hash))
        return self.sessions[session_id]

    def session(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def revoke(self, tx, session_id: str, reason: str, now: datetime, account_id: str | None = None):
        session = self.sessions.get(session_id)
        if session is None or session.revoked_at is not None or account_id not in (None, session.account_id):
            return None
        self.sessions[session_id] = replace(session, revoked_at=now)
        self.revoked_reasons[session_id] = reason
        return self.sessions[session_id]

    def live_sessions(self, tx, account_id: str) -> list[str]:
        return [s.id for s in self.sessions.values() if s.account_id == account_id and s.revoked_at is None]

    def revoked_since(self, since: datetime):
        from contracts.identity.schemas import RevokedSession
        from wenzhen.timez import to_utc_iso

        return [RevokedSession(session_id=s.id, revoked_at=to_utc_iso(s.revoked_at))
                for s in self.sessions.values() if s.revoked_at is not None and s.revoked_at >= since]

    # challenges --------------------------------------------------------------------------------------------------
    def insert_challenge(self, challenge_id, account_id, enrol, secret, now, expires_at) -> None:
        self.challenges[challenge_id] = Challenge(id=challenge_id, account_id=account_id, enrol=enrol, attempts=0,
                                                  expires_at=expires_at, secret_hash=token_hash(secret))

    def take_challenge(self, challenge_id: str, secret: str, now: datetime) -> Challenge | None:
        challenge = self.challenges.get(challenge_id)
        if not rules.may_take_challenge(challenge, secret, now):
            return None
        self.challenges[challenge_id] = replace(challenge, attempts=challenge.attempts + 1)
        return self.challenges[challenge_id]

    def use_challenge(self, tx, challenge_id: str, now: datetime) -> None:
        self.challenges[challenge_id] = replace(self.challenges[challenge_id], used_at=now)

    # failures and locks ------------------------------------------------------------------------------------------
    def locked_until(self, login_index: str, now: datetime) -> datetime | None:
        until = self.locks.get(login_index)
        return until if until is not None and until > now else None

    def count_failure(self, login_index: str, now: datetime) -> int:
        self.failures[login_index] = self.failures.get(login_index, 0) + 1
        return self.failures[login_index]

    def lock(self, tx, login_index: str, until: datetime) -> None:
        self.locks[login_index] = until

    def clear_failures(self, login_index: str, tx=None) -> None:
        self.failures.pop(login_index, None)
        self.locks.pop(login_index, None)
