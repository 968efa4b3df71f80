"""booking's Nameko entrypoints: thin adapters over ``catalogue``, ``schedules`` and ``appointments``, plus two
background loops (each runs in one process of the service at a time, by lease):

* the **slot generator** extends every doctor's slots to the horizon (hourly, and soon after a change of the
  services' settings; a changed schedule template regenerates that doctor's slots at once, in the request);
* the **sweeper**, every ``BOOKING_SWEEP_SECONDS``: ends lapsed unpaid holds (their places go to the waitlist or back
  to the slot), passes on waitlist offers nobody answered, expires waitlist entries whose slot or day passed, marks
  no-shows, and emits the appointment reminders (``reminders.py``) and follow-up reminders (``followups.py``) that
  are due.

Other services call :meth:`BookingService.confirm` (payments, when a booking is paid) and
:meth:`BookingService.book_for_consultation` (intake, for the consultant in a chat: the consultant's principal
travels in the context data, as from the gateway).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider

from contracts.booking.schemas import (
    AppointmentQuery,
    AppointmentRequest,
    CancelRequest,
    CheckInRequest,
    DoctorSlotQuery,
    FollowUpQuery,
    FollowUpRequest,
    RescheduleRequest,
    ScheduleTemplate,
    SlotSearch,
    WaitlistQuery,
    WaitlistRequest,
)
from contracts.intake.events import ConsultationIntakeCompleted, PatientRegistered
from services.booking import appointments, followups, reminders, schedules, waitlist
from services.booking.appointments import Policy
from services.booking.catalogue import store as catalogue_store
from services.booking.catalogue import usecases as catalogue
from services.booking.catalogue.entrypoints import CatalogueEntrypoints
from services.booking.settings import BookingSettings
from wenzhen.auth import bind_caller
from wenzhen.config import Settings, settings
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.errors import InvalidInput, field_error, validated
from wenzhen.events import Envelope
from wenzhen.lease import LeasedLoop
from wenzhen.service import ServiceBase, rpc
from wenzhen.storage import Store, Tx
from wenzhen.timez import utcnow

_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
GENERATE_EVERY = timedelta(hours=1)


class SlotGenerator(LeasedLoop):
    lease_name = "slot-generator"

    def __init__(self, store: Store, policy: Policy, cfg: Settings, sweep_seconds: float):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=sweep_seconds,
                         retry_max=cfg.outbox_retry_max)
        self.store = store
        self.policy = policy
        self.next_run: datetime | None = None

    def round(self) -> int:
        now = utcnow()
        if self.next_run is None or now >= self.next_run or schedules.regeneration_requested(self.store):
            bind_caller(appointments.SYSTEM)
            schedules.generate_all(self.store, self.policy.horizon_days, now)
            self.next_run = now + GENERATE_EVERY
        return 0  # then wait a poll interval


class Sweeper(LeasedLoop):
    lease_name = "booking-sweeper"

    def __init__(self, store: Store, policy: Policy, cfg: Settings, sweep_seconds: float):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=sweep_seconds,
                         retry_max=cfg.outbox_retry_max)
        self.store = store
        self.policy = policy

    def round(self) -> int:
        bind_caller(appointments.SYSTEM)  # the events it emits name booking itself as their actor
        now, policy = utcnow(), self.policy
        return (appointments.expire_holds(self.store, now, offer_for=policy.offer)
                + waitlist.lapse_offers(self.store, policy, now)
                + waitlist.expire_entries(self.store, now)
                + appointments.mark_no_shows(self.store, policy, now)
                + reminders.send_due_reminders(self.store, policy.reminder_offsets, now)
                + followups.remind_due(self.store, now))


class BookingTimers(DependencyProvider):
    """Runs the slot generator and the sweeper beside the workers."""

    def setup(self) -> None:
        self.loops: list[LeasedLoop] = []

    def start(self) -> None:  # after every dependency's setup, so the store exists
        deps = {dep.attr_name: dep for dep in self.container.dependencies}
        store, own = deps["store"].store, deps["settings"].value
        cfg = settings()
        self.loops = [SlotGenerator(store, own.policy, cfg, own.sweep_seconds),
                      Sweeper(store, own.policy, cfg, own.sweep_seconds)]
        for loop in self.loops:
            self.container.spawn_managed_thread(loop.run, identifier=loop.lease_name)

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self


def _key(value: str | None, field: str) -> str | None:
    if value is not None and not (isinstance(value, str) and _KEY.match(value)):
        raise InvalidInput(f"{field} is not valid.", [field_error(field, "1–64 letters, digits or ._:-", "pattern")])
    return value


def _dump(items) -> list[dict]:
    return [item.model_dump(mode="json") for item in items]


class BookingService(CatalogueEntrypoints, ServiceBase):
    name = "booking"
    settings_class = BookingSettings
    indexes = [*catalogue_store.INDEXES, *schedules.INDEXES, *appointments.INDEXES, *waitlist.INDEXES,
               *followups.INDEXES]

    timers = BookingTimers()

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    # schedules and availability ------------------------------------------------------------------------------------
    @rpc
    def get_schedule(self, doctor_id: str) -> dict:
        return schedules.get_schedule(self.store, self.caller, doctor_id).model_dump(mode="json")

    @rpc
    def put_schedule(self, doctor_id: str, template: dict) -> dict:
        valid = validated(ScheduleTemplate, template)
        return schedules.put_schedule(self.store, self.caller, doctor_id, valid,
                                      self.policy.horizon_days).model_dump(mode="json")

    @rpc
    def search_slots(self, query: dict) -> list[dict]:
        q = validated(SlotSearch, query)
        return _dump(schedules.search_slots(
            self.store, now=utcnow(), horizon_days=self.policy.horizon_days, doctor_id=q.doctor_id,
            department=q.department, service=q.service, day_from=getattr(q, "from"), day_to=q.to, limit=q.limit))

    @rpc
    def doctor_slots(self, doctor_id: str, query: dict) -> list[dict]:
        q = validated(DoctorSlotQuery, query)
        catalogue.doctor(self.catalogue, doctor_id)  # 404 for an unknown or inactive doctor
        return _dump(schedules.search_slots(
            self.store, now=utcnow(), horizon_days=self.policy.horizon_days, doctor_id=doctor_id,
            service=q.service, day_from=getattr(q, "from"), day_to=q.to, limit=q.limit))

    # appointments ----------------------------------------------------------------------------------------------
    @rpc
    def book(self, request: dict, idempotency_key: str | None = None) -> dict:
        """Book a slot (patients for records they act for; consultants and team leads on a patient's behalf).
        A retry with the same ``idempotency_key`` and request returns the first result."""
        valid = validated(AppointmentRequest, request)
        return appointments.book(self.store, self.caller, valid, self.policy,
                                 idempotency_key=_key(idempotency_key, "Idempotency-Key")).model_dump(mode="json")

    @rpc
    def book_for_consultation(self, consultation_id: str, booking: dict, idempotency_key: str | None = None) -> dict:
        """For intake: a consultant (or team lead) books during a chat. Called with the consultant's principal in
        the context data; ``booking`` is an ``AppointmentRequest``; the appointment records the consultation.
        Returns the ``Appointment`` (JSON). Pass an ``idempotency_key`` (e.g. the chat message id) so a retried
        call returns the first booking instead of making a second."""
        valid = validated(AppointmentRequest, booking)
        return appointments.book(self.store, self.caller, valid, self.policy,
                                 idempotency_key=_key(idempotency_key, "idempotency_key"),
                                 consultation_id=_key(consultation_id, "consultation_id")).model_dump(mode="json")

    @rpc
    def get_appointment(self, appointment_id: str) -> dict:
        return appointments.get_appointment(self.store, self.caller, appointment_id).model_dump(mode="json")

    @rpc
    def list_appointments(self, query: dict) -> list[dict]:
        q = validated(AppointmentQuery, query)
        return _dump(appointments.list_appointments(
            self.store, self.caller, patient_id=q.patient_id, doctor_id=q.doctor_id,
            status=q.status.value if q.status else None, day_from=getattr(q, "from"), day_to=q.to, limit=q.limit))

    @rpc
    def cancel(self, appointment_id: str, request: dict) -> dict:
        valid = validated(CancelRequest, request)
        return appointments.cancel(self.store, self.caller, appointment_id, valid, self.policy).model_dump(mode="json")

    @rpc
    def reschedule(self, appointment_id: str, request: dict) -> dict:
        valid = validated(RescheduleRequest, request)
        return appointments.reschedule(self.store, self.caller, appointment_id, valid,
                                       policy=self.policy).model_dump(mode="json")

    @rpc
    def confirm(self, appointment_id: str) -> dict:
        """Confirm a held booking: payments (as its service principal) when it is paid, or desk staff. Idempotent."""
        return appointments.confirm(self.store, self.caller, appointment_id).model_dump(mode="json")

    @rpc
    def check_in(self, appointment_id: str, request: dict) -> dict:
        valid = validated(CheckInRequest, request)
        return appointments.check_in(self.store, self.caller, appointment_id, valid,
                                     self.policy).model_dump(mode="json")

    @rpc
    def complete(self, appointment_id: str) -> dict:
        return appointments.complete(self.store, self.caller, appointment_id).model_dump(mode="json")

    # the waitlist ----------------------------------------------------------------------------------------------
    @rpc
    def join_waitlist(self, request: dict) -> dict:
        valid = validated(WaitlistRequest, request)
        return waitlist.join(self.store, self.caller, valid, self.policy).model_dump(mode="json")

    @rpc
    def list_waitlist(self, query: dict) -> list[dict]:
        q = validated(WaitlistQuery, query)
        return _dump(waitlist.list_entries(self.store, self.caller, patient_id=q.patient_id, doctor_id=q.doctor_id,
                                           status=q.status.value if q.status else None, limit=q.limit))

    @rpc
    def get_waitlist_entry(self, entry_id: str) -> dict:
        return waitlist.get_entry(self.store, self.caller, entry_id).model_dump(mode="json")

    @rpc
    def leave_waitlist(self, entry_id: str) -> dict:
        return waitlist.leave(self.store, self.caller, entry_id, self.policy).model_dump(mode="json")

    @rpc
    def accept_offer(self, entry_id: str) -> dict:
        return waitlist.accept(self.store, self.caller, entry_id, self.policy).model_dump(mode="json")

    @rpc
    def decline_offer(self, entry_id: str) -> dict:
        return waitlist.decline(self.store, self.caller, entry_id, self.policy).model_dump(mode="json")

    # follow-up plans -------------------------------------------------------------------------------------------
    @rpc
    def plan_follow_up(self, appointment_id: str, request: dict) -> dict:
        valid = validated(FollowUpRequest, request)
        return followups.plan_follow_up(self.store, keyring(), self.caller, appointment_id, valid,
                                        self.policy).model_dump(mode="json")

    @rpc
    def list_follow_ups(self, query: dict) -> list[dict]:
        q = validated(FollowUpQuery, query)
        return _dump(followups.list_plans(self.store, keyring(), self.caller, patient_id=q.patient_id,
                                          doctor_id=q.doctor_id, limit=q.limit,
                                          horizon_days=self.policy.horizon_days))

    # what booking keeps from other services' events ----------------------------------------------------------------
    @consumes(PatientRegistered)
    def on_patient_registered(self, tx: Tx, event: PatientRegistered, envelope: Envelope) -> None:
        appointments.record_patient(tx, event.patient_id)

    @consumes(ConsultationIntakeCompleted)
    def on_consultation_intake_completed(self, tx: Tx, event: ConsultationIntakeCompleted,
                                         envelope: Envelope) -> None:
        appointments.record_consultation(tx, event.consultation_id, event.patient_id, event.follow_up_eligible,
                                         envelope.sequence)
