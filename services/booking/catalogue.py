"""What can be booked: departments, services, rooms and doctors' public profiles.

Managers maintain the catalogue; anyone reads it (it is what a hospital publishes). A doctor's profile belongs to
a staff account that an admin created in identity: booking keeps a small copy of the staff accounts it hears of
(``staff_account_created`` / ``_changed`` events: id, role, department, status; no names) so that a profile can
only be made for a doctor account. The name shown to patients is entered with the profile and stored encrypted
like every person's name in Wenzhen.

Services are a fixed set (first visit, follow-up, online video visit, examination) with defaults in code; managers
change their slot length and whether they need prepayment.
"""
from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.booking.schemas import (
    Department,
    DepartmentChange,
    DepartmentInput,
    Doctor,
    DoctorChange,
    DoctorInput,
    Room,
    RoomInput,
    ServiceChange,
    ServiceCode,
    ServiceSettings,
)
from wenzhen import audit
from wenzhen.audit import CREATE, UPDATE
from wenzhen.auth import Caller, Role
from wenzhen.crypto import Keyring
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from wenzhen.storage import Index, Store, Tx
from wenzhen.timez import utcnow

DEPARTMENTS = "departments"
DOCTORS = "doctors"
SERVICES = "services"
ROOMS = "rooms"
STAFF = "staff_accounts"  # booking's copy of identity's staff accounts: id, role, department, status

INDEXES = [
    Index(DOCTORS, [("department", ASCENDING), ("active", ASCENDING)], name="by_department"),
]

DEFAULT_SERVICES: dict[ServiceCode, dict] = {
    ServiceCode.first_visit: {"name_zh": "初诊", "name_en": "First visit", "slot_minutes": 15, "prepayment": False,
                              "online": False},
    ServiceCode.follow_up: {"name_zh": "复诊", "name_en": "Follow-up visit", "slot_minutes": 10, "prepayment": False,
                            "online": False},
    ServiceCode.online_video: {"name_zh": "视频问诊", "name_en": "Online video visit", "slot_minutes": 15,
                               "prepayment": True, "online": True},
    ServiceCode.examination: {"name_zh": "检查", "name_en": "Examination", "slot_minutes": 20, "prepayment": False,
                              "online": False},
}


def require_manager(caller: Caller) -> None:
    if not caller.principal.has_role(Role.manager):
        raise Forbidden("Only managers maintain the booking catalogue and schedules.")


# departments ---------------------------------------------------------------------------------------------------------
def create_department(store: Store, caller: Caller, department: DepartmentInput) -> Department:
    require_manager(caller)
    doc = {"_id": department.code, **department.model_dump(exclude={"code"}), "created_at": utcnow()}

    def body(tx: Tx) -> None:
        tx[DEPARTMENTS].insert_one(doc)
        audit.record(tx, caller, CREATE, "create", "Department", department.code)

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict(f"Department {department.code} exists already.",
                       [field_error("code", "is taken", "duplicate")]) from None
    return to_department(doc)


def change_department(store: Store, caller: Caller, code: str, change: DepartmentChange) -> Department:
    require_manager(caller)
    values = change.model_dump(exclude_none=True)
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])

    def body(tx: Tx) -> dict:
        doc = tx[DEPARTMENTS].find_one_and_update({"_id": code}, {"$set": values},
                                                  return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"No department {code}.")
        audit.record(tx, caller, UPDATE, "update", "Department", code, detail=",".join(sorted(values)))
        return doc

    return to_department(store.transact(body))


def list_departments(store: Store) -> list[Department]:
    return [to_department(d) for d in store[DEPARTMENTS].find({"active": True}).sort("_id", ASCENDING)]


def department_exists(store: Store | Tx, code: str) -> bool:
    return store[DEPARTMENTS].find_one({"_id": code, "active": True}) is not None


def to_department(doc: dict) -> Department:
    return Department(code=doc["_id"], name_zh=doc["name_zh"], name_en=doc["name_en"], active=doc["active"])


# services ------------------------------------------------------------------------------------------------------------
def service_settings(store: Store | Tx, code: ServiceCode | str) -> ServiceSettings:
    code = ServiceCode(code)
    stored = store[SERVICES].find_one({"_id": code.value}) or {}
    values = {**DEFAULT_SERVICES[code], **{k: v for k, v in stored.items() if k in ("slot_minutes", "prepayment")}}
    return ServiceSettings(code=code, **values)


def all_services(store: Store | Tx) -> dict[ServiceCode, ServiceSettings]:
    return {code: service_settings(store, code) for code in ServiceCode}


def change_service(store: Store, caller: Caller, code: str, change: ServiceChange) -> ServiceSettings:
    require_manager(caller)
    try:
        service = ServiceCode(code)
    except ValueError:
        raise NotFound(f"No service {code}; the services are {', '.join(ServiceCode)}.") from None
    values = change.model_dump(exclude_none=True)
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])

    def body(tx: Tx) -> None:
        tx[SERVICES].update_one({"_id": service.value}, {"$set": {**values, "updated_at": utcnow()}}, upsert=True)
        audit.record(tx, caller, UPDATE, "update", "HealthcareService", service.value,
                     detail=",".join(sorted(values)))

    store.transact(body)
    return service_settings(store, service)


