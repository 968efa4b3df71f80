"""Every MongoDB query of staff accounts (the ``accounts`` collection's staff side): a staff member's name and work
phone are encrypted here, an activation code kept as its SHA-256 hash. A username is unique by the login index; the
first admin is made once by a marker document's ``_id``."""
from __future__ import annotations

import hashlib
from datetime import date, datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contracts.identity.schemas import StaffCreate
from services.identity.accounts.rules import STAFF, Account
from services.identity.accounts.store import ACCOUNTS, IdentityStoreBase, account_from_doc
from services.identity.staff.rules import FIRST_ADMIN_EXISTS
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import Tx, find_and_modify

META = "meta"
INDEXES: list = []  # staff accounts are found by the accounts' indexes (unique_login, by_kind_role)

_NOT_ENROLLED = {"enrolled": False, "last_step": 0}


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _stored(values: dict) -> dict:
    """A change as kept: a date (BSON has none) as its ISO string, as ``account_from_doc`` reads it."""
    return {name: value.isoformat() if isinstance(value, date) else value for name, value in values.items()}


class StaffStore(IdentityStoreBase):
    def mark_bootstrapped(self, tx: Tx, now: datetime) -> None:
        """The first admin is made once, whatever the concurrency (the marker's ``_id``)."""
        try:
            tx[META].insert_one({"_id": "bootstrap", "at": now})
        except DuplicateKeyError:
            raise Conflict(FIRST_ADMIN_EXISTS) from None

    def insert_staff(self, tx: Tx, account_id: str, request: StaffCreate, activation_code: str,
                     activation_expires_at: datetime, created_by: str, now: datetime) -> Account:
        doc = {
            "_id": account_id, "kind": STAFF, "role": request.role, "status": "pending_activation",
            "login_index": self.login_index(request.username), "username": request.username,
            "name": self.keys.encrypt(request.name, field="name", record=account_id),
            "department": request.department, "title": request.title, "licence_number": request.licence_number,
            "practising_since": request.practising_since.isoformat() if request.practising_since else None,
            "activation": {"code_hash": _code_hash(activation_code), "expires_at": activation_expires_at},
            "totp": dict(_NOT_ENROLLED), "patients": [], "created_at": now, "created_by": created_by,
        }
        if request.phone:
            doc["phone"] = self.keys.encrypt(request.phone, field="phone", record=account_id)
        try:
            tx[ACCOUNTS].insert_one(doc)
        except DuplicateKeyError:  # the unique login index
            raise Conflict("This username is taken.", [field_error("username", "is taken", "duplicate")]) from None
        return account_from_doc(doc, self.keys)

    def activate(self, login_index: str, activation_code: str, password_hash: str, now: datetime) -> Account | None:
        """Set the password of an account awaiting activation with this unexpired code (then it awaits its TOTP
        enrolment); None when there is no such account or code."""
        doc = find_and_modify(
            self.db[ACCOUNTS],
            {"login_index": login_index, "status": "pending_activation",
            "activation.code_hash": _code_hash(activation_code), "activation.expires_at": {"$gt": now}},
            {"$set": {"password": password_hash, "password_changed_at": now, "status": "pending_mfa"},
            "$unset": {"activation": ""}})
        return account_from_doc(doc, self.keys) if doc else None

    def staff(self, account_id: str, tx: Tx | None = None) -> Account | None:
        doc = self._on(tx)[ACCOUNTS].find_one({"_id": account_id, "kind": STAFF})
        return account_from_doc(doc, self.keys) if doc else None

    def list_staff(self, role: str | None, limit: int) -> list[Account]:
        query: dict = {"kind": STAFF, **({"role": role} if role else {})}
        return [account_from_doc(d, self.keys)
                for d in self.db[ACCOUNTS].find(query).sort("_id", ASCENDING).limit(limit)]

    def staff_accounts(self, account_ids: list[str]) -> list[Account]:
        return [account_from_doc(d, self.keys)
                for d in self.db[ACCOUNTS].find({"_id": {"$in": account_ids}, "kind": STAFF})]

    def update_staff(self, tx: Tx, account_id: str, values: dict) -> Account | None:
        doc = find_and_modify(tx[ACCOUNTS], {"_id": account_id, "kind": STAFF}, {"$set": _stored(values)})
        return account_from_doc(doc, self.keys) if doc else None

    def reset_activation(self, tx: Tx, account_id: str, activation_code: str,
                         activation_expires_at: datetime) -> Account | None:
        """Back to awaiting activation with a new code: the password and the TOTP enrolment are gone."""
        doc = find_and_modify(
            tx[ACCOUNTS],
            {"_id": account_id, "kind": STAFF},
            {"$set": {"status": "pending_activation",
            "activation": {"code_hash": _code_hash(activation_code), "expires_at": activation_expires_at},
            "totp": dict(_NOT_ENROLLED)},
            "$unset": {"password": ""}})
        return account_from_doc(doc, self.keys) if doc else None
