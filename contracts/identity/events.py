"""Events identity publishes (exchange ``identity.events``). Identifiers only, never phone numbers or names."""
from __future__ import annotations

from pydantic import Field

from wenzhen.events import EventData


class _Identity(EventData):
    source = "identity"


class AccountRegistered(_Identity):
    """A patient created an account (phone confirmed by SMS, consents given)."""

    type = "account_registered"
    account_id: str


class StaffAccountCreated(_Identity):
    """An admin created a staff account."""

    type = "staff_account_created"
    account_id: str
    role: str
    department: str | None = None


class StaffAccountChanged(_Identity):
    """An admin changed a staff account's role, department, title, licence or status."""

    type = "staff_account_changed"
    account_id: str
    role: str
    department: str | None = None
    status: str


class OtpIssued(_Identity):
    """A one-time SMS code (or, for a number that already has an account, a notice) is to be sent.

    notify fetches the number and the code from identity (``identity.deliver_otp``);
    they are not in the event."""

    type = "otp_issued"
    otp_id: str
    purpose: str = Field(description="register or reset_password")


class AccountLocked(_Identity):
    """Sign-in for a login was locked after repeated failures (the login is a keyed hash, not the login)."""

    type = "account_locked"
    login_hash: str = Field(description="HMAC of the login identifier; links repeated lockouts, reveals nothing")
    until: str


class SessionRevoked(_Identity):
    """A session ended before its time: logout, a reused refresh token, a disabled account."""

    type = "session_revoked"
    account_id: str
    session_id: str
    reason: str
    expires_at: str = Field(description="When the session's last access token expires at the latest (UTC)")


class ConsentWithdrawn(_Identity):
    """An account withdrew a consent; services stop the processing that relied on it."""

    type = "consent_withdrawn"
    account_id: str
    document: str
    document_version: str
