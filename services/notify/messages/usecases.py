"""Messages' operations: a fact's message is recorded (and audited as written) in the transaction of the event that
caused it; the dispatcher sends what is queued after the commit; a patient reads their own (audited)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contracts.identity.schemas import OtpDelivery
from contracts.notify.schemas import Notification
from services.notify.messages import rules
from services.notify.messages.channels import SmsChannel
from services.notify.messages.rules import Contact
from services.notify.messages.store import MessageStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, Outcome
from wenzhen.auth import Caller
from wenzhen.errors import NotFound
from wenzhen.storage import Tx


def queue_sms(store: MessageStore, tx: Tx, caller: Caller, *, to: str, text: str, template: str, cause: str,
              now: datetime, patient_id: str | None = None) -> str:
    """Record an SMS in this transaction (and, in the audit trail, that it was written); the dispatcher sends it
    after the commit. Returns the notification's id."""
    notification_id = ids.new_id("ntf")
    store.insert_sms(tx, notification_id, to=to, text=text, template=template, cause=cause, patient_id=patient_id,
                     now=now)
    audit.record(tx, caller, CREATE, "create", "Notification", notification_id, patient_id=patient_id,
                 detail=template)
    return notification_id


def welcome(store: MessageStore, tx: Tx, caller: Caller, patient_id: str, relationship: str | None,
            contact: Callable[[], Contact], cause: str, now: datetime) -> str | None:
    """A newly registered patient's welcome; a relative's record gets none, and is remembered as unreachable."""
    if not rules.deserves_welcome(relationship):
        store.note_unconfirmed(tx, patient_id, now)
        return None
    reached = contact()
    return queue_sms(store, tx, caller, to=reached.phone, text=rules.welcome_text(reached), template="welcome",
                     cause=cause, now=now, patient_id=patient_id)


def complaint_answered(store: MessageStore, tx: Tx, caller: Caller, patient_id: str | None,
                       contact: Callable[[], Contact], cause: str, now: datetime) -> str | None:
    """The patient learns there is an answer (and reads it signed in); a complaint by phone about no record: none."""
    if patient_id is None:
        return None
    return queue_sms(store, tx, caller, to=contact().phone, text=rules.COMPLAINT_ANSWERED_TEXT,
                     template="complaint_answered", cause=cause, now=now, patient_id=patient_id)


def patient_sms(store: MessageStore, tx: Tx, caller: Caller, patient_id: str, contact: Callable[[], Contact],
                text: str, template: str, cause: str, now: datetime) -> str | None:
    """A message to the patient's number (``contact`` looks it up): a booking's, or that records has something
    ready; nothing, and no look-up, for a record whose number nobody confirmed."""
    if not store.reachable(patient_id, tx):
        return None
    return queue_sms(store, tx, caller, to=contact().phone, text=text, template=template, cause=cause, now=now,
                     patient_id=patient_id)


def otp(store: MessageStore, tx: Tx, caller: Caller, delivery: OtpDelivery, cause: str, now: datetime) -> str:
    """A sign-up or reset code (or the notice that the number has an account) to the number it is for."""
    return queue_sms(store, tx, caller, to=delivery.phone, text=rules.otp_text(delivery),
                     template=rules.otp_template(delivery), cause=cause, now=now)


def dispatch(store: MessageStore, channel: SmsChannel, now: datetime, limit: int = rules.DISPATCH_BATCH) -> int:
    """Send queued SMS in order; a failure stops the round (the message stays queued and is retried)."""
    sent = 0
    for sms in store.queued_sms(limit):
        channel.send(sms.id, sms.to, sms.text)
        store.mark_sent(sms.id, channel.name, now)
        sent += 1
    return sent


def list_for_patient(store: MessageStore, caller: Caller, patient_id: str,
                     limit: int = rules.LIST_LIMIT) -> list[Notification]:
    """A patient's notifications, for the patient (or their representative); anyone else: 404, audited as denied."""
    if not rules.may_read(caller.principal, patient_id):
        audit.record(store, caller, READ, "search", "Notification", None, patient_id=patient_id,
                     outcome=Outcome.denied)
        raise NotFound(f"No patient with id {patient_id}.")
    audit.record(store, caller, READ, "search", "Notification", None, patient_id=patient_id)
    return store.for_patient(patient_id, limit)
