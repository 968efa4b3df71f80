"""identity's Nameko entrypoints: thin adapters over ``domain``."""
from __future__ import annotations

import logging
from functools import lru_cache

from contracts.identity.schemas import (
    Activation,
    Login,
    MfaVerify,
    OtpRequest,
    PasswordReset,
    PatientSignup,
    PrivacyNotice,
    RefreshRequest,
    StaffCreate,
    StaffUpdate,
)
from contracts.intake.events import PatientLinkCreated, PatientLinkRemoved
from services.identity import consent, domain
from services.identity.passwords import Passwords
from wenzhen import ratelimit
from wenzhen.config import settings
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.errors import validated
from wenzhen.events import Envelope
from wenzhen.service import ServiceBase, ServiceRpc, call, rpc
from wenzhen.storage import Tx
from wenzhen.timez import parse_iso
from wenzhen.tokens import Signer

log = logging.getLogger("identity")


@lru_cache(maxsize=1)
def _signer() -> Signer:
    return Signer.from_env()


@lru_cache(maxsize=1)
def _passwords() -> Passwords:
    import eventlet.tpool

    cfg = settings()
    # Argon2id is CPU and memory bound: run it in a real thread so the service's other workers keep going
    return Passwords(cfg.argon2_time_cost, cfg.argon2_memory_kib, cfg.argon2_parallelism,
                     offload=eventlet.tpool.execute)


def _dump(value):
    return None if value is None else value.model_dump(mode="json")


class IdentityService(ServiceBase):
    name = "identity"
    indexes = domain.INDEXES
    startup_checks = (lambda: _signer(), lambda: _passwords(),
                      lambda: ratelimit.scaled(domain.OTP_PER_ORIGIN_HOUR, settings().rate_limit_origin_factor))

    intake = ServiceRpc("intake")

    @property
    def identity(self) -> domain.Identity:
        return domain.Identity(self.store, keyring(), _signer(), settings(), _passwords(),
                               linked_patients=self._linked_patients)

    def _linked_patients(self, account_id: str) -> list[str] | None:
        try:
            return call(self.intake.linked_patient_ids, account_id, timeout=2)
        except Exception as exc:  # noqa: BLE001 - sign-in goes on with the copy kept from intake's events
            log.warning("intake did not list linked patients (%s); using the kept copy", type(exc).__name__)
            return None

    # patients signing up ----------------------------------------------------------------------------
    @rpc
    def request_otp(self, request: dict) -> dict:
        return _dump(domain.request_otp(self.identity, self.caller, validated(OtpRequest, request)))

    @rpc
    def signup(self, request: dict) -> dict:
        return _dump(domain.signup(self.identity, self.caller, validated(PatientSignup, request)))

    @rpc
    def reset_password(self, request: dict) -> None:
        domain.reset_password(self.identity, self.caller, validated(PasswordReset, request))

    @rpc
    def privacy_notice(self) -> dict:
        return PrivacyNotice(documents=[{"document": name, **doc} for name, doc in consent.DOCUMENTS.items()]
                             ).model_dump(mode="json")

    # signing in ---------------------------------------------------------------------------------------
    @rpc
    def open_visitor_session(self) -> dict:
        return domain.open_visitor_session(self.identity, self.caller).model_dump(mode="json")

    @rpc
    def login(self, request: dict) -> dict:
        return _dump(domain.login(self.identity, self.caller, validated(Login, request)))

    @rpc
    def verify_mfa(self, request: dict) -> dict:
        return _dump(domain.verify_mfa(self.identity, self.caller, validated(MfaVerify, request)))

    @rpc
    def refresh(self, request: dict) -> dict:
        return _dump(domain.refresh(self.identity, self.caller, validated(RefreshRequest, request).refresh_token))

    @rpc
    def logout(self) -> None:
        domain.logout(self.identity, self.caller)

    @rpc
    def revoked_sessions(self, since: str) -> list[dict]:
        return domain.revoked_sessions(self.identity, parse_iso(since))

    # the signed-in account ----------------------------------------------------------------------------
    @rpc
    def me(self) -> dict:
        return _dump(domain.me(self.identity, self.caller))

    @rpc
    def withdraw_consent(self, document: str) -> None:
        domain.withdraw_consent(self.identity, self.caller, document)

    # staff ---------------------------------------------------------------------------------------------
    @rpc
    def bootstrap_admin(self, username: str, name: str) -> dict:
        return _dump(domain.bootstrap_admin(self.identity, self.caller, username, name))

    @rpc
    def create_staff(self, request: dict) -> dict:
        return _dump(domain.create_staff(self.identity, self.caller, validated(StaffCreate, request)))

    @rpc
    def activate(self, request: dict) -> dict:
        return _dump(domain.activate(self.identity, self.caller, validated(Activation, request)))

    @rpc
    def list_staff(self, role: str | None = None) -> list[dict]:
        return [_dump(s) for s in domain.list_staff(self.identity, self.caller, role)]

    @rpc
    def get_staff(self, account_id: str) -> dict:
        return _dump(domain.get_staff(self.identity, self.caller, account_id))

    @rpc
    def update_staff(self, account_id: str, change: dict) -> dict:
        return _dump(domain.update_staff(self.identity, self.caller, account_id, validated(StaffUpdate, change)))

    @rpc
    def reset_activation(self, account_id: str) -> dict:
        return _dump(domain.reset_activation(self.identity, self.caller, account_id))

    @rpc
    def staff_directory(self, account_ids: list[str]) -> dict:
        return domain.staff_directory(self.identity, self.caller, account_ids)

    # for other services ---------------------------------------------------------------------------------
    @rpc
    def deliver_otp(self, otp_id: str) -> dict:
        return domain.deliver_otp(self.identity, self.caller, otp_id)

    @consumes(PatientLinkCreated)
    def on_patient_link_created(self, tx: Tx, event: PatientLinkCreated, envelope: Envelope) -> None:
        domain.link_patient(tx, event.account_id, event.patient_id)

    @consumes(PatientLinkRemoved)
    def on_patient_link_removed(self, tx: Tx, event: PatientLinkRemoved, envelope: Envelope) -> None:
        domain.unlink_patient(tx, event.account_id, event.patient_id)
