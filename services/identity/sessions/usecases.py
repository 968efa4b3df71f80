"""Sessions' operations: authorize → store → emit → audit. Also what the other capabilities use when they sign
someone in or out: :func:`open_session` (sign-up), :func:`revoke_all` (a password reset, an admin's change),
:func:`challenge`, :func:`refuse_if_locked` and :func:`count_failure` (a staff activation)."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pyotp

from contracts.identity.events import AccountLocked, SessionRevoked
from contracts.identity.schemas import Login, MfaChallenge, MfaVerify, RevokedSession, Tokens, TotpEnrolment
from services.identity.accounts.rules import Account, origin_limit
from services.identity.passwords import Passwords
from services.identity.sessions import rules
from services.identity.sessions.rules import LOGIN_PER_ORIGIN, VISITORS_PER_ORIGIN_HOUR
from services.identity.sessions.store import SessionStore
from services.identity.settings import Policy
from wenzhen import audit, ids
from wenzhen.audit import EXECUTE, Outcome
from wenzhen.auth import Caller
from wenzhen.errors import Unauthorized
from wenzhen.ratelimit import Limit
from wenzhen.storage import Tx
from wenzhen.timez import to_local_iso, to_utc_iso
from wenzhen.tokens import Signer


def _no_links(account_id: str) -> list[str] | None:
    return None


@dataclass(frozen=True)
class TokenIssuer:
    """Signs access tokens. intake owns the links between accounts and patient records: ``linked_patients`` asks it
    at every issue (so a record registered a moment ago is in the next token) and answers None when intake does
    not answer, and the copy kept from intake's events is used then."""

    signer: Signer
    policy: Policy
    linked_patients: Callable[[str], list[str] | None] = field(default=_no_links)

    def tokens(self, account: Account, session_id: str, refresh_token: str, session_end: datetime,
               amr: tuple[str, ...], now: datetime) -> Tokens:
        ttl = self.policy.access_token_ttl
        fresh = self.linked_patients(account.id) if account.kind == "patient" else None
        access = self.signer.issue(sub=account.id, role=account.role, sid=session_id, now=now, ttl=ttl,
                                   patients=rules.token_patients(account, fresh), department=account.department,
                                   amr=amr)
        return Tokens(access_token=access, expires_in=int(ttl.total_seconds()), refresh_token=refresh_token,
                      refresh_expires_at=to_local_iso(session_end), account_id=account.id, role=account.role)


def hit_origin(store: SessionStore, limit: Limit, caller: Caller, policy: Policy, now: datetime) -> None:
    """Count one attempt from the caller's address against a per-origin limit (scaled by the policy's factor)."""
    store.hit_origin(origin_limit(limit, policy.origin_factor), caller.origin_ip, now)


# opening and ending sessions ---------------------------------------------------------------------------------------
def open_session(tx: Tx, store: SessionStore, issuer: TokenIssuer, account: Account, caller: Caller,
                 amr: tuple[str, ...], now: datetime) -> Tokens:
    end = now + rules.session_lifetime(account.kind, issuer.policy)
    session_id, secret = ids.new_id("ses"), secrets.token_urlsafe(32)
    store.insert_session(tx, session_id, account.id, secret, amr, caller.origin_ip, now, end)
    return issuer.tokens(account, session_id, f"{session_id}.{secret}", end, amr, now)


def signed_in(tx: Tx, store: SessionStore, issuer: TokenIssuer, account: Account, caller: Caller,
              amr: tuple[str, ...], now: datetime) -> Tokens:
    as_user = caller.signed_in_as(account.id, account.role)
    audit.record(tx, as_user, EXECUTE, "login", "Account", account.id, detail="+".join(amr))
    return open_session(tx, store, issuer, account, as_user, amr, now)


