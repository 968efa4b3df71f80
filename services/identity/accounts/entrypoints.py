"""Accounts' Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

from contracts.identity.schemas import (
    Account,
    OtpAccepted,
    OtpDelivery,
    OtpRequest,
    PasswordReset,
    PatientSignup,
    PrivacyNotice,
    Tokens,
)
from contracts.intake.events import PatientLinkCreated, PatientLinkRemoved
from services.identity.accounts import usecases
from services.identity.accounts.store import AccountStore
from services.identity.sessions.entrypoints import SigningIn
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.storage import Tx
from wenzhen.timez import utcnow


class AccountEntrypoints(SigningIn):
    @property
    def account_store(self) -> AccountStore:
        return AccountStore(self.store, keyring())

    # patients signing up -----------------------------------------------------------------------------------------
    @rpc
    def request_otp(self, request: OtpRequest) -> OtpAccepted:
        return usecases.request_otp(self.account_store, self.caller, request, self.policy, utcnow())

    @rpc
    def signup(self, request: PatientSignup) -> Tokens:
        return usecases.signup(self.account_store, self.session_store, self.caller, request, utcnow(),
                               issuer=self.issuer, passwords=self.passwords)

    @rpc
    def reset_password(self, request: PasswordReset) -> None:
        usecases.reset_password(self.account_store, self.session_store, self.caller, request, utcnow(),
                                policy=self.policy, passwords=self.passwords)

    @rpc
    def privacy_notice(self) -> PrivacyNotice:
        return usecases.privacy_notice()

    # the signed-in account ---------------------------------------------------------------------------------------
    @rpc
    def me(self) -> Account:
        return usecases.me(self.account_store, self.caller)

    @rpc
    def withdraw_consent(self, document: str) -> None:
        usecases.withdraw_consent(self.account_store, self.caller, document, utcnow())

    # for other services ------------------------------------------------------------------------------------------
    @rpc
    def deliver_otp(self, otp_id: str) -> OtpDelivery:
        return usecases.deliver_otp(self.account_store, self.caller, otp_id, utcnow())

    @consumes(PatientLinkCreated)
    def on_patient_link_created(self, tx: Tx, event: PatientLinkCreated, envelope: Envelope) -> None:
        usecases.link_patient(self.account_store, tx, event.account_id, event.patient_id)

    @consumes(PatientLinkRemoved)
    def on_patient_link_removed(self, tx: Tx, event: PatientLinkRemoved, envelope: Envelope) -> None:
        usecases.unlink_patient(self.account_store, tx, event.account_id, event.patient_id)
