"""Every MongoDB query of accounts: the ``accounts`` collection's patient side (the other capabilities read accounts
through :func:`account_from_doc`, the one decoding), pending SMS codes, consents, and the rate-limit counters
(:class:`Limits`, shared with sessions).

Encrypted here, on the way in: an account's phone and a staff member's name, TOTP secrets, and a code's phone and
code (the copy notify fetches to send it). Blind indexes (keyed HMAC) make the login, the phone of a code, a code
itself and an origin address comparable without storing them."""
from __future__ import annotations

import hmac
from datetime import date, datetime, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from contracts.identity.schemas import ConsentRecord, OtpPurpose
from services.identity.accounts.rules import (
    OTP_KEPT_AFTER_EXPIRY,
    OTP_MAX_ATTEMPTS,
    PATIENT,
    TAKEN_PHONE,
    Account,
    OtpCode,
    login_value,
)
from wenzhen import ratelimit
from wenzhen.auth import Role
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, field_error
from wenzhen.ratelimit import Limit
from wenzhen.storage import CapabilityStore, Index, Store, Tx, find_and_modify
from wenzhen.timez import as_utc, to_local_iso

ACCOUNTS = "accounts"
OTPS = "otps"
CONSENTS = "consents"

INDEXES = [
    Index(ACCOUNTS, [("login_index", ASCENDING)], unique=True, name="unique_login"),
    Index(ACCOUNTS, [("kind", ASCENDING), ("role", ASCENDING)], name="by_kind_role"),
    Index(OTPS, [("phone_index", ASCENDING), ("purpose", ASCENDING), ("_id", DESCENDING)], name="latest_for_phone"),
    Index(OTPS, [("purge_at", ASCENDING)], name="otp_expiry", options={"expireAfterSeconds": 0}),
    Index(CONSENTS, [("account_id", ASCENDING), ("document", ASCENDING)], name="by_account"),
    *ratelimit.INDEXES,
]


def account_from_doc(doc: dict, keys: Keyring) -> Account:
    """An ``accounts`` document as an :class:`Account` (a staff member's name and TOTP secrets decrypted)."""
    account_id = doc["_id"]
    totp = doc.get("totp") or {}

    def opened(sealed: dict | None, name: str) -> str | None:
        return keys.decrypt(sealed, field=name, record=account_id) if sealed else None

    return Account(
        id=account_id, kind=doc["kind"], role=Role(doc["role"]), status=doc["status"],
        login_index=doc["login_index"], created_at=as_utc(doc["created_at"]), patients=tuple(doc.get("patients", ())),
        username=doc.get("username"), name=opened(doc.get("name"), "name"), department=doc.get("department"),
        title=doc.get("title"), licence_number=doc.get("licence_number"),
        practising_since=date.fromisoformat(doc["practising_since"]) if doc.get("practising_since") else None,
        password_hash=doc.get("password"),
        totp_enrolled=bool(totp.get("enrolled")), totp_last_step=totp.get("last_step", 0),
        totp_secret=opened(totp.get("secret"), "totp"), totp_pending=opened(totp.get("pending"), "totp"))


class Limits:
    """Rate limits counted in identity's database (``wenzhen.ratelimit``), keyed by blind indexes."""

    db: Store
    keys: Keyring

    def origin_key(self, origin_ip: str | None) -> str:
        return self.keys.blind_index("origin", origin_ip or "unknown")

    def hit(self, limit: Limit, key: str, now: datetime) -> int:
        """Count one attempt; TooManyRequests beyond the limit in its window."""
        return ratelimit.hit(self.db, limit, key, now)

    def hit_origin(self, limit: Limit | None, origin_ip: str | None, now: datetime) -> None:
        """Count one attempt from an address against a per-origin limit (None: lifted, ``rules.origin_limit``)."""
        if limit is not None:
            self.hit(limit, self.origin_key(origin_ip), now)

    def cooldown(self, name: str, key: str, gap: timedelta, message: str, now: datetime) -> None:
        """Allow one attempt per ``gap`` for ``key``; TooManyRequests (with the wait) otherwise."""
        ratelimit.cooldown(self.db, name, key, gap.total_seconds(), message, now)


class IdentityStoreBase(Limits, CapabilityStore):
    """The keys every identity store encrypts and indexes with."""

    def login_index(self, login: str) -> str:
        return self.keys.blind_index("login", login_value(login))

    def account(self, account_id: str, tx: Tx | None = None) -> Account | None:
        doc = self._on(tx)[ACCOUNTS].find_one({"_id": account_id})
        return account_from_doc(doc, self.keys) if doc else None