def revoke(tx: Tx, store: SessionStore, session_id: str, reason: str, policy: Policy, now: datetime,
           account_id: str | None = None) -> bool:
    """End a session and publish it (the gateway refuses its access tokens from now on)."""
    session = store.revoke(tx, session_id, reason, now, account_id=account_id)
    if session is None:
        return False
    tx.emit(SessionRevoked(account_id=session.account_id, session_id=session_id, reason=reason,
                           expires_at=to_utc_iso(rules.last_valid_access(now, policy))), subject=session.account_id)
    return True


def revoke_all(tx: Tx, store: SessionStore, account_id: str, reason: str, policy: Policy, now: datetime) -> int:
    return sum(revoke(tx, store, session_id, reason, policy, now) for session_id in store.live_sessions(tx, account_id))


# lockout -----------------------------------------------------------------------------------------------------------
def refuse_if_locked(store: SessionStore, login_index: str, now: datetime) -> None:
    rules.refuse_if_locked(store.locked_until(login_index, now), now)


def count_failure(store: SessionStore, caller: Caller, login_index: str, account: Account | None, step: str,
                  policy: Policy, now: datetime) -> None:
    """Count a failure for this login (whether or not it exists; outside any transaction, so it always counts) and
    lock it when the count says so (``rules.locks``)."""
    failures = store.count_failure(login_index, now)
    if account is not None:
        audit.record(store, caller, EXECUTE, "login", "Account", account.id, outcome=Outcome.failed, detail=step)
    if rules.locks(failures, policy):
        until = rules.lock_until(now, policy)

        def body(tx: Tx) -> None:
            store.lock(tx, login_index, until)
            tx.emit(AccountLocked(login_hash=login_index, until=to_utc_iso(until)),
                    subject=f"login-{login_index[:16]}")

        store.transact(body)


# signing in --------------------------------------------------------------------------------------------------------
def login(store: SessionStore, caller: Caller, request: Login, now: datetime, *, issuer: TokenIssuer,
          passwords: Passwords) -> Tokens | MfaChallenge:
    """Patients get tokens for a right password; staff a challenge for the second factor."""
    policy = issuer.policy
    hit_origin(store, LOGIN_PER_ORIGIN, caller, policy, now)
    index = store.login_index(request.login)
    refuse_if_locked(store, index, now)
    account = store.account_by_login(index)
    if not passwords.verify(account.password_hash if account else None, request.password):
        count_failure(store, caller, index, account, "login", policy, now)
        raise Unauthorized(rules.WRONG_LOGIN)
    if account.status == "disabled":
        audit.record(store, caller, EXECUTE, "login", "Account", account.id, outcome=Outcome.denied,
                     detail="disabled")
    rules.require_may_sign_in(account)
    if passwords.needs_rehash(account.password_hash):
        store.rehash_password(account.id, passwords.hash(request.password))
    if rules.needs_second_factor(account):
        return challenge(store, account, enrol=rules.enrols(account), now=now)
    if rules.password_clears_failures(account):
        store.clear_failures(index)
    return store.transact(lambda tx: signed_in(tx, store, issuer, account, caller, ("pwd",), now))


def challenge(store: SessionStore, account: Account, enrol: bool, now: datetime) -> MfaChallenge:
    """The second step of a staff sign-in; enrolling, with a new TOTP secret for the authenticator app."""
    challenge_id, secret = ids.new_id("mfa"), secrets.token_urlsafe(24)
    enrolment = None
    if enrol:  # a new secret each time until the first code confirms one
        totp_secret = pyotp.random_base32()
        store.set_pending_totp(account.id, totp_secret)
        enrolment = TotpEnrolment(secret=totp_secret, otpauth_uri=pyotp.TOTP(totp_secret).provisioning_uri(
            name=account.username, issuer_name="Wenzhen"))
    store.insert_challenge(challenge_id, account.id, enrol, secret, now, now + rules.MFA_TTL)
    return MfaChallenge(mfa_token=f"{challenge_id}.{secret}", expires_in=int(rules.MFA_TTL.total_seconds()),
                        enrolment=enrolment)


