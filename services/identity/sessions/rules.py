"""Sessions' decisions, pure (an explicit ``now``): how long a session lives, when a refresh token rotates and when
one came back after it was replaced, when failures lock a login and for how long, which TOTP step a code is and
whether it was used already, who may finish a sign-in."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyotp

from services.identity.accounts.rules import PATIENT, SESSION_ENDED, STAFF, VISITOR, Account
from services.identity.settings import Policy
from wenzhen.auth import Principal
from wenzhen.errors import Forbidden, TooManyRequests, Unauthorized
from wenzhen.ratelimit import Limit
from wenzhen.tokens import LEEWAY_SECONDS

MFA_TTL = timedelta(minutes=5)
MFA_MAX_ATTEMPTS = 5
CHALLENGE_KEPT = timedelta(hours=1)  # after it expires (then purged)
SESSION_KEPT = timedelta(days=1)  # after it ends (then purged)
FAILURES_KEPT = timedelta(days=1)  # a login's failure count, after the last failure
PREVIOUS_REFRESH_KEPT = 50  # replaced refresh tokens remembered per session (one of them back: the session ends)
TOTP_DRIFT_STEPS = 1  # a code of the step before or after is accepted too (clocks drift)

LOGIN_PER_ORIGIN = Limit("login-origin-15m", 100, timedelta(minutes=15), "Too many sign-in attempts from here; try "
                                                                         "again later.")
VISITORS_PER_ORIGIN_HOUR = Limit("visitor-origin-1h", 60, timedelta(hours=1), "Too many chats opened from here; "
                                 "try again later or call the hospital.")

WRONG_LOGIN = "The login or password is wrong."
DISABLED = "This account is disabled; contact the hospital's administrator."
CHALLENGE_ENDED = "This sign-in has expired; please start again."
WRONG_TOTP = "The code is wrong."
USED_TOTP = "This code was used already; wait for the next one."


@dataclass(frozen=True)
class Session:
    id: str
    account_id: str
    created_at: datetime
    expires_at: datetime
    refresh_hash: str = field(repr=False)
    previous_hashes: tuple[str, ...] = field(default=(), repr=False)
    revoked_at: datetime | None = None
    amr: tuple[str, ...] = ("pwd",)


@dataclass(frozen=True)
class Challenge:
    """The second step of a staff sign-in (or of a TOTP enrolment), between the password and the code."""

    id: str
    account_id: str
    enrol: bool
    attempts: int
    expires_at: datetime
    secret_hash: str = field(default="", repr=False)
    used_at: datetime | None = None


# tokens ------------------------------------------------------------------------------------------------------------
def token_hash(secret: str) -> str:
    """How a refresh token's or a challenge's secret is kept (never the secret)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str, prefix: str) -> tuple[str, str]:
    """``<prefix>_<id>.<secret>`` into id and secret; anything else is an ended session."""
    head, _, secret = token.partition(".")
    if not head.startswith(prefix + "_") or not secret:
        raise Unauthorized(SESSION_ENDED)
    return head, secret


def session_lifetime(kind: str, policy: Policy) -> timedelta:
    """The longest life of a session (refresh tokens rotate within it): patients 30 days, visitors a day, staff
    12 hours (by default)."""
    return {PATIENT: policy.patient_session, VISITOR: policy.visitor_session}.get(kind, policy.staff_session)


def token_patients(account: Account, fresh: list[str] | None) -> tuple[str, ...]:
    """The patient records a token lists: intake's live links when it answered, else the copy kept from its events
    (only patient accounts act for records)."""
    if account.kind != PATIENT:
        return ()
    return tuple(account.patients if fresh is None else fresh)


def last_valid_access(now: datetime, policy: Policy) -> datetime:
    """No access token of a session revoked ``now`` is accepted after this (its lifetime plus the leeway)."""
    return now + policy.access_token_ttl + timedelta(seconds=LEEWAY_SECONDS)


# refresh rotation --------------------------------------------------------------------------------------------------
def may_rotate(session: Session | None, secret: str, now: datetime) -> bool:
    """The presented refresh token is the session's current one, and the session is live."""
    return (session is not None and session.revoked_at is None and session.expires_at > now
            and hmac.compare_digest(session.refresh_hash, token_hash(secret)))


def refresh_reused(session: Session | None, secret: str) -> bool:
    """A replaced refresh token came back: someone else holds a copy, and the session ends for both."""
    return session is not None and session.revoked_at is None and token_hash(secret) in session.previous_hashes


def kept_hashes(previous: tuple[str, ...], replaced: str) -> tuple[str, ...]:
    return (*previous, replaced)[-PREVIOUS_REFRESH_KEPT:]


def may_refresh(account: Account | None) -> bool:
    return account is not None and account.status == "active"


# lockout -----------------------------------------------------------------------------------------------------------
def locks(failures: int, policy: Policy) -> bool:
    """Every ``LOGIN_MAX_FAILURES``-th failure locks the login (again), whether or not an account exists."""
    return failures > 0 and failures % policy.login_max_failures == 0


def lock_until(now: datetime, policy: Policy) -> datetime:
    return now + policy.lockout


def refuse_if_locked(locked_until: datetime | None, now: datetime) -> None:
    if locked_until is not None and locked_until > now:
        wait = (locked_until - now).total_seconds()
        raise TooManyRequests(f"Too many failed attempts; sign-in is locked for {max(1, round(wait / 60))} "
                              "minute(s).", retry_after=wait)


def password_clears_failures(account: Account) -> bool:
    """A right password forgives a patient's failures; a staff member's only once the second factor is done too, or
    a known password would let anyone guess TOTP codes without ever being locked."""
    return account.kind != STAFF


# signing in --------------------------------------------------------------------------------------------------------
def require_may_sign_in(account: Account) -> None:
    if account.status == "disabled":
        raise Unauthorized(DISABLED)


def needs_second_factor(account: Account) -> bool:
    """Staff always sign in with password and TOTP: a right password gives them a challenge, never tokens."""
    return account.kind == STAFF


def enrols(account: Account) -> bool:
    """An activated staff account that has not confirmed an authenticator app yet."""
    return account.status == "pending_mfa"


def may_take_challenge(challenge: Challenge | None, secret: str, now: datetime) -> bool:
    """The challenge is the one presented, unused, unexpired and below its attempts (each try counts)."""
    return (challenge is not None and challenge.used_at is None and challenge.expires_at > now
            and challenge.attempts < MFA_MAX_ATTEMPTS and hmac.compare_digest(challenge.secret_hash,
                                                                                token_hash(secret)))


def may_finish_mfa(account: Account | None) -> bool:
    """A disabled (or reset) account cannot finish a sign-in it started before."""
    return account is not None and account.status in ("active", "pending_mfa")


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code ``code`` is, allowing one step of clock drift either way; None: wrong."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step, *(step + d for n in range(1, TOTP_DRIFT_STEPS + 1) for d in (-n, n))):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def replayed(step: int, last_step: int) -> bool:
    """A code works once: its step must be newer than the last one used, even across challenges."""
    return step <= last_step


# visitors and logout -----------------------------------------------------------------------------------------------
def require_anonymous(principal: Principal) -> None:
    if principal.authenticated:
        raise Forbidden("Signed-in callers open consultations as themselves.")


def require_session(principal: Principal) -> None:
    if principal.kind != "user" or not principal.sid:
        raise Unauthorized("Not signed in.")
