"""Who orders, records, reads and releases results, and what an abnormal flag is (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.records.results import (
    Category,
    Flag,
    ObservationInput,
    ObservationView,
    OrderStatus,
    Range,
    ResultStatus,
)
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error

ORDER = "ServiceRequest"
RESULT = "DiagnosticReport"


@dataclass(frozen=True)
class OrderRecord:
    id: str
    encounter_id: str
    patient_id: str
    doctor_id: str
    category: Category
    tests: tuple[str, ...]
    note: str | None
    status: OrderStatus
    ordered_at: datetime


@dataclass(frozen=True)
class ResultRecord:
    id: str
    order_id: str
    encounter_id: str
    patient_id: str
    doctor_id: str  # the ordering doctor
    category: Category
    status: ResultStatus
    conclusion: str | None
    observations: tuple[ObservationView, ...]
    issued: datetime
    recorded_by: str
    source: str  # staff or lab
    identifier: str | None = None  # the laboratory's own id of the report (a re-sent Bundle is recognised by it)
    released_at: datetime | None = None
    version: int = 1

    @property
    def abnormal(self) -> int:
        return sum(1 for o in self.observations if o.flag not in (None, Flag.normal))


def flag_of(value: float | None, reference: Range | None, reported: Flag | None) -> Flag | None:
    """The flag as reported; else from the numeric reference range (below: L, above: H, inside: N)."""
    if reported is not None or value is None or reference is None:
        return reported
    if reference.low is not None and value < reference.low:
        return Flag.low
    if reference.high is not None and value > reference.high:
        return Flag.high
    if reference.low is None and reference.high is None:
        return None
    return Flag.normal


def observation(observation_id: str, given: ObservationInput) -> ObservationView:
    return ObservationView(id=observation_id, code=given.code, name=given.name, value=given.value, unit=given.unit,
                           text=given.text, reference_range=given.reference_range,
                           flag=flag_of(given.value, given.reference_range, given.flag))


def require_orderer(principal: Principal, encounter, encounter_id: str) -> None:
    """The encounter's own doctor, while it is open."""
    if not principal.has_role(Role.doctor):
        raise Forbidden("Only a doctor orders examinations.")
    if encounter is None or encounter.doctor_id != principal.sub:
        raise NotFound(f"No encounter {encounter_id} of this doctor.",
                       [field_error("encounter_id", "is not an encounter of this doctor", "not_found")])
    if encounter.status.value != "open":
        raise Conflict(f"Encounter {encounter_id} is closed: examinations are ordered in an open encounter.")


def may_record(principal: Principal, order: OrderRecord, cares: bool) -> bool:
    """A laboratory account, or a doctor who ordered it or cares for the patient."""
    return principal.has_role(Role.lab) or (principal.has_role(Role.doctor) and (principal.sub == order.doctor_id
                                                                                  or cares))


def result_exists(order_id: str) -> Conflict:
    return Conflict(f"Order {order_id} has its result already.",
                    [field_error("order_id", "has a result already", "state")])


def require_open_order(order: OrderRecord) -> None:
    if order.status != OrderStatus.active:
        raise result_exists(order.id)


def require_patient(order: OrderRecord, patient_id: str | None) -> None:
    """A result names its order's patient (a laboratory's Bundle names it in ``subject``)."""
    if patient_id != order.patient_id:
        raise InvalidInput("The result's patient is not the order's patient.",
                           [field_error("subject", "is not the patient of the order", "mismatch")])


def sees_result(principal: Principal, result: ResultRecord, cares: bool) -> bool:
    """The patient once it is released; the ordering doctor and a doctor caring for the patient; the laboratory
    account that recorded it."""
    if principal.acts_for(result.patient_id):
        return result.status == ResultStatus.released
    if principal.has_role(Role.doctor):
        return principal.sub == result.doctor_id or cares
    return principal.has_role(Role.lab) and principal.sub == result.recorded_by


def sees_order(principal: Principal, order: OrderRecord, cares: bool) -> bool:
    if principal.acts_for(order.patient_id):
        return True
    if principal.has_role(Role.doctor):
        return principal.sub == order.doctor_id or cares
    return principal.has_role(Role.lab) and order.status == OrderStatus.active  # the laboratory's work list


def require_releaser(principal: Principal, result: ResultRecord, cares: bool) -> None:
    if not (principal.has_role(Role.doctor) and (principal.sub == result.doctor_id or cares)):
        raise Forbidden("The ordering doctor, or a doctor caring for the patient, releases a result.")
    if result.status != ResultStatus.final:
        raise Conflict(f"Result {result.id} is released already.", [field_error("status", "is released", "state")])


def not_found(kind: str, record_id: str) -> NotFound:
    return NotFound(f"No {kind} {record_id}, or not one the caller may see.")