def verify_mfa(store: SessionStore, caller: Caller, request: MfaVerify, now: datetime, *,
               issuer: TokenIssuer) -> Tokens:
    """The second step of a staff sign-in, or the first code of a TOTP enrolment."""
    challenge_id, secret = rules.split_token(request.mfa_token, "mfa")
    taken = store.take_challenge(challenge_id, secret, now)
    if taken is None:
        raise Unauthorized(rules.CHALLENGE_ENDED)
    account = store.account(taken.account_id)
    if not rules.may_finish_mfa(account):
        raise Unauthorized(rules.DISABLED)
    refuse_if_locked(store, account.login_index, now)
    totp_secret = account.totp_pending if taken.enrol else account.totp_secret
    step = rules.matching_step(totp_secret, request.code, now) if totp_secret else None
    if step is None:
        count_failure(store, caller, account.login_index, account, "mfa", issuer.policy, now)
        raise Unauthorized(rules.WRONG_TOTP)
    if rules.replayed(step, account.totp_last_step):
        raise Unauthorized(rules.USED_TOTP)

    def body(tx: Tx) -> Tokens:
        # the step and the status are in the update's filter too: a concurrent use of the code, or an account
        # disabled since it was read, changes nothing here
        if not store.finish_mfa(tx, account, step, enrol=taken.enrol):
            raise Unauthorized(rules.USED_TOTP)
        store.use_challenge(tx, challenge_id, now)
        return signed_in(tx, store, issuer, account, caller, ("pwd", "otp"), now)

    result = store.transact(body)
    store.clear_failures(account.login_index)  # staff: forgiven once both factors are done
    return result


def refresh(store: SessionStore, caller: Caller, refresh_token: str, now: datetime, *,
            issuer: TokenIssuer) -> Tokens:
    """New tokens for a live session; the presented refresh token is replaced (rotation)."""
    session_id, secret = rules.split_token(refresh_token, "ses")
    new_secret = secrets.token_urlsafe(32)
    session = store.rotate_refresh(session_id, secret, new_secret, now)
    if session is None:
        if rules.refresh_reused(store.session(session_id), secret):
            store.transact(lambda tx: revoke(tx, store, session_id, "refresh token reused", issuer.policy, now))
        raise Unauthorized(rules.SESSION_ENDED)
    account = store.account(session.account_id)
    if not rules.may_refresh(account):
        store.transact(lambda tx: revoke(tx, store, session_id, "account not active", issuer.policy, now))
        raise Unauthorized(rules.SESSION_ENDED)
    return issuer.tokens(account, session_id, f"{session_id}.{new_secret}", session.expires_at, session.amr, now)


def logout(store: SessionStore, caller: Caller, policy: Policy, now: datetime) -> None:
    principal = caller.principal
    rules.require_session(principal)

    def body(tx: Tx) -> None:
        revoke(tx, store, principal.sid, "logout", policy, now, account_id=principal.sub)
        audit.record(tx, caller, EXECUTE, "logout", "Account", principal.sub)

    store.transact(body)


def revoked_sessions(store: SessionStore, since: datetime) -> list[RevokedSession]:
    """Sessions revoked since ``since`` (the gateway loads them at start, then follows session_revoked events)."""
    return store.revoked_since(since)


# visitors ----------------------------------------------------------------------------------------------------------
def open_visitor_session(store: SessionStore, caller: Caller, now: datetime, *, issuer: TokenIssuer) -> Tokens:
    """An anonymous visitor opening a chat gets an account of kind ``visitor`` (no phone, no password) and a
    session, so the following calls about their own consultation carry a token like everybody else's (refresh,
    logout and revocation work unchanged). The role ``visitor`` opens nothing but the visitor's own chats."""
    rules.require_anonymous(caller.principal)
    hit_origin(store, VISITORS_PER_ORIGIN_HOUR, caller, issuer.policy, now)

    def body(tx: Tx) -> Tokens:
        account = store.insert_visitor(tx, ids.new_id("vis"), now)
        return signed_in(tx, store, issuer, account, caller, ("visitor",), now)

    return store.transact(body)
