"""identity's rules as plain functions (no Nameko here).

Accounts: patients sign up with a phone confirmed by an SMS code and a password;
staff accounts are created by an admin and activated by the person, who sets a
password and enrols an authenticator app (TOTP) — staff always sign in with both.

Sessions: a sign-in opens a session; the client holds a short-lived access token
(JWT) and a refresh token (``<session id>.<secret>``, stored only as a SHA-256
hash). Each refresh replaces the refresh token; presenting a replaced one means it
was copied, and ends the session. Logout ends it too.

Abuse limits: codes and sign-ins are rate limited per phone and per origin;
``LOGIN_MAX_FAILURES`` wrong passwords or codes lock the login for
``LOCKOUT_SECONDS`` whether or not an account exists, and every message is the
same for an unknown login as for a wrong password.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyotp
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.identity.events import (
    AccountLocked,
    AccountRegistered,
    ConsentWithdrawn,
    OtpIssued,
    SessionRevoked,
    StaffAccountChanged,
    StaffAccountCreated,
)
from contracts.identity.schemas import (
    Account,
    Activation,
    ConsentRecord,
    Login,
    MfaChallenge,
    MfaVerify,
    OtpAccepted,
    OtpPurpose,
    OtpRequest,
    PasswordReset,
    PatientSignup,
    StaffAccount,
    StaffCreate,
    StaffCreated,
    StaffUpdate,
    Tokens,
    TotpEnrolment,
    missing_for_role,
)
from services.identity import consent
from services.identity.passwords import Passwords
from wenzhen import audit, ids, ratelimit
from wenzhen.audit import CREATE, EXECUTE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.config import Settings, settings
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized, field_error
from wenzhen.fields import normalize_mobile
from wenzhen.ratelimit import Limit
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import as_utc, to_local_iso, to_utc_iso, utcnow
from wenzhen.tokens import LEEWAY_SECONDS, Signer

ACCOUNTS = "accounts"
OTPS = "otps"
SESSIONS = "sessions"
CHALLENGES = "mfa_challenges"
LOGIN_FAILURES = "login_failures"
CONSENTS = "consents"
META = "meta"

INDEXES = [
    Index(ACCOUNTS, [("login_index", ASCENDING)], unique=True, name="unique_login"),
    Index(ACCOUNTS, [("kind", ASCENDING), ("role", ASCENDING)], name="by_kind_role"),
    Index(OTPS, [("phone_index", ASCENDING), ("purpose", ASCENDING), ("_id", DESCENDING)], name="latest_for_phone"),
    Index(OTPS, [("purge_at", ASCENDING)], name="otp_expiry", options={"expireAfterSeconds": 0}),
    Index(SESSIONS, [("account_id", ASCENDING)], name="by_account"),
    Index(SESSIONS, [("purge_at", ASCENDING)], name="session_expiry", options={"expireAfterSeconds": 0}),
    Index(CHALLENGES, [("purge_at", ASCENDING)], name="challenge_expiry", options={"expireAfterSeconds": 0}),
    Index(LOGIN_FAILURES, [("purge_at", ASCENDING)], name="failure_expiry", options={"expireAfterSeconds": 0}),
    Index(CONSENTS, [("account_id", ASCENDING), ("document", ASCENDING)], name="by_account"),
    *ratelimit.INDEXES,
]

OTP_MAX_ATTEMPTS = 5
MFA_TTL = timedelta(minutes=5)
MFA_MAX_ATTEMPTS = 5
ACTIVATION_TTL = timedelta(hours=72)
ENCRYPTED_ACCOUNT_FIELDS = ("phone", "name")

# abuse limits (per phone number and per origin; keys are keyed hashes, never the number or the address)
OTP_PER_PHONE_HOUR = Limit("otp-phone-1h", 5, timedelta(hours=1), "Too many codes for this number; try again later.")
OTP_PER_ORIGIN_HOUR = Limit("otp-origin-1h", 30, timedelta(hours=1), "Too many codes requested from here; try "
                                                                      "again later.")
SIGNUP_PER_ORIGIN_HOUR = Limit("signup-origin-1h", 20, timedelta(hours=1), "Too many sign-ups from here; try again "
                                                                            "later.")
VISITORS_PER_ORIGIN_HOUR = Limit("visitor-origin-1h", 60, timedelta(hours=1), "Too many chats opened from here; "
                                 "try again later or call the hospital.")
VISITOR_SESSION = timedelta(days=1)
LOGIN_PER_ORIGIN = Limit("login-origin-15m", 100, timedelta(minutes=15), "Too many sign-in attempts from here; try "
                                                                         "again later.")

WRONG_LOGIN = "The login or password is wrong."
WRONG_CODE = "The code is wrong or has expired; ask for a new one."
SESSION_ENDED = "The session has ended; please sign in again."


@dataclass
class Identity:
    """What identity's rules work with."""

    store: Store
    keys: Keyring
    signer: Signer
    cfg: Settings
    passwords: Passwords
    clock: Callable[[], datetime] = field(default=utcnow)
    # intake owns the links between accounts and patient records: asked at every token issue, so a record
    # registered a moment ago is in the next token; None when intake does not answer (the copy kept from
    # intake's patient_link events is used then)
    linked_patients: Callable[[str], list[str] | None] = field(default=lambda account_id: None)


