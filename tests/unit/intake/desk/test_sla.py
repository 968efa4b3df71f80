"""Service-level clocks against a controllable clock (Shanghai wall-clock times converted to UTC).

Default shifts: day 08:00–17:00 and evening 16:30–23:00, every day. Tuesday 2026-11-24.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.intake.desk.shifts import DEFAULT_SHIFTS, validate_shifts
from services.intake.desk.sla import (
    Breach,
    ChatClock,
    Policy,
    clock_start,
    due,
    next_due_at,
    responsible_shift,
    service_deadline,
)
from wenzhen.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = Policy()
SHIFTS = DEFAULT_SHIFTS


def local(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=SHANGHAI).astimezone(UTC)


def after(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)


OPENED = local(24, 10)


def clock(**changes) -> ChatClock:
    return replace(ChatClock(id="con_1", opened_at=OPENED), **changes)


def keys(breaches: list[Breach]) -> list[str]:
    return [breach.key for breach in breaches]


# the policy --------------------------------------------------------------------------------------------------------
def test_default_policy_is_the_desks_rules():
    assert (POLICY.accept_seconds, POLICY.answer_seconds, POLICY.unattended_seconds) == (25, 60, 120)


@pytest.mark.parametrize("changes, field", [({"accept_seconds": 0}, "accept_seconds"),
                                            ({"answer_seconds": -5}, "answer_seconds"),
                                            ({"answer_seconds": 1.5}, "answer_seconds"),
                                            ({"unattended_seconds": True}, "unattended_seconds"),
                                            ({"accept_seconds": 60, "unattended_seconds": 30}, "unattended_seconds")],
                         ids=["zero", "negative", "fraction", "bool", "incident-before-accept"])
def test_bad_policy_names_the_field(changes, field):
    with pytest.raises(InvalidInput) as info:
        Policy(**changes)
    assert [error["field"] for error in info.value.errors] == [field]


def test_awaiting_since_and_seq_go_together():
    with pytest.raises(InvalidInput) as info:
        clock(awaiting_since=OPENED)
    assert info.value.errors[0]["field"] == "awaiting_seq"
    with pytest.raises(InvalidInput):
        clock(awaiting_seq=3)


# accept ------------------------------------------------------------------------------------------------------------
def test_accept_breach_exactly_at_25_seconds():
    assert due(clock(), POLICY, SHIFTS, after(OPENED, 24.9)) == []
    assert due(clock(), POLICY, SHIFTS, after(OPENED, 24.999999)) == []
    assert due(clock(), POLICY, SHIFTS, after(OPENED, 25)) == [
        Breach(kind="accept", key="accept", limit_seconds=25, due_at=after(OPENED, 25))]


def test_accept_breach_is_not_raised_twice():
    assert keys(due(clock(raised=frozenset({"accept"})), POLICY, SHIFTS, after(OPENED, 60))) == []


def test_no_accept_breach_once_accepted():
    accepted = clock(accepted_at=after(OPENED, 10))
    assert due(accepted, POLICY, SHIFTS, after(OPENED, 300)) == []
    late = clock(accepted_at=after(OPENED, 40))  # accepted late but before the loop raised it: nothing now
    assert due(late, POLICY, SHIFTS, after(OPENED, 41)) == []


def test_nothing_for_a_closed_chat():
    closed = clock(closed=True, awaiting_since=OPENED, awaiting_seq=1)
    assert due(closed, POLICY, SHIFTS, after(OPENED, 3600)) == []
    assert next_due_at(closed, POLICY, SHIFTS) is None


def test_a_configured_accept_limit():
    assert due(clock(), Policy(accept_seconds=10), SHIFTS, after(OPENED, 9.999)) == []
    assert keys(due(clock(), Policy(accept_seconds=10), SHIFTS, after(OPENED, 10))) == ["accept"]


# incident ----------------------------------------------------------------------------------------------------------
def test_an_unattended_chat_becomes_an_incident():
    assert keys(due(clock(), POLICY, SHIFTS, after(OPENED, 119.999))) == ["accept"]
    breaches = due(clock(), POLICY, SHIFTS, after(OPENED, 120))
    assert keys(breaches) == ["accept", "incident"]  # earliest first
    assert breaches[1] == Breach(kind="incident", key="incident", limit_seconds=120, due_at=after(OPENED, 120))
    assert keys(due(clock(raised=frozenset({"accept"})), POLICY, SHIFTS, after(OPENED, 500))) == ["incident"]
    assert due(clock(raised=frozenset({"accept", "incident"})), POLICY, SHIFTS, after(OPENED, 500)) == []


def test_the_incident_names_the_responsible_shift():
    at_handover = local(24, 16, 40)
    incident = due(clock(opened_at=at_handover), POLICY, SHIFTS, local(24, 17))[-1]
    assert incident.kind == "incident" and responsible_shift(incident, SHIFTS).code == "evening"
    morning = due(clock(opened_at=local(24, 9)), POLICY, SHIFTS, local(24, 10))[-1]
    assert responsible_shift(morning, SHIFTS).code == "day"


def test_a_limit_reached_as_the_desk_closes_belongs_to_the_closing_shift():
    chat = clock(opened_at=local(24, 22, 58))  # 120 s of service time end at 23:00:00 exactly
    incident = due(chat, POLICY, SHIFTS, local(24, 23))[-1]
    assert incident.due_at == local(24, 23)
    assert responsible_shift(incident, SHIFTS).code == "evening"


# answer ------------------------------------------------------------------------------------------------------------
def test_answer_breach_per_message():
    accepted = clock(accepted_at=after(OPENED, 5), awaiting_since=after(OPENED, 30), awaiting_seq=4)
    assert due(accepted, POLICY, SHIFTS, after(OPENED, 89.9)) == []
    assert due(accepted, POLICY, SHIFTS, after(OPENED, 90)) == [
        Breach(kind="answer", key="answer:4", limit_seconds=60, due_at=after(OPENED, 90))]
    raised = replace(accepted, raised=frozenset({"answer:4"}))
    assert due(raised, POLICY, SHIFTS, after(OPENED, 200)) == []
    # staff answered 4; the patient's message 7 now waits: a new key, a new breach
    later = replace(raised, awaiting_since=after(OPENED, 300), awaiting_seq=7)
    assert due(later, POLICY, SHIFTS, after(OPENED, 359)) == []
    assert keys(due(later, POLICY, SHIFTS, after(OPENED, 360))) == ["answer:7"]


def test_answered_chat_has_nothing_due():
    answered = clock(accepted_at=after(OPENED, 5))
    assert due(answered, POLICY, SHIFTS, after(OPENED, 3600)) == []
    assert next_due_at(answered, POLICY, SHIFTS) is None


def test_the_answer_clock_of_a_message_from_before_acceptance_starts_at_acceptance():
    chat = clock(awaiting_since=OPENED, awaiting_seq=1)
    assert keys(due(chat, POLICY, SHIFTS, after(OPENED, 60))) == ["accept"]  # not answer: nobody was on it yet
    accepted = replace(chat, accepted_at=after(OPENED, 20))
    assert due(accepted, POLICY, SHIFTS, after(OPENED, 79.9)) == []
    assert keys(due(accepted, POLICY, SHIFTS, after(OPENED, 80))) == ["answer:1"]


def test_a_configured_answer_limit():
    accepted = clock(accepted_at=OPENED, awaiting_since=OPENED, awaiting_seq=2)
    assert keys(due(accepted, Policy(answer_seconds=30), SHIFTS, after(OPENED, 30))) == ["answer:2"]


# service hours -----------------------------------------------------------------------------------------------------
def test_clock_start():
    assert clock_start(OPENED, SHIFTS) == OPENED
    assert clock_start(local(24, 23, 30), SHIFTS) == local(25, 8)
    assert clock_start(local(25, 7, 59, 59), SHIFTS) == local(25, 8)
    assert clock_start(OPENED, []) is None


def test_a_chat_opened_out_of_hours_does_not_breach_before_the_desk_opens():
    night = clock(opened_at=local(24, 23, 30))
    assert due(night, POLICY, SHIFTS, local(25, 3)) == []
    assert due(night, POLICY, SHIFTS, local(25, 8)) == []
    assert due(night, POLICY, SHIFTS, local(25, 8, 0, 24, 900_000)) == []
    assert keys(due(night, POLICY, SHIFTS, local(25, 8, 0, 25))) == ["accept"]
    assert keys(due(night, POLICY, SHIFTS, local(25, 8, 2))) == ["accept", "incident"]
    assert next_due_at(night, POLICY, SHIFTS) == local(25, 8, 0, 25)


def test_a_message_posted_out_of_hours_waits_for_the_opening():
    chat = clock(opened_at=local(24, 22), accepted_at=local(24, 22, 0, 5), awaiting_since=local(24, 23, 10),
                 awaiting_seq=9)
    assert due(chat, POLICY, SHIFTS, local(25, 8, 0, 59)) == []
    assert keys(due(chat, POLICY, SHIFTS, local(25, 8, 1))) == ["answer:9"]


def test_a_running_clock_pauses_at_closing_and_resumes_at_opening():
    chat = clock(opened_at=local(24, 22, 59, 50))  # 10 s before closing: 15 s of the 25 left for the morning
    assert due(chat, POLICY, SHIFTS, local(24, 23, 0, 15)) == []
    assert due(chat, POLICY, SHIFTS, local(25, 8, 0, 14)) == []
    assert keys(due(chat, POLICY, SHIFTS, local(25, 8, 0, 15))) == ["accept"]


def test_the_handover_overlap_does_not_pause_the_clock():
    chat = clock(opened_at=local(24, 16, 59, 50))  # day ends at 17:00 but evening is on since 16:30
    assert keys(due(chat, POLICY, SHIFTS, local(24, 17, 0, 15))) == ["accept"]


def test_the_clock_skips_days_without_service():
    weekdays = validate_shifts([{"code": "day", "name_zh": "白班", "name_en": "Day", "start": "08:00", "end": "17:00",
                                 "weekdays": [0, 1, 2, 3, 4]}])
    friday_evening = clock(opened_at=local(27, 18))
    assert next_due_at(friday_evening, POLICY, weekdays) == local(30, 8, 0, 25)  # Monday


def test_service_deadline():
    assert service_deadline(OPENED, 25, SHIFTS) == after(OPENED, 25)
    assert service_deadline(local(24, 22, 59, 30), 60, SHIFTS) == local(25, 8, 0, 30)
    assert service_deadline(local(24, 22, 59, 30), 30, SHIFTS) == local(24, 23)
    assert service_deadline(OPENED, 0, SHIFTS) == OPENED
    assert service_deadline(OPENED, 25, []) is None
    # a limit longer than a whole service day carries over
    assert service_deadline(local(24, 8), 15 * 3600 + 60, SHIFTS) == local(25, 8, 1)


def test_no_shifts_means_no_clock():
    assert due(clock(), POLICY, [], after(OPENED, 3600)) == []
    assert next_due_at(clock(), POLICY, []) is None


# the timer loop's view ---------------------------------------------------------------------------------------------
def test_next_due_at_walks_through_the_breaches():
    chat = clock()
    assert next_due_at(chat, POLICY, SHIFTS) == after(OPENED, 25)
    chat = replace(chat, raised=frozenset({"accept"}))
    assert next_due_at(chat, POLICY, SHIFTS) == after(OPENED, 120)
    chat = replace(chat, raised=frozenset({"accept", "incident"}))
    assert next_due_at(chat, POLICY, SHIFTS) is None
    chat = replace(chat, accepted_at=after(OPENED, 130), awaiting_since=after(OPENED, 140), awaiting_seq=3)
    assert next_due_at(chat, POLICY, SHIFTS) == after(OPENED, 200)


def test_next_due_at_reports_an_overdue_breach_not_yet_raised():
    chat = clock(opened_at=OPENED - timedelta(hours=1))
    assert next_due_at(chat, POLICY, SHIFTS) == after(OPENED - timedelta(hours=1), 25)  # in the past: run due now


def test_naive_times_from_storage_are_read_as_utc():
    naive = clock(opened_at=OPENED.replace(tzinfo=None))
    assert keys(due(naive, POLICY, SHIFTS, after(OPENED, 25).replace(tzinfo=None))) == ["accept"]
