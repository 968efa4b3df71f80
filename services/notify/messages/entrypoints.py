"""Messages' Nameko entrypoints: thin adapters over ``usecases``. Contacts come from intake (its audited
``get_contact``, only when a message is to be sent), codes from identity (``deliver_otp``), department and room names
from booking's public catalogue."""
from __future__ import annotations

from datetime import date

from contracts.booking.events import AppointmentReminderDue, FollowUpDue, WaitlistOffered
from contracts.identity.events import OtpIssued
from contracts.identity.schemas import OtpDelivery
from contracts.intake.events import ComplaintAnswered, PatientRegistered
from contracts.notify.schemas import Notification
from contracts.records.events import PrescriptionTookEffect, ResultReleased
from services.notify.messages import rules, usecases
from services.notify.messages.rules import Contact
from services.notify.messages.store import MessageStore
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import ServiceRpc, call, rpc
from wenzhen.storage import Tx
from wenzhen.timez import parse_iso, utcnow


class MessageEntrypoints:
    intake = ServiceRpc("intake")
    identity = ServiceRpc("identity")
    booking = ServiceRpc("booking")

    @property
    def messages(self) -> MessageStore:
        return MessageStore(self.store, keyring())

    # what other services ask of ------------------------------------------------------------------------------------
    def _contact(self, patient_id: str):
        return lambda: Contact.of(call(self.intake.get_contact, patient_id))

    def _department(self, code: str) -> str:
        return {d["code"]: d["name_zh"] for d in call(self.booking.list_departments)}.get(code, code)

    def _room(self, code: str | None) -> str | None:
        if code is None:
            return None
        return {r["code"]: r["name"] for r in call(self.booking.list_rooms)}.get(code)

    # facts -----------------------------------------------------------------------------------------------------
    @consumes(PatientRegistered)
    def welcome_patient(self, tx: Tx, event: PatientRegistered, envelope: Envelope) -> None:
        usecases.welcome(self.messages, tx, self.caller, event.patient_id, event.relationship,
                         self._contact(event.patient_id), envelope.id, utcnow())

    @consumes(ComplaintAnswered)
    def tell_complaint_answered(self, tx: Tx, event: ComplaintAnswered, envelope: Envelope) -> None:
        usecases.complaint_answered(self.messages, tx, self.caller, event.patient_id, self._contact(event.patient_id),
                                    envelope.id, utcnow())

    @consumes(OtpIssued)
    def send_otp(self, tx: Tx, event: OtpIssued, envelope: Envelope) -> None:
        delivery = OtpDelivery.model_validate(call(self.identity.deliver_otp, event.otp_id))
        usecases.otp(self.messages, tx, self.caller, delivery, envelope.id, utcnow())

    # booking's messages: when, which department and where -------------------------------------------------------
    @consumes(WaitlistOffered)
    def tell_waitlist_offer(self, tx: Tx, event: WaitlistOffered, envelope: Envelope) -> None:
        now = utcnow()
        text = rules.waitlist_offer_text(self._department(event.department), parse_iso(event.start),
                                         parse_iso(event.offer_expires_at), now)
        usecases.patient_sms(self.messages, tx, self.caller, event.patient_id, self._contact(event.patient_id), text,
                             "waitlist_offer", envelope.id, now)

    @consumes(AppointmentReminderDue)
    def remind_appointment(self, tx: Tx, event: AppointmentReminderDue, envelope: Envelope) -> None:
        text = rules.reminder_text(self._department(event.department), parse_iso(event.start),
                                   self._room(event.room), event.online)
        usecases.patient_sms(self.messages, tx, self.caller, event.patient_id, self._contact(event.patient_id), text,
                             rules.reminder_template(event.hours_before), envelope.id, utcnow())

    @consumes(FollowUpDue)
    def remind_follow_up(self, tx: Tx, event: FollowUpDue, envelope: Envelope) -> None:
        text = rules.follow_up_text(self._department(event.department), date.fromisoformat(event.due_date))
        usecases.patient_sms(self.messages, tx, self.caller, event.patient_id, self._contact(event.patient_id), text,
                             "follow_up_due", envelope.id, utcnow())

    # records' facts: that results are ready, that a prescription took effect (never what they say) --------------
    @consumes(ResultReleased)
    def tell_result_released(self, tx: Tx, event: ResultReleased, envelope: Envelope) -> None:
        usecases.patient_sms(self.messages, tx, self.caller, event.patient_id, self._contact(event.patient_id),
                             rules.RESULT_RELEASED_TEXT, "result_released", envelope.id, utcnow())

    @consumes(PrescriptionTookEffect)
    def tell_prescription_took_effect(self, tx: Tx, event: PrescriptionTookEffect, envelope: Envelope) -> None:
        usecases.patient_sms(self.messages, tx, self.caller, event.patient_id, self._contact(event.patient_id),
                             rules.PRESCRIPTION_EFFECTIVE_TEXT, "prescription_took_effect", envelope.id, utcnow())

    # a patient's own -------------------------------------------------------------------------------------------
    @rpc
    def list_notifications(self, patient_id: str) -> list[Notification]:
        return usecases.list_for_patient(self.messages, self.caller, patient_id)
