"""Orders, results and patient logs: request and response models (records' RPCs and the gateway's routes).

A doctor orders examinations in an encounter (an order, FHIR ``ServiceRequest``); their results (``DiagnosticReport``
with ``Observation``s: value, unit, reference range, abnormal flag) are entered by staff or posted by a laboratory
system as a FHIR R4 transaction Bundle, matched to the order and its patient, and released to the patient explicitly.
During follow-up the patient records measurements (blood pressure, glucose, weight, symptoms) that the doctor reads
as a series. Times in answers are local ISO 8601 (Asia/Shanghai).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from wenzhen.fields import Strict, printable

RecordId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{3,64}$")]
Short = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(printable)]
TestCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,31}$",
                                description="LOINC code (or the laboratory's local code).", examples=["2345-7"])]
Unit = Annotated[str, Field(min_length=1, max_length=24), AfterValidator(printable)]
Number = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]


class Category(StrEnum):
    """FHIR diagnostic service sections (v2-0074)."""

    laboratory = "LAB"
    imaging = "RAD"
    other = "OTH"


class OrderRequest(Strict):
    """Examinations the encounter's doctor orders."""

    category: Category = Category.laboratory
    tests: list[Short] = Field(min_length=1, max_length=20, description="What to examine, as the doctor words it.",
                               examples=[["血常规", "尿常规"]])
    note: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(printable)] | None = None


class OrderStatus(StrEnum):
    active = "active"  # waiting for results
    completed = "completed"  # a result was recorded for it


class Order(BaseModel):
    id: str
    encounter_id: str
    patient_id: str
    doctor_id: str
    category: Category
    tests: list[str]
    note: str | None = None
    status: OrderStatus
    ordered_at: str


class Flag(StrEnum):
    """HL7 v3 ObservationInterpretation (the common ones)."""

    normal = "N"
    high = "H"
    low = "L"
    critical_high = "HH"
    critical_low = "LL"
    abnormal = "A"


class Range(Strict):
    low: Number | None = None
    high: Number | None = None
    text: Short | None = Field(default=None, description="As printed, e.g. `3.5-5.5` or `阴性`.")


class ObservationInput(Strict):
    """One measured value (a numeric value with its unit, or a text such as 阴性)."""

    code: TestCode
    name: Short = Field(examples=["血肌酐"])
    value: Number | None = None
    unit: Unit | None = Field(default=None, description="UCUM unit of `value`.", examples=["umol/L"])
    text: Short | None = Field(default=None, description="A result that is not a number.", examples=["阴性"])
    reference_range: Range | None = None
    flag: Flag | None = Field(default=None, description="Abnormal flag as reported; else worked out from the range.")

    @model_validator(mode="after")
    def _a_value(self):
        if (self.value is None) == (self.text is None):
            raise ValueError("give a numeric value (with its unit) or a text, not both")
        if self.value is not None and self.unit is None:
            raise ValueError("a numeric value needs its unit")
        return self


class ResultInput(Strict):
    """Results of an order, entered by staff."""

    order_id: RecordId
    conclusion: Annotated[str, Field(max_length=2000), AfterValidator(printable)] | None = None
    observations: list[ObservationInput] = Field(min_length=1, max_length=100)
    issued: AwareDatetime | None = Field(default=None, description="When the laboratory issued it (default: now).")


class ObservationView(BaseModel):
    id: str
    code: str
    name: str
    value: float | None = None
    unit: str | None = None
    text: str | None = None
    reference_range: Range | None = None
    flag: Flag | None = None


class ResultStatus(StrEnum):
    final = "final"  # recorded, not yet shown to the patient
    released = "released"  # the doctor released it to the patient


class Result(BaseModel):
    id: str
    order_id: str
    encounter_id: str
    patient_id: str
    category: Category
    status: ResultStatus
    conclusion: str | None = None
    observations: list[ObservationView]
    abnormal: int = Field(description="How many observations are flagged (not N).")
    issued: str
    recorded_by: str
    source: str = Field(description="staff (entered) or lab (a FHIR Bundle from a laboratory system)")
    released_at: str | None = None


class ResultQuery(Strict):
    patient_id: RecordId | None = Field(default=None, description="Patients: a record they act for; doctors: a "
                                                                  "patient they care for.")
    encounter_id: RecordId | None = None
    limit: int = Field(default=50, ge=1, le=200)


# patient logs ---------------------------------------------------------------------------------------------------------
class LogKind(StrEnum):
    blood_pressure = "blood_pressure"
    glucose = "glucose"
    weight = "weight"
    heart_rate = "heart_rate"
    temperature = "temperature"
    symptom = "symptom"


class GlucoseTiming(StrEnum):
    fasting = "fasting"
    after_meal = "after_meal"  # 2 hours after a meal
    random = "random"


class LogEntryInput(Strict):
    """One measurement the patient took (or a symptom they noted)."""

    kind: LogKind
    measured_at: AwareDatetime
    systolic: int | None = Field(default=None, ge=40, le=300, description="mmHg (blood_pressure)")
    diastolic: int | None = Field(default=None, ge=20, le=200, description="mmHg (blood_pressure)")
    value: Number | None = Field(default=None, description="glucose mmol/L, weight kg, heart rate /min, "
                                                           "temperature °C")
    timing: GlucoseTiming | None = Field(default=None, description="glucose: when, relative to a meal")
    note: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(printable)] | None = Field(
        default=None, description="A symptom, or a note on the measurement.")

    @model_validator(mode="after")
    def _fits_its_kind(self):
        if self.kind == LogKind.blood_pressure:
            if self.systolic is None or self.diastolic is None or self.value is not None:
                raise ValueError("blood_pressure takes systolic and diastolic")
            if self.diastolic >= self.systolic:
                raise ValueError("diastolic must be below systolic")
        elif self.kind == LogKind.symptom:
            if self.note is None or self.value is not None or self.systolic is not None:
                raise ValueError("a symptom is a note")
        elif self.value is None or self.systolic is not None or self.diastolic is not None:
            raise ValueError(f"{self.kind.value} takes a value")
        if self.timing is not None and self.kind != LogKind.glucose:
            raise ValueError("timing is for glucose")
        return self


class LogEntry(BaseModel):
    id: str
    patient_id: str
    kind: LogKind
    measured_at: str
    recorded_at: str
    systolic: int | None = None
    diastolic: int | None = None
    value: float | None = None
    unit: str | None = None
    timing: GlucoseTiming | None = None
    note: str | None = None


class LogQuery(Strict):
    kind: LogKind | None = None
    since: AwareDatetime | None = Field(default=None, description="Measured at or after (ISO 8601 with offset).")
    until: AwareDatetime | None = Field(default=None, description="Measured before.")
    limit: int = Field(default=200, ge=1, le=1000)
