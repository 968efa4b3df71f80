"""Wenzhen's records as FHIR R4 (R4B, 4.3.0) resources: pure mappings from the services' contract models (as their
RPCs answer them, JSON) to FHIR JSON. The services decide who may see what and audit each read; this module only
says it in the standard of the field. Every mapping is validated against fhir.resources' R4B models in the tests.

Ids: ``pat_01H…`` is ``pat-01H…`` (``wenzhen.ids.to_fhir``). A prescription of several drugs is one
MedicationRequest per drug, grouped by ``groupIdentifier`` (the prescription); the diagnoses of an encounter's
current report version are its Conditions (``<encounter>-dx<n>``)."""
from __future__ import annotations

from contracts.fhir import (
    ATC,
    CATEGORY,
    FORMULARY,
    ICD10,
    INTERPRETATION,
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
)
from wenzhen.ids import to_fhir
from wenzhen.timez import parse_iso, to_utc_iso

ACCOUNT = "urn:wenzhen:account"
ROLE = "urn:wenzhen:role"


def ref(kind: str, wenzhen_id: str, display: str | None = None) -> dict:
    found = {"reference": f"{kind}/{to_fhir(wenzhen_id)}"}
    if display:
        found["display"] = display
    return found


def staff(account_id: str, display: str | None = None) -> dict:
    """A staff member by their account (Wenzhen publishes no Practitioner resources)."""
    found = {"identifier": {"system": ACCOUNT, "value": account_id}, "type": "Practitioner"}
    if display:
        found["display"] = display
    return found


def instant(local_iso: str | None) -> str | None:
    """An answer's local ISO time as a FHIR instant (UTC, ``Z``)."""
    return to_utc_iso(parse_iso(local_iso)) if local_iso else None


def _meta(updated: str | None) -> dict:
    return {"lastUpdated": instant(updated)} if updated else {}


# Patient ----------------------------------------------------------------------------------------------------------
def patient(p: dict) -> dict:
    resource = {
        "resourceType": "Patient", "id": to_fhir(p["id"]), "meta": _meta(p.get("registered_at")), "active": True,
        "name": [{"text": p["name"], "use": "official"}], "gender": p["sex"], "birthDate": p["birth_date"],
        "telecom": [{"system": "phone", "value": p["phone"], "use": "mobile"}],
    }
    if p.get("address"):
        resource["address"] = [{"text": p["address"]}]
    identity = p.get("identity")
    if identity:
        resource["identifier"] = [{
            "use": "official", "system": f"urn:wenzhen:identity-document:{identity['document_type']}",
            "value": identity["number"],  # masked as every answer shows it
            "extension": [{"url": "urn:wenzhen:fhir:identity-verified",
                           "valueBoolean": identity["status"] == "verified"}]}]
    return resource


# Encounter and its Conditions ---------------------------------------------------------------------------------------
ENCOUNTER_STATUS = {"open": "in-progress", "closed": "finished"}
ENCOUNTER_CLASS = {"in_person": ("AMB", "ambulatory"), "video": ("VR", "virtual"), "images": ("VR", "virtual")}


def condition_ids(e: dict) -> list[str]:
    report = e.get("report") or []
    diagnoses = report[-1]["content"]["diagnoses"] if report else []
    return [f"{to_fhir(e['id'])}-dx{n}" for n in range(1, len(diagnoses) + 1)]


def encounter(e: dict) -> dict:
    code, display = ENCOUNTER_CLASS[e["mode"]]
    resource = {
        "resourceType": "Encounter", "id": to_fhir(e["id"]), "meta": _meta(e.get("closed_at") or e["opened_at"]),
        "status": ENCOUNTER_STATUS[e["status"]],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code, "display": display},
        "type": [{"text": {"in_person": "门诊", "video": "视频复诊", "images": "图文复诊"}[e["mode"]]
                  if e["follow_up"] or e["mode"] == "in_person" else "视频问诊"}],
        "subject": ref("Patient", e["patient_id"]),
        "participant": [{"individual": staff(e["doctor_id"])}],
        "period": {"start": instant(e["opened_at"]), **({"end": instant(e["closed_at"])} if e.get("closed_at")
                                                        else {})},
        "serviceProvider": {"identifier": {"system": "urn:wenzhen:department", "value": e["department"]}},
        "diagnosis": [{"condition": {"reference": f"Condition/{cid}"}, "rank": n}
                      for n, cid in enumerate(condition_ids(e), start=1)],
    }
    if e.get("appointment_id"):
        resource["appointment"] = [ref("Appointment", e["appointment_id"])]
    if not resource["diagnosis"]:
        del resource["diagnosis"]
    return resource


