"""The catalogue's store, in memory: the same named methods as ``CatalogueStore`` over dicts."""
from __future__ import annotations

from datetime import datetime

from contracts.booking.schemas import Department, Doctor, DoctorInput, Room, ServiceCode, ServiceSettings
from services.booking.catalogue.rules import StaffAccount, service_settings
from tests.fakes import FakeCapabilityStore
from wenzhen.errors import Conflict, field_error


class FakeCatalogueStore(FakeCapabilityStore):
    def __init__(self) -> None:
        super().__init__()
        self.departments_: dict[str, Department] = {}
        self.service_overrides: dict[str, dict] = {}
        self.rooms_: dict[str, Room] = {}
        self.staff: dict[str, StaffAccount] = {}
        self.doctors_: dict[str, Doctor] = {}

    def insert_department(self, tx, department: Department, now: datetime) -> None:
        if department.code in self.departments_:
            raise Conflict(f"Department {department.code} exists already.", [field_error("code", "is taken")])
        self.departments_[department.code] = department

    def update_department(self, tx, code: str, values: dict) -> Department | None:
        if code not in self.departments_:
            return None
        self.departments_[code] = self.departments_[code].model_copy(update=values)
        return self.departments_[code]

    def departments(self) -> list[Department]:
        return sorted((d for d in self.departments_.values() if d.active), key=lambda d: d.code)

    def department_exists(self, code: str, tx=None) -> bool:
        return code in self.departments_ and self.departments_[code].active

    def service(self, code, tx=None) -> ServiceSettings:
        return service_settings(code, self.service_overrides.get(ServiceCode(code).value, {}))

    def services(self, tx=None) -> dict:
        return {code: self.service(code) for code in ServiceCode}

    def change_service(self, tx, code: ServiceCode, values: dict, now: datetime) -> None:
        self.service_overrides[code.value] = {**self.service_overrides.get(code.value, {}), **values}

    def insert_room(self, tx, room: Room, now: datetime) -> None:
        if room.code in self.rooms_:
            raise Conflict(f"Room {room.code} exists already.", [field_error("code", "is taken")])
        self.rooms_[room.code] = room

    def rooms(self) -> list[Room]:
        return sorted(self.rooms_.values(), key=lambda r: r.code)

    def room_exists(self, code: str, tx=None) -> bool:
        return code in self.rooms_

    def staff_account(self, account_id: str, tx=None) -> StaffAccount | None:
        return self.staff.get(account_id)

    def save_staff_account(self, tx, account_id, role, department, status, sequence, now) -> None:
        known = self.staff.get(account_id)
        kept = status if status is not None else (known.status if known else "pending_activation")
        self.staff[account_id] = StaffAccount(account_id, role, department, kept, sequence)

    def insert_doctor(self, tx, doctor: DoctorInput, now: datetime) -> Doctor:
        if doctor.doctor_id in self.doctors_:
            raise Conflict("This doctor has a profile already.", [field_error("doctor_id", "has a profile")])
        self.doctors_[doctor.doctor_id] = Doctor(id=doctor.doctor_id, **doctor.model_dump(exclude={"doctor_id"}))
        return self.doctors_[doctor.doctor_id]

    def update_doctor(self, tx, doctor_id: str, values: dict) -> Doctor | None:
        if doctor_id not in self.doctors_:
            return None
        self.doctors_[doctor_id] = self.doctors_[doctor_id].model_copy(update=values)
        return self.doctors_[doctor_id]

    def doctor(self, doctor_id: str, tx=None) -> Doctor | None:
        return self.doctors_.get(doctor_id)

    def doctors(self, department: str | None = None) -> list[Doctor]:
        return sorted((d for d in self.doctors_.values() if d.active and department in (None, d.department)),
                      key=lambda d: d.id)
