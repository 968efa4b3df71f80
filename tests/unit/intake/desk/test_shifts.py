"""Shifts and service hours against a controllable clock: local Asia/Shanghai times converted to UTC.

The week used: Monday 2026-11-23 … Sunday 2026-11-29.
"""
from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.intake.desk.shifts import (
    DEFAULT_SHIFTS,
    Shift,
    active,
    in_service,
    next_opening,
    opening_text,
    responsible,
    service_end,
    validate_shifts,
)
from wenzhen.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0, month: int = 11) -> datetime:
    """Aware UTC for a Shanghai wall-clock time in November 2026 (23 = Monday)."""
    return datetime(2026, month, day, hour, minute, second, micro, tzinfo=SHANGHAI).astimezone(UTC)


def codes(shifts) -> list[str]:
    return [shift.code for shift in shifts]


DAY = {"code": "day", "name_zh": "白班", "name_en": "Day shift", "start": "08:00", "end": "17:00"}
NIGHT = {"code": "night", "name_zh": "夜班", "name_en": "Night shift", "start": "22:00", "end": "02:00"}


def test_the_zone_is_the_hospitals():
    from wenzhen.timez import hospital_zone

    assert hospital_zone().key == "Asia/Shanghai"  # the tests below build their times in it


# the model ---------------------------------------------------------------------------------------------------------
def test_default_shifts_are_the_desks_rules():
    day, evening = DEFAULT_SHIFTS
    assert (day.code, day.name_zh, day.start, day.end) == ("day", "白班", time(8), time(17))
    assert (evening.code, evening.name_zh, evening.start, evening.end) == ("evening", "晚班", time(16, 30), time(23))
    assert day.weekdays == evening.weekdays == [0, 1, 2, 3, 4, 5, 6]
    assert not day.overnight and not evening.overnight


def test_validate_shifts_returns_models():
    shifts = validate_shifts([DAY, {**NIGHT, "weekdays": [6, 4], "team_lead_id": "acc_t1"}])
    assert codes(shifts) == ["day", "night"]
    assert shifts[1].overnight and shifts[1].weekdays == [4, 6] and shifts[1].team_lead_id == "acc_t1"


@pytest.mark.parametrize("change, field", [
    ({"end": "08:00"}, "shifts[1].end"),
    ({"start": "8am"}, "shifts[1].start"),
    ({"start": "08:00:30"}, "shifts[1].start"),
    ({"end": "17:00+08:00"}, "shifts[1].end"),
    ({"code": "Day Shift"}, "shifts[1].code"),
    ({"name_zh": ""}, "shifts[1].name_zh"),
    ({"name_en": "Day\nshift"}, "shifts[1].name_en"),
    ({"weekdays": [1, 1]}, "shifts[1].weekdays"),
    ({"weekdays": [0, 7]}, "shifts[1].weekdays[1]"),
    ({"weekdays": []}, "shifts[1].weekdays"),
    ({"colour": "red"}, "shifts[1].colour"),
    ({"team_lead_id": ""}, "shifts[1].team_lead_id"),
], ids=["empty", "bad-time", "seconds", "zoned", "code", "no-name", "control-char", "repeated-day", "day-7",
        "no-days", "extra", "empty-lead"])
def test_validate_shifts_names_the_bad_field(change, field):
    other = {**DAY, "code": "other"}
    with pytest.raises(InvalidInput) as info:
        validate_shifts([DAY, {**other, **change}])
    assert [error["field"] for error in info.value.errors] == [field]


def test_shifts_already_built_are_accepted_and_frozen():
    shifts = validate_shifts([DEFAULT_SHIFTS[0], Shift.model_validate(NIGHT)])
    assert codes(shifts) == ["day", "night"]
    with pytest.raises(ValueError):
        shifts[0].start = time(9)  # a shared default cannot be changed by accident


def test_a_missing_field_is_named():
    with pytest.raises(InvalidInput) as info:
        validate_shifts([{k: v for k, v in DAY.items() if k != "end"}])
    assert info.value.errors[0]["field"] == "shifts[0].end" and info.value.errors[0]["type"] == "missing"


def test_codes_are_unique():
    with pytest.raises(InvalidInput) as info:
        validate_shifts([DAY, NIGHT, {**NIGHT, "name_en": "Another night"}])
    assert info.value.errors[0]["field"] == "shifts[2].code"
    assert "shifts[1]" in info.value.errors[0]["message"]