def conditions(e: dict) -> list[dict]:
    """The diagnoses of the current (newest signed) version of the encounter's report."""
    report = e.get("report") or []
    if not report:
        return []
    current = report[-1]
    found = []
    for cid, diagnosis in zip(condition_ids(e), current["content"]["diagnoses"], strict=True):
        found.append({
            "resourceType": "Condition", "id": cid, "meta": _meta(current["signed_at"]),
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                      "code": "encounter-diagnosis"}]}],
            "code": {"coding": [{"system": ICD10, "code": diagnosis["code"]}], "text": diagnosis["text"]},
            "subject": ref("Patient", e["patient_id"]), "encounter": ref("Encounter", e["id"]),
            "recordedDate": instant(current["signed_at"]), "recorder": staff(current["signed_by"]),
        })
    return found


# MedicationRequest ------------------------------------------------------------------------------------------------
RX_STATUS = {"pending_review": "on-hold", "took_effect": "active", "rejected": "cancelled",
             "changes_requested": "cancelled", "lapsed": "cancelled"}
RX_REASON = {"pending_review": "awaiting the pharmacist's review", "rejected": "rejected by the pharmacist",
             "changes_requested": "the pharmacist asked for a change", "lapsed": "not approved within its validity"}


def medication_request_ids(rx: dict) -> list[str]:
    return [f"{to_fhir(rx['id'])}-{n}" for n in range(1, len(rx["items"]) + 1)]


def medication_requests(rx: dict) -> list[dict]:
    """One per drug, grouped by the prescription (``groupIdentifier``)."""
    found = []
    for mid, item in zip(medication_request_ids(rx), rx["items"], strict=True):
        resource = {
            "resourceType": "MedicationRequest", "id": mid, "meta": _meta((rx.get("review") or {}).get("at")
                                                                          or rx["signed_at"]),
            "status": RX_STATUS[rx["status"]], "intent": "order",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient"}]}],
            "medicationCodeableConcept": {
                "coding": [{"system": FORMULARY, "code": item["drug_code"], "display": item["name"]},
                           {"system": ATC, "code": item["atc"]}],
                "text": f"{item['name']} {item['strength']} ({item['form']})"},
            "subject": ref("Patient", rx["patient_id"]), "encounter": ref("Encounter", rx["encounter_id"]),
            "authoredOn": instant(rx["signed_at"]), "requester": staff(rx["doctor_id"]),
            "groupIdentifier": {"system": "urn:wenzhen:prescription", "value": rx["id"]},
            "reasonCode": [{"coding": [{"system": ICD10, "code": d["code"]}], "text": d["name"]}
                           for d in rx["diagnoses"]],
            "courseOfTherapyType": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
                "code": "continuous" if rx["kind"] == "long_term" else "acute"}]},
            "dosageInstruction": [{
                "text": " ".join(part for part in (item["dose"], item["frequency"], item["route"],
                                                   item.get("instructions")) if part),
                "timing": {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
                                                "code": item["frequency"].upper()}]}},
                "route": {"text": item["route"]}}],
            "dispenseRequest": {
                "validityPeriod": {"start": instant(rx["signed_at"]), "end": instant(rx["valid_until"])},
                "quantity": {"value": item["quantity"], "unit": item["unit"]},
                "expectedSupplyDuration": {"value": item["days"], "unit": "days", "system": UCUM, "code": "d"}},
        }
        if rx["status"] in RX_REASON:
            resource["statusReason"] = {"text": RX_REASON[rx["status"]]}
        if rx.get("review"):
            resource["performer"] = staff(rx["review"]["reviewer_id"], "reviewing pharmacist")
        found.append(resource)
    return found


# Appointment ------------------------------------------------------------------------------------------------------
APPOINTMENT_STATUS = {"held": "pending", "confirmed": "booked", "checked_in": "arrived", "completed": "fulfilled",
                      "no_show": "noshow", "cancelled": "cancelled", "expired": "cancelled", "offered": "proposed",
                      "declined": "cancelled"}


def appointment(a: dict) -> dict:
    resource = {
        "resourceType": "Appointment", "id": to_fhir(a["id"]), "meta": _meta(a.get("confirmed_at") or a["booked_at"]),
        "status": APPOINTMENT_STATUS[a["status"]],
        "serviceType": [{"coding": [{"system": "urn:wenzhen:service", "code": a["service"]}]}],
        "start": instant(a["start"]), "end": instant(a["end"]), "created": instant(a["booked_at"]),
        "participant": [{"actor": ref("Patient", a["patient_id"]), "status": "accepted"},
                        {"actor": staff(a["doctor_id"]), "status": "accepted"}],
    }
    if a.get("cancel_reason"):
        resource["cancelationReason"] = {"text": a["cancel_reason"]}
    return resource


# DiagnosticReport and Observation -----------------------------------------------------------------------------------
def diagnostic_report(r: dict) -> dict:
    resource = {
        "resourceType": "DiagnosticReport", "id": to_fhir(r["id"]), "meta": _meta(r.get("released_at") or r["issued"]),
        "basedOn": [ref("ServiceRequest", r["order_id"])],
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": r["category"]}]}],
        "code": {"text": "; ".join(o["name"] for o in r["observations"])[:200] or "results"},
        "subject": ref("Patient", r["patient_id"]), "encounter": ref("Encounter", r["encounter_id"]),
        "issued": instant(r["issued"]), "effectiveDateTime": instant(r["issued"]),
        "result": [ref("Observation", o["id"]) for o in r["observations"]],
    }
    if r.get("conclusion"):
        resource["conclusion"] = r["conclusion"]
    return resource


