"""booking's settings and the policy they make: read once, a malformed value refused naming its variable."""
from datetime import timedelta

import pytest

from services.booking.settings import BookingSettings, Policy, reminder_offsets
from wenzhen.errors import InvalidInput


def test_reminder_offsets_come_from_the_settings():
    assert reminder_offsets("24,2") == (2, 24) and reminder_offsets(" 48 ") == (48,) and reminder_offsets("") == ()
    for bad in ("0", "x", "2,2", "200", "1.5"):
        with pytest.raises(InvalidInput) as info:
            reminder_offsets(bad)
        assert info.value.errors[0]["field"] == "REMINDER_OFFSETS_HOURS"
    policy = BookingSettings(reminder_offsets_hours="12,1", offer_minutes=15).policy
    assert policy.reminder_offsets == (1, 12) and policy.offer == timedelta(minutes=15)
    with pytest.raises(InvalidInput):
        BookingSettings(offer_minutes=0).check()


def test_the_late_cancellation_policy_is_one_of_three():
    for name in ("mark", "keep_fee", "refuse"):
        assert BookingSettings(late_cancel_policy=name).policy.late_cancel_policy == name
    with pytest.raises(InvalidInput) as info:
        BookingSettings(late_cancel_policy="sometimes").check()
    assert info.value.errors[0]["field"] == "BOOKING_LATE_CANCEL_POLICY"


def test_the_defaults_make_the_default_policy():
    assert BookingSettings().policy == Policy()
    settings = BookingSettings.from_env({"BOOKING_HOLD_MINUTES": "5", "BOOKING_HORIZON_DAYS": "7",
                                         "BOOKING_NO_SHOW_GRACE_MINUTES": "15", "BOOKING_LATE_CANCEL_HOURS": "12",
                                         "BOOKING_FOLLOW_UP_REMIND_DAYS": "1"})
    assert settings.policy == Policy(hold=timedelta(minutes=5), horizon_days=7, no_show_grace=timedelta(minutes=15),
                                     late_cancel=timedelta(hours=12), follow_up_remind_days=1)