# small helpers ----------------------------------------------------------------------------------------------------
def login_index(idn: Identity, login: str) -> str:
    """Patients sign in with their phone, staff with a username (which never looks like a phone number)."""
    try:
        value = normalize_mobile(login)
    except ValueError:
        value = login.strip().lower()
    return idn.keys.blind_index("login", value)


def _origin_key(idn: Identity, caller: Caller) -> str:
    return idn.keys.blind_index("origin", caller.origin_ip or "unknown")


def _hit_origin(idn: Identity, limit: Limit, caller: Caller, now: datetime | None = None) -> None:
    """Count one attempt from the caller's address against a per-origin limit, scaled by
    ``RATE_LIMIT_ORIGIN_FACTOR`` (0: none). Per-phone and per-account limits are never scaled."""
    origin_limit = ratelimit.scaled(limit, idn.cfg.rate_limit_origin_factor)
    if origin_limit is not None:
        ratelimit.hit(idn.store, origin_limit, _origin_key(idn, caller), now)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _split_token(token: str, prefix: str) -> tuple[str, str]:
    head, _, secret = token.partition(".")
    if not head.startswith(prefix + "_") or not secret:
        raise Unauthorized(SESSION_ENDED)
    return head, secret


def _require(caller: Caller, *roles: Role) -> None:
    if not caller.principal.has_role(*roles):
        raise Forbidden("Your role may not do this.")


# one-time SMS codes ----------------------------------------------------------------------------------------------
def request_otp(idn: Identity, caller: Caller, request: OtpRequest) -> OtpAccepted:
    """Send a code (or, to a number that already has an account, a notice instead). The answer never says which."""
    phone_ix = idn.keys.blind_index("phone", request.phone)
    now = idn.clock()
    _hit_origin(idn, OTP_PER_ORIGIN_HOUR, caller, now)
    ratelimit.cooldown(idn.store, "otp-phone-resend", phone_ix, idn.cfg.otp_resend_seconds,
                       "A code was sent a moment ago; please wait before asking again.", now)
    ratelimit.hit(idn.store, OTP_PER_PHONE_HOUR, phone_ix, now)
    exists = idn.store[ACCOUNTS].find_one({"login_index": login_index(idn, request.phone), "kind": "patient"},
                                          {"_id": 1}) is not None
    if request.purpose == OtpPurpose.register:
        kind = "already_registered" if exists else "code"
    else:
        kind = "code" if exists else None  # no account: nothing is sent, and the answer is the same
    accepted = OtpAccepted(detail="If this number can receive a code, it has been sent.", expires_in=idn.cfg.otp_ttl)
    if kind is None:
        return accepted
    otp_id = ids.new_id("otp")
    code = f"{secrets.randbelow(10**6):06d}"
    expires = now + timedelta(seconds=idn.cfg.otp_ttl)
    doc = {
        "_id": otp_id, "purpose": request.purpose.value, "phone_index": phone_ix, "kind": kind,
        "code_hash": idn.keys.blind_index("otp", f"{otp_id}:{code}"), "attempts": 0, "used_at": None,
        "created_at": now, "expires_at": expires, "purge_at": expires + timedelta(hours=1),
        # for notify to send it; the code is useless after expires_at and the document is purged an hour later
        "phone": idn.keys.encrypt(request.phone, field="phone", record=otp_id),
        "code": idn.keys.encrypt(code, field="code", record=otp_id),
    }

    def body(tx: Tx) -> None:
        tx[OTPS].insert_one(doc)
        tx.emit(OtpIssued(otp_id=otp_id, purpose=request.purpose.value), subject=otp_id)

    idn.store.transact(body)
    return accepted


def deliver_otp(idn: Identity, caller: Caller, otp_id: str) -> dict:
    """For notify only: the number and the message content of a code to send."""
    if not caller.principal.is_service("notify"):
        raise Forbidden("Only the notification service fetches codes to send.")
    doc = idn.store[OTPS].find_one({"_id": otp_id})
    if doc is None or as_utc(doc["expires_at"]) <= idn.clock():
        raise NotFound(f"No code {otp_id} to send (expired?).")
    audit.record(idn.store, caller, READ, "deliver", "OneTimeCode", otp_id)
    minutes = max(1, round((as_utc(doc["expires_at"]) - as_utc(doc["created_at"])).total_seconds() / 60))
    return {
        "phone": idn.keys.decrypt(doc["phone"], field="phone", record=otp_id),
        "code": idn.keys.decrypt(doc["code"], field="code", record=otp_id) if doc["kind"] == "code" else None,
        "kind": doc["kind"], "purpose": doc["purpose"], "valid_minutes": minutes,
    }