class AccountStore(IdentityStoreBase):
    # codes -------------------------------------------------------------------------------------------------------
    def _phone_index(self, phone: str) -> str:
        return self.keys.blind_index("phone", phone)

    def phone_key(self, phone: str) -> str:
        """The key of a phone number's rate limits (a blind index, never the number)."""
        return self._phone_index(phone)

    def has_patient_account(self, phone: str) -> bool:
        return self.db[ACCOUNTS].find_one({"login_index": self.login_index(phone), "kind": PATIENT},
                                          {"_id": 1}) is not None

    def _code_hash(self, otp_id: str, code: str) -> str:
        return self.keys.blind_index("otp", f"{otp_id}:{code}")

    def insert_otp(self, tx: Tx, otp: OtpCode, phone: str, code: str) -> None:
        tx[OTPS].insert_one({
            "_id": otp.id, "purpose": otp.purpose.value, "phone_index": self._phone_index(phone), "kind": otp.kind,
            "code_hash": self._code_hash(otp.id, code), "attempts": 0, "used_at": None,
            "created_at": otp.created_at, "expires_at": otp.expires_at,
            "purge_at": otp.expires_at + OTP_KEPT_AFTER_EXPIRY,
            # for notify to send it; the code is useless after expires_at and the document is purged an hour later
            "phone": self.keys.encrypt(phone, field="phone", record=otp.id),
            "code": self.keys.encrypt(code, field="code", record=otp.id),
        })

    def otp(self, otp_id: str) -> OtpCode | None:
        """A code with its number and, for a code (not a notice), the code itself, decrypted (for notify)."""
        doc = self.db[OTPS].find_one({"_id": otp_id})
        if doc is None:
            return None
        return self._otp(doc, phone=self.keys.decrypt(doc["phone"], field="phone", record=otp_id),
                         code=self.keys.decrypt(doc["code"], field="code", record=otp_id)
                         if doc["kind"] == "code" else None)

    @staticmethod
    def _otp(doc: dict, **secrets) -> OtpCode:
        return OtpCode(id=doc["_id"], purpose=OtpPurpose(doc["purpose"]), kind=doc["kind"],
                       created_at=as_utc(doc["created_at"]), expires_at=as_utc(doc["expires_at"]),
                       attempts=doc.get("attempts", 0),
                       used_at=as_utc(doc["used_at"]) if doc.get("used_at") else None, **secrets)

    def try_code(self, phone: str, purpose: OtpPurpose, code: str, now: datetime) -> OtpCode | None:
        """Count one attempt at the newest code for this phone and purpose that may still be tried
        (``rules.may_try``), outside any transaction so that a wrong code counts even when what follows fails; the
        code when ``code`` is it, else None."""
        otp = find_and_modify(
            self.db[OTPS],
            {"phone_index": self._phone_index(phone), "purpose": purpose.value, "kind": "code", "used_at": None,
            "expires_at": {"$gt": now}, "attempts": {"$lt": OTP_MAX_ATTEMPTS}},
            {"$inc": {"attempts": 1}}, sort=[("_id", DESCENDING)])
        if otp is None or not hmac.compare_digest(otp["code_hash"], self._code_hash(otp["_id"], code)):
            return None
        return self._otp(otp)

    def use_code(self, tx: Tx, otp_id: str, now: datetime) -> bool:
        """Mark a code used; False when a concurrent request used it first."""
        return tx[OTPS].update_one({"_id": otp_id, "used_at": None}, {"$set": {"used_at": now}}).modified_count == 1

    # patient accounts --------------------------------------------------------------------------------------------
    def insert_patient(self, tx: Tx, account_id: str, phone: str, password_hash: str, now: datetime) -> Account:
        doc = {
            "_id": account_id, "kind": PATIENT, "role": Role.patient.value, "status": "active",
            "login_index": self.login_index(phone),
            "phone": self.keys.encrypt(phone, field="phone", record=account_id),
            "password": password_hash, "password_changed_at": now, "patients": [], "created_at": now,
        }
        try:
            tx[ACCOUNTS].insert_one(doc)
        except DuplicateKeyError:  # the unique login index: one account per number, whatever the concurrency
            raise Conflict(TAKEN_PHONE, [field_error("phone", "already has an account", "duplicate")]) from None
        return account_from_doc(doc, self.keys)

    def set_patient_password(self, tx: Tx, phone: str, password_hash: str, now: datetime) -> Account | None:
        doc = find_and_modify(tx[ACCOUNTS], {"login_index": self.login_index(phone), "kind": PATIENT},
                              {"$set": {"password": password_hash, "password_changed_at": now}}, before=True)
        return account_from_doc(doc, self.keys) if doc else None

    def link_patient(self, tx: Tx, account_id: str, patient_id: str) -> None:
        tx[ACCOUNTS].update_one({"_id": account_id, "kind": PATIENT}, {"$addToSet": {"patients": patient_id}})

    def unlink_patient(self, tx: Tx, account_id: str, patient_id: str) -> None:
        tx[ACCOUNTS].update_one({"_id": account_id}, {"$pull": {"patients": patient_id}})

    # consents ----------------------------------------------------------------------------------------------------
    def insert_consent(self, tx: Tx, consent_id: str, account_id: str, document: str, version: str, now: datetime,
                       origin_ip: str | None, request_id: str | None) -> None:
        tx[CONSENTS].insert_one({"_id": consent_id, "account_id": account_id, "document": document,
                                 "version": version, "granted_at": now, "withdrawn_at": None,
                                 "ip": origin_ip, "request_id": request_id})

    def consents(self, account_id: str) -> list[ConsentRecord]:
        return [ConsentRecord(document=c["document"], version=c["version"], granted_at=to_local_iso(c["granted_at"]),
                              withdrawn_at=to_local_iso(c["withdrawn_at"]) if c.get("withdrawn_at") else None)
                for c in self.db[CONSENTS].find({"account_id": account_id}).sort("_id", ASCENDING)]

    def withdraw_consent(self, tx: Tx, account_id: str, document: str, now: datetime) -> tuple[str, str] | None:
        """The standing consent's id and version, now withdrawn; None when there is none."""
        doc = find_and_modify(tx[CONSENTS], {"account_id": account_id, "document": document, "withdrawn_at": None},
                              {"$set": {"withdrawn_at": now}}, before=True)
        return (doc["_id"], doc["version"]) if doc else None