def result_observations(r: dict) -> list[dict]:
    found = []
    for o in r["observations"]:
        resource = {
            "resourceType": "Observation", "id": to_fhir(o["id"]), "meta": _meta(r.get("released_at") or r["issued"]),
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory" if r["category"] == "LAB"
                                      else "imaging" if r["category"] == "RAD" else "exam"}]}],
            "code": {"coding": [{"system": LOINC if "-" in o["code"] else "urn:wenzhen:test", "code": o["code"],
                                 "display": o["name"]}], "text": o["name"]},
            "subject": ref("Patient", r["patient_id"]), "encounter": ref("Encounter", r["encounter_id"]),
            "effectiveDateTime": instant(r["issued"]), "issued": instant(r["issued"]),
        }
        if o.get("value") is not None:
            resource["valueQuantity"] = {"value": o["value"], "unit": o["unit"], "system": UCUM, "code": o["unit"]}
        else:
            resource["valueString"] = o["text"]
        if o.get("reference_range"):
            rr = o["reference_range"]
            found_range = {k: {"value": rr[k], **({"unit": o["unit"], "system": UCUM, "code": o["unit"]}
                                                 if o.get("unit") else {})}
                           for k in ("low", "high") if rr.get(k) is not None}
            if rr.get("text"):
                found_range["text"] = rr["text"]
            if found_range:
                resource["referenceRange"] = [found_range]
        if o.get("flag"):
            resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": o["flag"]}]}]
        found.append(resource)
    return found


VITALS = {  # kind -> (LOINC code, display, UCUM unit)
    "glucose": ("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L"),
    "weight": ("29463-7", "Body weight", "kg"),
    "heart_rate": ("8867-4", "Heart rate", "/min"),
    "temperature": ("8310-5", "Body temperature", "Cel"),
}


def log_observation(entry: dict) -> dict:
    """A patient's own measurement (category vital-signs, or survey for a symptom)."""
    kind = entry["kind"]
    resource = {
        "resourceType": "Observation", "id": to_fhir(entry["id"]), "meta": _meta(entry["recorded_at"]),
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY,
                                  "code": "survey" if kind == "symptom" else "vital-signs"}]}],
        "subject": ref("Patient", entry["patient_id"]), "effectiveDateTime": instant(entry["measured_at"]),
        "issued": instant(entry["recorded_at"]), "performer": [ref("Patient", entry["patient_id"])],
    }
    if kind == "blood_pressure":
        resource["code"] = {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]}
        resource["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
             "valueQuantity": {"value": entry[part], "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
            for code, display, part in (("8480-6", "Systolic blood pressure", "systolic"),
                                        ("8462-4", "Diastolic blood pressure", "diastolic"))]
    elif kind == "symptom":
        resource["code"] = {"coding": [{"system": LOINC, "code": "75325-1", "display": "Symptom"}]}
        resource["valueString"] = entry["note"]
    else:
        code, display, unit = VITALS[kind]
        resource["code"] = {"coding": [{"system": LOINC, "code": code, "display": display}]}
        resource["valueQuantity"] = {"value": entry["value"], "unit": unit, "system": UCUM, "code": unit}
    if entry.get("note") and kind != "symptom":
        resource["note"] = [{"text": entry["note"]}]
    return resource


# the envelope -------------------------------------------------------------------------------------------------------
def is_fhir(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


def operation_outcome(status: int, detail: str, errors: list[dict]) -> dict:
    code = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict", 413: "too-long",
            415: "not-supported", 422: "invalid", 429: "throttled", 503: "transient", 504: "timeout"}.get(
        status, "exception")
    issues = [{"severity": "error", "code": "invalid" if status in (400, 422) else code,
               "diagnostics": f"{e['field']}: {e['message']}", "expression": [e["field"]]}
              for e in errors if e.get("field")]
    return {"resourceType": "OperationOutcome",
            "issue": issues or [{"severity": "error", "code": code, "diagnostics": detail or str(status)}]}


def searchset(matches: list[dict], included: list[dict], base: str, self_link: str) -> dict:
    """A search's answer: the matches, then what ``_include`` / ``_revinclude`` brought (``search.mode``)."""
    seen, entries = set(), []
    for mode, resources in (("match", matches), ("include", included)):
        for resource in resources:
            key = (resource["resourceType"], resource["id"])
            if key in seen:
                continue
            seen.add(key)
            entries.append({"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource,
                            "search": {"mode": mode}})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
            "link": [{"relation": "self", "url": self_link}], "entry": entries}

