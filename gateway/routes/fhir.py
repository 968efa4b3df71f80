"""The FHIR R4 interface (R4B, 4.3.0) under ``/fhir``: read and search Patient, Encounter, Condition,
MedicationRequest, Appointment, DiagnosticReport, Observation and AuditEvent, ``Patient/{id}/$everything``, and a
laboratory's results as a transaction Bundle. ``application/fhir+json``; errors are OperationOutcomes.

Every answer is built from the same RPCs the rest of the API calls, so the services apply the same access rules and
audit every read; a refusal reads as not found. Searches are bounded (``_count``, at most 200, no further pages)."""
from __future__ import annotations

import json
from collections.abc import Callable

from contracts.fhir import FHIR_JSON, reference_id
from gateway.api import Call, Reply, parse_json, read_body_bytes
from gateway.app_api import api
from gateway.auth import PUBLIC
from gateway.fhir import resources as fhir
from gateway.fhir.capability import capability_statement
from gateway.fhir.search import (
    AppointmentSearch,
    AuditEventSearch,
    ConditionSearch,
    DiagnosticReportSearch,
    EncounterSearch,
    Everything,
    MedicationRequestSearch,
    ObservationSearch,
    matches_date,
)
from gateway.problems import HttpProblem
from wenzhen.audit import merge, to_fhir
from wenzhen.auth import Role
from wenzhen.config import SERVICES, settings
from wenzhen.ids import from_fhir

TAGS = ["FHIR"]
RELEASED = "2026-12-05"
PATIENT_READERS = {Role.patient, Role.consultant, Role.doctor, Role.team_lead}
CLINICAL = {Role.patient, Role.doctor}
RX_READERS = {Role.patient, Role.doctor, Role.pharmacist}
BOOKING_READERS = {Role.patient, Role.consultant, Role.doctor, Role.team_lead}
NOT_YOURS = "No such resource, or not one the caller may see (OperationOutcome)."
SEARCH_ERRORS = {403: "The search names no patient the caller may see (OperationOutcome).",
                 422: "A search parameter is invalid or unknown (OperationOutcome naming it)."}


def _answer(body: dict, status: int = 200, headers: dict | None = None) -> Reply:
    return Reply(json.dumps(body, ensure_ascii=False), status, {"Content-Type": FHIR_JSON, **(headers or {})})


def _base(call: Call) -> str:
    return f"{call.req.prefix}/fhir"


def _self(call: Call) -> str:
    return f"{call.req.prefix}{call.req.relative_uri}"


def _id(value: str, kind: str) -> str:
    found = from_fhir(value)
    if found is None:
        raise HttpProblem(404, f"No {kind} {value}.", slug="not-found")
    return found


def _needs_patient(call: Call) -> str:
    if call.query.patient is None:
        raise HttpProblem(422, "Name the patient (`patient=Patient/pat-…`).", slug="validation",
                          errors=[{"field": "patient", "message": "is required for this search", "type": "missing"}])
    return call.query.patient


def _filtered(found: list[dict], when: Callable[[dict], str | None], call: Call, status=None) -> list[dict]:
    q = call.query
    return [r for r in found if matches_date(when(r), q.date) and (status is None or q.status is None
                                                                   or status(r) == q.status)][:q.count]


def _includes(call: Call, kind: str, matches: list[dict], related: dict[str, Callable[[], list[dict]]]) -> list[dict]:
    """What ``_include`` / ``_revinclude`` ask for, each by one fetch (``related``: name → the resources)."""
    included = []
    for name in [*call.query.include, *call.query.revinclude]:
        fetch = related.get(name)
        if fetch is None:
            raise HttpProblem(422, f"{name} is not supported on {kind} (see /fhir/metadata).", slug="validation",
                              errors=[{"field": "_include" if name in call.query.include else "_revinclude",
                                       "message": f"{name} is not supported", "type": "not_supported"}])
        if matches:
            included.extend(fetch())
    return included


