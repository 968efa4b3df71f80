"""The catalogue's Nameko entrypoints: thin adapters over ``usecases``. A change of a service's slot length or of a
doctor's services or activity has the schedules follow (the generator re-cuts, or the doctor's slots at once)."""
from __future__ import annotations

from contracts.booking.schemas import (
    Department,
    DepartmentChange,
    DepartmentInput,
    Doctor,
    DoctorChange,
    DoctorInput,
    Room,
    RoomInput,
    ServiceChange,
    ServiceSettings,
)
from contracts.identity.events import StaffAccountChanged, StaffAccountCreated
from services.booking.catalogue import usecases
from services.booking.catalogue.store import CatalogueStore
from services.booking.schedules import usecases as schedules
from services.booking.schedules.store import ScheduleStore
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.storage import Tx
from wenzhen.timez import utcnow


class CatalogueEntrypoints:
    @property
    def catalogue(self) -> CatalogueStore:
        return CatalogueStore(self.store, keyring())

    @rpc
    def list_departments(self) -> list[Department]:
        return usecases.departments(self.catalogue)

    @rpc
    def create_department(self, department: DepartmentInput) -> Department:
        return usecases.create_department(self.catalogue, self.caller, department, utcnow())

    @rpc
    def change_department(self, code: str, change: DepartmentChange) -> Department:
        return usecases.change_department(self.catalogue, self.caller, code, change)

    @rpc
    def list_services(self) -> list[ServiceSettings]:
        return usecases.services(self.catalogue)

    @rpc
    def change_service(self, code: str, change: ServiceChange) -> ServiceSettings:
        result = usecases.change_service(self.catalogue, self.caller, code, change, utcnow())
        # new slot lengths: the generator re-cuts every schedule
        schedules.request_regeneration(ScheduleStore(self.store), utcnow())
        return result

    @rpc
    def list_rooms(self) -> list[Room]:
        return usecases.rooms(self.catalogue)

    @rpc
    def create_room(self, room: RoomInput) -> Room:
        return usecases.create_room(self.catalogue, self.caller, room, utcnow())

    @rpc
    def list_doctors(self, department: str | None = None) -> list[Doctor]:
        return usecases.doctors(self.catalogue, department)

    @rpc
    def get_doctor(self, doctor_id: str) -> Doctor:
        return usecases.doctor(self.catalogue, doctor_id)

    @rpc
    def create_doctor(self, doctor: DoctorInput) -> Doctor:
        return usecases.create_doctor(self.catalogue, self.caller, doctor, utcnow())

    @rpc
    def change_doctor(self, doctor_id: str, change: DoctorChange) -> Doctor:
        result = usecases.change_doctor(self.catalogue, self.caller, doctor_id, change)
        if change.active is not None or change.services is not None:  # slots opened or closed accordingly
            schedules.generate_slots(ScheduleStore(self.store, keyring()), doctor_id, self.settings.horizon_days,
                                     utcnow())
        return result

    # booking's copy of identity's staff accounts
    @consumes(StaffAccountCreated)
    def on_staff_account_created(self, tx: Tx, event: StaffAccountCreated, envelope: Envelope) -> None:
        usecases.record_staff(self.catalogue, tx, event.account_id, event.role, event.department, None,
                              envelope.sequence, utcnow())

    @consumes(StaffAccountChanged)
    def on_staff_account_changed(self, tx: Tx, event: StaffAccountChanged, envelope: Envelope) -> None:
        usecases.record_staff(self.catalogue, tx, event.account_id, event.role, event.department, event.status,
                              envelope.sequence, utcnow())