@pytest.mark.parametrize("items, field", [([], "shifts"), ({"shifts": []}, "shifts"), ([DAY, "day"], "shifts[1]")],
                         ids=["empty", "not-a-list", "not-an-object"])
def test_the_list_itself_is_checked(items, field):
    with pytest.raises(InvalidInput) as info:
        validate_shifts(items)
    assert info.value.errors[0]["field"] == field


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidInput) as info:
        validate_shifts([{**DAY, "end": "08:00"}, {**NIGHT, "code": "day", "weekdays": [9]}])
    assert {error["field"] for error in info.value.errors} == {"shifts[0].end", "shifts[1].weekdays[0]",
                                                              "shifts[1].code"}


# on duty -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("at, on_duty", [
    (local(24, 7, 59, 59, 999_000), []),
    (local(24, 8), ["day"]),
    (local(24, 16, 29, 59), ["day"]),
    (local(24, 16, 30), ["day", "evening"]),
    (local(24, 16, 59), ["day", "evening"]),
    (local(24, 17), ["evening"]),
    (local(24, 22, 59, 59, 999_999), ["evening"]),
    (local(24, 23), []),
    (local(24, 23, 30), []),
    (local(25, 3), []),
], ids=["07:59:59.999", "08:00", "16:29:59", "16:30", "16:59", "17:00", "22:59:59.999999", "23:00", "23:30", "03:00"])
def test_default_service_hours(at, on_duty):
    assert codes(active(DEFAULT_SHIFTS, at)) == on_duty
    assert in_service(DEFAULT_SHIFTS, at) is bool(on_duty)


def test_an_overnight_shift_covers_past_midnight():
    night = validate_shifts([NIGHT])
    assert codes(active(night, local(24, 22))) == ["night"]
    assert codes(active(night, local(25, 0))) == ["night"]  # Tuesday's shift, Wednesday 00:00
    assert codes(active(night, local(25, 1, 59))) == ["night"]
    assert active(night, local(25, 2)) == []
    assert active(night, local(25, 21, 59)) == []


def test_an_overnight_shift_belongs_to_the_weekday_it_started_on():
    sunday_night = validate_shifts([{**NIGHT, "weekdays": [6]}])  # starts Sunday 22:00, ends Monday 02:00
    assert in_service(sunday_night, local(29, 23))  # Sunday
    assert in_service(sunday_night, local(30, 1))  # Monday 01:00, still Sunday's shift
    assert in_service(sunday_night, local(23, 0, 30))  # Monday 23rd 00:30: Sunday 22nd's shift
    assert not in_service(sunday_night, local(24, 1))  # Tuesday 01:00: Monday has no night shift
    assert not in_service(sunday_night, local(23, 22))  # Monday 22:00: not a Sunday


def test_a_shift_ending_at_midnight():
    late = validate_shifts([{**DAY, "code": "late", "start": "16:00", "end": "00:00"}])
    assert late[0].overnight
    assert in_service(late, local(24, 23, 59, 59))
    assert not in_service(late, local(25, 0))


def test_a_naive_time_is_read_as_utc():
    assert in_service(DEFAULT_SHIFTS, local(24, 9).replace(tzinfo=None))
    assert not in_service(DEFAULT_SHIFTS, local(24, 23, 30).replace(tzinfo=None))


def test_no_shifts_is_never_in_service():
    assert active([], local(24, 9)) == [] and not in_service([], local(24, 9))
    assert next_opening([], local(24, 9)) is None and responsible([], local(24, 9)) is None


# next opening ------------------------------------------------------------------------------------------------------
def test_next_opening_is_now_when_in_service():
    at = local(24, 12, 34, 56, 789_000)
    assert next_opening(DEFAULT_SHIFTS, at) == at


def test_next_opening_from_late_evening_is_tomorrow_morning():
    opening = next_opening(DEFAULT_SHIFTS, local(24, 23, 30))
    assert opening == local(25, 8) and opening.tzinfo is not None and opening.utcoffset().total_seconds() == 0
    assert next_opening(DEFAULT_SHIFTS, local(24, 23)) == local(25, 8)  # the close itself
    assert next_opening(DEFAULT_SHIFTS, local(25, 7, 59, 59)) == local(25, 8)


