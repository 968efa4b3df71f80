"""The appointments' Nameko entrypoints: thin adapters over ``usecases``.

Other services call :meth:`~AppointmentEntrypoints.confirm` (payments, when a booking is paid) and
:meth:`~AppointmentEntrypoints.book_for_consultation` (intake, for the consultant in a chat: the consultant's
principal travels in the context data, as from the gateway)."""
from __future__ import annotations

from contracts.booking.schemas import (
    Appointment,
    AppointmentQuery,
    AppointmentRequest,
    CancelRequest,
    CheckInRequest,
    RescheduleRequest,
    VisitFacts,
)
from contracts.intake.events import ConsultationIntakeCompleted, PatientRegistered
from services.booking.appointments import usecases
from services.booking.appointments.rules import require_key
from services.booking.appointments.store import AppointmentStore
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.storage import Tx
from wenzhen.timez import utcnow


class AppointmentEntrypoints:
    @property
    def appointments(self) -> AppointmentStore:
        return AppointmentStore(self.store, keyring())

    @rpc
    def book(self, request: AppointmentRequest, idempotency_key: str | None = None) -> Appointment:
        """Book a slot (patients for records they act for; consultants and team leads on a patient's behalf).
        A retry with the same ``idempotency_key`` and request returns the first result."""
        return usecases.book(self.appointments, self.caller, request, self.settings.policy, utcnow(),
                             idempotency_key=require_key(idempotency_key, "Idempotency-Key"))

    @rpc
    def book_for_consultation(self, consultation_id: str, booking: AppointmentRequest,
                              idempotency_key: str | None = None) -> Appointment:
        """For intake: a consultant (or team lead) books during a chat; the appointment records the consultation.
        Pass an ``idempotency_key`` (e.g. the chat message id) so a retried call returns the first booking."""
        return usecases.book(self.appointments, self.caller, booking, self.settings.policy, utcnow(),
                             idempotency_key=require_key(idempotency_key, "idempotency_key"),
                             consultation_id=require_key(consultation_id, "consultation_id"))

    @rpc
    def get_appointment(self, appointment_id: str) -> Appointment:
        return usecases.get_appointment(self.appointments, self.caller, appointment_id)

    @rpc
    def visit_facts(self, appointment_id: str) -> VisitFacts:
        return usecases.visit_facts(self.appointments, self.caller, appointment_id)

    @rpc
    def list_appointments(self, query: AppointmentQuery) -> list[Appointment]:
        return usecases.list_appointments(
            self.appointments, self.caller, patient_id=query.patient_id, doctor_id=query.doctor_id,
            status=query.status.value if query.status else None, day_from=getattr(query, "from"), day_to=query.to,
            limit=query.limit)

    @rpc
    def cancel(self, appointment_id: str, request: CancelRequest) -> Appointment:
        return usecases.cancel(self.appointments, self.caller, appointment_id, request, self.settings.policy, utcnow())

    @rpc
    def reschedule(self, appointment_id: str, request: RescheduleRequest) -> Appointment:
        return usecases.reschedule(self.appointments, self.caller, appointment_id, request, self.settings.policy,
                                   utcnow())

    @rpc
    def confirm(self, appointment_id: str) -> Appointment:
        """Confirm a held booking: payments (as its service principal) when it is paid, or desk staff. Idempotent."""
        return usecases.confirm(self.appointments, self.caller, appointment_id, utcnow())

    @rpc
    def check_in(self, appointment_id: str, request: CheckInRequest) -> Appointment:
        return usecases.check_in(self.appointments, self.caller, appointment_id, request, self.settings.policy,
                                 utcnow())

    @rpc
    def complete(self, appointment_id: str) -> Appointment:
        return usecases.complete(self.appointments, self.caller, appointment_id, utcnow())

    # what booking keeps from intake's events -----------------------------------------------------------------------
    @consumes(PatientRegistered)
    def on_patient_registered(self, tx: Tx, event: PatientRegistered, envelope: Envelope) -> None:
        usecases.record_patient(self.appointments, tx, event.patient_id, utcnow())

    @consumes(ConsultationIntakeCompleted)
    def on_consultation_intake_completed(self, tx: Tx, event: ConsultationIntakeCompleted,
                                         envelope: Envelope) -> None:
        usecases.record_consultation(self.appointments, tx, event.consultation_id, event.patient_id,
                                     event.follow_up_eligible, envelope.sequence, utcnow())