# rooms ---------------------------------------------------------------------------------------------------------------
def create_room(store: Store, caller: Caller, room: RoomInput) -> Room:
    require_manager(caller)
    if room.department is not None and not department_exists(store, room.department):
        raise InvalidInput("No such department.", [field_error("department", "is not an active department")])
    doc = {"_id": room.code, "name": room.name, "department": room.department, "created_at": utcnow()}

    def body(tx: Tx) -> None:
        tx[ROOMS].insert_one(doc)
        audit.record(tx, caller, CREATE, "create", "Location", room.code)

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict(f"Room {room.code} exists already.", [field_error("code", "is taken", "duplicate")]) from None
    return Room(code=room.code, name=room.name, department=room.department)


def list_rooms(store: Store) -> list[Room]:
    return [Room(code=d["_id"], name=d["name"], department=d.get("department"))
            for d in store[ROOMS].find({}).sort("_id", ASCENDING)]


def room_exists(store: Store | Tx, code: str) -> bool:
    return store[ROOMS].find_one({"_id": code}) is not None


# staff accounts (from identity's events) -----------------------------------------------------------------------------
def record_staff(tx: Tx, account_id: str, role: str, department: str | None, status: str | None,
                 sequence: int | None) -> None:
    """Keep the newest state of a staff account; events about one account may arrive out of order (two queues),
    so an older one (by its per-account sequence) never overwrites a newer one."""
    known = tx[STAFF].find_one({"_id": account_id})
    if known is not None and sequence is not None and (known.get("sequence") or 0) >= sequence:
        return
    values = {"role": role, "department": department, "sequence": sequence, "seen_at": utcnow()}
    update: dict = {"$set": values}
    if status is None:  # staff_account_created carries no status: a new account awaits activation
        update["$setOnInsert"] = {"status": "pending_activation"}
    else:
        values["status"] = status
    tx[STAFF].update_one({"_id": account_id}, update, upsert=True)


def _doctor_account(store: Store | Tx, doctor_id: str) -> None:
    account = store[STAFF].find_one({"_id": doctor_id})
    if account is None or account.get("role") != Role.doctor.value or account.get("status") == "disabled":
        raise InvalidInput("That is not a doctor's staff account (a new account reaches booking within seconds).",
                           [field_error("doctor_id", "is not a doctor account known to booking", "unknown")])


# doctors -------------------------------------------------------------------------------------------------------------
def create_doctor(store: Store, keys: Keyring, caller: Caller, doctor: DoctorInput) -> Doctor:
    require_manager(caller)
    _doctor_account(store, doctor.doctor_id)
    if not department_exists(store, doctor.department):
        raise InvalidInput("No such department.", [field_error("department", "is not an active department")])
    values = doctor.model_dump(mode="json", exclude={"doctor_id", "display_name"})
    doc = {"_id": doctor.doctor_id, **values,
           "display_name": keys.encrypt(doctor.display_name, field="display_name", record=doctor.doctor_id),
           "created_at": utcnow()}

    def body(tx: Tx) -> None:
        tx[DOCTORS].insert_one(doc)
        audit.record(tx, caller, CREATE, "create", "PractitionerRole", doctor.doctor_id)

    try:
        store.transact(body)
    except DuplicateKeyError:
        raise Conflict("This doctor has a profile already; change it instead.",
                       [field_error("doctor_id", "has a profile", "duplicate")]) from None
    return to_doctor(keys, doc)


def change_doctor(store: Store, keys: Keyring, caller: Caller, doctor_id: str, change: DoctorChange) -> Doctor:
    require_manager(caller)
    values = change.model_dump(mode="json", exclude_none=True)
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])
    if "department" in values and not department_exists(store, values["department"]):
        raise InvalidInput("No such department.", [field_error("department", "is not an active department")])
    if "display_name" in values:
        values["display_name"] = keys.encrypt(values["display_name"], field="display_name", record=doctor_id)

    def body(tx: Tx) -> dict:
        doc = tx[DOCTORS].find_one_and_update({"_id": doctor_id}, {"$set": values},
                                              return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"No doctor profile {doctor_id}.")
        audit.record(tx, caller, UPDATE, "update", "PractitionerRole", doctor_id, detail=",".join(sorted(values)))
        return doc

    return to_doctor(keys, store.transact(body))


def doctor_doc(store: Store | Tx, doctor_id: str) -> dict | None:
    return store[DOCTORS].find_one({"_id": doctor_id})


def get_doctor(store: Store, keys: Keyring, doctor_id: str) -> Doctor:
    doc = doctor_doc(store, doctor_id)
    if doc is None or not doc["active"]:
        raise NotFound(f"No doctor {doctor_id}.")
    return to_doctor(keys, doc)


def list_doctors(store: Store, keys: Keyring, department: str | None = None) -> list[Doctor]:
    query: dict = {"active": True}
    if department:
        query["department"] = department
    return [to_doctor(keys, d) for d in store[DOCTORS].find(query).sort("_id", ASCENDING)]


def to_doctor(keys: Keyring, doc: dict) -> Doctor:
    return Doctor(id=doc["_id"], display_name=keys.decrypt(doc["display_name"], field="display_name",
                                                           record=doc["_id"]),
                  department=doc["department"], title=doc["title"], expertise=doc["expertise"],
                  fee_level=doc["fee_level"], fee_fen=doc["fee_fen"], licence_number=doc["licence_number"],
                  profile=doc["profile"], services=doc["services"], active=doc["active"])
