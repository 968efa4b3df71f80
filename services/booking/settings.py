"""booking's settings (the README's configuration table), read once when the service starts and passed in, and the
:class:`Policy` they make (pure: what the capabilities' rules are given)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from wenzhen.config import EnvSettings, setting
from wenzhen.errors import InvalidInput, field_error

LATE_CANCEL_POLICIES = ("mark", "keep_fee", "refuse")


@dataclass(frozen=True)
class Policy:
    """The configurable times and rules of booking.

    ``late_cancel_policy`` says what a cancellation inside ``late_cancel`` before the start means: ``mark`` (allowed,
    marked late, the fee refunded), ``keep_fee`` (allowed and marked, but a patient's own cancellation keeps the fee:
    ``fee_kept`` in the event tells payments not to refund) or ``refuse`` (patients cannot cancel then; the desk and
    the doctor still can, e.g. when the doctor is unavailable)."""

    hold: timedelta = timedelta(minutes=10)
    late_cancel: timedelta = timedelta(hours=24)
    late_cancel_policy: str = "mark"
    no_show_grace: timedelta = timedelta(minutes=30)
    checkin_opens: timedelta = timedelta(hours=2)  # how long before the start a patient may be checked in
    horizon_days: int = 14
    offer: timedelta = timedelta(minutes=30)  # how long a freed place is held for the first on the waitlist
    reminder_offsets: tuple[int, ...] = (2, 24)  # hours before the start, ascending
    follow_up_remind_days: int = 3

    @classmethod
    def from_settings(cls, cfg: BookingSettings) -> Policy:
        if cfg.late_cancel_policy not in LATE_CANCEL_POLICIES:
            raise InvalidInput("Unknown late-cancellation policy.",
                               [field_error("BOOKING_LATE_CANCEL_POLICY", f"one of {', '.join(LATE_CANCEL_POLICIES)}",
                                            "enum")])
        if cfg.offer_minutes < 1:
            raise InvalidInput("A waitlist offer lasts at least a minute.",
                               [field_error("BOOKING_OFFER_MINUTES", "at least 1", "range")])
        return cls(hold=timedelta(minutes=cfg.hold_minutes), late_cancel=timedelta(hours=cfg.late_cancel_hours),
                   late_cancel_policy=cfg.late_cancel_policy,
                   no_show_grace=timedelta(minutes=cfg.no_show_grace_minutes), horizon_days=cfg.horizon_days,
                   offer=timedelta(minutes=cfg.offer_minutes),
                   reminder_offsets=reminder_offsets(cfg.reminder_offsets_hours),
                   follow_up_remind_days=cfg.follow_up_remind_days)


def reminder_offsets(text: str) -> tuple[int, ...]:
    """``"24,2"`` → ``(2, 24)``: whole hours before the start, 1 to 168, distinct; empty means no reminders."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 168 for p in parts) or len(set(map(int, parts))) != len(parts):
        raise InvalidInput("Reminder offsets are distinct whole hours from 1 to 168, comma-separated.",
                           [field_error("REMINDER_OFFSETS_HOURS", "e.g. 24,2", "pattern")])
    return tuple(sorted(int(p) for p in parts))


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