def _take_code(idn: Identity, phone: str, purpose: OtpPurpose, code: str) -> dict:
    """Count one attempt at the newest live code for this phone and purpose (outside any transaction, so a wrong
    code counts even when what follows fails) and return it when ``code`` matches."""
    now = idn.clock()
    otp = idn.store[OTPS].find_one_and_update(
        {"phone_index": idn.keys.blind_index("phone", phone), "purpose": purpose.value, "kind": "code",
         "used_at": None, "expires_at": {"$gt": now}, "attempts": {"$lt": OTP_MAX_ATTEMPTS}},
        {"$inc": {"attempts": 1}}, sort=[("_id", DESCENDING)], return_document=ReturnDocument.AFTER)
    if otp is None or not hmac.compare_digest(otp["code_hash"],
                                              idn.keys.blind_index("otp", f"{otp['_id']}:{code}")):
        raise InvalidInput(WRONG_CODE, [field_error("code", "is wrong or has expired", "otp")])
    return otp


def _use_code(tx: Tx, otp: dict) -> None:
    done = tx[OTPS].update_one({"_id": otp["_id"], "used_at": None}, {"$set": {"used_at": utcnow()}})
    if done.modified_count != 1:  # used by a concurrent request
        raise InvalidInput(WRONG_CODE, [field_error("code", "is wrong or has expired", "otp")])


# patients ----------------------------------------------------------------------------------------------------------
def signup(idn: Identity, caller: Caller, request: PatientSignup) -> Tokens:
    """Create a patient account and sign it in."""
    _hit_origin(idn, SIGNUP_PER_ORIGIN_HOUR, caller, idn.clock())
    current = consent.current_versions()
    stale = [field_error(f"consent.{name}", f"must accept the current version {version}", "consent")
             for name, version in current.items() if getattr(request.consent, name) != version]
    if stale:
        raise InvalidInput("Read and accept the current privacy notice and health-data consent.", stale)
    otp = _take_code(idn, request.phone, OtpPurpose.register, request.code)
    account_id = ids.new_id("acc")
    now = idn.clock()
    account = {
        "_id": account_id, "kind": "patient", "role": Role.patient.value, "status": "active",
        "login_index": login_index(idn, request.phone),
        "phone": idn.keys.encrypt(request.phone, field="phone", record=account_id),
        "password": idn.passwords.hash(request.password), "password_changed_at": now,
        "patients": [], "created_at": now,
    }

    def body(tx: Tx) -> Tokens:
        _use_code(tx, otp)
        tx[ACCOUNTS].insert_one(account)
        for document, version in current.items():
            tx[CONSENTS].insert_one({"_id": ids.new_id("cns"), "account_id": account_id, "document": document,
                                     "version": version, "granted_at": now, "withdrawn_at": None,
                                     "ip": caller.origin_ip, "request_id": caller.request_id})
        tx.emit(AccountRegistered(account_id=account_id), subject=account_id)
        as_self = caller.signed_in_as(account_id, Role.patient)
        audit.record(tx, as_self, CREATE, "create", "Account", account_id)
        return _open_session(tx, idn, account, as_self, amr=("pwd", "sms"))

    try:
        return idn.store.transact(body)
    except DuplicateKeyError:
        raise Conflict("This number already has an account: sign in, or reset the password.",
                       [field_error("phone", "already has an account", "duplicate")]) from None


def reset_password(idn: Identity, caller: Caller, request: PasswordReset) -> None:
    """A patient sets a new password with a code sent to their phone; every session of the account ends."""
    otp = _take_code(idn, request.phone, OtpPurpose.reset_password, request.code)
    password = idn.passwords.hash(request.new_password)

    def body(tx: Tx) -> None:
        _use_code(tx, otp)
        account = tx[ACCOUNTS].find_one_and_update(
            {"login_index": login_index(idn, request.phone), "kind": "patient"},
            {"$set": {"password": password, "password_changed_at": utcnow()}})
        if account is None:
            raise InvalidInput(WRONG_CODE, [field_error("code", "is wrong or has expired", "otp")])
        tx[LOGIN_FAILURES].delete_one({"_id": account["login_index"]})
        _revoke_all(tx, account["_id"], "password reset")
        audit.record(tx, caller, UPDATE, "password-reset", "Account", account["_id"])

    idn.store.transact(body)


