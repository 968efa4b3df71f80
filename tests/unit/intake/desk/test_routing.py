"""Chat routing against a controllable clock (Shanghai wall-clock times converted to UTC)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.intake.desk.routing import Agent, Waiting, expected_wait_seconds, plan, position, queue_order
from wenzhen.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
DAY = {"day"}


def agent(id: str, skills: tuple[str, ...] = (), max_chats: int = 3, load: int = 0, available: bool = True,
          shifts: tuple[str, ...] = ("day",), last: datetime | None = None) -> Agent:
    return Agent(id=id, skills=frozenset(skills), max_chats=max_chats, load=load, available=available,
                 shifts=frozenset(shifts), last_assigned_at=last)


def chat(id: str, waited: float = 0, department: str | None = None, urgent: bool = False,
         excluded: tuple[str, ...] = ()) -> Waiting:
    return Waiting(id=id, department=department, urgent=urgent, opened_at=NOW - timedelta(seconds=waited),
                   excluded=frozenset(excluded))


def offers(waiting, agents, on_duty=DAY, now=NOW, **options) -> dict[str, str]:
    result = plan(waiting, agents, on_duty, now, **options)
    assert len({consultation for consultation, _ in result}) == len(result)  # a chat is offered once per round
    return dict(result)


# the queue ---------------------------------------------------------------------------------------------------------
def test_urgent_first_then_oldest_first_and_stable():
    waiting = [chat("c1", 5), chat("c2", 50), chat("c3", 1, urgent=True), chat("c4", 50), chat("c5", 2, urgent=True)]
    assert [w.id for w in queue_order(waiting)] == ["c5", "c3", "c2", "c4", "c1"]


def test_position_is_one_based_in_queue_order():
    waiting = [chat("c1", 5), chat("c2", 50), chat("c3", 1, urgent=True)]
    assert [position(waiting, cid) for cid in ("c3", "c2", "c1")] == [1, 2, 3]
    assert position(waiting, "c9") is None
    assert position([], "c1") is None


def test_naive_and_aware_times_sort_together():
    a_minute_ago = (NOW - timedelta(minutes=1)).replace(tzinfo=None)
    naive = Waiting(id="old", department=None, urgent=False, opened_at=a_minute_ago)
    assert [w.id for w in queue_order([chat("new"), naive])] == ["old", "new"]


# under load --------------------------------------------------------------------------------------------------------
def test_more_chats_than_capacity():
    agents = [agent("a1", max_chats=2, load=1), agent("a2", max_chats=2), agent("a3", max_chats=1, load=1)]
    waiting = [chat(f"c{n}", waited=n) for n in range(1, 7)] + [chat("red", waited=0, urgent=True)]
    result = offers(waiting, agents)
    assert len(result) == 3  # free slots: a1 one, a2 two, a3 none
    assert set(result) == {"red", "c6", "c5"}  # the urgent one and the two oldest; c1..c4 stay queued
    counts = {a: list(result.values()).count(a) for a in ("a1", "a2", "a3")}
    assert counts == {"a1": 1, "a2": 2, "a3": 0}


def test_nobody_exceeds_their_cap_in_one_round():
    agents = [agent(f"a{n}", max_chats=n, load=0) for n in range(1, 4)]
    result = offers([chat(f"c{n}", waited=n) for n in range(20)], agents)
    assert len(result) == 6
    for a in agents:
        assert list(result.values()).count(a.id) == a.max_chats


def test_least_loaded_by_ratio_wins():
    agents = [agent("busy", max_chats=2, load=1), agent("roomy", max_chats=6, load=2)]  # 1/2 against 1/3
    assert offers([chat("c1")], agents) == {"c1": "roomy"}


def test_loads_update_within_a_round_to_spread_work():
    agents = [agent("a1", max_chats=4), agent("a2", max_chats=4)]
    result = offers([chat("c1", 3), chat("c2", 2), chat("c3", 1), chat("c4", 0)], agents)
    assert sorted(result.values()) == ["a1", "a1", "a2", "a2"]
    assert result["c1"] != result["c2"]


def test_longest_since_last_assignment_breaks_ties():
    agents = [agent("recent", last=NOW - timedelta(minutes=1)), agent("earlier", last=NOW - timedelta(minutes=9))]
    assert offers([chat("c1")], agents) == {"c1": "earlier"}
    agents.append(agent("never"))
    assert offers([chat("c1")], agents) == {"c1": "never"}


def test_full_ties_go_in_the_order_given():
    assert offers([chat("c1")], [agent("first"), agent("second")]) == {"c1": "first"}
    assert offers([chat("c1")], [agent("second"), agent("first")]) == {"c1": "second"}


# who is eligible ---------------------------------------------------------------------------------------------------
def test_unavailable_off_shift_and_full_agents_get_nothing():
    agents = [agent("away", available=False), agent("evening", shifts=("evening",)),
              agent("full", max_chats=2, load=2), agent("capless", max_chats=0)]
    assert offers([chat("c1", urgent=True)], agents) == {}
    assert offers([chat("c1")], agents, on_duty={"day", "evening"}) == {"c1": "evening"}
    assert offers([chat("c1")], agents, on_duty=set()) == {}


def test_agents_working_one_of_several_on_duty_shifts():
    agents = [agent("both", shifts=("day", "evening"), load=1), agent("eve", shifts=("evening",))]
    assert offers([chat("c1")], agents, on_duty={"evening"}) == {"c1": "eve"}


def test_excluded_agents_are_not_offered_the_chat_back():
    agents = [agent("handed-on"), agent("other", load=2)]
    assert offers([chat("c1", excluded=("handed-on",))], agents) == {"c1": "other"}
    assert offers([chat("c1", urgent=True, excluded=("handed-on", "other"))], agents) == {}
    # the exclusion is per chat: the next chat may still go to them
    assert offers([chat("c1", 9, excluded=("handed-on",)), chat("c2")], [agent("handed-on", max_chats=1),
                                                                      agent("other", max_chats=1)]) == {
        "c1": "other", "c2": "handed-on"}


# skills ------------------------------------------------------------------------------------------------------------
def test_specialists_preferred_even_when_busier():
    agents = [agent("gp"), agent("derm-other", skills=("gyn",)), agent("derm", skills=("derm", "ent"), load=2)]
    assert offers([chat("c1", department="derm")], agents) == {"c1": "derm"}


def test_generalists_take_department_chats_when_no_specialist_has_room():
    agents = [agent("gyn", skills=("gyn",)), agent("derm", skills=("derm",), load=3), agent("gp", load=2)]
    assert offers([chat("c1", department="derm")], agents) == {"c1": "gp"}


def test_a_chat_without_department_prefers_generalists():
    agents = [agent("derm", skills=("derm",)), agent("gp", load=2)]
    assert offers([chat("c1")], agents) == {"c1": "gp"}


def test_a_department_chat_waits_for_the_right_skill_until_skill_wait():
    agents = [agent("gyn", skills=("gyn",)), agent("derm", skills=("derm",), load=3)]
    assert offers([chat("c1", waited=29.999, department="derm")], agents) == {}
    assert offers([chat("c1", waited=30, department="derm")], agents) == {"c1": "gyn"}
    assert offers([chat("c1", waited=10, department="derm")], agents, skill_wait_seconds=10) == {"c1": "gyn"}


def test_a_chat_without_department_falls_back_to_specialists_after_skill_wait():
    agents = [agent("derm", skills=("derm",)), agent("gp", load=3)]
    assert offers([chat("c1", waited=5)], agents) == {}
    assert offers([chat("c1", waited=31)], agents) == {"c1": "derm"}


def test_an_urgent_chat_does_not_wait_for_a_specialist():
    agents = [agent("gyn", skills=("gyn",)), agent("derm", skills=("derm",), load=3)]
    assert offers([chat("c1", department="derm", urgent=True)], agents) == {"c1": "gyn"}


def test_a_waiting_specialist_chat_does_not_block_the_queue_behind_it():
    agents = [agent("gyn", skills=("gyn",), max_chats=1)]
    waiting = [chat("derm-chat", waited=20, department="derm"), chat("gyn-chat", waited=5, department="gyn")]
    assert offers(waiting, agents) == {"gyn-chat": "gyn"}


def test_fallback_ranks_by_load_across_everyone():
    agents = [agent("gyn", skills=("gyn",), load=2), agent("ent", skills=("ent",), load=1)]
    assert offers([chat("c1", waited=60, department="derm")], agents) == {"c1": "ent"}


# expected wait -----------------------------------------------------------------------------------------------------
def test_free_capacity_means_no_wait():
    agents = [agent("a1", max_chats=3, load=1)]
    assert expected_wait_seconds(1, agents, DAY, 300) == 0
    assert expected_wait_seconds(2, agents, DAY, 300) == 0


def test_wait_when_everyone_is_full():
    agents = [agent("a1", max_chats=2, load=2), agent("a2", max_chats=2, load=2), agent("off", shifts=("evening",)),
              agent("away", available=False)]
    assert expected_wait_seconds(1, agents, DAY, 300) == 150  # 1 × 300 ÷ 2
    assert expected_wait_seconds(3, agents, DAY, 300) == 450


def test_wait_counts_the_places_beyond_the_free_slots():
    agents = [agent("a1", max_chats=2, load=1), agent("a2", max_chats=2, load=2)]  # one free slot
    assert expected_wait_seconds(1, agents, DAY, 100) == 0
    assert expected_wait_seconds(4, agents, DAY, 100) == 150  # (4 - 1) × 100 ÷ 2


def test_wait_rounds_up_to_whole_seconds():
    agents = [agent(f"a{n}", max_chats=1, load=1) for n in range(3)]
    assert expected_wait_seconds(1, agents, DAY, 100) == 34


def test_no_estimate_when_nobody_is_on_duty():
    assert expected_wait_seconds(1, [agent("a1")], set(), 300) is None
    assert expected_wait_seconds(1, [agent("a1", available=False)], DAY, 300) is None
    assert expected_wait_seconds(1, [], DAY, 300) is None


@pytest.mark.parametrize("place, handle, field", [(0, 60, "position"), (True, 60, "position"),
                                                  (1, -1, "average_handle_seconds"),
                                                  (1, float("nan"), "average_handle_seconds")],
                         ids=["zero", "bool", "negative", "nan"])
def test_bad_estimate_input(place, handle, field):
    with pytest.raises(InvalidInput) as info:
        expected_wait_seconds(place, [agent("a1")], DAY, handle)
    assert info.value.errors[0]["field"] == field
