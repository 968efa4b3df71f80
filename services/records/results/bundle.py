"""A laboratory system's results as FHIR R4 sends them: a transaction Bundle with one ``DiagnosticReport`` (its
``basedOn`` the order, its ``subject`` the patient, its ``result`` the observations) and the ``Observation``s it
refers to. Validated whole with fhir.resources' R4B models (the structure and the data types), then read into what
records stores; anything wrong is refused with every problem named by its FHIRPath (``Bundle.entry[1].resource…``),
which the gateway answers as an OperationOutcome. Pure: nothing here reads or writes the database."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from contracts.fhir import INTERPRETATION, reference_id
from contracts.records.results import Category, Flag, ObservationInput, Range
from wenzhen.errors import InvalidInput, field_error
from wenzhen.timez import as_utc

MAX_OBSERVATIONS = 100
FINAL = frozenset({"final", "amended", "corrected", "appended"})


@dataclass(frozen=True)
class LabReport:
    order_id: str
    patient_id: str | None
    identifier: str | None
    category: Category | None
    conclusion: str | None
    issued: datetime | None
    observations: list[ObservationInput]


def _path(loc: tuple) -> str:
    text = "Bundle"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _refused(problems: list[dict]) -> InvalidInput:
    return InvalidInput("The Bundle is not a laboratory report records can take; nothing was stored.", problems)


def parse(document: Any) -> LabReport:
    """The report in ``document`` (a transaction Bundle as JSON), or :class:`InvalidInput` naming every problem."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise _refused([field_error("Bundle.resourceType", "must be Bundle", "structure")])
    try:
        bundle = Bundle.model_validate(document)
    except ValidationError as exc:
        raise _refused([field_error(_path(e["loc"]), e["msg"], "structure") for e in exc.errors()[:50]]) from None
    if bundle.type != "transaction":
        raise _refused([field_error("Bundle.type", "must be transaction", "value")])
    reports, observations, problems = [], {}, []
    for i, entry in enumerate(bundle.entry or []):
        resource = entry.resource
        kind = resource.get_resource_type() if resource is not None else None
        if kind == "DiagnosticReport":
            reports.append((i, resource))
        elif kind == "Observation":
            observations[entry.fullUrl or f"#{i}"] = (i, resource)
        else:
            problems.append(field_error(f"Bundle.entry[{i}].resource", "must be a DiagnosticReport or an Observation",
                                        "structure"))
    if len(reports) != 1:
        problems.append(field_error("Bundle.entry", "must hold exactly one DiagnosticReport", "structure"))
    if problems:
        raise _refused(problems)
    at, report = reports[0]
    where = f"Bundle.entry[{at}].resource"
    if report.status not in FINAL:
        problems.append(field_error(f"{where}.status", f"must be one of {', '.join(sorted(FINAL))} (a result "
                                                       "records keeps is final)", "value"))
    order_id = next((reference_id(r.reference, "ServiceRequest") for r in report.basedOn or []), None)
    if order_id is None:
        problems.append(field_error(f"{where}.basedOn", "must refer to the order (ServiceRequest/ord-…)", "required"))
    patient_id = reference_id(report.subject.reference if report.subject else None, "Patient")
    if patient_id is None:
        problems.append(field_error(f"{where}.subject", "must refer to the patient (Patient/pat-…)", "required"))
    taken, used = [], set()
    for n, ref in enumerate(report.result or []):
        found = observations.get(ref.reference or "")
        if found is None:
            problems.append(field_error(f"{where}.result[{n}]", "must refer to an Observation entry of this Bundle "
                                                                  "(its fullUrl)", "reference"))
            continue
        used.add(ref.reference)
        taken.append(_observation(*found, patient_id, problems))
    for url, (i, _) in observations.items():
        if url not in used:
            problems.append(field_error(f"Bundle.entry[{i}]", "is an Observation the report does not list in result",
                                        "reference"))
    if not taken and not problems:
        problems.append(field_error(f"{where}.result", "must list at least one Observation", "required"))
    if len(taken) > MAX_OBSERVATIONS:
        problems.append(field_error(f"{where}.result", f"at most {MAX_OBSERVATIONS} observations", "too_long"))
    if problems:
        raise _refused(problems)
    return LabReport(order_id=order_id, patient_id=patient_id,
                     identifier=next((i.value for i in report.identifier or [] if i.value), None),
                     category=_category(report), conclusion=report.conclusion,
                     issued=as_utc(report.issued) if report.issued else None, observations=taken)


def _category(report) -> Category | None:
    for concept in report.category or []:
        for coding in concept.coding or []:
            if coding.code in {c.value for c in Category}:
                return Category(coding.code)
    return None


def _observation(i: int, resource, patient_id: str | None, problems: list[dict]) -> ObservationInput | None:
    where = f"Bundle.entry[{i}].resource"
    if resource.status not in FINAL:
        problems.append(field_error(f"{where}.status", f"must be one of {', '.join(sorted(FINAL))}", "value"))
    if resource.subject is not None and reference_id(resource.subject.reference, "Patient") != patient_id:
        problems.append(field_error(f"{where}.subject", "is not the report's patient", "mismatch"))
    coding = next(iter(resource.code.coding or []), None)
    code = coding.code if coding is not None and coding.code else None
    name = (coding.display if coding is not None else None) or resource.code.text or code
    quantity, reference = resource.valueQuantity, next(iter(resource.referenceRange or []), None)
    flag = next((c.code for concept in resource.interpretation or [] for c in concept.coding or []
                 if c.system in (None, INTERPRETATION) and c.code in {f.value for f in Flag}), None)
    values: dict = {"code": code, "name": name, "flag": flag}
    if quantity is not None:
        values.update(value=float(quantity.value) if quantity.value is not None else None,
                      unit=quantity.code or quantity.unit)
    elif resource.valueString is not None or resource.valueCodeableConcept is not None:
        values["text"] = resource.valueString or resource.valueCodeableConcept.text or next(
            (c.display or c.code for c in resource.valueCodeableConcept.coding or []), None)
    if reference is not None:
        values["reference_range"] = Range(low=float(reference.low.value) if reference.low else None,
                                          high=float(reference.high.value) if reference.high else None,
                                          text=reference.text)
    try:
        return ObservationInput.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"]) or "value[x]"
            problems.append(field_error(f"{where}.{_FHIR_NAMES.get(field, field)}", e["msg"], "value"))
        return None


_FHIR_NAMES = {"code": "code.coding[0].code", "name": "code", "value": "valueQuantity.value",
               "unit": "valueQuantity.code", "text": "value[x]", "flag": "interpretation"}