def test_next_opening_skips_days_without_shifts():
    weekdays = validate_shifts([{**DAY, "weekdays": [0, 1, 2, 3, 4, 5]}])  # no Sunday
    assert next_opening(weekdays, local(28, 17, 30)) == local(30, 8)  # Saturday evening → Monday
    assert next_opening(weekdays, local(29, 10)) == local(30, 8)  # Sunday morning → Monday


def test_next_opening_a_week_ahead():
    mondays = validate_shifts([{**DAY, "weekdays": [0]}])
    assert next_opening(mondays, local(23, 17)) == local(30, 8)  # Monday after close: next Monday


def test_next_opening_of_an_overnight_shift():
    night = validate_shifts([{**NIGHT, "weekdays": [6]}])
    assert next_opening(night, local(30, 2)) == local(6, 22, month=12)  # Monday 02:00 → Sunday 6 December 22:00


def test_service_end_merges_overlapping_and_adjacent_shifts():
    assert service_end(DEFAULT_SHIFTS, local(24, 9)) == local(24, 23)  # day and evening overlap: one stretch
    assert service_end(DEFAULT_SHIFTS, local(24, 23, 30)) is None
    chained = validate_shifts([DAY, {**DAY, "code": "late", "start": "17:00", "end": "20:00"}])
    assert service_end(chained, local(24, 9)) == local(24, 20)
    around_the_clock = validate_shifts([{**DAY, "start": "00:00", "end": "12:00"},
                                        {**DAY, "code": "pm", "start": "12:00", "end": "00:00"}])
    assert service_end(around_the_clock, local(24, 9), until=local(24, 9, 1)) >= local(24, 9, 1)
    assert service_end(around_the_clock, local(24, 9)) >= local(24, 9) + (local(2, 9, month=12) - local(24, 9))


# responsibility ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("at, owner", [
    (local(24, 8), "day"),
    (local(24, 16, 29), "day"),
    (local(24, 16, 30), "evening"),  # handover: the incoming shift owns waiting chats from its start
    (local(24, 16, 59), "evening"),
    (local(24, 22, 59), "evening"),
    (local(24, 23), "day"),  # closed: the shift that opens next owns the overnight queue
    (local(25, 3), "day"),
], ids=["08:00", "16:29", "16:30", "16:59", "22:59", "23:00", "03:00"])
def test_responsible_shift(at, owner):
    assert responsible(DEFAULT_SHIFTS, at).code == owner


def test_responsible_out_of_hours_is_whoever_opens_next():
    shifts = validate_shifts([{**DAY, "weekdays": [0, 1, 2, 3, 4]},
                              {**DAY, "code": "weekend", "start": "09:00", "end": "15:00", "weekdays": [5, 6]}])
    assert responsible(shifts, local(27, 20)).code == "weekend"  # Friday evening → Saturday 09:00
    assert responsible(shifts, local(29, 20)).code == "day"  # Sunday evening → Monday 08:00


def test_equal_starts_go_to_the_first_listed():
    twins = validate_shifts([DAY, {**DAY, "code": "day-b"}])
    assert responsible(twins, local(24, 9)).code == "day"
    assert responsible(twins, local(24, 20)).code == "day"


# the automatic reply -----------------------------------------------------------------------------------------------
def test_out_of_hours_text_states_the_local_opening_time():
    text = opening_text(next_opening(DEFAULT_SHIFTS, local(24, 23, 30)))
    assert text["zh"] == ("您好，现在是非服务时间。我们将于 11月25日 08:00 起为您服务，您的咨询已排队，"
                          "届时会第一时间回复。如有紧急情况请立即拨打120。")
    assert "08:00 on 25 November" in text["en"] and "120" in text["en"]


def test_out_of_hours_text_uses_the_hospital_zone_not_utc():
    text = opening_text(datetime(2026, 11, 30, 0, 30, tzinfo=UTC))  # 08:30 in Shanghai
    assert "11月30日 08:30" in text["zh"] and "08:30 on 30 November" in text["en"]


def test_out_of_hours_text_without_an_opening_still_names_120():
    text = opening_text(None)
    assert "120" in text["zh"] and "120" in text["en"]
    assert "我们将于" not in text["zh"] and ":" not in text["en"]
