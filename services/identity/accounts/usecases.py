"""Accounts' operations: authorize → store → emit → audit. A patient's account is made with a phone confirmed by
an SMS code and a password (and signed in at once); a reset by code sets a new password and ends every session."""
from __future__ import annotations

import secrets
from datetime import datetime

from contracts.identity.events import AccountRegistered, ConsentWithdrawn, OtpIssued
from contracts.identity.schemas import (
    Account as SignedInAccount,
)
from contracts.identity.schemas import (
    OtpAccepted,
    OtpDelivery,
    OtpPurpose,
    OtpRequest,
    PasswordReset,
    PatientSignup,
    PrivacyDocument,
    PrivacyNotice,
    Tokens,
)
from services.identity.accounts import consent, rules
from services.identity.accounts.rules import (
    OTP_PER_ORIGIN_HOUR,
    OTP_PER_PHONE_HOUR,
    OTP_RESEND,
    OTP_RESEND_MESSAGE,
    SIGNUP_PER_ORIGIN_HOUR,
    OtpCode,
)
from services.identity.accounts.store import AccountStore
from services.identity.passwords import Passwords
from services.identity.sessions import usecases as sessions
from services.identity.sessions.store import SessionStore
from services.identity.sessions.usecases import TokenIssuer
from services.identity.settings import Policy
from services.identity.staff.rules import staff_view
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE
from wenzhen.auth import Caller, Role
from wenzhen.errors import NotFound, Unauthorized
from wenzhen.storage import Tx


# one-time SMS codes ------------------------------------------------------------------------------------------------
def request_otp(store: AccountStore, caller: Caller, request: OtpRequest, policy: Policy, now: datetime) -> OtpAccepted:
    """Send a code (or, to a number that already has an account, a notice instead). The answer never says which.
    Limits: per origin (scaled), one code per number per ``OTP_RESEND_SECONDS``, so many per number an hour."""
    phone_key = store.phone_key(request.phone)
    store.hit_origin(rules.origin_limit(OTP_PER_ORIGIN_HOUR, policy.origin_factor), caller.origin_ip, now)
    store.cooldown(OTP_RESEND, phone_key, policy.otp_resend, OTP_RESEND_MESSAGE, now)
    store.hit(OTP_PER_PHONE_HOUR, phone_key, now)
    kind = rules.otp_kind(request.purpose, store.has_patient_account(request.phone))
    accepted = OtpAccepted(detail=rules.CODE_SENT, expires_in=int(policy.otp_ttl.total_seconds()))
    if kind is None:  # no account: nothing is sent, and the answer is the same
        return accepted
    otp = OtpCode(id=ids.new_id("otp"), purpose=request.purpose, kind=kind, created_at=now,
                  expires_at=now + policy.otp_ttl)
    code = f"{secrets.randbelow(10**6):06d}"

    def body(tx: Tx) -> None:
        store.insert_otp(tx, otp, request.phone, code)
        tx.emit(OtpIssued(otp_id=otp.id, purpose=request.purpose.value), subject=otp.id)

    store.transact(body)
    return accepted


def deliver_otp(store: AccountStore, caller: Caller, otp_id: str, now: datetime) -> OtpDelivery:
    """For notify only: the number and the message content of a code to send."""
    rules.require_notify(caller.principal)
    otp = store.otp(otp_id)
    if not rules.deliverable(otp, now):
        raise NotFound(f"No code {otp_id} to send (expired?).")
    audit.record(store, caller, READ, "deliver", "OneTimeCode", otp_id)
    return OtpDelivery(phone=otp.phone, code=otp.code, kind=otp.kind, purpose=otp.purpose,
                       valid_minutes=rules.valid_minutes(otp))


def _try_code(store: AccountStore, phone: str, purpose: OtpPurpose, code: str, now: datetime) -> OtpCode:
    """The code, when ``code`` is it (each try counts, outside any transaction, so a wrong code counts even when
    what follows fails)."""
    otp = store.try_code(phone, purpose, code, now)
    if otp is None:
        raise rules.wrong_code()
    return otp


def _use_code(tx: Tx, store: AccountStore, otp: OtpCode, now: datetime) -> None:
    if not store.use_code(tx, otp.id, now):  # used by a concurrent request
        raise rules.wrong_code()


