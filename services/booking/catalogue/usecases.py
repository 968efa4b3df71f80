"""The catalogue's operations: authorize → store → audit (the catalogue publishes no events of its own)."""
from __future__ import annotations

from datetime import datetime

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
from services.booking.catalogue import rules
from services.booking.catalogue.store import CatalogueStore
from wenzhen import audit
from wenzhen.audit import CREATE, UPDATE
from wenzhen.auth import Caller
from wenzhen.errors import NotFound
from wenzhen.storage import Tx


# departments ---------------------------------------------------------------------------------------------------------
def create_department(store: CatalogueStore, caller: Caller, request: DepartmentInput, now: datetime) -> Department:
    rules.require_manager(caller.principal)
    department = Department(**request.model_dump())

    def body(tx: Tx) -> None:
        store.insert_department(tx, department, now)
        audit.record(tx, caller, CREATE, "create", "Department", department.code)

    store.transact(body)
    return department


def change_department(store: CatalogueStore, caller: Caller, code: str, change: DepartmentChange) -> Department:
    rules.require_manager(caller.principal)
    values = rules.require_changes(change.model_dump(exclude_none=True))

    def body(tx: Tx) -> Department:
        department = store.update_department(tx, code, values)
        if department is None:
            raise NotFound(f"No department {code}.")
        audit.record(tx, caller, UPDATE, "update", "Department", code, detail=",".join(sorted(values)))
        return department

    return store.transact(body)


def departments(store: CatalogueStore) -> list[Department]:
    return store.departments()


# services ------------------------------------------------------------------------------------------------------------
def services(store: CatalogueStore) -> list[ServiceSettings]:
    return list(store.services().values())


def change_service(store: CatalogueStore, caller: Caller, code: str, change: ServiceChange,
                   now: datetime) -> ServiceSettings:
    """A new slot length applies to slots generated from now on (the service asks the generator to re-cut)."""
    rules.require_manager(caller.principal)
    service = rules.service(code)
    values = rules.require_changes(change.model_dump(exclude_none=True))

    def body(tx: Tx) -> None:
        store.change_service(tx, service, values, now)
        audit.record(tx, caller, UPDATE, "update", "HealthcareService", service.value, detail=",".join(sorted(values)))

    store.transact(body)
    return store.service(service)


# rooms ---------------------------------------------------------------------------------------------------------------
def create_room(store: CatalogueStore, caller: Caller, request: RoomInput, now: datetime) -> Room:
    rules.require_manager(caller.principal)
    if request.department is not None and not store.department_exists(request.department):
        raise rules.department_error()
    room = Room(code=request.code, name=request.name, department=request.department)

    def body(tx: Tx) -> None:
        store.insert_room(tx, room, now)
        audit.record(tx, caller, CREATE, "create", "Location", room.code)

    store.transact(body)
    return room


def rooms(store: CatalogueStore) -> list[Room]:
    return store.rooms()


# doctors -------------------------------------------------------------------------------------------------------------
def create_doctor(store: CatalogueStore, caller: Caller, request: DoctorInput, now: datetime) -> Doctor:
    rules.require_manager(caller.principal)
    rules.require_doctor_account(store.staff_account(request.doctor_id))
    if not store.department_exists(request.department):
        raise rules.department_error()

    def body(tx: Tx) -> Doctor:
        doctor = store.insert_doctor(tx, request, now)
        audit.record(tx, caller, CREATE, "create", "PractitionerRole", request.doctor_id)
        return doctor

    return store.transact(body)


def change_doctor(store: CatalogueStore, caller: Caller, doctor_id: str, change: DoctorChange) -> Doctor:
    rules.require_manager(caller.principal)
    values = rules.require_changes(change.model_dump(mode="json", exclude_none=True))
    if "department" in values and not store.department_exists(values["department"]):
        raise rules.department_error()

    def body(tx: Tx) -> Doctor:
        doctor = store.update_doctor(tx, doctor_id, values)
        if doctor is None:
            raise NotFound(f"No doctor profile {doctor_id}.")
        audit.record(tx, caller, UPDATE, "update", "PractitionerRole", doctor_id, detail=",".join(sorted(values)))
        return doctor

    return store.transact(body)


def doctor(store: CatalogueStore, doctor_id: str) -> Doctor:
    """An active doctor's public profile (404 otherwise)."""
    found = store.doctor(doctor_id)
    if found is None or not found.active:
        raise NotFound(f"No doctor {doctor_id}.")
    return found


def doctors(store: CatalogueStore, department: str | None = None) -> list[Doctor]:
    return store.doctors(department)


# staff accounts (identity's events) ----------------------------------------------------------------------------------
def record_staff(store: CatalogueStore, tx: Tx, account_id: str, role: str, department: str | None,
                 status: str | None, sequence: int | None, now: datetime) -> None:
    """Keep the newest state of a staff account (``rules.is_newer``)."""
    if rules.is_newer(store.staff_account(account_id, tx), sequence):
        store.save_staff_account(tx, account_id, role, department, status, sequence, now)
