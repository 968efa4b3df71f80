"""identity: accounts, sign-in (passwords, SMS codes, TOTP), sessions and tokens, staff accounts, consent to the
privacy notice — ``IdentityService`` is its three capabilities' entrypoints over one database."""
from __future__ import annotations

from services.identity.accounts import store as account_store
from services.identity.accounts.entrypoints import AccountEntrypoints
from services.identity.sessions import store as session_store
from services.identity.sessions.entrypoints import SessionEntrypoints, signer
from services.identity.settings import IdentitySettings
from services.identity.staff import store as staff_store
from services.identity.staff.entrypoints import StaffEntrypoints
from wenzhen.service import ServiceBase


class IdentityService(AccountEntrypoints, SessionEntrypoints, StaffEntrypoints, ServiceBase):
    name = "identity"
    settings_class = IdentitySettings
    indexes = [*account_store.INDEXES, *session_store.INDEXES, *staff_store.INDEXES]
    startup_checks = (signer,)  # the signing keys; the settings (Argon2id, the origin factor) check themselves
