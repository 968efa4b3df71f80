"""The patients' Nameko entrypoints: thin adapters over ``usecases``. Other services' facts make care relationships:
the doctor of an appointment may see the patient's record from the booking until 30 days after the visit; a
cancelled booking ends it at once."""
from __future__ import annotations

from contracts.booking.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from contracts.intake.patients import (
    IdentityDocumentInput,
    IdentityVerification,
    LinkedPatient,
    Patient,
    PatientChange,
    PatientRegistration,
    PrescribingFacts,
)
from services.intake.patients import usecases
from services.intake.patients.store import PatientStore
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.storage import Tx
from wenzhen.timez import hospital_zone, parse_iso, utcnow


class PatientEntrypoints:
    @property
    def patients(self) -> PatientStore:
        return PatientStore(self.store, keyring())

    @property
    def patient_access(self) -> usecases.PatientAccess:
        """What intake's other capabilities may ask of patients."""
        return usecases.PatientAccess(self.patients)

    @rpc
    def register_patient(self, registration: PatientRegistration) -> Patient:
        return usecases.register_patient(self.patients, self.caller, registration, utcnow())

    @rpc
    def get_patient(self, patient_id: str) -> Patient:
        return usecases.get_patient(self.patients, self.caller, patient_id, utcnow())

    @rpc
    def change_patient(self, patient_id: str, change: PatientChange) -> Patient:
        return usecases.change_patient(self.patients, self.caller, patient_id, change, utcnow())

    @rpc
    def record_identity_document(self, patient_id: str, document: IdentityDocumentInput) -> Patient:
        now = utcnow()
        return usecases.record_identity_document(self.patients, self.caller, patient_id, document, now,
                                                 now.astimezone(hospital_zone()).date())

    @rpc
    def verify_identity(self, patient_id: str, verification: IdentityVerification) -> Patient:
        return usecases.verify_identity(self.patients, self.caller, patient_id, verification, utcnow())

    @rpc
    def linked_patients(self) -> list[LinkedPatient]:
        return usecases.linked(self.patients, self.caller)

    @rpc
    def remove_link(self, patient_id: str) -> None:
        usecases.remove_link(self.patients, self.caller, patient_id, utcnow())

    @rpc
    def removed_links(self, since: str) -> list[dict]:
        """For the gateway, when it (re)connects: the links removed since ``since`` (ids and times only), so tokens
        issued before a removal no longer act for that record (``gateway/revocations.py``)."""
        return usecases.removed_links(self.patients, parse_iso(since))

    @rpc
    def linked_patient_ids(self, account_id: str) -> list[str]:
        """For identity, at every token issue: the patient records an account acts for."""
        return usecases.linked_ids(self.patients, self.caller, account_id)

    @rpc
    def get_contact(self, patient_id: str) -> dict:
        """Name and phone, for the notification service (it must reach the patient)."""
        return usecases.get_contact(self.patients, self.caller, patient_id)

    @rpc
    def prescribing_facts(self, patient_id: str) -> PrescribingFacts:
        """Real-name status and birth date, for records when a doctor signs a prescription."""
        return usecases.prescribing_facts(self.patients, self.caller, patient_id)

    # care relationships that booking's facts create ----------------------------------------------------------------
    @consumes(AppointmentBooked)
    def on_appointment_booked(self, tx: Tx, event: AppointmentBooked, envelope: Envelope) -> None:
        usecases.care_for_appointment(self.patients, tx, event.doctor_id, event.patient_id, event.appointment_id,
                                      parse_iso(event.end), utcnow())

    @consumes(AppointmentRescheduled)
    def on_appointment_rescheduled(self, tx: Tx, event: AppointmentRescheduled, envelope: Envelope) -> None:
        usecases.appointment_rescheduled(self.patients, tx, event.appointment_id, parse_iso(event.start))

    @consumes(AppointmentCancelled)
    def on_appointment_cancelled(self, tx: Tx, event: AppointmentCancelled, envelope: Envelope) -> None:
        usecases.appointment_cancelled(self.patients, tx, event.appointment_id, utcnow())
