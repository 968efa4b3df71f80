"""Patient logs, pure: who writes and reads them, and each kind's unit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.records.results import GlucoseTiming, LogKind
from services.records import scope
from wenzhen.auth import Principal
from wenzhen.errors import Forbidden, InvalidInput, field_error

ENTITY = "Observation"
UNITS = {LogKind.blood_pressure: "mm[Hg]", LogKind.glucose: "mmol/L", LogKind.weight: "kg",
         LogKind.heart_rate: "/min", LogKind.temperature: "Cel", LogKind.symptom: None}
PLAUSIBLE = {LogKind.glucose: (0.5, 50.0), LogKind.weight: (0.5, 400.0), LogKind.heart_rate: (20.0, 250.0),
             LogKind.temperature: (30.0, 45.0)}
FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class LogRecord:
    id: str
    patient_id: str
    kind: LogKind
    measured_at: datetime
    recorded_at: datetime
    recorded_by: str
    systolic: int | None = None
    diastolic: int | None = None
    value: float | None = None
    timing: GlucoseTiming | None = None
    note: str | None = None


def require_writer(principal: Principal, patient_id: str) -> None:
    if not principal.acts_for(patient_id):
        raise Forbidden("A patient records measurements for a record they act for.")


def may_read(principal: Principal, patient_id: str, cares: bool) -> bool:
    """``services.records.scope``'s rule, for one named patient."""
    return scope.listing_refusal(principal, patient_id, lambda: cares, "logs") is None


def require_plausible(kind: LogKind, value: float | None, measured_at: datetime, now: datetime) -> None:
    """A value a body can have (a typo such as 65 kg entered as 650 is refused) and a time not in the future."""
    low, high = PLAUSIBLE.get(kind, (None, None))
    if value is not None and low is not None and not low <= value <= high:
        raise InvalidInput(f"A {kind.value.replace('_', ' ')} of {value} is not plausible.",
                           [field_error("value", f"must be between {low} and {high} {UNITS[kind]}", "range")])
    if measured_at > now + FUTURE_SLACK:
        raise InvalidInput("The measurement is in the future.",
                           [field_error("measured_at", "must not be in the future", "range")])
