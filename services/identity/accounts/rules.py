"""Accounts' decisions, pure: what an account is, which login a phone or username is, whether a code may be sent or
tried, which consents are current, and the limits on codes and sign-ups."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from contracts.identity.schemas import ConsentGrant, OtpPurpose
from services.identity.accounts import consent
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, InvalidInput, Unauthorized, field_error
from wenzhen.fields import normalize_mobile
from wenzhen.ratelimit import Limit, scaled

PATIENT, STAFF, VISITOR = "patient", "staff", "visitor"  # an account's kind

OTP_MAX_ATTEMPTS = 5  # guesses at one code
OTP_KEPT_AFTER_EXPIRY = timedelta(hours=1)  # then the code (and its encrypted copy for notify) is purged

# abuse limits (per phone number and per origin; keys are keyed hashes, never the number or the address)
OTP_RESEND = "otp-phone-resend"  # one code per number per OTP_RESEND_SECONDS
OTP_RESEND_MESSAGE = "A code was sent a moment ago; please wait before asking again."
OTP_PER_PHONE_HOUR = Limit("otp-phone-1h", 5, timedelta(hours=1), "Too many codes for this number; try again later.")
OTP_PER_ORIGIN_HOUR = Limit("otp-origin-1h", 30, timedelta(hours=1), "Too many codes requested from here; try "
                                                                      "again later.")
SIGNUP_PER_ORIGIN_HOUR = Limit("signup-origin-1h", 20, timedelta(hours=1), "Too many sign-ups from here; try again "
                                                                            "later.")

CODE_SENT = "If this number can receive a code, it has been sent."
WRONG_CODE = "The code is wrong or has expired; ask for a new one."
SESSION_ENDED = "The session has ended; please sign in again."
TAKEN_PHONE = "This number already has an account: sign in, or reset the password."


@dataclass(frozen=True)
class Account:
    """An account as identity keeps it: a patient's (phone and password), a staff member's (username, password and
    TOTP) or an anonymous visitor's (neither). Secrets are never shown in its repr."""

    id: str
    kind: str  # PATIENT, STAFF or VISITOR
    role: Role
    status: str  # patients and visitors: active; staff: pending_activation, pending_mfa, active or disabled
    login_index: str
    created_at: datetime
    patients: tuple[str, ...] = ()  # the patient records it acts for, as kept from intake's events
    username: str | None = None
    name: str | None = None  # staff (decrypted)
    department: str | None = None
    title: str | None = None
    licence_number: str | None = None
    practising_since: date | None = None  # doctors and pharmacists: when independent practice began
    password_hash: str | None = field(default=None, repr=False)
    totp_enrolled: bool = False
    totp_last_step: int = 0  # the newest 30-second step whose code was used (a code works once)
    totp_secret: str | None = field(default=None, repr=False)  # decrypted
    totp_pending: str | None = field(default=None, repr=False)  # during enrolment, until the first code confirms it

    @property
    def is_staff(self) -> bool:
        return self.kind == STAFF


@dataclass(frozen=True)
class OtpCode:
    """A one-time SMS code (or, to a number that has an account, a notice) as kept until it is purged."""

    id: str
    purpose: OtpPurpose
    kind: str  # "code" or "already_registered" (a notice: nothing to type)
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None
    phone: str | None = field(default=None, repr=False)  # decrypted, for notify
    code: str | None = field(default=None, repr=False)


def login_value(login: str) -> str:
    """Patients sign in with their phone, staff with a username (which never looks like a phone number)."""
    try:
        return normalize_mobile(login)
    except ValueError:
        return login.strip().lower()


def otp_kind(purpose: OtpPurpose, has_account: bool) -> str | None:
    """What a code request sends: a code, a notice that the number has an account already (sign-up), or nothing
    (a reset for a number without an account). The answer to the caller is the same in every case."""
    if purpose == OtpPurpose.register:
        return "already_registered" if has_account else "code"
    return "code" if has_account else None


def may_try(otp: OtpCode | None, now: datetime) -> bool:
    """A code may be tried while it is unused, unexpired and below its attempts (each try counts)."""
    return (otp is not None and otp.kind == "code" and otp.used_at is None and otp.expires_at > now
            and otp.attempts < OTP_MAX_ATTEMPTS)


def deliverable(otp: OtpCode | None, now: datetime) -> bool:
    return otp is not None and otp.expires_at > now


def valid_minutes(otp: OtpCode) -> int:
    """How long the SMS says the code is valid, in whole minutes (at least one)."""
    return max(1, round((otp.expires_at - otp.created_at).total_seconds() / 60))


def wrong_code() -> InvalidInput:
    return InvalidInput(WRONG_CODE, [field_error("code", "is wrong or has expired", "otp")])


def require_current_consents(grant: ConsentGrant) -> dict[str, str]:
    """The current versions of both documents, which the sign-up must have accepted (an old one is named)."""
    current = consent.current_versions()
    stale = [field_error(f"consent.{name}", f"must accept the current version {version}", "consent")
             for name, version in current.items() if getattr(grant, name) != version]
    if stale:
        raise InvalidInput("Read and accept the current privacy notice and health-data consent.", stale)
    return current


def origin_limit(limit: Limit, factor: float) -> Limit | None:
    """A per-origin limit scaled by ``RATE_LIMIT_ORIGIN_FACTOR`` (None: lifted). Per-phone and per-account limits are
    never scaled."""
    return scaled(limit, factor)


def require_notify(principal: Principal) -> None:
    if not principal.is_service("notify"):
        raise Forbidden("Only the notification service fetches codes to send.")


def require_signed_in(principal: Principal) -> None:
    if principal.kind != "user":
        raise Unauthorized("Not signed in.")