# signing in -------------------------------------------------------------------------------------------------------
def login(idn: Identity, caller: Caller, request: Login) -> Tokens | MfaChallenge:
    now = idn.clock()
    _hit_origin(idn, LOGIN_PER_ORIGIN, caller, now)
    index = login_index(idn, request.login)
    _refuse_if_locked(idn, index, now)
    account = idn.store[ACCOUNTS].find_one({"login_index": index})
    if not idn.passwords.verify(account.get("password") if account else None, request.password):
        _failed(idn, caller, index, account, "login")
        raise Unauthorized(WRONG_LOGIN)
    if account["status"] == "disabled":
        audit.record(idn.store, caller, EXECUTE, "login", "Account", account["_id"], outcome=Outcome.denied,
                     detail="disabled")
        raise Unauthorized("This account is disabled; contact the hospital's administrator.")
    if idn.passwords.needs_rehash(account["password"]):
        idn.store[ACCOUNTS].update_one({"_id": account["_id"]},
                                       {"$set": {"password": idn.passwords.hash(request.password)}})
    if account["kind"] == "patient":
        idn.store[LOGIN_FAILURES].delete_one({"_id": index})
        return idn.store.transact(lambda tx: _signed_in(tx, idn, account, caller, amr=("pwd",)))
    # staff: failures are forgiven only after the second factor too, or a known password would let
    # anyone guess TOTP codes without ever being locked
    return _challenge(idn, account, enrol=account["status"] == "pending_mfa")