def _patient_of(call: Call, patient_id: str) -> Callable[[], list[dict]]:
    return lambda: [fhir.patient(call.rpc("intake", "get_patient", patient_id))]


def _bundle(call: Call, matches: list[dict], included: list[dict]) -> Reply:
    return _answer(fhir.searchset(matches, included, _base(call), _self(call)))


# the capability statement --------------------------------------------------------------------------------------------
@api.route("GET", "/fhir/metadata", summary="FHIR CapabilityStatement", tags=TAGS, allow=PUBLIC,
           content_type=FHIR_JSON)
def fhir_metadata(call: Call) -> Reply:
    """What this FHIR server does (version 4.3.0, R4B), and nothing it does not."""
    return _answer(capability_statement(_base(call), RELEASED))


# Patient -------------------------------------------------------------------------------------------------------------
@api.route("GET", "/fhir/Patient/{patient_id}", summary="FHIR Patient", tags=TAGS, allow=PATIENT_READERS,
           content_type=FHIR_JSON, errors={404: NOT_YOURS})
def fhir_patient(call: Call, patient_id: str) -> Reply:
    return _answer(fhir.patient(call.rpc("intake", "get_patient", _id(patient_id, "Patient"))))


# Encounter and Condition --------------------------------------------------------------------------------------------
def _encounters(call: Call, patient_id: str | None) -> list[dict]:
    query = {"limit": 200, **({"patient_id": patient_id} if patient_id else {})}
    return call.rpc("records", "list_encounters", query)


def _prescriptions(call: Call, patient_id: str | None, encounter_ids: set[str] | None = None) -> list[dict]:
    query = {"limit": 200, **({"patient_id": patient_id} if patient_id else {})}
    found = call.rpc("records", "list_prescriptions", query)
    return [rx for rx in found if encounter_ids is None or rx["encounter_id"] in encounter_ids]


def _results(call: Call, patient_id: str, encounter_ids: set[str] | None = None) -> list[dict]:
    found = call.rpc("records", "list_results", {"patient_id": patient_id, "limit": 200})
    return [r for r in found if encounter_ids is None or r["encounter_id"] in encounter_ids]


