"""Staff accounts' store in memory: the same named methods as ``StaffStore``, over the accounts of
:class:`FakeAccounts`."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from contracts.identity.schemas import StaffCreate
from services.identity.accounts.rules import STAFF, Account
from services.identity.staff.rules import FIRST_ADMIN_EXISTS
from tests.unit.identity.accounts.fakes import FakeAccounts
from wenzhen.auth import Role
from wenzhen.errors import Conflict, field_error


class FakeStaff(FakeAccounts):
    def __init__(self) -> None:
        super().__init__()
        self.bootstrapped = False
        self.activations: dict[str, tuple[str, datetime]] = {}  # account id -> (code, until)

    def mark_bootstrapped(self, tx, now: datetime) -> None:
        if self.bootstrapped:
            raise Conflict(FIRST_ADMIN_EXISTS)
        self.bootstrapped = True

    def insert_staff(self, tx, account_id: str, request: StaffCreate, activation_code: str,
                     activation_expires_at: datetime, created_by: str, now: datetime) -> Account:
        account = self._insert_account(
            Account(id=account_id, kind=STAFF, role=Role(request.role), status="pending_activation",
                    login_index=self.login_index(request.username), created_at=now, username=request.username,
                    name=request.name, department=request.department, title=request.title,
                    licence_number=request.licence_number, practising_since=request.practising_since),
            Conflict("This username is taken.", [field_error("username", "is taken", "duplicate")]))
        self.activations[account_id] = (activation_code, activation_expires_at)
        return account

    def activate(self, login_index: str, activation_code: str, password_hash: str, now: datetime) -> Account | None:
        account = self._by_login(login_index)
        if account is None or account.status != "pending_activation":
            return None
        code, until = self.activations.get(account.id, (None, now))
        if code != activation_code or until <= now:
            return None
        del self.activations[account.id]
        self.accounts[account.id] = replace(account, status="pending_mfa", password_hash=password_hash)
        return self.accounts[account.id]

    def staff(self, account_id: str, tx=None) -> Account | None:
        found = self.accounts.get(account_id)
        return found if found is not None and found.kind == STAFF else None

    def list_staff(self, role: str | None, limit: int) -> list[Account]:
        found = sorted((a for a in self.accounts.values() if a.kind == STAFF and role in (None, a.role)),
                       key=lambda a: a.id)
        return found[:limit]

    def staff_accounts(self, account_ids: list[str]) -> list[Account]:
        return [a for a in map(self.staff, account_ids) if a is not None]

    def update_staff(self, tx, account_id: str, values: dict) -> Account | None:
        found = self.staff(account_id)
        if found is None:
            return None
        self.accounts[account_id] = replace(found, **{**values, **({"role": Role(values["role"])}
                                                                   if "role" in values else {})})
        return self.accounts[account_id]

    def reset_activation(self, tx, account_id: str, activation_code: str,
                         activation_expires_at: datetime) -> Account | None:
        found = self.staff(account_id)
        if found is None:
            return None
        self.activations[account_id] = (activation_code, activation_expires_at)
        self.accounts[account_id] = replace(found, status="pending_activation", password_hash=None,
                                            totp_enrolled=False, totp_last_step=0, totp_secret=None,
                                            totp_pending=None)
        return self.accounts[account_id]