def verify_mfa(idn: Identity, caller: Caller, request: MfaVerify) -> Tokens:
    """The second step of a staff sign-in, or the first code of a TOTP enrolment."""
    challenge_id, secret = _split_token(request.mfa_token, "mfa")
    now = idn.clock()
    challenge = idn.store[CHALLENGES].find_one_and_update(
        {"_id": challenge_id, "secret_hash": _sha256(secret), "used_at": None, "expires_at": {"$gt": now},
         "attempts": {"$lt": MFA_MAX_ATTEMPTS}},
        {"$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER)
    if challenge is None:
        raise Unauthorized("This sign-in has expired; please start again.")
    account = idn.store[ACCOUNTS].find_one({"_id": challenge["account_id"]})
    if account is None or account["status"] not in ("active", "pending_mfa"):
        raise Unauthorized("This account is disabled; contact the hospital's administrator.")
    _refuse_if_locked(idn, account["login_index"], now)
    enrol = challenge["enrol"]
    sealed = account["totp"]["pending" if enrol else "secret"]
    totp_secret = idn.keys.decrypt(sealed, field="totp", record=account["_id"])
    step = _matching_step(totp_secret, request.code, now)
    if step is None:
        _failed(idn, caller, account["login_index"], account, "mfa")
        raise Unauthorized("The code is wrong.")
    changes: dict = {"$set": {"totp.last_step": step}}
    if enrol:
        changes["$set"].update({"totp.secret": sealed, "totp.enrolled": True, "status": "active"})
        changes["$unset"] = {"totp.pending": ""}

    def body(tx: Tx) -> Tokens:
        # a code is good once: the step must be newer than the last one used (replay protection)
        done = tx[ACCOUNTS].update_one({"_id": account["_id"], "totp.last_step": {"$lt": step},
                                        "status": account["status"]}, changes)
        if done.modified_count != 1:
            raise Unauthorized("This code was used already; wait for the next one.")
        tx[CHALLENGES].update_one({"_id": challenge_id}, {"$set": {"used_at": now}})
        fresh = {**account, "status": "active"}
        return _signed_in(tx, idn, fresh, caller, amr=("pwd", "otp"))

    result = idn.store.transact(body)
    idn.store[LOGIN_FAILURES].delete_one({"_id": account["login_index"]})
    return result


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code matches, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _challenge(idn: Identity, account: dict, enrol: bool) -> MfaChallenge:
    challenge_id, secret = ids.new_id("mfa"), secrets.token_urlsafe(24)
    now = idn.clock()
    enrolment = None
    if enrol:  # a new secret each time until the first code confirms one
        totp_secret = pyotp.random_base32()
        idn.store[ACCOUNTS].update_one({"_id": account["_id"]}, {"$set": {"totp.pending": idn.keys.encrypt(
            totp_secret, field="totp", record=account["_id"])}})
        enrolment = TotpEnrolment(secret=totp_secret, otpauth_uri=pyotp.TOTP(totp_secret).provisioning_uri(
            name=account["username"], issuer_name="Wenzhen"))
    idn.store[CHALLENGES].insert_one({"_id": challenge_id, "account_id": account["_id"], "enrol": enrol,
                                      "secret_hash": _sha256(secret), "attempts": 0, "used_at": None,
                                      "expires_at": now + MFA_TTL, "purge_at": now + MFA_TTL + timedelta(hours=1)})
    return MfaChallenge(mfa_token=f"{challenge_id}.{secret}", expires_in=int(MFA_TTL.total_seconds()),
                        enrolment=enrolment)


def _refuse_if_locked(idn: Identity, index: str, now: datetime) -> None:
    lock = idn.store[LOGIN_FAILURES].find_one({"_id": index, "locked_until": {"$gt": now}})
    if lock:
        wait = (as_utc(lock["locked_until"]) - now).total_seconds()
        raise TooManyRequests(f"Too many failed attempts; sign-in is locked for {max(1, round(wait / 60))} "
                              "minute(s).", retry_after=wait)


def _failed(idn: Identity, caller: Caller, index: str, account: dict | None, step: str) -> None:
    """Count a failure for this login (whether or not it exists) and lock it after too many."""
    now = idn.clock()
    doc = idn.store[LOGIN_FAILURES].find_one_and_update(
        {"_id": index}, {"$inc": {"failures": 1}, "$set": {"purge_at": now + timedelta(days=1)}},
        upsert=True, return_document=ReturnDocument.AFTER)
    if account is not None:
        audit.record(idn.store, caller, EXECUTE, "login", "Account", account["_id"], outcome=Outcome.failed,
                     detail=step)
    if doc["failures"] % idn.cfg.login_max_failures == 0:
        until = now + timedelta(seconds=idn.cfg.lockout_seconds)
        idn.store.transact(lambda tx: (
            tx[LOGIN_FAILURES].update_one({"_id": index}, {"$set": {"locked_until": until}}),
            tx.emit(AccountLocked(login_hash=index, until=to_utc_iso(until)), subject=f"login-{index[:16]}")))


# visitors ---------------------------------------------------------------------------------------------------------
def open_visitor_session(idn: Identity, caller: Caller) -> Tokens:
    """An anonymous visitor opening a chat gets an account of kind ``visitor`` (no phone, no password) and a
    session, so the following calls about their own consultation carry a token like everybody else's (refresh,
    logout and revocation work unchanged). The role ``visitor`` opens nothing but the visitor's own chats."""
    if caller.principal.authenticated:
        raise Forbidden("Signed-in callers open consultations as themselves.")
    _hit_origin(idn, VISITORS_PER_ORIGIN_HOUR, caller)

    def body(tx: Tx) -> Tokens:
        now = idn.clock()
        visitor_id = ids.new_id("vis")
        # no login: the index entry only keeps the unique login index satisfied (it never matches a sign-in)
        account = {"_id": visitor_id, "kind": "visitor", "role": Role.visitor.value, "status": "active",
                   "login_index": f"visitor:{visitor_id}", "created_at": now}
        tx[ACCOUNTS].insert_one(account)
        return _signed_in(tx, idn, account, caller, ("visitor",))

    return idn.store.transact(body)


# sessions ---------------------------------------------------------------------------------------------------------
def _signed_in(tx: Tx, idn: Identity, account: dict, caller: Caller, amr: tuple[str, ...]) -> Tokens:
    as_user = caller.signed_in_as(account["_id"], Role(account["role"]))
    audit.record(tx, as_user, EXECUTE, "login", "Account", account["_id"], detail="+".join(amr))
    return _open_session(tx, idn, account, as_user, amr)


def _open_session(tx: Tx, idn: Identity, account: dict, caller: Caller, amr: tuple[str, ...]) -> Tokens:
    now = idn.clock()
    lifetime = {"patient": timedelta(days=idn.cfg.patient_session_days),
                "visitor": VISITOR_SESSION}.get(account["kind"], timedelta(hours=idn.cfg.staff_session_hours))
    session_id, secret = ids.new_id("ses"), secrets.token_urlsafe(32)
    tx[SESSIONS].insert_one({
        "_id": session_id, "account_id": account["_id"], "created_at": now, "expires_at": now + lifetime,
        "purge_at": now + lifetime + timedelta(days=1), "refresh_hash": _sha256(secret), "previous_hashes": [],
        "refreshed_at": now, "revoked_at": None, "amr": list(amr), "ip": caller.origin_ip,
    })
    return _tokens(idn, account, session_id, f"{session_id}.{secret}", now + lifetime, amr)


def _tokens(idn: Identity, account: dict, session_id: str, refresh_token: str, session_end: datetime,
            amr: tuple[str, ...]) -> Tokens:
    ttl = timedelta(seconds=idn.cfg.access_token_ttl)
    patients: tuple[str, ...] = ()
    if account["kind"] == "patient":
        fresh = idn.linked_patients(account["_id"])
        patients = tuple(account.get("patients", ()) if fresh is None else fresh)
    access = idn.signer.issue(sub=account["_id"], role=Role(account["role"]), sid=session_id, now=idn.clock(),
                              ttl=ttl, patients=patients,
                              department=account.get("department"), amr=amr)
    return Tokens(access_token=access, expires_in=int(ttl.total_seconds()), refresh_token=refresh_token,
                  refresh_expires_at=to_local_iso(session_end), account_id=account["_id"], role=account["role"])


def refresh(idn: Identity, caller: Caller, refresh_token: str) -> Tokens:
    """New tokens for a live session; the presented refresh token is replaced (rotation)."""
    session_id, secret = _split_token(refresh_token, "ses")
    old, new_secret = _sha256(secret), secrets.token_urlsafe(32)
    now = idn.clock()
    session = idn.store[SESSIONS].find_one_and_update(
        {"_id": session_id, "refresh_hash": old, "revoked_at": None, "expires_at": {"$gt": now}},
        {"$set": {"refresh_hash": _sha256(new_secret), "refreshed_at": now},
         "$push": {"previous_hashes": {"$each": [old], "$slice": -50}}},
        return_document=ReturnDocument.AFTER)
    if session is None:
        if idn.store[SESSIONS].find_one({"_id": session_id, "previous_hashes": old, "revoked_at": None}):
            # a replaced token came back: someone else holds a copy. End the session for both.
            idn.store.transact(lambda tx: _revoke(tx, session_id, "refresh token reused"))
        raise Unauthorized(SESSION_ENDED)
    account = idn.store[ACCOUNTS].find_one({"_id": session["account_id"]})
    if account is None or account["status"] != "active":
        idn.store.transact(lambda tx: _revoke(tx, session_id, "account not active"))
        raise Unauthorized(SESSION_ENDED)
    return _tokens(idn, account, session_id, f"{session_id}.{new_secret}", as_utc(session["expires_at"]),
                   tuple(session.get("amr", ("pwd",))))


def logout(idn: Identity, caller: Caller) -> None:
    principal = caller.principal
    if principal.kind != "user" or not principal.sid:
        raise Unauthorized("Not signed in.")

    def body(tx: Tx) -> None:
        _revoke(tx, principal.sid, "logout", account_id=principal.sub)
        audit.record(tx, caller, EXECUTE, "logout", "Account", principal.sub)

    idn.store.transact(body)


def _revoke(tx: Tx, session_id: str, reason: str, account_id: str | None = None) -> bool:
    now = utcnow()
    query = {"_id": session_id, "revoked_at": None}
    if account_id:
        query["account_id"] = account_id
    session = tx[SESSIONS].find_one_and_update(query, {"$set": {"revoked_at": now, "revoked_reason": reason}})
    if session is None:
        return False
    # no access token of the session is accepted after this (its lifetime, plus the verifier's leeway)
    last_valid = now + timedelta(seconds=settings().access_token_ttl + LEEWAY_SECONDS)
    tx.emit(SessionRevoked(account_id=session["account_id"], session_id=session_id, reason=reason,
                           expires_at=to_utc_iso(last_valid)), subject=session["account_id"])
    return True


def _revoke_all(tx: Tx, account_id: str, reason: str) -> int:
    live = [s["_id"] for s in tx[SESSIONS].find({"account_id": account_id, "revoked_at": None}, {"_id": 1})]
    return sum(_revoke(tx, session_id, reason) for session_id in live)


def revoked_sessions(idn: Identity, since: datetime) -> list[dict]:
    """Sessions revoked since ``since`` (the gateway loads them at start, then follows session_revoked events)."""
    cursor = idn.store[SESSIONS].find({"revoked_at": {"$gte": since}}, {"_id": 1, "revoked_at": 1})
    return [{"session_id": s["_id"], "revoked_at": to_utc_iso(s["revoked_at"])} for s in cursor]


# staff ------------------------------------------------------------------------------------------------------------
def bootstrap_admin(idn: Identity, caller: Caller, username: str, name: str) -> StaffCreated:
    """The very first admin (``make admin``); refused once one was made."""
    request = StaffCreate(username=username, name=name, role="admin")

    def first(tx: Tx) -> None:
        tx[META].insert_one({"_id": "bootstrap", "at": utcnow()})

    try:
        return _create_staff(idn, caller, request, before=first)
    except Conflict:
        raise Conflict("The first admin exists already; admins create further accounts.") from None


def create_staff(idn: Identity, caller: Caller, request: StaffCreate) -> StaffCreated:
    _require(caller, Role.admin)
    missing = request.missing_for_role()
    if missing:
        raise InvalidInput(f"A {request.role} account needs {', '.join(missing)}.",
                           [field_error(name, f"is required for a {request.role}", "missing") for name in missing])
    return _create_staff(idn, caller, request)


def _create_staff(idn: Identity, caller: Caller, request: StaffCreate,
                  before: Callable[[Tx], None] | None = None) -> StaffCreated:
    account_id = ids.new_id("acc")
    code = secrets.token_urlsafe(12)
    now = idn.clock()
    account = {
        "_id": account_id, "kind": "staff", "role": request.role, "status": "pending_activation",
        "login_index": login_index(idn, request.username), "username": request.username,
        "name": idn.keys.encrypt(request.name, field="name", record=account_id),
        "department": request.department, "title": request.title, "licence_number": request.licence_number,
        "activation": {"code_hash": _sha256(code), "expires_at": now + ACTIVATION_TTL},
        "totp": {"enrolled": False, "last_step": 0}, "patients": [], "created_at": now,
        "created_by": caller.principal.sub or "bootstrap",
    }
    if request.phone:
        account["phone"] = idn.keys.encrypt(request.phone, field="phone", record=account_id)

    def body(tx: Tx) -> None:
        if before:
            before(tx)
        tx[ACCOUNTS].insert_one(account)
        tx.emit(StaffAccountCreated(account_id=account_id, role=request.role, department=request.department),
                subject=account_id)
        audit.record(tx, caller, CREATE, "create", "Account", account_id, detail=request.role)

    try:
        idn.store.transact(body)
    except DuplicateKeyError:
        raise Conflict("This username is taken.", [field_error("username", "is taken", "duplicate")]) from None
    return StaffCreated(**_staff_view(idn, account).model_dump(), activation_code=code,
                        activation_expires_at=to_local_iso(now + ACTIVATION_TTL))


def activate(idn: Identity, caller: Caller, request: Activation) -> MfaChallenge:
    """A new staff member sets a password; the answer starts the TOTP enrolment."""
    now = idn.clock()
    _hit_origin(idn, LOGIN_PER_ORIGIN, caller, now)
    index = login_index(idn, request.username)
    _refuse_if_locked(idn, index, now)
    password = idn.passwords.hash(request.password)
    account = idn.store[ACCOUNTS].find_one_and_update(
        {"login_index": index, "status": "pending_activation", "activation.code_hash": _sha256(request.activation_code),
         "activation.expires_at": {"$gt": now}},
        {"$set": {"password": password, "password_changed_at": now, "status": "pending_mfa"},
         "$unset": {"activation": ""}},
        return_document=ReturnDocument.AFTER)
    if account is None:
        _failed(idn, caller, index, None, "activation")
        raise Unauthorized("The username or activation code is wrong or has expired.")
    audit.record(idn.store, caller, UPDATE, "activate", "Account", account["_id"])
    return _challenge(idn, account, enrol=True)


def list_staff(idn: Identity, caller: Caller, role: str | None = None) -> list[StaffAccount]:
    _require(caller, Role.admin)
    query: dict = {"kind": "staff"}
    if role:
        query["role"] = role
    docs = list(idn.store[ACCOUNTS].find(query).sort("_id", ASCENDING).limit(500))
    audit.record(idn.store, caller, EXECUTE, "search", "Account", None, detail=f"staff role={role or 'any'}")
    return [_staff_view(idn, doc) for doc in docs]


def get_staff(idn: Identity, caller: Caller, account_id: str) -> StaffAccount:
    principal = caller.principal
    if not (principal.has_role(Role.admin) or (principal.is_staff and principal.sub == account_id)):
        raise NotFound(f"No staff account {account_id}.")
    doc = idn.store[ACCOUNTS].find_one({"_id": account_id, "kind": "staff"})
    if doc is None:
        raise NotFound(f"No staff account {account_id}.")
    audit.record(idn.store, caller, READ, "read", "Account", account_id)
    return _staff_view(idn, doc)


def update_staff(idn: Identity, caller: Caller, account_id: str, change: StaffUpdate) -> StaffAccount:
    _require(caller, Role.admin)
    values = change.model_dump(exclude_none=True)
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])
    if values.get("status") == "disabled" and account_id == caller.principal.sub:
        raise Conflict("Admins cannot disable their own account.", [field_error("status", "is your own", "self")])

    def body(tx: Tx) -> dict:
        doc = tx[ACCOUNTS].find_one_and_update({"_id": account_id, "kind": "staff"}, {"$set": values},
                                               return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"No staff account {account_id}.")
        missing = missing_for_role(doc["role"], doc) if "role" in values else []
        if missing:  # e.g. a hospital-wide manager made a consultant without naming a department (rolled back)
            raise InvalidInput(f"A {doc['role']} account needs {', '.join(missing)}.",
                               [field_error(name, f"is required for a {doc['role']}", "missing") for name in missing])
        if values.get("status") == "disabled" or "role" in values:
            _revoke_all(tx, account_id, "account changed by an admin")
        tx.emit(StaffAccountChanged(account_id=account_id, role=doc["role"], department=doc.get("department"),
                                    status=doc["status"]), subject=account_id)
        audit.record(tx, caller, UPDATE, "update", "Account", account_id, detail=",".join(sorted(values)))
        return doc

    return _staff_view(idn, idn.store.transact(body))


