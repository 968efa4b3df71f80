"""identity's public contract: request and response models (the gateway validates with these too)."""
from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator

from contracts.identity.passwords import check_password
from wenzhen.auth import LICENSED_ROLES, Role
from wenzhen.fields import Mobile, PersonName, SmsCode, Strict
from wenzhen.timez import hospital_zone

_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,31}$")

# roles that work in one department (doctors and pharmacists too: LICENSED_ROLES); managers and admins may be
# hospital-wide: nothing scopes a manager by department (booking's catalogue, the desk's shifts, rule tables,
# complaints and reports are hospital-wide)
DEPARTMENT_ROLES = frozenset({Role.consultant, Role.team_lead})
DEPARTMENT_HELP = ("The department the person works in: required for consultants, team leads, doctors and "
                   "pharmacists; managers, finance staff and admins may leave it out (hospital-wide).")
StaffRole = Literal["consultant", "doctor", "pharmacist", "team_lead", "lab", "finance", "manager", "admin"]
PRACTISING_SINCE_HELP = ("The date independent clinical practice began (独立执业起始日期), YYYY-MM-DD, not in the "
                         "future: doctors and pharmacists only. Practising online needs at least 3 years of it "
                         "(互联网诊疗管理办法), which records checks when a doctor signs a prescription.")


def _not_in_future(value: date) -> date:
    if value > datetime.now(hospital_zone()).date():
        raise ValueError("must not be in the future")
    return value


PractisingSince = Annotated[date, AfterValidator(_not_in_future)]  # the hospital's today at the latest


def acceptable_password(besides: str):
    """A validator of a password field: check_password, also against the model's ``besides`` field (declared
    before it), which the password must not contain."""

    def check(cls, value: str, info: ValidationInfo) -> str:
        return check_password(value, info.data.get(besides))

    return classmethod(check)


class OtpPurpose(StrEnum):
    register = "register"
    reset_password = "reset_password"


# patients: sign-up -----------------------------------------------------------------------------------------------
class OtpRequest(Strict):
    """Ask for a one-time code by SMS."""

    phone: Mobile
    purpose: OtpPurpose = Field(description="What the code is for.")


class ConsentGrant(Strict):
    """The versions of the documents the person read and accepted (see `GET /v1/privacy-notice`)."""

    privacy_notice: str = Field(description="Version of the privacy notice accepted.", examples=["2026-11-01"])
    sensitive_health_data: str = Field(description="Version of the separate consent to process sensitive personal "
                                                   "information (health data, PIPL art. 28-29).",
                                       examples=["2026-11-01"])


class PatientSignup(Strict):
    """Create a patient account: the phone is confirmed by the code sent to it."""

    phone: Mobile
    code: SmsCode
    password: str = Field(description="8 to 128 characters; not a common password, not the phone number.")
    consent: ConsentGrant

    _password = field_validator("password")(acceptable_password(besides="phone"))


class PasswordReset(Strict):
    """Set a new password with a code sent to the account's phone (patients)."""

    phone: Mobile
    code: SmsCode
    new_password: str

    _password = field_validator("new_password")(acceptable_password(besides="phone"))


# signing in -------------------------------------------------------------------------------------------------------
class Login(Strict):
    """A patient signs in with their phone number, staff with their username."""

    login: str = Field(min_length=1, max_length=64, examples=["13812345678"])
    password: str = Field(min_length=1, max_length=256)


class MfaVerify(Strict):
    """The second step of a staff sign-in (or of TOTP enrolment): the code from the authenticator app."""

    mfa_token: str = Field(min_length=10, max_length=200)
    code: SmsCode = Field(description="The 6 digits shown by the authenticator app.")


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=10, max_length=200)


class Tokens(BaseModel):
    """A signed-in session."""

    token_type: Literal["Bearer"] = "Bearer"
    access_token: str = Field(description="A JWT (EdDSA) for `Authorization: Bearer`.")
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Exchange at `POST /v1/auth/refresh` for new tokens; each use replaces "
                                           "it (a reused one ends the session).")
    refresh_expires_at: str = Field(description="When the session ends at the latest (hospital time zone).")
    account_id: str
    role: Role


class TotpEnrolment(BaseModel):
    secret: str = Field(description="Base32 secret for the authenticator app (shown once).")
    otpauth_uri: str = Field(description="The same as an otpauth:// URI (for a QR code).")


class MfaChallenge(BaseModel):
    """Staff sign-in continues at `POST /v1/auth/mfa` with this token and a TOTP code."""

    mfa_required: Literal[True] = True
    mfa_token: str
    expires_in: int
    enrolment: TotpEnrolment | None = Field(default=None, description="Present while the account still has to set "
                                                                      "up its authenticator app.")


class OtpAccepted(BaseModel):
    detail: str = Field(examples=["If this number can receive a code, it has been sent."])
    expires_in: int


