"""Patient records: registration, real-name identity, what the system sent them, who looked at them."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.intake.patients import (
    IdentityDocumentInput,
    IdentityVerification,
    Patient,
    PatientChange,
    PatientRegistration,
)
from contracts.notify.schemas import Notification
from gateway.api import Call, Reply
from gateway.app_api import api
from wenzhen.audit import merge
from wenzhen.auth import Role
from wenzhen.config import SERVICES

TAGS = ["patients"]
CARE_TEAM = {Role.consultant, Role.doctor, Role.pharmacist, Role.team_lead}


class Accessor(BaseModel):
    kind: str = Field(description="user (a person with a role) or service (Wenzhen itself, e.g. to send an SMS).")
    role: str | None = None
    name: str | None = Field(default=None, description="Staff member's name; services have none.")
    title: str | None = None
    department: str | None = None


class Access(BaseModel):
    """One look at, or change of, the patient's data by someone other than the patient's own account."""

    at: str = Field(description="In the hospital's time zone.")
    who: Accessor
    action: str = Field(description="R read, C create, U update, D delete, E other (e.g. search).")
    what: str = Field(description="What was touched, e.g. Patient, Notification, AuditEvent.")
    purpose: str = Field(description="HL7 PurposeOfUse, e.g. TREAT, HOPERAT.")
    outcome: str = Field(description="success, or denied when an access rule refused it.")


class AccessLog(BaseModel):
    items: list[Access]
    incomplete: list[str] = Field(default_factory=list, description="Services that did not answer in time.")


class AccessLogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)


@api.route("POST", "/v1/patients", summary="Register a patient", tags=TAGS,
           allow={Role.patient, Role.consultant, Role.team_lead}, request=PatientRegistration, response=Patient,
           status=201, errors={409: "The account has a record of its own already (relationship self).",
                               422: "A field is invalid."})
def register_patient(call: Call) -> Reply:
    """A patient registers themself (`relationship: self`) or a relative they act for; consultants and team leads
    register a patient on their behalf. intake stores the record and, in the same transaction, records the
    `patient_registered` event; notify reacts with a welcome SMS. A patient's next token refresh lists the record
    in the token (intake itself knows at once)."""
    patient = call.rpc("intake", "register_patient", call.body.model_dump(mode="json"))
    return Reply(patient, 201, {"Location": f"/v1/patients/{patient['id']}"})


@api.route("GET", "/v1/patients/{patient_id}", summary="Get a patient", tags=TAGS,
           allow={Role.patient, *CARE_TEAM}, response=Patient,
           errors={404: "No such patient, or not one the caller may see (the two are not told apart)."})
def get_patient(call: Call, patient_id: str) -> dict:
    """Patients see their own and linked relatives' records; care staff the patients they care for. Every read is
    recorded in the audit trail."""
    return call.rpc("intake", "get_patient", patient_id)


@api.route("PATCH", "/v1/patients/{patient_id}", summary="Change a patient's contact details", tags=TAGS,
           allow={Role.patient, Role.consultant, Role.team_lead}, request=PatientChange, response=Patient,
           errors={404: "No such patient, or not one the caller may change."})
def change_patient(call: Call, patient_id: str) -> dict:
    return call.rpc("intake", "change_patient", patient_id, call.body.model_dump(mode="json", exclude_none=True))


@api.route("PUT", "/v1/patients/{patient_id}/identity-document", summary="Record a real-name identity document",
           tags=TAGS, allow={Role.patient, Role.consultant, Role.team_lead, Role.doctor},
           request=IdentityDocumentInput, response=Patient,
           errors={404: "No such patient, or not one the caller may change.",
                   409: "The document is registered to another patient record.",
                   422: "The number is not valid, or a resident ID does not match the birth date or sex."})
def record_identity_document(call: Call, patient_id: str) -> dict:
    """Stored encrypted, shown masked, unverified until a staff member checks the document
    (`POST …/identity-verification`). A resident ID's checksum, birth date and sex digit are checked."""
    return call.rpc("intake", "record_identity_document", patient_id, call.body.model_dump(mode="json"))


@api.route("POST", "/v1/patients/{patient_id}/identity-verification", summary="Verify a patient's identity",
           tags=TAGS, allow={Role.consultant, Role.team_lead, Role.doctor}, request=IdentityVerification,
           response=Patient, errors={404: "No such patient, or not one the caller cares for.",
                                     409: "No document recorded, or verified already."})
def verify_identity(call: Call, patient_id: str) -> dict:
    """The staff member attests they saw the document (in person or on video) and it matches the patient."""
    return call.rpc("intake", "verify_identity", patient_id, call.body.model_dump(mode="json"))


@api.route("GET", "/v1/patients/{patient_id}/notifications", summary="List a patient's notifications",
           tags=TAGS, allow={Role.patient}, response=list[Notification], errors={404: "No such patient."})
def list_notifications(call: Call, patient_id: str) -> list:
    """Newest first. Notifications follow events, so a just-registered patient's welcome may take a moment."""
    return call.rpc("notify", "list_notifications", patient_id)


@api.route("GET", "/v1/patients/{patient_id}/access-log", summary="Who looked at this patient's record",
           tags=TAGS, allow={Role.patient}, query=AccessLogQuery, response=AccessLog,
           errors={403: "Not a patient record this account acts for."})
def access_log(call: Call, patient_id: str) -> dict:
    """Every read and change of the patient's data by anyone other than the patient's own account, newest first,
    from the audit trail of every service."""
    query = {"patient_id": patient_id, "exclude_agent_id": call.principal.sub, "limit": call.query.limit}
    pages, failed = call.rpc_each(SERVICES, "audit_events", query)
    items = merge(list(pages.values()), call.query.limit)
    staff_ids = sorted({i["agent"]["id"] for i in items if i["agent"]["kind"] == "user" and i["agent"]["role"]
                        != Role.patient})
    directory = call.rpc("identity", "staff_directory", staff_ids) if staff_ids else {}
    entries = []
    for item in items:
        agent = item["agent"]
        if agent["kind"] == "service":
            who = {"kind": "service", "name": f"Wenzhen {agent['id']}"}
        else:
            who = {"kind": agent["kind"], "role": agent["role"],
                   **{k: v for k, v in directory.get(agent["id"], {}).items() if k != "role"}}
        entries.append({"at": item["recorded"], "who": who, "action": item["action"], "what": item["entity"]["type"],
                        "purpose": item["purpose"], "outcome": item["outcome"]})
    return {"items": entries, "incomplete": failed}
