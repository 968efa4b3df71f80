"""The waitlist's pure rules: what may be waited for, who sees and acts on an entry, the place in line, the view."""
from dataclasses import replace
from datetime import timedelta

import pytest

from contracts.booking.schemas import Visit, WaitlistRequest, WaitlistStatus
from services.booking.appointments.rules import Offer
from services.booking.waitlist import rules
from tests.unit.booking.clinic import (
    CONSULTANT,
    DOCTOR,
    DOCTOR_ID,
    MANAGER,
    MINUTE,
    MONDAY,
    NOW,
    OTHER_DOCTOR,
    OTHER_PATIENT,
    PATIENT,
    POLICY,
    PROFILE,
    TEAM_LEAD,
    TUESDAY,
    local,
    on_day,
    week_slots,
)
from wenzhen.errors import Conflict, InvalidInput, NotFound

SLOT = on_day(week_slots(), MONDAY)[0]


def day_request(**changes) -> WaitlistRequest:
    return WaitlistRequest.model_validate({"patient_id": "pat_2", "doctor_id": DOCTOR_ID, "service": "online_video",
                                           "date": TUESDAY.isoformat(), **changes})


def entry(**changes) -> rules.Entry:
    target = rules.slot_target(replace(SLOT, booked=1, free=0), SLOT.id, holds_place=False, now=NOW)
    request = WaitlistRequest(patient_id="pat_2", slot_id=SLOT.id)
    return replace(rules.new_entry("wl_1", request, target, Visit.visit, None, OTHER_PATIENT.principal, NOW),
                   **changes)


def test_only_a_full_open_future_slot_without_the_patient_is_waited_for():
    full = replace(SLOT, booked=1, free=0)
    target = rules.slot_target(full, SLOT.id, holds_place=False, now=NOW)
    assert (target.slot_id, target.day, target.target, target.until) == (SLOT.id, "2026-03-02", SLOT.id, SLOT.start)
    cases = [(None, False, NOW, NotFound, None), (SLOT, False, NOW, Conflict, "available"),
             (replace(full, status="closed"), False, NOW, Conflict, "closed"),
             (full, False, SLOT.start, Conflict, "past"), (full, True, NOW, Conflict, "duplicate")]
    for slot, holds, now, error, kind in cases:
        with pytest.raises(error) as info:
            rules.slot_target(slot, SLOT.id, holds, now)
        assert kind is None or info.value.errors[0]["type"] == kind


def test_a_day_of_an_offered_service_within_the_horizon():
    target = rules.day_target(PROFILE, day_request(), POLICY, NOW)
    assert target.slot_id is None and target.target == f"{DOCTOR_ID}|online_video|2026-03-03"
    assert (target.window_start, target.until) == (local(TUESDAY, "00:00"), local(TUESDAY + timedelta(days=1),
                                                                                   "00:00"))
    with pytest.raises(NotFound):
        rules.day_target(replace(PROFILE, active=False), day_request(), POLICY, NOW)
    for changes, kind in (({"service": "examination"}, "not_offered"), ({"date": "2026-03-01"}, "past"),
                          ({"date": (MONDAY + timedelta(days=14)).isoformat()}, "beyond_horizon")):
        with pytest.raises(InvalidInput) as info:
            rules.day_target(PROFILE, day_request(**changes), POLICY, NOW)
        assert info.value.errors[0]["type"] == kind
    rules.require_no_free_place(sessions=True, free=False)
    for sessions, free, kind in ((False, False, "no_sessions"), (True, True, "available")):
        with pytest.raises(Conflict) as info:
            rules.require_no_free_place(sessions, free)
        assert info.value.errors[0]["type"] == kind


def test_who_sees_and_acts_on_an_entry():
    mine = entry()
    assert rules.sees(OTHER_PATIENT.principal, mine, acting=True) and not rules.sees(PATIENT.principal, mine, False)
    assert rules.sees(CONSULTANT.principal, mine, acting=True) and rules.sees(TEAM_LEAD.principal, mine, True)
    assert rules.sees(DOCTOR.principal, mine, acting=False) and not rules.sees(DOCTOR.principal, mine, acting=True)
    assert not rules.sees(OTHER_DOCTOR.principal, mine, False) and not rules.sees(MANAGER.principal, mine, False)


def test_the_place_in_line_counts_who_joined_earlier_for_that_day():
    mine = entry(joined_at=NOW + MINUTE)
    line = [(NOW, "wl_0"), (NOW + MINUTE, "wl_0"), (NOW + MINUTE, "wl_1"), (NOW + 2 * MINUTE, "wl_2")]
    assert rules.position(mine, line) == 3  # the same moment: by id
    assert rules.position(replace(mine, status=WaitlistStatus.offered), line) is None


def test_only_an_open_offer_is_answered():
    offer = Offer("apt_9", SLOT.id, SLOT.start, NOW + POLICY.offer)
    assert rules.require_offer(entry(status=WaitlistStatus.offered, offer=offer), "accept") == offer
    with pytest.raises(Conflict, match="no offer to decline"):
        rules.require_offer(entry(), "decline")


def test_the_view_shows_local_times_and_the_offer():
    offered = entry(status=WaitlistStatus.offered, offers=1,
                    offer=Offer("apt_9", SLOT.id, SLOT.start, NOW + POLICY.offer))
    shown = rules.to_entry(offered)
    assert shown.offer.start == "2026-03-02T08:00:00.000+08:00" and shown.offer.expires_at.startswith(
        "2026-03-02T07:30") and shown.position is None and shown.joined_at.startswith("2026-03-02T07:00")
    assert rules.to_entry(entry(), 2).position == 2 and rules.to_entry(entry()).offer is None
    assert rules.already_waiting(WaitlistRequest(patient_id="p_1", slot_id="s_1")).errors[0]["field"] == "slot_id"
    assert rules.already_waiting(day_request()).errors[0]["field"] == "date"
