"""Staff accounts' operations: authorize → store → emit → audit. An admin creates an account and gets a one-time
activation code; the person activates it (sets a password), enrols an authenticator app and from then on signs in
with both. The first admin comes from ``make admin``, once."""
from __future__ import annotations

import secrets
from datetime import datetime

from contracts.identity.events import StaffAccountChanged, StaffAccountCreated
from contracts.identity.schemas import (
    Activation,
    MfaChallenge,
    Prescriber,
    StaffAccount,
    StaffCard,
    StaffCreate,
    StaffCreated,
    StaffUpdate,
)
from services.identity.accounts.rules import Account
from services.identity.passwords import Passwords
from services.identity.sessions import usecases as sessions
from services.identity.sessions.rules import LOGIN_PER_ORIGIN
from services.identity.sessions.store import SessionStore
from services.identity.settings import Policy
from services.identity.staff import rules
from services.identity.staff.rules import ACTIVATION_TTL
from services.identity.staff.store import StaffStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, EXECUTE, READ, UPDATE
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, Unauthorized, validated
from wenzhen.storage import Tx
from wenzhen.timez import to_local_iso


def _created(account: Account, code: str, now: datetime) -> StaffCreated:
    return StaffCreated(**rules.staff_view(account).model_dump(), activation_code=code,
                        activation_expires_at=to_local_iso(now + ACTIVATION_TTL))


def _create(store: StaffStore, caller: Caller, request: StaffCreate, now: datetime,
            first: bool = False) -> StaffCreated:
    account_id, code = ids.new_id("acc"), secrets.token_urlsafe(12)

    def body(tx: Tx) -> Account:
        if first:
            store.mark_bootstrapped(tx, now)
        account = store.insert_staff(tx, account_id, request, code, now + ACTIVATION_TTL,
                                     created_by=caller.principal.sub or "bootstrap", now=now)
        tx.emit(StaffAccountCreated(account_id=account_id, role=request.role, department=request.department),
                subject=account_id)
        audit.record(tx, caller, CREATE, "create", "Account", account_id, detail=request.role)
        return account

    return _created(store.transact(body), code, now)


def bootstrap_admin(store: StaffStore, caller: Caller, username: str, name: str, now: datetime) -> StaffCreated:
    """The very first admin (``make admin``); refused once one was made."""
    request = validated(StaffCreate, {"username": username, "name": name, "role": "admin"})
    try:
        return _create(store, caller, request, now, first=True)
    except Conflict:
        raise Conflict(rules.FIRST_ADMIN_EXISTS) from None


def create_staff(store: StaffStore, caller: Caller, request: StaffCreate, now: datetime) -> StaffCreated:
    rules.require_admin(caller.principal)
    rules.require_what_the_role_needs(request.role, request.model_dump())
    rules.require_licensed_for_practice_start(request.role, request.model_dump())
    return _create(store, caller, request, now)


def activate(store: StaffStore, sessions_store: SessionStore, caller: Caller, request: Activation, now: datetime, *,
             policy: Policy, passwords: Passwords) -> MfaChallenge:
    """A new staff member sets a password; the answer starts the TOTP enrolment. A wrong code counts as a failed
    sign-in of the username (and locks it like one)."""
    sessions.hit_origin(sessions_store, LOGIN_PER_ORIGIN, caller, policy, now)
    index = store.login_index(request.username)
    sessions.refuse_if_locked(sessions_store, index, now)
    account = store.activate(index, request.activation_code, passwords.hash(request.password), now)
    if account is None:
        sessions.count_failure(sessions_store, caller, index, None, "activation", policy, now)
        raise Unauthorized(rules.WRONG_ACTIVATION)
    audit.record(store, caller, UPDATE, "activate", "Account", account.id)
    return sessions.challenge(sessions_store, account, enrol=True, now=now)


def list_staff(store: StaffStore, caller: Caller, role: str | None = None) -> list[StaffAccount]:
    rules.require_admin(caller.principal)
    accounts = store.list_staff(role, rules.LIST_LIMIT)
    audit.record(store, caller, EXECUTE, "search", "Account", None, detail=f"staff role={role or 'any'}")
    return [rules.staff_view(account) for account in accounts]


def get_staff(store: StaffStore, caller: Caller, account_id: str) -> StaffAccount:
    if not rules.may_read(caller.principal, account_id):
        raise rules.not_found(account_id)
    account = store.staff(account_id)
    if account is None:
        raise rules.not_found(account_id)
    audit.record(store, caller, READ, "read", "Account", account_id)
    return rules.staff_view(account)


def update_staff(store: StaffStore, sessions_store: SessionStore, caller: Caller, account_id: str,
                 change: StaffUpdate, now: datetime, *, policy: Policy) -> StaffAccount:
    """A new role must find the fields it needs (on the account or in the change), and a start of independent
    practice a doctor's or pharmacist's account; disabling the account or changing its role ends its sessions."""
    rules.require_admin(caller.principal)
    values = rules.require_changes(change.model_dump(exclude_none=True))
    rules.require_not_disabling_self(caller.principal, account_id, values)

    def body(tx: Tx) -> Account:
        account = store.update_staff(tx, account_id, values)
        if account is None:
            raise rules.not_found(account_id)
        if "role" in values:  # e.g. a hospital-wide manager made a consultant without a department (rolled back)
            rules.require_what_the_role_needs(account.role, rules.role_fields(account))
        rules.require_licensed_for_practice_start(account.role, values)  # the role it has now (else rolled back)
        if rules.ends_sessions(values):
            sessions.revoke_all(tx, sessions_store, account_id, "account changed by an admin", policy, now)
        tx.emit(StaffAccountChanged(account_id=account_id, role=account.role, department=account.department,
                                    status=account.status), subject=account_id)
        audit.record(tx, caller, UPDATE, "update", "Account", account_id, detail=",".join(sorted(values)))
        return account

    return rules.staff_view(store.transact(body))


def reset_activation(store: StaffStore, sessions_store: SessionStore, caller: Caller, account_id: str,
                     now: datetime, *, policy: Policy) -> StaffCreated:
    """A lost password or authenticator: new activation code, old password and TOTP gone, sessions ended."""
    rules.require_admin(caller.principal)
    rules.require_not_resetting_self(caller.principal, account_id)
    code = secrets.token_urlsafe(12)

    def body(tx: Tx) -> Account:
        account = store.reset_activation(tx, account_id, code, now + ACTIVATION_TTL)
        if account is None:
            raise rules.not_found(account_id)
        sessions.revoke_all(tx, sessions_store, account_id, "activation reset by an admin", policy, now)
        audit.record(tx, caller, UPDATE, "reset-activation", "Account", account_id)
        return account

    return _created(store.transact(body), code, now)


def prescriber(store: StaffStore, caller: Caller, account_id: str) -> Prescriber:
    """Role, status, licence and start of independent practice of the account signing a prescription, for the
    records service only (it checks China's prescribing rules at that moment); each answer is an audited read."""
    rules.require_records(caller.principal)
    account = store.staff(account_id)
    if account is None:
        raise rules.not_found(account_id)
    audit.record(store, caller, READ, "read", "Account", account_id, detail="prescriber")
    return rules.prescriber(account)


def staff_directory(store: StaffStore, caller: Caller, account_ids: list[str]) -> dict[str, StaffCard]:
    """Role, title and name of staff accounts, for showing a patient who looked at their record (signed-in
    people only)."""
    rules.require_signed_in(caller.principal)
    return {account.id: rules.staff_card(account)
            for account in store.staff_accounts(account_ids[:rules.DIRECTORY_LIMIT])}
