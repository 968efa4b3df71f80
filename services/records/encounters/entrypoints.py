"""The encounters' Nameko entrypoints: thin adapters over ``usecases``, and the consumers of booking's appointment
events (what records needs to know of a visit before its doctor opens the encounter, and who cares for whom)."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from contracts.booking.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConfirmed,
    AppointmentNoShow,
    AppointmentRescheduled,
)
from contracts.booking.schemas import VisitFacts
from contracts.records.encounters import (
    AmendmentRequest,
    ChatAttachmentRequest,
    Encounter,
    EncounterAttachment,
    EncounterQuery,
    EncounterRequest,
    ReportContent,
)
from services.records.codes.rules import ICD10
from services.records.codes.store import CodeStore
from services.records.encounters import usecases
from services.records.encounters.rules import KnownAppointment
from services.records.encounters.store import EncounterStore
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.errors import InvalidInput, NotFound, field_error
from wenzhen.events import Envelope
from wenzhen.service import ServiceRpc, call, rpc
from wenzhen.storage import Tx
from wenzhen.timez import parse_iso, utcnow


def _decoded(data_b64: str) -> bytes:
    try:
        return base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("The file is not base64.", [field_error("file", "is not base64", "encoding")]) from None


STATUS_OF = {AppointmentConfirmed: "confirmed", AppointmentCancelled: "cancelled", AppointmentCheckedIn: "checked_in",
             AppointmentNoShow: "no_show", AppointmentCompleted: "completed"}


def _known(event, envelope: Envelope, **facts) -> KnownAppointment:
    return KnownAppointment(id=event.appointment_id, patient_id=event.patient_id, doctor_id=event.doctor_id,
                            department=event.department, service=event.service, start=parse_iso(event.start),
                            sequence=envelope.sequence, **{"kind": "", "online": False, "status": "", **facts})


class EncounterEntrypoints:
    booking = ServiceRpc("booking")
    intake = ServiceRpc("intake")

    @property
    def encounters(self) -> EncounterStore:
        return EncounterStore(self.store, keyring())

    def _active_codes(self, codes: Iterable[str]) -> set[str]:
        return {code for code, entry in CodeStore(self.store).entries(ICD10, codes).items() if entry.active}

    def _ask_booking(self, appointment_id: str) -> KnownAppointment | None:
        try:
            facts = VisitFacts.model_validate(call(self.booking.visit_facts, appointment_id))
        except NotFound:
            return None
        return KnownAppointment(id=facts.appointment_id, patient_id=facts.patient_id, doctor_id=facts.doctor_id,
                                department=facts.department, service=facts.service.value, kind=facts.kind.value,
                                online=facts.online, status=facts.status.value, start=parse_iso(facts.start),
                                consultation_id=facts.consultation_id)

    @rpc
    def open_encounter(self, request: EncounterRequest) -> Encounter:
        return usecases.open_encounter(self.encounters, self.caller, request, self._ask_booking, utcnow())

    @rpc
    def get_encounter(self, encounter_id: str) -> Encounter:
        return usecases.get_encounter(self.encounters, self.caller, encounter_id, utcnow())

    @rpc
    def list_encounters(self, query: EncounterQuery) -> list[Encounter]:
        return usecases.list_encounters(self.encounters, self.caller, query, utcnow())

    @rpc
    def save_report_draft(self, encounter_id: str, content: ReportContent) -> Encounter:
        return usecases.save_draft(self.encounters, self.caller, encounter_id, content, utcnow())

    @rpc
    def sign_report(self, encounter_id: str) -> Encounter:
        return usecases.sign(self.encounters, self.caller, encounter_id, self._active_codes, utcnow())

    @rpc
    def amend_report(self, encounter_id: str, request: AmendmentRequest) -> Encounter:
        return usecases.amend(self.encounters, self.caller, encounter_id, request, self._active_codes, utcnow())

    @rpc
    def add_attachment(self, encounter_id: str, data_b64: str, name: str | None = None) -> EncounterAttachment:
        return usecases.add_attachment(self.encounters, self.caller, encounter_id, _decoded(data_b64), name,
                                       utcnow())

    @rpc
    def attach_from_chat(self, encounter_id: str, request: ChatAttachmentRequest) -> EncounterAttachment:
        def chat_file(consultation_id: str, attachment_id: str, patient_id: str) -> tuple[str, bytes]:
            found = call(self.intake.attachment_for_record, consultation_id, attachment_id, patient_id)
            return found["name"], base64.b64decode(found["data_b64"])

        return usecases.attach_from_chat(self.encounters, self.caller, encounter_id, request, chat_file, utcnow())

    @rpc
    def get_attachment(self, encounter_id: str, attachment_id: str) -> dict:
        attachment, data = usecases.read_attachment(self.encounters, self.caller, encounter_id, attachment_id,
                                                    utcnow())
        return {**attachment.model_dump(mode="json"), "data_b64": base64.b64encode(data).decode()}

    @rpc
    def close_encounter(self, encounter_id: str) -> Encounter:
        return usecases.close(self.encounters, self.caller, encounter_id, utcnow())

    # booking's appointments ------------------------------------------------------------------------------------------
    @consumes(AppointmentBooked)
    def on_appointment_booked(self, tx: Tx, event: AppointmentBooked, envelope: Envelope) -> None:
        usecases.record_appointment(self.encounters, tx, _known(
            event, envelope, kind=event.kind, online=event.online, status=event.status,
            consultation_id=event.consultation_id), utcnow())

    def _state(self, tx: Tx, event, envelope: Envelope, status: str | None = None) -> None:
        usecases.record_state(self.encounters, tx, _known(event, envelope), status or STATUS_OF[type(event)])

    @consumes(AppointmentConfirmed)
    def on_appointment_confirmed(self, tx: Tx, event: AppointmentConfirmed, envelope: Envelope) -> None:
        self._state(tx, event, envelope)

    @consumes(AppointmentRescheduled)
    def on_appointment_rescheduled(self, tx: Tx, event: AppointmentRescheduled, envelope: Envelope) -> None:
        known = self.encounters.appointment(event.appointment_id, tx)  # the status stays; the start moves
        self._state(tx, event, envelope, known.status if known else "confirmed")

    @consumes(AppointmentCancelled)
    def on_appointment_cancelled(self, tx: Tx, event: AppointmentCancelled, envelope: Envelope) -> None:
        self._state(tx, event, envelope)

    @consumes(AppointmentCheckedIn)
    def on_appointment_checked_in(self, tx: Tx, event: AppointmentCheckedIn, envelope: Envelope) -> None:
        self._state(tx, event, envelope)

    @consumes(AppointmentNoShow)
    def on_appointment_no_show(self, tx: Tx, event: AppointmentNoShow, envelope: Envelope) -> None:
        self._state(tx, event, envelope)

    @consumes(AppointmentCompleted)
    def on_appointment_completed(self, tx: Tx, event: AppointmentCompleted, envelope: Envelope) -> None:
        self._state(tx, event, envelope)
