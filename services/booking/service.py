"""booking, composed: the capabilities' entrypoints (``catalogue/``, ``schedules/``, ``appointments/``, ``waitlist/``,
``followups/``), their indexes, and two background loops (each runs in one process of the service at a time, by
lease), which read the service's settings (``settings.py``) once at start:

* the **slot generator** extends every doctor's slots to the horizon (hourly, and soon after a change of the
  services' settings; a changed schedule template regenerates that doctor's slots at once, in the request);
* the **sweeper**, every ``BOOKING_SWEEP_SECONDS``: ends lapsed unpaid holds (their places go to the waitlist or back
  to the slot), passes on waitlist offers nobody answered, expires waitlist entries whose slot or day passed, marks
  no-shows, and emits the appointment reminders and follow-up reminders that are due.

A capability can run as a deployable of its own: a second class here listing only its mixin (and its indexes).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from services.booking.appointments import store as appointment_store
from services.booking.appointments import usecases as appointments
from services.booking.appointments.entrypoints import AppointmentEntrypoints
from services.booking.appointments.rules import SYSTEM
from services.booking.appointments.store import AppointmentStore
from services.booking.catalogue import store as catalogue_store
from services.booking.catalogue.entrypoints import CatalogueEntrypoints
from services.booking.followups import store as followup_store
from services.booking.followups import usecases as followups
from services.booking.followups.entrypoints import FollowUpEntrypoints
from services.booking.followups.store import FollowUpStore
from services.booking.schedules import store as schedule_store
from services.booking.schedules import usecases as schedules
from services.booking.schedules.entrypoints import ScheduleEntrypoints
from services.booking.schedules.store import ScheduleStore
from services.booking.settings import BookingSettings, Policy
from services.booking.waitlist import store as waitlist_store
from services.booking.waitlist import usecases as waitlist
from services.booking.waitlist.entrypoints import WaitlistEntrypoints
from services.booking.waitlist.store import WaitlistStore
from wenzhen.auth import bind_caller
from wenzhen.config import Settings, settings
from wenzhen.crypto import keyring
from wenzhen.lease import LeasedLoop
from wenzhen.service import LeasedLoops, ServiceBase
from wenzhen.storage import Store
from wenzhen.timez import utcnow

GENERATE_EVERY = timedelta(hours=1)


class SlotGenerator(LeasedLoop):
    lease_name = "slot-generator"

    def __init__(self, store: Store, policy: Policy, cfg: Settings, sweep_seconds: float):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=sweep_seconds,
                         retry_max=cfg.outbox_retry_max)
        self.schedules = ScheduleStore(store, keyring())
        self.policy = policy
        self.next_run: datetime | None = None

    def round(self) -> int:
        now = utcnow()
        if self.next_run is None or now >= self.next_run or schedules.regeneration_requested(self.schedules):
            bind_caller(SYSTEM)
            schedules.generate_all(self.schedules, self.policy.horizon_days, now)
            self.next_run = now + GENERATE_EVERY
        return 0  # then wait a poll interval


class Sweeper(LeasedLoop):
    lease_name = "booking-sweeper"

    def __init__(self, store: Store, policy: Policy, cfg: Settings, sweep_seconds: float):
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=sweep_seconds,
                         retry_max=cfg.outbox_retry_max)
        keys = keyring()
        self.appointments = AppointmentStore(store, keys)
        self.waitlist = WaitlistStore(store, keys)
        self.followups = FollowUpStore(store, keys)
        self.policy = policy

    def round(self) -> int:
        bind_caller(SYSTEM)  # the events it emits name booking itself as their actor
        now, policy = utcnow(), self.policy
        return (appointments.expire_holds(self.appointments, now, offer_for=policy.offer)
                + waitlist.lapse_offers(self.waitlist, policy, now)
                + waitlist.expire_entries(self.waitlist, now)
                + appointments.mark_no_shows(self.appointments, policy, now)
                + appointments.send_due_reminders(self.appointments, policy.reminder_offsets, now)
                + followups.remind_due(self.followups, now))


class BookingService(CatalogueEntrypoints, ScheduleEntrypoints, AppointmentEntrypoints, WaitlistEntrypoints,
                     FollowUpEntrypoints, ServiceBase):
    name = "booking"
    settings_class = BookingSettings
    indexes = [*catalogue_store.INDEXES, *schedule_store.INDEXES, *appointment_store.INDEXES, *waitlist_store.INDEXES,
               *followup_store.INDEXES]
    upgrades = appointment_store.UPGRADES

    timers = LeasedLoops(lambda store, own: [SlotGenerator(store, own.policy, settings(), own.sweep_seconds),
                                             Sweeper(store, own.policy, settings(), own.sweep_seconds)])
