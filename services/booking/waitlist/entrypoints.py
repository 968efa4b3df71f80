"""The waitlist's Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

from contracts.booking.schemas import Appointment, WaitlistEntry, WaitlistQuery, WaitlistRequest
from services.booking.waitlist import usecases
from services.booking.waitlist.store import WaitlistStore
from wenzhen.crypto import keyring
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class WaitlistEntrypoints:
    @property
    def waitlist(self) -> WaitlistStore:
        return WaitlistStore(self.store, keyring())

    @rpc
    def join_waitlist(self, request: WaitlistRequest) -> WaitlistEntry:
        return usecases.join(self.waitlist, self.caller, request, self.settings.policy, utcnow())

    @rpc
    def list_waitlist(self, query: WaitlistQuery) -> list[WaitlistEntry]:
        return usecases.list_entries(self.waitlist, self.caller, patient_id=query.patient_id,
                                     doctor_id=query.doctor_id, status=query.status.value if query.status else None,
                                     limit=query.limit)

    @rpc
    def get_waitlist_entry(self, entry_id: str) -> WaitlistEntry:
        return usecases.get_entry(self.waitlist, self.caller, entry_id)

    @rpc
    def leave_waitlist(self, entry_id: str) -> WaitlistEntry:
        return usecases.leave(self.waitlist, self.caller, entry_id, self.settings.policy, utcnow())

    @rpc
    def accept_offer(self, entry_id: str) -> Appointment:
        return usecases.accept(self.waitlist, self.caller, entry_id, self.settings.policy, utcnow())

    @rpc
    def decline_offer(self, entry_id: str) -> WaitlistEntry:
        return usecases.decline(self.waitlist, self.caller, entry_id, self.settings.policy, utcnow())