# patients ----------------------------------------------------------------------------------------------------------
def signup(store: AccountStore, sessions_store: SessionStore, caller: Caller, request: PatientSignup, now: datetime, *,
           issuer: TokenIssuer, passwords: Passwords) -> Tokens:
    """Create a patient account (one per number: the unique login index) with both consents, and sign it in."""
    store.hit_origin(rules.origin_limit(SIGNUP_PER_ORIGIN_HOUR, issuer.policy.origin_factor), caller.origin_ip, now)
    current = rules.require_current_consents(request.consent)
    otp = _try_code(store, request.phone, OtpPurpose.register, request.code, now)
    account_id = ids.new_id("acc")
    password_hash = passwords.hash(request.password)

    def body(tx: Tx) -> Tokens:
        _use_code(tx, store, otp, now)
        account = store.insert_patient(tx, account_id, request.phone, password_hash, now)
        for document, version in current.items():
            store.insert_consent(tx, ids.new_id("cns"), account_id, document, version, now, caller.origin_ip,
                                 caller.request_id)
        tx.emit(AccountRegistered(account_id=account_id), subject=account_id)
        as_self = caller.signed_in_as(account_id, Role.patient)
        audit.record(tx, as_self, CREATE, "create", "Account", account_id)
        return sessions.open_session(tx, sessions_store, issuer, account, as_self, ("pwd", "sms"), now)

    return store.transact(body)


def reset_password(store: AccountStore, sessions_store: SessionStore, caller: Caller, request: PasswordReset,
                   now: datetime, *, policy: Policy, passwords: Passwords) -> None:
    """A patient sets a new password with a code sent to their phone; every session of the account ends."""
    otp = _try_code(store, request.phone, OtpPurpose.reset_password, request.code, now)
    password_hash = passwords.hash(request.new_password)

    def body(tx: Tx) -> None:
        _use_code(tx, store, otp, now)
        account = store.set_patient_password(tx, request.phone, password_hash, now)
        if account is None:
            raise rules.wrong_code()
        sessions_store.clear_failures(account.login_index, tx)
        sessions.revoke_all(tx, sessions_store, account.id, "password reset", policy, now)
        audit.record(tx, caller, UPDATE, "password-reset", "Account", account.id)

    store.transact(body)


def privacy_notice() -> PrivacyNotice:
    return PrivacyNotice(documents=[PrivacyDocument(document=name, **doc) for name, doc in consent.DOCUMENTS.items()])


# the signed-in account ---------------------------------------------------------------------------------------------
def me(store: AccountStore, caller: Caller) -> SignedInAccount:
    principal = caller.principal
    rules.require_signed_in(principal)
    account = store.account(principal.sub)
    if account is None:
        raise Unauthorized(rules.SESSION_ENDED)
    consents = store.consents(principal.sub)
    audit.record(store, caller, READ, "read", "Account", principal.sub)
    return SignedInAccount(id=account.id, role=account.role, status=account.status, patients=list(account.patients),
                           consents=consents, staff=staff_view(account) if account.is_staff else None)


def withdraw_consent(store: AccountStore, caller: Caller, document: str, now: datetime) -> None:
    principal = caller.principal
    if document not in consent.DOCUMENTS:
        raise NotFound(f"No consent document {document}.")

    def body(tx: Tx) -> None:
        withdrawn = store.withdraw_consent(tx, principal.sub, document, now)
        if withdrawn is None:
            raise NotFound(f"No standing consent to {document}.")
        consent_id, version = withdrawn
        tx.emit(ConsentWithdrawn(account_id=principal.sub, document=document, document_version=version),
                subject=principal.sub)
        audit.record(tx, caller, UPDATE, "withdraw", "Consent", consent_id)

    store.transact(body)


# links to patient records (from intake's events) -------------------------------------------------------------------
def link_patient(store: AccountStore, tx: Tx, account_id: str, patient_id: str) -> None:
    store.link_patient(tx, account_id, patient_id)


def unlink_patient(store: AccountStore, tx: Tx, account_id: str, patient_id: str) -> None:
    """The next refresh issues tokens without the patient; intake, which owns the links, stops at once."""
    store.unlink_patient(tx, account_id, patient_id)
