"""The CapabilityStatement ``GET /fhir/metadata`` answers: what this server really does (read, search with the
parameters each type takes, the includes, ``$everything``, the laboratory's transaction), and nothing it does not."""
from __future__ import annotations

from contracts.fhir import FHIR_JSON, FHIR_VERSION

COMMON = [("_count", "number", "Page size, at most 200 (no further pages: narrow the search)"),
          ("_include", "special", "See searchInclude"), ("_revinclude", "special", "See searchRevInclude")]
PATIENT = ("patient", "reference", "The patient (Patient/pat-…); patients must name a record they act for")
DATE = ("date", "date", "eq, ne, lt, le, gt, ge on the resource's date; repeatable")

TYPES = {
    "Patient": {"params": [], "include": [], "revinclude": [], "operation": True},
    "Encounter": {"params": [PATIENT, DATE, ("status", "token", "in-progress | finished")],
                  "include": ["Encounter:patient"],
                  "revinclude": ["Condition:encounter", "MedicationRequest:encounter", "DiagnosticReport:encounter"]},
    "Condition": {"params": [PATIENT, DATE, ("encounter", "reference", "The encounter (Encounter/enc-…)")],
                  "include": ["Condition:patient", "Condition:encounter"], "revinclude": []},
    "MedicationRequest": {"params": [PATIENT, DATE, ("status", "token", "on-hold | active | cancelled"),
                                     ("encounter", "reference", "The encounter")],
                          "include": ["MedicationRequest:patient", "MedicationRequest:encounter"], "revinclude": []},
    "Appointment": {"params": [PATIENT, DATE, ("status", "token", "pending | booked | arrived | fulfilled | noshow | "
                                                                  "cancelled | proposed")],
                    "include": ["Appointment:patient"], "revinclude": ["Encounter:appointment"]},
    "DiagnosticReport": {"params": [PATIENT, DATE, ("encounter", "reference", "The encounter")],
                         "include": ["DiagnosticReport:patient", "DiagnosticReport:result",
                                     "DiagnosticReport:encounter"], "revinclude": []},
    "Observation": {"params": [PATIENT, DATE, ("category", "token", "laboratory | vital-signs | survey"),
                               ("code", "token", "LOINC code")],
                    "include": ["Observation:patient"], "revinclude": []},
    "AuditEvent": {"params": [PATIENT, DATE], "include": [], "revinclude": []},
}


def capability_statement(base: str, released: str) -> dict:
    resources = []
    for kind, spec in TYPES.items():
        entry = {
            "type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}] if kind != "AuditEvent"
            else [{"code": "search-type"}],
            "versioning": "no-version", "readHistory": False, "updateCreate": False,
            "searchParam": [{"name": name, "type": kind_, "documentation": doc}
                            for name, kind_, doc in [*spec["params"], *COMMON]],
        }
        if kind == "Patient":
            entry["interaction"] = [{"code": "read"}]
            entry["searchParam"] = []
            entry["operation"] = [{"name": "everything",
                                   "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]
        if spec["include"]:
            entry["searchInclude"] = spec["include"]
        if spec["revinclude"]:
            entry["searchRevInclude"] = spec["revinclude"]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement", "id": "wenzhen", "status": "active", "date": released,
        "kind": "instance", "name": "WenzhenFHIR", "title": "Wenzhen FHIR interface",
        "publisher": "Wenzhen",
        "description": "Read and search access to Wenzhen's electronic records, with the same access rules and "
                       "audit as its own API (a refusal reads as not found). Write: a laboratory's results as a "
                       "transaction Bundle (one DiagnosticReport with its Observations, based on an order).",
        "software": {"name": "Wenzhen", "version": "0.1.0"},
        "implementation": {"description": "Wenzhen gateway", "url": base},
        "fhirVersion": FHIR_VERSION, "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "security": {"cors": False, "service": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth"}],
                "text": "Bearer access tokens (EdDSA JWT) from POST /v1/auth/login"}],
                "description": "Every read is audited (AuditEvent); patients see who read their record."},
            "resource": resources,
            "interaction": [{"code": "transaction", "documentation": "A laboratory's DiagnosticReport with its "
                                                                     "Observations (roles lab and doctor)"}],
        }],
    }
