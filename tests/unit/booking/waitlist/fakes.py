"""The waitlist's store, in memory: the same named methods as ``WaitlistStore``. Its entries live in the appointments'
fake (``places``), which the hand-off of a freed place reads and marks, and its transaction is that fake's: one
booking database, one all-or-nothing transaction, one record of what was emitted and audited."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from contracts.booking.schemas import WaitlistStatus
from services.booking.catalogue.rules import Bookable
from services.booking.waitlist.rules import Entry
from services.booking.waitlist.store import AlreadyWaiting
from tests.fakes import FakeCapabilityStore
from tests.unit.booking.appointments.fakes import FakeAppointmentStore


class FakeWaitlistStore(FakeCapabilityStore):
    def __init__(self, places: FakeAppointmentStore) -> None:  # no state of its own: see the module's docstring
        self.places = places

    emitted = property(lambda self: self.places.emitted)
    audited = property(lambda self: self.places.audited)

    def transact(self, body):
        return self.places.transact(body)

    def __getitem__(self, name):
        return self.places[name]

    @property
    def entries_(self) -> dict[str, Entry]:
        return self.places.entries

    def bookable(self, doctor_id: str) -> Bookable | None:
        return self.places.bookable(doctor_id)

    def insert_entry(self, tx, entry: Entry) -> None:
        if any(e.active and (e.patient_id, e.target) == (entry.patient_id, entry.target)
               for e in self.entries_.values()):
            raise AlreadyWaiting()
        self.entries_[entry.id] = entry

    def entry(self, entry_id: str, tx=None) -> Entry | None:
        return self.entries_.get(entry_id)

    def _end(self, entry_id: str, when, status: WaitlistStatus, now: datetime) -> Entry | None:
        found = self.entries_.get(entry_id)
        if found is None or not when(found):
            return None
        self.entries_[entry_id] = replace(found, status=status, active=False, ended_at=now)
        return self.entries_[entry_id]

    def leave(self, tx, entry_id: str, now: datetime) -> Entry | None:
        return self._end(entry_id, lambda e: e.status == WaitlistStatus.waiting, WaitlistStatus.left, now)

    def end_offered(self, tx, entry_id: str, outcome: WaitlistStatus, now: datetime) -> Entry | None:
        return self._end(entry_id, lambda e: e.status == WaitlistStatus.offered, outcome, now)

    def expire(self, tx, entry_id: str, now: datetime) -> Entry | None:
        return self._end(entry_id, lambda e: e.status == WaitlistStatus.waiting and e.until <= now,
                         WaitlistStatus.expired, now)

    def waiting_due(self, now: datetime, limit: int) -> list[str]:
        return [e.id for e in self.entries_.values() if e.status == WaitlistStatus.waiting and e.until <= now][:limit]

    def entries(self, scope, *, status=None, limit: int = 50) -> list[Entry]:
        found = [e for e in self.entries_.values()
                 if all(want is None or have == want for have, want in (
                     (e.patient_id, scope.patient_id), (e.doctor_id, scope.doctor_id), (e.joined_by, scope.made_by),
                     (e.status, status)))]
        return sorted(found, key=lambda e: (e.joined_at, e.id))[:limit]

    def waiting_for_day(self, entry: Entry) -> list[tuple[datetime, str]]:
        return [(e.joined_at, e.id) for e in self.entries_.values() if e.status == WaitlistStatus.waiting
                and (e.doctor_id, e.service, e.day) == (entry.doctor_id, entry.service, entry.day)]
