"""Every MongoDB query of the catalogue. Codes are ``_id``s (unique by the database); a doctor's shown name is
encrypted here, on the way in, and decrypted on the way out."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from contracts.booking.schemas import Department, Doctor, DoctorInput, Room, ServiceCode, ServiceSettings
from services.booking.catalogue.rules import Bookable, StaffAccount, service_settings
from wenzhen.errors import Conflict, field_error
from wenzhen.storage import CapabilityStore, Index, Tx, update_and_read

DEPARTMENTS = "departments"
DOCTORS = "doctors"
SERVICES = "services"
ROOMS = "rooms"
STAFF = "staff_accounts"  # booking's copy of identity's staff accounts: id, role, department, status

INDEXES = [
    Index(DOCTORS, [("department", ASCENDING), ("active", ASCENDING)], name="by_department"),
]


def _taken(field: str, detail: str) -> Conflict:
    return Conflict(detail, [field_error(field, "is taken", "duplicate")])


class CatalogueStore(CapabilityStore):
    # departments -----------------------------------------------------------------------------------------------
    def insert_department(self, tx: Tx, department: Department, now: datetime) -> None:
        try:
            tx[DEPARTMENTS].insert_one({"_id": department.code, **department.model_dump(exclude={"code"}),
                                        "created_at": now})
        except DuplicateKeyError:
            raise _taken("code", f"Department {department.code} exists already.") from None

    def update_department(self, tx: Tx, code: str, values: dict) -> Department | None:
        doc = update_and_read(tx[DEPARTMENTS], {"_id": code}, {"$set": values})
        return _department(doc) if doc else None

    def departments(self) -> list[Department]:
        return [_department(d) for d in self.db[DEPARTMENTS].find({"active": True}).sort("_id", ASCENDING)]

    def department_exists(self, code: str, tx: Tx | None = None) -> bool:
        return self._on(tx)[DEPARTMENTS].find_one({"_id": code, "active": True}, {"_id": 1}) is not None

    # services ----------------------------------------------------------------------------------------------------
    def service(self, code: ServiceCode | str, tx: Tx | None = None) -> ServiceSettings:
        return service_settings(code, self._on(tx)[SERVICES].find_one({"_id": ServiceCode(code).value}) or {})

    def services(self, tx: Tx | None = None) -> dict[ServiceCode, ServiceSettings]:
        stored = {d["_id"]: d for d in self._on(tx)[SERVICES].find({})}
        return {code: service_settings(code, stored.get(code.value, {})) for code in ServiceCode}

    def change_service(self, tx: Tx, code: ServiceCode, values: dict, now: datetime) -> None:
        tx[SERVICES].update_one({"_id": code.value}, {"$set": {**values, "updated_at": now}}, upsert=True)

    # rooms -------------------------------------------------------------------------------------------------------
    def insert_room(self, tx: Tx, room: Room, now: datetime) -> None:
        try:
            tx[ROOMS].insert_one({"_id": room.code, "name": room.name, "department": room.department,
                                  "created_at": now})
        except DuplicateKeyError:
            raise _taken("code", f"Room {room.code} exists already.") from None

    def rooms(self) -> list[Room]:
        return [Room(code=d["_id"], name=d["name"], department=d.get("department"))
                for d in self.db[ROOMS].find({}).sort("_id", ASCENDING)]

    def room_exists(self, code: str, tx: Tx | None = None) -> bool:
        return self._on(tx)[ROOMS].find_one({"_id": code}, {"_id": 1}) is not None

    # staff accounts (identity's events) ----------------------------------------------------------------------------
    def staff_account(self, account_id: str, tx: Tx | None = None) -> StaffAccount | None:
        doc = self._on(tx)[STAFF].find_one({"_id": account_id})
        if doc is None:
            return None
        return StaffAccount(id=doc["_id"], role=doc.get("role"), department=doc.get("department"),
                            status=doc.get("status", "pending_activation"), sequence=doc.get("sequence"))

    def save_staff_account(self, tx: Tx, account_id: str, role: str, department: str | None, status: str | None,
                           sequence: int | None, now: datetime) -> None:
        """``status`` None: a new account (it awaits activation unless a later event said otherwise)."""
        values = {"role": role, "department": department, "sequence": sequence, "seen_at": now}
        update: dict = {"$set": values}
        if status is None:
            update["$setOnInsert"] = {"status": "pending_activation"}
        else:
            values["status"] = status
        tx[STAFF].update_one({"_id": account_id}, update, upsert=True)

    # doctors -----------------------------------------------------------------------------------------------------
    def insert_doctor(self, tx: Tx, doctor: DoctorInput, now: datetime) -> Doctor:
        doc = {"_id": doctor.doctor_id, **doctor.model_dump(mode="json", exclude={"doctor_id", "display_name"}),
               "display_name": self._sealed_name(doctor.doctor_id, doctor.display_name), "created_at": now}
        try:
            tx[DOCTORS].insert_one(doc)
        except DuplicateKeyError:
            raise Conflict("This doctor has a profile already; change it instead.",
                           [field_error("doctor_id", "has a profile", "duplicate")]) from None
        return self._doctor(doc)

    def update_doctor(self, tx: Tx, doctor_id: str, values: dict) -> Doctor | None:
        if "display_name" in values:
            values = {**values, "display_name": self._sealed_name(doctor_id, values["display_name"])}
        doc = update_and_read(tx[DOCTORS], {"_id": doctor_id}, {"$set": values})
        return self._doctor(doc) if doc else None

    def doctor(self, doctor_id: str, tx: Tx | None = None) -> Doctor | None:
        """The profile, active or not."""
        doc = self._on(tx)[DOCTORS].find_one({"_id": doctor_id})
        return self._doctor(doc) if doc else None

    def bookable(self, doctor_id: str, tx: Tx | None = None) -> Bookable | None:
        """The profile as the other capabilities book it (active or not)."""
        doc = self._on(tx)[DOCTORS].find_one({"_id": doctor_id},
                                             {"department": 1, "services": 1, "active": 1, "fee_fen": 1})
        if doc is None:
            return None
        return Bookable(id=doc["_id"], department=doc["department"], services=tuple(doc["services"]),
                        active=doc["active"], fee_fen=doc["fee_fen"])

    def doctors(self, department: str | None = None) -> list[Doctor]:
        query: dict = {"active": True, **({"department": department} if department else {})}
        return [self._doctor(d) for d in self.db[DOCTORS].find(query).sort("_id", ASCENDING)]

    def _sealed_name(self, doctor_id: str, name: str) -> str:
        return self.keys.encrypt(name, field="display_name", record=doctor_id)

    def _doctor(self, doc: dict) -> Doctor:
        return Doctor(id=doc["_id"], department=doc["department"], title=doc["title"], expertise=doc["expertise"],
                      display_name=self.keys.decrypt(doc["display_name"], field="display_name", record=doc["_id"]),
                      fee_level=doc["fee_level"], fee_fen=doc["fee_fen"], licence_number=doc["licence_number"],
                      profile=doc["profile"], services=doc["services"], active=doc["active"])


def _department(doc: dict) -> Department:
    return Department(code=doc["_id"], name_zh=doc["name_zh"], name_en=doc["name_en"], active=doc["active"])
