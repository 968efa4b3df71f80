"""The schedules' Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

from contracts.booking.schemas import DoctorSlotQuery, Schedule, ScheduleTemplate, Slot, SlotSearch
from services.booking.schedules import usecases
from services.booking.schedules.store import ScheduleStore
from wenzhen.crypto import keyring
from wenzhen.service import rpc
from wenzhen.timez import utcnow


class ScheduleEntrypoints:
    @property
    def schedules(self) -> ScheduleStore:
        return ScheduleStore(self.store, keyring())

    @rpc
    def get_schedule(self, doctor_id: str) -> Schedule:
        return usecases.get_schedule(self.schedules, self.caller, doctor_id)

    @rpc
    def put_schedule(self, doctor_id: str, template: ScheduleTemplate) -> Schedule:
        return usecases.put_schedule(self.schedules, self.caller, doctor_id, template,
                                     self.settings.policy.horizon_days, utcnow())

    @rpc
    def search_slots(self, query: SlotSearch) -> list[Slot]:
        return usecases.search_slots(self.schedules, now=utcnow(), horizon_days=self.settings.policy.horizon_days,
                                     doctor_id=query.doctor_id, department=query.department, service=query.service,
                                     day_from=getattr(query, "from"), day_to=query.to, limit=query.limit)

    @rpc
    def doctor_slots(self, doctor_id: str, query: DoctorSlotQuery) -> list[Slot]:
        return usecases.doctor_slots(self.schedules, doctor_id, now=utcnow(),
                                     horizon_days=self.settings.policy.horizon_days, service=query.service,
                                     day_from=getattr(query, "from"), day_to=query.to, limit=query.limit)