def reset_activation(idn: Identity, caller: Caller, account_id: str) -> StaffCreated:
    """A lost password or authenticator: new activation code, old password and TOTP gone, sessions ended."""
    _require(caller, Role.admin)
    if account_id == caller.principal.sub:
        raise Conflict("Admins cannot reset their own activation; another admin can.",
                       [field_error("account_id", "is your own", "self")])
    code = secrets.token_urlsafe(12)
    now = idn.clock()

    def body(tx: Tx) -> dict:
        doc = tx[ACCOUNTS].find_one_and_update(
            {"_id": account_id, "kind": "staff"},
            {"$set": {"status": "pending_activation", "activation": {"code_hash": _sha256(code),
                                                                     "expires_at": now + ACTIVATION_TTL},
                      "totp": {"enrolled": False, "last_step": 0}},
             "$unset": {"password": ""}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"No staff account {account_id}.")
        _revoke_all(tx, account_id, "activation reset by an admin")
        audit.record(tx, caller, UPDATE, "reset-activation", "Account", account_id)
        return doc

    doc = idn.store.transact(body)
    return StaffCreated(**_staff_view(idn, doc).model_dump(), activation_code=code,
                        activation_expires_at=to_local_iso(now + ACTIVATION_TTL))


def _staff_view(idn: Identity, doc: dict) -> StaffAccount:
    return StaffAccount(
        id=doc["_id"], username=doc["username"], name=idn.keys.decrypt(doc["name"], field="name", record=doc["_id"]),
        role=doc["role"], department=doc.get("department"), title=doc.get("title"),
        licence_number=doc.get("licence_number"), status=doc["status"],
        mfa_enrolled=bool(doc.get("totp", {}).get("enrolled")), created_at=to_local_iso(doc["created_at"]))


def staff_directory(idn: Identity, caller: Caller, account_ids: list[str]) -> dict[str, dict]:
    """Role, title and name of staff accounts, for showing a patient who looked at their record (signed-in
    people only: staff names are what a hospital shows its patients anyway, but not to anybody)."""
    if caller.principal.kind != "user":
        raise Forbidden("Sign in to see who staff members are.")
    docs = idn.store[ACCOUNTS].find({"_id": {"$in": account_ids[:200]}, "kind": "staff"})
    return {doc["_id"]: {"role": doc["role"], "title": doc.get("title"), "department": doc.get("department"),
                         "name": idn.keys.decrypt(doc["name"], field="name", record=doc["_id"])} for doc in docs}


# the signed-in account ---------------------------------------------------------------------------------------------
def me(idn: Identity, caller: Caller) -> Account:
    principal = caller.principal
    if principal.kind != "user":
        raise Unauthorized("Not signed in.")
    doc = idn.store[ACCOUNTS].find_one({"_id": principal.sub})
    if doc is None:
        raise Unauthorized(SESSION_ENDED)
    consents = [ConsentRecord(document=c["document"], version=c["version"], granted_at=to_local_iso(c["granted_at"]),
                              withdrawn_at=to_local_iso(c["withdrawn_at"]) if c.get("withdrawn_at") else None)
                for c in idn.store[CONSENTS].find({"account_id": principal.sub}).sort("_id", ASCENDING)]
    audit.record(idn.store, caller, READ, "read", "Account", principal.sub)
    return Account(id=doc["_id"], role=doc["role"], status=doc["status"], patients=doc.get("patients", []),
                   consents=consents, staff=_staff_view(idn, doc) if doc["kind"] == "staff" else None)


def withdraw_consent(idn: Identity, caller: Caller, document: str) -> None:
    principal = caller.principal
    if document not in consent.DOCUMENTS:
        raise NotFound(f"No consent document {document}.")

    def body(tx: Tx) -> None:
        doc = tx[CONSENTS].find_one_and_update({"account_id": principal.sub, "document": document,
                                                "withdrawn_at": None}, {"$set": {"withdrawn_at": utcnow()}})
        if doc is None:
            raise NotFound(f"No standing consent to {document}.")
        tx.emit(ConsentWithdrawn(account_id=principal.sub, document=document, document_version=doc["version"]),
                subject=principal.sub)
        audit.record(tx, caller, UPDATE, "withdraw", "Consent", doc["_id"])

    idn.store.transact(body)


# links to patient records (from intake's events) -------------------------------------------------------------------
def link_patient(tx: Tx, account_id: str, patient_id: str) -> None:
    tx[ACCOUNTS].update_one({"_id": account_id, "kind": "patient"}, {"$addToSet": {"patients": patient_id}})


def unlink_patient(tx: Tx, account_id: str, patient_id: str) -> None:
    """The next refresh issues tokens without the patient; intake, which owns the links, stops at once."""
    tx[ACCOUNTS].update_one({"_id": account_id}, {"$pull": {"patients": patient_id}})
