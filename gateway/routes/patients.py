"""Patients: registration and what the system did for them."""
from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.api import Call, Reply
from gateway.app_api import api
from services.intake.schemas import Patient, PatientRegistration


class Notification(BaseModel):
    id: str
    channel: str = Field(examples=["sms"])
    template: str = Field(examples=["welcome"])
    text: str
    status: str = Field(description="recorded: stored for its channel to send.")
    created_at: str = Field(description="In the hospital's time zone (ISO 8601).")


@api.route("POST", "/v1/patients", summary="Register a patient", tags=["patients"], request=PatientRegistration,
           response=Patient, status=201,
           errors={409: "The phone number is already registered.", 422: "A field is invalid."})
def register_patient(call: Call) -> Reply:
    """Registers a patient. intake stores the patient and, in the same transaction, records the
    `patient_registered` event; notify reacts with a welcome notification."""
    patient = call.rpc("intake", "register_patient", call.body.model_dump(mode="json"))
    return Reply(patient, 201, {"Location": f"/v1/patients/{patient['id']}"})


@api.route("GET", "/v1/patients/{patient_id}", summary="Get a patient", tags=["patients"], response=Patient,
           errors={404: "No such patient."})
def get_patient(call: Call, patient_id: str) -> dict:
    return call.rpc("intake", "get_patient", patient_id)


@api.route("GET", "/v1/patients/{patient_id}/notifications", summary="List a patient's notifications",
           tags=["patients"], response=list[Notification], errors={404: "No such patient."})
def list_notifications(call: Call, patient_id: str) -> list:
    """Newest first. Notifications follow events, so a just-registered patient's welcome may take a moment."""
    call.rpc("intake", "get_patient", patient_id)  # 404 for an unknown patient
    return call.rpc("notify", "list_notifications", patient_id)
