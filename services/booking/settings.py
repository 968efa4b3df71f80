"""booking's settings (the README's configuration table), read once when the service starts and passed in."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from services.booking.appointments import Policy
from wenzhen.config import EnvSettings, setting


@dataclass(frozen=True)
class BookingSettings(EnvSettings):
    hold_minutes: int = setting("BOOKING_HOLD_MINUTES", 10)
    horizon_days: int = setting("BOOKING_HORIZON_DAYS", 14)
    no_show_grace_minutes: int = setting("BOOKING_NO_SHOW_GRACE_MINUTES", 30)
    late_cancel_hours: int = setting("BOOKING_LATE_CANCEL_HOURS", 24)
    sweep_seconds: float = setting("BOOKING_SWEEP_SECONDS", 5.0)
    late_cancel_policy: str = setting("BOOKING_LATE_CANCEL_POLICY", "mark")  # mark, keep_fee or refuse
    offer_minutes: int = setting("BOOKING_OFFER_MINUTES", 30)
    follow_up_remind_days: int = setting("BOOKING_FOLLOW_UP_REMIND_DAYS", 3)
    reminder_offsets_hours: str = setting("REMINDER_OFFSETS_HOURS", "24,2")

    @cached_property
    def policy(self) -> Policy:
        """The rules these settings make (a malformed value is refused, naming its variable)."""
        return Policy.from_settings(self)

    def check(self) -> None:
        """At start: a service with a malformed setting refuses to start rather than fail every call."""
        self.policy  # noqa: B018 - built (and validated) once
