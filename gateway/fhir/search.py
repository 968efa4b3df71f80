"""FHIR search parameters as the gateway reads them: one query model per resource type (unknown parameters are
refused, naming them), the common parameters (``patient``, ``date``, ``status``, ``_count``, ``_include``,
``_revinclude``) and what they mean here. ``date`` takes FHIR's prefixes (``eq`` ``ne`` ``lt`` ``le`` ``gt`` ``ge``;
none is ``eq``) on a date or a date-time, and may repeat (a range)."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from contracts.fhir import reference_id
from wenzhen.ids import from_fhir
from wenzhen.timez import hospital_zone

MAX_COUNT = 200
_DATE = re.compile(r"^(eq|ne|lt|le|gt|ge)?(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)$")


def _listed(value):
    return [value] if isinstance(value, str) else value


Include = Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z]{1,20}:[A-Za-z-]{1,30}$")]],
                    BeforeValidator(_listed), Field(max_length=4)]
Dates = Annotated[list[Annotated[str, Field(max_length=40)]], BeforeValidator(_listed), Field(max_length=4)]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9|:/.\-]{1,80}$")]


class _Search(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    count: int = Field(default=50, ge=1, le=MAX_COUNT, alias="_count", description="Page size (at most 200).")
    include: Include = Field(default_factory=list, alias="_include",
                              description="e.g. `Encounter:patient` (see the CapabilityStatement).")
    revinclude: Include = Field(default_factory=list, alias="_revinclude",
                                 description="e.g. `Condition:encounter` (see the CapabilityStatement).")


def _patient(value: str | None) -> str | None:
    if value is None:
        return None
    found = reference_id(value, "Patient") if "/" in value else from_fhir(value)
    if found is None:
        raise ValueError("must be a patient id (pat-…) or reference (Patient/pat-…)")
    return found


def _dates(values: list[str]) -> list[str]:
    for value in values:
        if not _DATE.match(value):
            raise ValueError("must be [prefix]YYYY-MM-DD[Thh:mm[:ss][zone]] with a prefix of eq, ne, lt, le, gt, ge")
    return values


class _PatientSearch(_Search):
    patient: Token | None = Field(default=None, description="`Patient/pat-…` or `pat-…`.")
    date: Dates = Field(default_factory=list, description="e.g. `ge2026-01-01` (repeatable).")

    @field_validator("patient")
    @classmethod
    def _patient_id(cls, value: str | None) -> str | None:
        return _patient(value)

    @field_validator("date")
    @classmethod
    def _checked_dates(cls, values: list[str]) -> list[str]:
        return _dates(values)


class EncounterSearch(_PatientSearch):
    status: Token | None = Field(default=None, description="in-progress or finished")


class ConditionSearch(_PatientSearch):
    encounter: Token | None = Field(default=None, description="`Encounter/enc-…`")


class MedicationRequestSearch(_PatientSearch):
    status: Token | None = Field(default=None, description="on-hold (awaiting review), active, cancelled")
    encounter: Token | None = None


class AppointmentSearch(_PatientSearch):
    status: Token | None = None


class DiagnosticReportSearch(_PatientSearch):
    encounter: Token | None = None


class ObservationSearch(_PatientSearch):
    category: Token | None = Field(default=None, description="laboratory, vital-signs or survey")
    code: Token | None = Field(default=None, description="A LOINC code (or `system|code`).")


class AuditEventSearch(_PatientSearch):
    pass


class Everything(BaseModel):
    """``Patient/{id}/$everything``: what the record holds for the patient, within ``start``–``end`` (dates of
    care), changed since ``_since``, of the ``_type``s asked (comma-separated)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    start: date | None = None
    end: date | None = None
    since: datetime | None = Field(default=None, alias="_since")
    types: str | None = Field(default=None, alias="_type", max_length=200, pattern=r"^[A-Za-z]+(,[A-Za-z]+)*$")
    count: int = Field(default=MAX_COUNT, ge=1, le=1000, alias="_count", description="At most this many entries.")


def conditions(values: list[str]) -> list[tuple[str, datetime, datetime]]:
    """The prefixed dates as conditions (prefix, from, to) on an instant (a date is its whole local day)."""
    found_conditions = []
    for value in values:
        found = _DATE.match(value)
        prefix, text = found.group(1) or "eq", found.group(2)
        if "T" in text:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=hospital_zone())
            start, end = moment, moment + timedelta(seconds=1)
        else:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(0), tzinfo=hospital_zone())
            end = start + timedelta(days=1)
        found_conditions.append((prefix, start.astimezone(UTC), end.astimezone(UTC)))
    return found_conditions


def matches_date(moment: str | None, values: list[str]) -> bool:
    """Whether a FHIR instant (or date-time) satisfies every ``date`` condition."""
    if not values:
        return True
    if moment is None:
        return False
    when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    for prefix, start, end in conditions(values):
        ok = {"eq": start <= when < end, "ne": not start <= when < end, "lt": when < start, "le": when < end,
              "gt": when >= end, "ge": when >= start}[prefix]
        if not ok:
            return False
    return True
