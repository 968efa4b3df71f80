"""Staff accounts' Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

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
from services.identity.sessions.entrypoints import SigningIn
from services.identity.staff import usecases
from services.identity.staff.store import StaffStore
from wenzhen.crypto import keyring
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class StaffEntrypoints(SigningIn):
    @property
    def staff_store(self) -> StaffStore:
        return StaffStore(self.store, keyring())

    @rpc
    def bootstrap_admin(self, username: str, name: str) -> StaffCreated:
        return usecases.bootstrap_admin(self.staff_store, self.caller, username, name, utcnow())

    @rpc
    def create_staff(self, request: StaffCreate) -> StaffCreated:
        return usecases.create_staff(self.staff_store, self.caller, request, utcnow())

    @rpc
    def activate(self, request: Activation) -> MfaChallenge:
        return usecases.activate(self.staff_store, self.session_store, self.caller, request, utcnow(),
                                 policy=self.policy, passwords=self.passwords)

    @rpc
    def list_staff(self, role: str | None = None) -> list[StaffAccount]:
        return usecases.list_staff(self.staff_store, self.caller, role)

    @rpc
    def get_staff(self, account_id: str) -> StaffAccount:
        return usecases.get_staff(self.staff_store, self.caller, account_id)

    @rpc
    def update_staff(self, account_id: str, change: StaffUpdate) -> StaffAccount:
        return usecases.update_staff(self.staff_store, self.session_store, self.caller, account_id, change, utcnow(),
                                     policy=self.policy)

    @rpc
    def reset_activation(self, account_id: str) -> StaffCreated:
        return usecases.reset_activation(self.staff_store, self.session_store, self.caller, account_id, utcnow(),
                                         policy=self.policy)

    @rpc
    def staff_directory(self, account_ids: list[str]) -> dict[str, StaffCard]:
        return usecases.staff_directory(self.staff_store, self.caller, account_ids)

    @rpc
    def prescriber(self, account_id: str) -> Prescriber:
        """For records, when a doctor signs a prescription: role, status, licence and start of independent
        practice."""
        return usecases.prescriber(self.staff_store, self.caller, account_id)
