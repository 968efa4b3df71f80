"""Accounts' store in memory: the same named methods as ``AccountStore`` over dicts (and the rate limits of
``Limits``, counted by window like ``wenzhen.ratelimit``). Blind indexes are readable strings here."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from contracts.identity.schemas import ConsentRecord, OtpPurpose
from services.identity.accounts.rules import PATIENT, TAKEN_PHONE, Account, OtpCode, login_value, may_try
from tests.fakes import FakeCapabilityStore
from wenzhen.auth import Role
from wenzhen.errors import Conflict, TooManyRequests, field_error
from wenzhen.ratelimit import Limit
from wenzhen.timez import to_local_iso


class FakeAccounts(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self.otps: dict[str, OtpCode] = {}
        self.consent_docs: list[dict] = []
        self.windows: dict[tuple, int] = {}  # (limit, key, window start) -> attempts
        self.last_allowed: dict[tuple, datetime] = {}  # (cooldown, key) -> the last allowed attempt

    # keys and limits ---------------------------------------------------------------------------------------------
    def login_index(self, login: str) -> str:
        return f"login:{login_value(login)}"

    def origin_key(self, origin_ip: str | None) -> str:
        return f"origin:{origin_ip or 'unknown'}"

    def phone_key(self, phone: str) -> str:
        return f"phone:{phone}"

    def hit(self, limit: Limit, key: str, now: datetime) -> int:
        seconds = int(limit.window.total_seconds())
        start = int(now.timestamp()) // seconds * seconds
        slot = (limit.name, key, start)
        self.windows[slot] = self.windows.get(slot, 0) + 1
        if self.windows[slot] > limit.max:
            raise TooManyRequests(limit.message, retry_after=start + seconds - now.timestamp())
        return self.windows[slot]

    def hit_origin(self, limit: Limit | None, origin_ip: str | None, now: datetime) -> None:
        if limit is not None:
            self.hit(limit, self.origin_key(origin_ip), now)

    def cooldown(self, name: str, key: str, gap: timedelta, message: str, now: datetime) -> None:
        last = self.last_allowed.get((name, key))
        if last is not None and now - last < gap:
            raise TooManyRequests(message, retry_after=max(1.0, (last + gap - now).total_seconds()))
        self.last_allowed[(name, key)] = now

    # accounts ----------------------------------------------------------------------------------------------------
    def account(self, account_id: str, tx=None) -> Account | None:
        return self.accounts.get(account_id)

    def _by_login(self, login_index: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.login_index == login_index), None)

    def _insert_account(self, account: Account, conflict: Conflict) -> Account:
        if self._by_login(account.login_index) is not None:  # the unique login index
            raise conflict
        self.accounts[account.id] = account
        return account

    def has_patient_account(self, phone: str) -> bool:
        found = self._by_login(self.login_index(phone))
        return found is not None and found.kind == PATIENT

    def insert_patient(self, tx, account_id: str, phone: str, password_hash: str, now: datetime) -> Account:
        return self._insert_account(
            Account(id=account_id, kind=PATIENT, role=Role.patient, status="active",
                    login_index=self.login_index(phone), created_at=now, password_hash=password_hash),
            Conflict(TAKEN_PHONE, [field_error("phone", "already has an account", "duplicate")]))

    def set_patient_password(self, tx, phone: str, password_hash: str, now: datetime) -> Account | None:
        found = self._by_login(self.login_index(phone))
        if found is None or found.kind != PATIENT:
            return None
        self.accounts[found.id] = replace(found, password_hash=password_hash)
        return found

    def link_patient(self, tx, account_id: str, patient_id: str) -> None:
        found = self.accounts.get(account_id)
        if found is not None and found.kind == PATIENT and patient_id not in found.patients:
            self.accounts[account_id] = replace(found, patients=(*found.patients, patient_id))

    def unlink_patient(self, tx, account_id: str, patient_id: str) -> None:
        found = self.accounts.get(account_id)
        if found is not None:
            self.accounts[account_id] = replace(found, patients=tuple(p for p in found.patients if p != patient_id))

    # codes -------------------------------------------------------------------------------------------------------
    def insert_otp(self, tx, otp: OtpCode, phone: str, code: str) -> None:
        self.otps[otp.id] = replace(otp, phone=phone, code=code)

    def otp(self, otp_id: str) -> OtpCode | None:
        found = self.otps.get(otp_id)
        return found if found is None or found.kind == "code" else replace(found, code=None)

    def try_code(self, phone: str, purpose: OtpPurpose, code: str, now: datetime) -> OtpCode | None:
        live = [o for o in self.otps.values() if o.phone == phone and o.purpose == purpose and may_try(o, now)]
        if not live:
            return None
        newest = max(live, key=lambda o: (o.created_at, o.id))  # ids are time-ordered too
        self.otps[newest.id] = replace(newest, attempts=newest.attempts + 1)
        return self.otps[newest.id] if newest.code == code else None

    def use_code(self, tx, otp_id: str, now: datetime) -> bool:
        otp = self.otps[otp_id]
        if otp.used_at is not None:
            return False
        self.otps[otp_id] = replace(otp, used_at=now)
        return True

    # consents ----------------------------------------------------------------------------------------------------
    def insert_consent(self, tx, consent_id, account_id, document, version, now, origin_ip, request_id) -> None:
        self.consent_docs.append({"_id": consent_id, "account_id": account_id, "document": document,
                                  "version": version, "granted_at": now, "withdrawn_at": None, "ip": origin_ip,
                                  "request_id": request_id})

    def consents(self, account_id: str) -> list[ConsentRecord]:
        return [ConsentRecord(document=c["document"], version=c["version"], granted_at=to_local_iso(c["granted_at"]),
                              withdrawn_at=to_local_iso(c["withdrawn_at"]) if c["withdrawn_at"] else None)
                for c in self.consent_docs if c["account_id"] == account_id]  # in the order given

    def withdraw_consent(self, tx, account_id: str, document: str, now: datetime) -> tuple[str, str] | None:
        for c in self.consent_docs:
            if c["account_id"] == account_id and c["document"] == document and c["withdrawn_at"] is None:
                c["withdrawn_at"] = now
                return c["_id"], c["version"]
        return None
