"""Who is calling: the principal, how it travels, and the checks every service shares.

The gateway verifies the caller's access token and puts the verified claims in
Nameko context data (``principal``, a compact JSON string) together with the
``origin_ip`` and the ``purpose`` of use. Nameko hands context data on to every
RPC a worker makes, and the outbox stamps the actor on every event, so identity
flows gateway → RPC → events without ever being read from a request body.

Inside the system the broker is the trust boundary: a service believes the
principal in its context data (see docs/security.md for how the broker is
locked down). Services still re-check *ownership* themselves: the gateway only
knows which roles may call a route, not whose data a request touches.

A worker that runs because of an event (not a person) acts as its service:
``Principal.service("notify")``; that is what the RPCs it makes carry.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from contextvars import ContextVar
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

PRINCIPAL_KEY = "principal"
ORIGIN_IP_KEY = "origin_ip"
PURPOSE_KEY = "purpose"


class Role(StrEnum):
    patient = "patient"
    consultant = "consultant"  # 网络咨询: answers chats, takes the history, books
    doctor = "doctor"
    pharmacist = "pharmacist"
    team_lead = "team_lead"
    lab = "lab"  # 检验科: a laboratory's staff, or its system (LIS) signed in as a staff account; records results
    finance = "finance"  # 收费/财务: the cashier's desk and finance staff; read invoices, record desk payments
    manager = "manager"
    admin = "admin"
    visitor = "visitor"  # an anonymous visitor of the chat: a token for their own consultations and nothing else


STAFF_ROLES = frozenset(Role) - {Role.patient, Role.visitor}
LICENSED_ROLES = frozenset({Role.doctor, Role.pharmacist})  # carry licence number, title and department


class PurposeOfUse(StrEnum):
    """HL7 v3 PurposeOfUse codes (FHIR AuditEvent.purposeOfEvent)."""

    TREAT = "TREAT"  # treatment
    ETREAT = "ETREAT"  # emergency treatment
    HOPERAT = "HOPERAT"  # healthcare operations (desk, scheduling, management)
    HPAYMT = "HPAYMT"  # payment
    PATRQT = "PATRQT"  # requested by the patient (or their representative)
    HSYSADMIN = "HSYSADMIN"  # system administration


DEFAULT_PURPOSE = {
    Role.patient: PurposeOfUse.PATRQT,
    Role.consultant: PurposeOfUse.HOPERAT,
    Role.doctor: PurposeOfUse.TREAT,
    Role.pharmacist: PurposeOfUse.TREAT,
    Role.team_lead: PurposeOfUse.HOPERAT,
    Role.lab: PurposeOfUse.TREAT,
    Role.finance: PurposeOfUse.HPAYMT,
    Role.manager: PurposeOfUse.HOPERAT,
    Role.admin: PurposeOfUse.HSYSADMIN,
    Role.visitor: PurposeOfUse.PATRQT,
}
# what each role may state instead of its default (X-Purpose-Of-Use)
ALLOWED_PURPOSES = {
    Role.patient: {PurposeOfUse.PATRQT},
    Role.consultant: {PurposeOfUse.HOPERAT, PurposeOfUse.TREAT},
    Role.doctor: {PurposeOfUse.TREAT, PurposeOfUse.ETREAT},
    Role.pharmacist: {PurposeOfUse.TREAT, PurposeOfUse.HPAYMT},
    Role.team_lead: {PurposeOfUse.HOPERAT, PurposeOfUse.TREAT},
    Role.lab: {PurposeOfUse.TREAT},
    Role.finance: {PurposeOfUse.HPAYMT, PurposeOfUse.HOPERAT},
    Role.manager: {PurposeOfUse.HOPERAT},
    Role.admin: {PurposeOfUse.HSYSADMIN},
    Role.visitor: {PurposeOfUse.PATRQT},
}


class Principal(BaseModel):
    """A verified caller: a person with a role, a service acting on an event, or nobody."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["user", "service", "anonymous"]
    sub: str = ""  # account id (acc_…) or service name
    role: Role | None = None
    sid: str | None = None  # the session the access token belongs to
    patients: tuple[str, ...] = ()  # patients this account may act for: its own record and linked relatives
    department: str | None = None  # staff

    # constructors ---------------------------------------------------------
    @classmethod
    def user(cls, sub: str, role: Role, **claims) -> Principal:
        return cls(kind="user", sub=sub, role=role, **claims)

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls(kind="service", sub=name)

    # questions --------------------------------------------------------------
    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_staff(self) -> bool:
        return self.kind == "user" and self.role in STAFF_ROLES

    def has_role(self, *roles: Role) -> bool:
        return self.kind == "user" and self.role in roles

    def is_service(self, *names: str) -> bool:
        return self.kind == "service" and (not names or self.sub in names)

    def acts_for(self, patient_id: str, links: Collection[str] | None = None) -> bool:
        """A patient account acts for its own record and linked relatives'. The token lists them (``pat``);
        the service that owns the links (intake) passes its own, fresher ``links`` instead."""
        return self.has_role(Role.patient) and patient_id in (self.patients if links is None else links)

    @property
    def default_purpose(self) -> PurposeOfUse:
        if self.kind == "user" and self.role:
            return DEFAULT_PURPOSE[self.role]
        return PurposeOfUse.HOPERAT

    def label(self) -> str:
        """For logs and audit: never a name, only the kind, role and opaque id."""
        if self.kind == "user":
            return f"{self.role}:{self.sub}"
        return f"{self.kind}:{self.sub}" if self.sub else self.kind

    # travel -----------------------------------------------------------------
    def to_context(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_context(cls, value) -> Principal:
        """The principal in context data; anything missing or malformed is anonymous."""
        if not value:
            return ANONYMOUS
        try:
            data = json.loads(value) if isinstance(value, (str, bytes)) else value
            return cls.model_validate(data)
        except (ValueError, ValidationError, TypeError):
            return ANONYMOUS


ANONYMOUS = Principal(kind="anonymous")


class Caller(BaseModel):
    """The principal plus what an audit record needs about the request."""

    model_config = ConfigDict(frozen=True)

    principal: Principal = ANONYMOUS
    purpose: PurposeOfUse = PurposeOfUse.HOPERAT
    origin_ip: str | None = None
    request_id: str | None = None

    @classmethod
    def from_context_data(cls, data: dict) -> Caller:
        principal = Principal.from_context(data.get(PRINCIPAL_KEY))
        try:
            purpose = PurposeOfUse(data.get(PURPOSE_KEY) or principal.default_purpose)
        except ValueError:
            purpose = principal.default_purpose
        return cls(principal=principal, purpose=purpose, origin_ip=data.get(ORIGIN_IP_KEY),
                   request_id=data.get("request_id"))

    @classmethod
    def service(cls, name: str, request_id: str | None = None) -> Caller:
        return cls(principal=Principal.service(name), request_id=request_id)

    def signed_in_as(self, account_id: str, role: Role) -> Caller:
        """The same request, from the moment it proved to be this account (sign-up, sign-in)."""
        return self.model_copy(update={"principal": Principal.user(account_id, role)})


_NOBODY = Caller()
_current: ContextVar[Caller | None] = ContextVar("caller", default=None)


def bind_caller(caller: Caller | None) -> None:
    _current.set(caller)


def current_caller() -> Caller:
    return _current.get() or _NOBODY