# staff accounts ---------------------------------------------------------------------------------------------------
class StaffCreate(Strict):
    """A staff account, created by an admin. Doctors and pharmacists carry licence, title and department; consultants
    and team leads a department; managers and admins may be hospital-wide (no department)."""

    username: str = Field(description="Sign-in name: 3-32 of a-z 0-9 . _ -, starting with a letter.",
                          examples=["wang.fang"])
    name: PersonName = Field(examples=["王芳"])
    role: StaffRole
    department: str | None = Field(default=None, min_length=1, max_length=64, examples=["urology"],
                                   description=DEPARTMENT_HELP)
    title: str | None = Field(default=None, min_length=1, max_length=64, examples=["主治医师"],
                              description="Required for doctors and pharmacists.")
    licence_number: str | None = Field(default=None, min_length=4, max_length=32,
                                       description="Practising licence number (执业证书编码): required for doctors "
                                                   "and pharmacists.")
    practising_since: PractisingSince | None = Field(default=None, examples=["2018-07-01"],
                                                     description=PRACTISING_SINCE_HELP)
    phone: Mobile | None = Field(default=None, description="Work mobile (optional).")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.lower()
        if not _USERNAME.match(value):
            raise ValueError("3-32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter")
        return value

    def missing_for_role(self) -> list[str]:
        """Fields this role needs that are absent (doctors and pharmacists: licence, title, department; consultants
        and team leads: department)."""
        return missing_for_role(self.role, self.model_dump())


def missing_for_role(role: str, values: dict) -> list[str]:
    """The fields ``role`` needs that ``values`` (an account, or a request) lacks."""
    needed = ("licence_number", "title", "department") if Role(role) in LICENSED_ROLES else (
        ("department",) if Role(role) in DEPARTMENT_ROLES else ())
    return [name for name in needed if values.get(name) is None]


class StaffUpdate(Strict):
    """Change a staff account (admins). Disabling ends its sessions. A new role must find the fields it needs (on the
    account or in the change), as at creation."""

    role: StaffRole | None = None
    department: str | None = Field(default=None, min_length=1, max_length=64, description=DEPARTMENT_HELP)
    title: str | None = Field(default=None, min_length=1, max_length=64)
    licence_number: str | None = Field(default=None, min_length=4, max_length=32)
    practising_since: PractisingSince | None = Field(default=None, examples=["2018-07-01"],
                                                     description=PRACTISING_SINCE_HELP)
    status: Literal["active", "disabled"] | None = None


class Activation(Strict):
    """A new staff member sets a password with the activation code from the admin, then enrols TOTP."""

    username: str = Field(min_length=3, max_length=32)
    activation_code: str = Field(min_length=8, max_length=64)
    password: str

    _password = field_validator("password")(acceptable_password(besides="username"))


class StaffAccount(BaseModel):
    id: str
    username: str
    name: str
    role: Role
    department: str | None = None
    title: str | None = None
    licence_number: str | None = None
    practising_since: date | None = Field(default=None, description=PRACTISING_SINCE_HELP)
    status: Literal["pending_activation", "pending_mfa", "active", "disabled"]
    mfa_enrolled: bool
    created_at: str


class StaffCreated(StaffAccount):
    activation_code: str = Field(description="Give it to the person (shown once); valid until "
                                             "`activation_expires_at`.")
    activation_expires_at: str


# the signed-in account -------------------------------------------------------------------------------------------
class ConsentRecord(BaseModel):
    document: Literal["privacy_notice", "sensitive_health_data"]
    version: str
    granted_at: str
    withdrawn_at: str | None = None


class Account(BaseModel):
    """The signed-in account."""

    id: str
    role: Role
    status: str
    patients: list[str] = Field(default_factory=list, description="Patient records this account acts for: its own "
                                                                  "and linked relatives'.")
    consents: list[ConsentRecord] = Field(default_factory=list)
    staff: StaffAccount | None = None


class PrivacyDocument(BaseModel):
    document: Literal["privacy_notice", "sensitive_health_data"]
    version: str
    title: str
    text: str


class PrivacyNotice(BaseModel):
    documents: list[PrivacyDocument]


# for other services (RPCs the gateway does not serve over HTTP) --------------------------------------------------
class OtpDelivery(BaseModel):
    """What notify needs to send a code (``identity.deliver_otp``, notify only): the number and the message's
    content."""

    phone: str
    code: str | None = Field(default=None, description="None for a notice (the number has an account already).")
    kind: Literal["code", "already_registered"]
    purpose: OtpPurpose
    valid_minutes: int


class RevokedSession(BaseModel):
    """A session that ended before its time (``identity.revoked_sessions``, the gateway's catch-up)."""

    session_id: str
    revoked_at: str = Field(description="UTC, ISO 8601")


class StaffCard(BaseModel):
    """How a staff member is shown to a patient who looks at who read their record (``identity.staff_directory``)."""

    role: Role
    title: str | None = None
    department: str | None = None
    name: str


class Prescriber(BaseModel):
    """What records checks of a doctor (or pharmacist) when a prescription is signed (``identity.prescriber``,
    records only, audited): the role, whether the account is active, the licence and the start of independent
    practice."""

    account_id: str
    role: Role
    active: bool = Field(description="The account's status is active (not awaiting activation, nor disabled).")
    licence_number: str | None = Field(default=None, description="Practising licence number (执业证书编码).")
    practising_since: date | None = Field(default=None, description="The date independent clinical practice began "
                                                                    "(独立执业起始日期); None when not recorded.")
