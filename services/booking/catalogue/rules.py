"""The catalogue's decisions, pure: who maintains it, the services' defaults, which staff event is newer, what a
doctor's profile may be made for."""
from __future__ import annotations

from dataclasses import dataclass

from contracts.booking.schemas import ServiceCode, ServiceSettings
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, InvalidInput, NotFound, field_error

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
CHANGEABLE = ("slot_minutes", "prepayment")  # what managers may change of a service


@dataclass(frozen=True)
class StaffAccount:
    """booking's copy of one of identity's staff accounts."""

    id: str
    role: str
    department: str | None
    status: str
    sequence: int | None = None


@dataclass(frozen=True)
class Bookable:
    """What booking's other capabilities need of a doctor's profile (not the shown name)."""

    id: str
    department: str
    services: tuple[str, ...]
    active: bool
    fee_fen: int


def require_manager(principal: Principal) -> None:
    if not principal.has_role(Role.manager):
        raise Forbidden("Only managers maintain the booking catalogue and schedules.")


def require_changes(values: dict) -> dict:
    if not values:
        raise InvalidInput("Nothing to change.", [field_error("body", "name at least one field", "empty")])
    return values


def service(code: ServiceCode | str) -> ServiceCode:
    try:
        return ServiceCode(code)
    except ValueError:
        raise NotFound(f"No service {code}; the services are {', '.join(ServiceCode)}.") from None


def service_settings(code: ServiceCode | str, overrides: dict) -> ServiceSettings:
    """A service as booked: its defaults with what managers changed."""
    code = ServiceCode(code)
    return ServiceSettings(code=code, **{**DEFAULT_SERVICES[code],
                                         **{k: v for k, v in overrides.items() if k in CHANGEABLE}})


def is_newer(known: StaffAccount | None, sequence: int | None) -> bool:
    """Events about one account may arrive out of order (two queues): an older one (by its per-account sequence)
    never overwrites a newer one."""
    return known is None or sequence is None or (known.sequence or 0) < sequence


def require_doctor_account(account: StaffAccount | None) -> None:
    if account is None or account.role != Role.doctor.value or account.status == "disabled":
        raise InvalidInput("That is not a doctor's staff account (a new account reaches booking within seconds).",
                           [field_error("doctor_id", "is not a doctor account known to booking", "unknown")])


def department_error() -> InvalidInput:
    return InvalidInput("No such department.", [field_error("department", "is not an active department")])
