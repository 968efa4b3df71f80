"""notify's Nameko entrypoints."""
from __future__ import annotations

from datetime import date

from nameko.extensions import DependencyProvider

from contracts.booking.events import AppointmentReminderDue, FollowUpDue, WaitlistOffered
from contracts.identity.events import OtpIssued
from contracts.intake.events import ComplaintAnswered, PatientRegistered
from services.notify import domain
from services.notify.channels import SmsChannel, sms_channel
from wenzhen.config import settings
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.lease import LeasedLoop
from wenzhen.service import ServiceBase, ServiceRpc, call, rpc
from wenzhen.storage import Store, Tx
from wenzhen.timez import parse_iso, utcnow


class Dispatcher(LeasedLoop):
    lease_name = "sms-dispatcher"

    def __init__(self, store: Store, channel: SmsChannel):
        cfg = settings()
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=cfg.outbox_poll_interval,
                         retry_max=cfg.outbox_retry_max)
        self.store = store
        self.channel = channel

    def round(self) -> int:
        return domain.dispatch(self.store, keyring(), self.channel)


class DispatcherProvider(DependencyProvider):
    """Runs the SMS dispatcher beside the workers (when a channel is configured)."""

    loop: Dispatcher | None = None

    def start(self) -> None:  # after every dependency's setup, so the store exists
        channel = sms_channel(settings().sms_sink_file)
        if channel:
            store = next(dep for dep in self.container.dependencies if dep.attr_name == "store").store
            self.loop = Dispatcher(store, channel)
            self.container.spawn_managed_thread(self.loop.run, identifier="sms-dispatcher")

    def stop(self) -> None:
        if self.loop:
            self.loop.stop()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.loop


class NotifyService(ServiceBase):
    name = "notify"
    indexes = domain.INDEXES

    intake = ServiceRpc("intake")
    identity = ServiceRpc("identity")
    booking = ServiceRpc("booking")
    dispatcher = DispatcherProvider()

    @consumes(PatientRegistered)
    def welcome_patient(self, tx: Tx, event: PatientRegistered, envelope: Envelope) -> None:
        if not domain.deserves_welcome(event):
            domain.note_unconfirmed(tx, event.patient_id)
            return
        contact = call(self.intake.get_contact, event.patient_id)
        domain.queue_welcome(tx, keyring(), event.patient_id, contact, envelope.id)

    @consumes(ComplaintAnswered)
    def tell_complaint_answered(self, tx: Tx, event: ComplaintAnswered, envelope: Envelope) -> None:
        """The patient learns there is an answer (and reads it signed in); escalations are staff matters."""
        if event.patient_id is None:
            return
        contact = call(self.intake.get_contact, event.patient_id)
        domain.queue_complaint_answered(tx, keyring(), event.patient_id, contact, envelope.id)

    # booking's messages: when, which department and where (names from booking's public catalogue) ------------------
    def _department(self, code: str) -> str:
        names = {d["code"]: d["name_zh"] for d in call(self.booking.list_departments)}
        return names.get(code, code)

    def _room(self, code: str | None) -> str | None:
        if code is None:
            return None
        return {r["code"]: r["name"] for r in call(self.booking.list_rooms)}.get(code)

    def _booking_sms(self, tx: Tx, patient_id: str, text: str, template: str, envelope: Envelope) -> None:
        domain.queue_booking_sms(tx, keyring(), patient_id, lambda: call(self.intake.get_contact, patient_id), text,
                                 template, envelope.id)

    @consumes(WaitlistOffered)
    def tell_waitlist_offer(self, tx: Tx, event: WaitlistOffered, envelope: Envelope) -> None:
        text = domain.waitlist_offer_text(self._department(event.department), parse_iso(event.start),
                                          parse_iso(event.offer_expires_at), utcnow())
        self._booking_sms(tx, event.patient_id, text, "waitlist_offer", envelope)

    @consumes(AppointmentReminderDue)
    def remind_appointment(self, tx: Tx, event: AppointmentReminderDue, envelope: Envelope) -> None:
        text = domain.reminder_text(self._department(event.department), parse_iso(event.start),
                                    self._room(event.room), event.online)
        self._booking_sms(tx, event.patient_id, text, f"appointment_reminder_{event.hours_before}h", envelope)

    @consumes(FollowUpDue)
    def remind_follow_up(self, tx: Tx, event: FollowUpDue, envelope: Envelope) -> None:
        text = domain.follow_up_text(self._department(event.department), date.fromisoformat(event.due_date))
        self._booking_sms(tx, event.patient_id, text, "follow_up_due", envelope)

    @consumes(OtpIssued)
    def send_otp(self, tx: Tx, event: OtpIssued, envelope: Envelope) -> None:
        delivery = call(self.identity.deliver_otp, event.otp_id)
        domain.queue_otp(tx, keyring(), delivery, envelope.id)

    @rpc
    def list_notifications(self, patient_id: str) -> list[dict]:
        return domain.list_for_patient(self.store, keyring(), self.caller, patient_id)