@api.route("GET", "/fhir/Encounter", summary="Search FHIR Encounters", tags=TAGS, allow=CLINICAL,
           query=EncounterSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_encounters(call: Call) -> Reply:
    """A patient's encounters (a doctor without `patient`: their own), newest first."""
    patient_id = call.query.patient
    if patient_id is None and call.principal.role == Role.patient:
        _needs_patient(call)
    found = _encounters(call, patient_id)
    picked = [e for e in found if e["id"] in {m["id"] for m in _filtered(
        found, lambda e: fhir.instant(e["opened_at"]), call, lambda e: fhir.ENCOUNTER_STATUS[e["status"]])}]
    ids = {e["id"] for e in picked}
    patients = sorted({e["patient_id"] for e in picked})
    related = {
        "Encounter:patient": lambda: [fhir.patient(call.rpc("intake", "get_patient", p)) for p in patients],
        "Condition:encounter": lambda: [c for e in picked for c in fhir.conditions(e)],
        "MedicationRequest:encounter": lambda: [m for p in patients for rx in _prescriptions(call, p, ids)
                                                for m in fhir.medication_requests(rx)],
        "DiagnosticReport:encounter": lambda: [fhir.diagnostic_report(r) for p in patients
                                               for r in _results(call, p, ids)],
    }
    return _bundle(call, [fhir.encounter(e) for e in picked], _includes(call, "Encounter", picked, related))


@api.route("GET", "/fhir/Encounter/{encounter_id}", summary="FHIR Encounter", tags=TAGS, allow=CLINICAL,
           content_type=FHIR_JSON, errors={404: NOT_YOURS})
def fhir_encounter(call: Call, encounter_id: str) -> Reply:
    return _answer(fhir.encounter(call.rpc("records", "get_encounter", _id(encounter_id, "Encounter"))))


@api.route("GET", "/fhir/Condition", summary="Search FHIR Conditions", tags=TAGS, allow=CLINICAL,
           query=ConditionSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_conditions(call: Call) -> Reply:
    """The diagnoses of the patient's signed reports (their current versions)."""
    encounter_id = reference_id(call.query.encounter, "Encounter") if call.query.encounter else None
    if encounter_id is not None:
        encounters = [call.rpc("records", "get_encounter", encounter_id)]
    else:
        encounters = _encounters(call, _needs_patient(call))
    found = [c for e in encounters for c in fhir.conditions(e)]
    matches = _filtered(found, lambda c: c["recordedDate"], call)
    related = {"Condition:patient": _patient_of(call, encounters[0]["patient_id"]) if encounters else list,
               "Condition:encounter": lambda: [fhir.encounter(e) for e in encounters]}
    return _bundle(call, matches, _includes(call, "Condition", matches, related))


@api.route("GET", "/fhir/Condition/{condition_id}", summary="FHIR Condition", tags=TAGS, allow=CLINICAL,
           content_type=FHIR_JSON, errors={404: NOT_YOURS})
def fhir_condition(call: Call, condition_id: str) -> Reply:
    encounter_part, _, rank = condition_id.rpartition("-dx")
    encounter = call.rpc("records", "get_encounter", _id(encounter_part, "Condition"))
    found = next((c for c in fhir.conditions(encounter) if c["id"] == condition_id), None)
    if found is None or not rank.isdigit():
        raise HttpProblem(404, f"No Condition {condition_id}.", slug="not-found")
    return _answer(found)


# MedicationRequest ---------------------------------------------------------------------------------------------------
@api.route("GET", "/fhir/MedicationRequest", summary="Search FHIR MedicationRequests", tags=TAGS, allow=RX_READERS,
           query=MedicationRequestSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_medication_requests(call: Call) -> Reply:
    """One per drug of each prescription (grouped by `groupIdentifier`); validity is `dispenseRequest.validityPeriod`,
    days' supply `expectedSupplyDuration`. A pharmacist without `patient`: what they reviewed."""
    patient_id = call.query.patient
    if patient_id is None and call.principal.role == Role.patient:
        _needs_patient(call)
    encounter_id = reference_id(call.query.encounter, "Encounter") if call.query.encounter else None
    found = [m for rx in _prescriptions(call, patient_id, {encounter_id} if encounter_id else None)
             for m in fhir.medication_requests(rx)]
    matches = _filtered(found, lambda m: m["authoredOn"], call, lambda m: m["status"])
    patients = sorted({reference_id(m["subject"]["reference"], "Patient") for m in matches})
    related = {"MedicationRequest:patient": lambda: [fhir.patient(call.rpc("intake", "get_patient", p))
                                                     for p in patients],
               "MedicationRequest:encounter": lambda: [fhir.encounter(call.rpc("records", "get_encounter", e))
                                                       for e in sorted({reference_id(m["encounter"]["reference"],
                                                                                     "Encounter") for m in matches})]}
    return _bundle(call, matches, _includes(call, "MedicationRequest", matches, related))


@api.route("GET", "/fhir/MedicationRequest/{request_id}", summary="FHIR MedicationRequest", tags=TAGS,
           allow=RX_READERS, content_type=FHIR_JSON, errors={404: NOT_YOURS})
def fhir_medication_request(call: Call, request_id: str) -> Reply:
    prescription_part, _, _n = request_id.rpartition("-")
    rx = call.rpc("records", "get_prescription", _id(prescription_part, "MedicationRequest"))
    found = next((m for m in fhir.medication_requests(rx) if m["id"] == request_id), None)
    if found is None:
        raise HttpProblem(404, f"No MedicationRequest {request_id}.", slug="not-found")
    return _answer(found)


# Appointment ---------------------------------------------------------------------------------------------------------
def _appointments(call: Call, patient_id: str) -> list[dict]:
    """The patient's appointments as booking lets the caller list them (a doctor: those of their own schedule; a
    consultant: those they booked)."""
    return call.rpc("booking", "list_appointments", {"patient_id": patient_id, "limit": 200})


@api.route("GET", "/fhir/Appointment", summary="Search FHIR Appointments", tags=TAGS, allow=BOOKING_READERS,
           query=AppointmentSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_appointments(call: Call) -> Reply:
    patient_id = _needs_patient(call)
    mapped = [fhir.appointment(a) for a in _appointments(call, patient_id)]
    matches = _filtered(mapped, lambda a: a["start"], call, lambda a: a["status"])
    ids = {reference_id(f"Appointment/{a['id']}", "Appointment") for a in matches}
    related = {"Appointment:patient": _patient_of(call, patient_id),
               "Encounter:appointment": lambda: [fhir.encounter(e) for e in _encounters(call, patient_id)
                                                 if e.get("appointment_id") in ids]}
    return _bundle(call, matches, _includes(call, "Appointment", matches, related))


@api.route("GET", "/fhir/Appointment/{appointment_id}", summary="FHIR Appointment", tags=TAGS,
           allow=BOOKING_READERS, content_type=FHIR_JSON, errors={404: NOT_YOURS})
def fhir_appointment(call: Call, appointment_id: str) -> Reply:
    return _answer(fhir.appointment(call.rpc("booking", "get_appointment", _id(appointment_id, "Appointment"))))


# DiagnosticReport and Observation -------------------------------------------------------------------------------------
@api.route("GET", "/fhir/DiagnosticReport", summary="Search FHIR DiagnosticReports", tags=TAGS, allow=CLINICAL,
           query=DiagnosticReportSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_diagnostic_reports(call: Call) -> Reply:
    """Results (a patient sees those a doctor released)."""
    patient_id = _needs_patient(call)
    encounter_id = reference_id(call.query.encounter, "Encounter") if call.query.encounter else None
    found = _results(call, patient_id, {encounter_id} if encounter_id else None)
    picked = [r for r in found if matches_date(fhir.instant(r["issued"]), call.query.date)][:call.query.count]
    related = {"DiagnosticReport:patient": _patient_of(call, patient_id),
               "DiagnosticReport:result": lambda: [o for r in picked for o in fhir.result_observations(r)],
               "DiagnosticReport:encounter": lambda: [fhir.encounter(call.rpc("records", "get_encounter", e))
                                                      for e in sorted({r["encounter_id"] for r in picked})]}
    return _bundle(call, [fhir.diagnostic_report(r) for r in picked],
                   _includes(call, "DiagnosticReport", picked, related))


@api.route("GET", "/fhir/DiagnosticReport/{report_id}", summary="FHIR DiagnosticReport", tags=TAGS,
           allow=CLINICAL, content_type=FHIR_JSON, errors={404: NOT_YOURS})
def fhir_diagnostic_report(call: Call, report_id: str) -> Reply:
    return _answer(fhir.diagnostic_report(call.rpc("records", "get_result", _id(report_id, "DiagnosticReport"))))


def _observations(call: Call, patient_id: str) -> list[dict]:
    category = call.query.category
    found: list[dict] = []
    if category in (None, "laboratory", "imaging", "exam"):
        found += [o for r in _results(call, patient_id) for o in fhir.result_observations(r)]
    if category in (None, "vital-signs", "survey"):
        found += [fhir.log_observation(e) for e in call.rpc("records", "list_logs", patient_id, {"limit": 1000})]
    code = call.query.code.rpartition("|")[2] if call.query.code else None
    return [o for o in found
            if (category is None or o["category"][0]["coding"][0]["code"] == category)
            and (code is None or code in {c["code"] for c in o["code"]["coding"]})]


@api.route("GET", "/fhir/Observation", summary="Search FHIR Observations", tags=TAGS, allow=CLINICAL,
           query=ObservationSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_observations(call: Call) -> Reply:
    """Released results' values (category laboratory) and the patient's own logs (vital-signs, survey): a series,
    newest first as recorded."""
    patient_id = _needs_patient(call)
    matches = _filtered(_observations(call, patient_id), lambda o: o.get("effectiveDateTime"), call)
    return _bundle(call, matches, _includes(call, "Observation", matches,
                                            {"Observation:patient": _patient_of(call, patient_id)}))


@api.route("GET", "/fhir/Observation/{observation_id}", summary="FHIR Observation", tags=TAGS, allow=CLINICAL,
           content_type=FHIR_JSON, errors={404: NOT_YOURS, 422: "Name the patient (`patient`): observations are "
                                                                "read within a patient's record."},
           query=ObservationSearch)
def fhir_observation(call: Call, observation_id: str) -> Reply:
    """Read within the patient's record (`?patient=Patient/pat-…`)."""
    found = next((o for o in _observations(call, _needs_patient(call)) if o["id"] == observation_id), None)
    if found is None:
        raise HttpProblem(404, f"No Observation {observation_id}.", slug="not-found")
    return _answer(found)


# AuditEvent ----------------------------------------------------------------------------------------------------------
@api.route("GET", "/fhir/AuditEvent", summary="Search FHIR AuditEvents", tags=TAGS, allow={Role.admin, Role.patient},
           query=AuditEventSearch, content_type=FHIR_JSON, errors=SEARCH_ERRORS)
def fhir_audit_events(call: Call) -> Reply:
    """Admins: the whole trail (or one patient's); a patient: who else read or changed a record they act for."""
    query: dict = {"limit": call.query.count}
    if call.query.patient:
        query["patient_id"] = call.query.patient
    if call.principal.role == Role.patient:
        query.update(patient_id=_needs_patient(call), exclude_agent_id=call.principal.sub)
    pages, _failed = call.rpc_each(SERVICES, "audit_events", query)
    events = [to_fhir(item) for item in merge(list(pages.values()), call.query.count)]
    return _bundle(call, [e for e in events if matches_date(e["recorded"], call.query.date)], [])


# $everything ---------------------------------------------------------------------------------------------------------
EVERYTHING_TYPES = ("Patient", "Encounter", "Condition", "MedicationRequest", "Appointment", "DiagnosticReport",
                    "Observation")


@api.route("GET", "/fhir/Patient/{patient_id}/$everything", summary="Everything in a patient's record", tags=TAGS,
           allow=CLINICAL, query=Everything, content_type=FHIR_JSON,
           errors={404: NOT_YOURS, 422: "A parameter is invalid, or `_type` names a type not served."})
def fhir_everything(call: Call, patient_id: str) -> Reply:
    """The patient, their encounters and diagnoses, prescriptions, appointments, results and logs, as a `searchset`
    Bundle; `start`/`end` bound the dates of care, `_since` the last change, `_type` the types."""
    pid = _id(patient_id, "Patient")
    q = call.query
    wanted = set(q.types.split(",")) if q.types else set(EVERYTHING_TYPES)
    unknown = wanted - set(EVERYTHING_TYPES)
    if unknown:
        raise HttpProblem(422, f"Not served by $everything: {', '.join(sorted(unknown))}.", slug="validation",
                          errors=[{"field": "_type", "message": f"{t} is not served", "type": "not_supported"}
                                  for t in sorted(unknown)])
    found: list[dict] = [fhir.patient(call.rpc("intake", "get_patient", pid))]  # 404 unless the caller may see it
    if wanted & {"Encounter", "Condition"}:
        encounters = _encounters(call, pid)
        found += [fhir.encounter(e) for e in encounters] + [c for e in encounters for c in fhir.conditions(e)]
    if "MedicationRequest" in wanted:
        found += [m for rx in _prescriptions(call, pid) for m in fhir.medication_requests(rx)]
    if "Appointment" in wanted:
        found += [fhir.appointment(a) for a in _appointments(call, pid)]
    if wanted & {"DiagnosticReport", "Observation"}:
        results = _results(call, pid)
        found += [fhir.diagnostic_report(r) for r in results] + [o for r in results
                                                                  for o in fhir.result_observations(r)]
        found += [fhir.log_observation(e) for e in call.rpc("records", "list_logs", pid, {"limit": 1000})]
    kept = [r for r in found if r["resourceType"] in wanted and _in_window(r, q)][:q.count]
    return _answer({"resourceType": "Bundle", "type": "searchset", "total": len(kept),
                    "link": [{"relation": "self", "url": _self(call)}],
                    "entry": [{"fullUrl": f"{_base(call)}/{r['resourceType']}/{r['id']}", "resource": r,
                               "search": {"mode": "match"}} for r in kept]})


def _care_date(resource: dict) -> str | None:
    return (resource.get("effectiveDateTime") or resource.get("authoredOn") or resource.get("recordedDate")
            or resource.get("start") or (resource.get("period") or {}).get("start"))


def _in_window(resource: dict, q: Everything) -> bool:
    if resource["resourceType"] == "Patient":
        return True
    when = _care_date(resource)
    if (q.start or q.end) and when is None:
        return False
    day = when[:10] if when else None
    if q.start and day < q.start.isoformat() or q.end and day > q.end.isoformat():
        return False
    updated = (resource.get("meta") or {}).get("lastUpdated")
    return q.since is None or (updated is not None and updated >= q.since.isoformat().replace("+00:00", "Z"))


# a laboratory's results --------------------------------------------------------------------------------------------
@api.route("POST", "/fhir", summary="A laboratory's results (FHIR transaction Bundle)", tags=TAGS,
           allow={Role.lab, Role.doctor}, content_type=FHIR_JSON,
           raw_body="A FHIR transaction Bundle (application/fhir+json): one DiagnosticReport (basedOn the order "
                    "ServiceRequest/ord-…, subject the order's patient, result the Observations) and its Observations.",
           errors={404: "No such order, or not one the caller may record results for (OperationOutcome).",
                   409: "The order has a different result already (OperationOutcome).",
                   413: "The Bundle is too large.", 415: "Send application/fhir+json (or application/json).",
                   422: "The Bundle is malformed, or names another patient than the order's: an OperationOutcome "
                        "names each problem by its FHIRPath; nothing is stored."})
def fhir_transaction(call: Call) -> Reply:
    """Validated whole (fhir.resources R4B), matched to the order and its patient, stored as one result (final; a
    doctor releases it to the patient). The same report (its `identifier`) sent again answers 200 with the stored
    one. Answers a `transaction-response` Bundle."""
    kind = (call.req.content_type or "").split(";")[0].strip().lower()
    if kind not in (FHIR_JSON, "application/json"):
        raise HttpProblem(415, "Send the Bundle as application/fhir+json.", slug="unsupported-media-type")
    document = parse_json(read_body_bytes(call.req, settings().max_body_bytes))
    if not isinstance(document, dict):
        raise HttpProblem(422, "The body is not a FHIR resource.", slug="validation",
                          errors=[{"field": "Bundle", "message": "must be a JSON object", "type": "structure"}])
    answer = call.rpc("records", "record_lab_bundle", document)
    result, created = answer["result"], answer["created"]
    report = fhir.diagnostic_report(result)
    status = "201 Created" if created else "200 OK"
    entries = [{"response": {"status": status, "location": f"DiagnosticReport/{report['id']}",
                             "lastModified": report["issued"]}}]
    entries += [{"response": {"status": status, "location": ref["reference"]}} for ref in report["result"]]
    return _answer({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
