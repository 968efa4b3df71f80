"""The desk around the chats, over in-memory stores with an explicit clock: a routing round offers what the router's
plan says (and only that), the service-level sweep raises each breach once, a missed offer goes back to the queue,
an unattended chat is an incident naming its shift and team lead; the queue, the team lead's view, shifts, roster and
presence; the desk loop's round."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from contracts.intake.consultations import MessageInput, RosterEntry, Shift, Transfer
from contracts.intake.events import ConsultationAssigned, ConsultationIncidentOpened, ServiceLevelBreached
from services.intake.desk import routing, shifts, staffing, usecases
from services.intake.desk.rules import waiting
from services.intake.desk.staffing import DeskLoop
from tests.unit.intake.desk.conftest import COLLEAGUE, CONSULTANT, LEAD, MONDAY_10, NIGHT, PATIENT, POLICY, visitor
from wenzhen.errors import Forbidden, InvalidInput, NotFound

NOW = MONDAY_10
SECOND = timedelta(seconds=1)
ACCEPT = timedelta(seconds=POLICY.service_levels.accept_seconds)
ANSWER = timedelta(seconds=POLICY.service_levels.answer_seconds)
UNATTENDED = timedelta(seconds=POLICY.service_levels.unattended_seconds)
DAY_WITH_LEAD = [Shift(code="day", name_zh="白班", name_en="Day", start="08:00", end="17:00",
                       team_lead_id=LEAD.principal.sub)]


# routing -----------------------------------------------------------------------------------------------------------
def test_a_round_offers_the_waiting_chats_as_the_routers_plan_says(world):
    world.on_desk(CONSULTANT, skills=["urology"], max_chats=2)
    world.on_desk(COLLEAGUE, skills=["ent"], max_chats=1)
    urology = world.open(visitor("v1"), "尿频", department="urology").consultation.id
    ent = world.open(visitor("v2"), "鼻塞", department="ent").consultation.id
    urgent = world.open(visitor("v3"), "胸口疼得厉害，喘不上气", at=NOW + SECOND).consultation.id
    expected = routing.plan([waiting(c) for c in world.store.queued()], world.store.agents(), {"day"}, NOW,
                            POLICY.skill_wait_seconds)
    assert staffing.route(world.desk, NOW) == len(expected) == 3
    offers = {e.consultation_id: e.consultant_id for e in world.events(ConsultationAssigned)}
    assert offers == dict(expected)
    assert offers[urgent] == CONSULTANT.principal.sub  # urgent first, and to anyone with room: no skill wait
    assert offers[urology] == CONSULTANT.principal.sub and offers[ent] == COLLEAGUE.principal.sub
    assert {e.by for e in world.events(ConsultationAssigned)} == {"router"}
    assert all(world.store.chat(cid).status == "assigned" for cid in offers)
    assert world.store.roster[CONSULTANT.principal.sub]["last_assigned_at"] == NOW
    assert staffing.route(world.desk, NOW) == 0  # nothing waits any more, and nobody has room


def test_nothing_is_offered_out_of_hours_to_nobody_on_the_desk_or_of_a_chat_for_the_team_lead(world):
    world.open(visitor(), "你好", at=NIGHT)
    assert staffing.route(world.desk, NIGHT) == 0  # no shift on duty
    assert staffing.route(world.desk, NOW) == 0  # on duty, but nobody on the desk
    world.on_desk(CONSULTANT)
    world.on_desk(COLLEAGUE)
    cid = world.store.queued()[0].id
    usecases.pick(world.desk, LEAD, cid, NOW)
    usecases.transfer(world.desk, LEAD, cid, Transfer(reason="team_lead"), NOW)  # no lead named: queued
    assert world.store.chat(cid).status == "queued" and world.store.chat(cid).escalated
    assert staffing.route(world.desk, NOW) == 0  # it waits for a team lead to pick it


def test_an_offer_made_meanwhile_by_a_pick_is_not_made_twice(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    usecases.pick(world.desk, CONSULTANT, cid, NOW)
    assert staffing.offer(world.desk, cid, COLLEAGUE.principal.sub, "router", NOW) == 0
    assert world.events(ConsultationAssigned)[-1].by == "pick"


# service levels ----------------------------------------------------------------------------------------------------
def breaches(world) -> list[tuple[str, str]]:
    return [(e.consultation_id, e.kind) for e in world.events(ServiceLevelBreached)]


def test_the_accept_breach_is_raised_at_the_limit_once_and_a_missed_offer_goes_back_to_the_queue(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    staffing.route(world.desk, NOW)
    assert staffing.sweep(world.desk, NOW + ACCEPT - SECOND) == 0
    assert staffing.sweep(world.desk, NOW + ACCEPT) == 1
    assert staffing.sweep(world.desk, NOW + ACCEPT + SECOND) == 0  # once
    (event,) = world.events(ServiceLevelBreached)
    assert (event.kind, event.limit_seconds, event.consultant_id, event.shift) == (
        "accept", 25, CONSULTANT.principal.sub, "day")
    chat = world.store.chat(cid)
    assert chat.status == "queued" and chat.consultant_id is None and CONSULTANT.principal.sub in chat.excluded
    assert world.store.roster[CONSULTANT.principal.sub]["available"] is False  # off the desk until they are back
    assert staffing.route(world.desk, NOW + ACCEPT) == 0  # not offered back to them


def test_an_unattended_chat_is_an_incident_naming_its_shift_and_team_lead_resolved_when_taken(world):
    world.store.shift_table = DAY_WITH_LEAD
    cid = world.open(visitor(), "有人吗").consultation.id
    assert staffing.sweep(world.desk, NOW + UNATTENDED) == 2  # the accept breach and the incident
    assert staffing.sweep(world.desk, NOW + UNATTENDED * 2) == 0
    (incident,) = world.events(ConsultationIncidentOpened)
    assert (incident.consultation_id, incident.shift, incident.team_lead_id, incident.waited_seconds) == (
        cid, "day", LEAD.principal.sub, 120)
    view = staffing.desk_view(world.desk, LEAD, NOW + UNATTENDED)
    assert [i["consultation_id"] for i in view.open_incidents] == [cid]
    assert view.breaches_today == {"accept": 1, "answer": 0, "incident": 1}
    usecases.pick(world.desk, LEAD, cid, NOW + UNATTENDED)
    assert staffing.desk_view(world.desk, LEAD, NOW + UNATTENDED).open_incidents == []


def test_each_unanswered_patient_message_of_an_accepted_chat_has_its_answer_clock(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好").consultation.id
    usecases.pick(world.desk, CONSULTANT, cid, NOW)  # the visitor wrote last: the answer clock runs from now
    assert staffing.sweep(world.desk, NOW + ANSWER - SECOND) == 0
    assert staffing.sweep(world.desk, NOW + ANSWER) == 1
    usecases.post_message(world.desk, CONSULTANT, cid, MessageInput(text="您好"), NOW + ANSWER)
    later = NOW + ANSWER * 2
    usecases.post_message(world.desk, visitor(), cid, MessageInput(text="周六有号吗"), later)
    assert staffing.sweep(world.desk, later + ANSWER) == 1
    assert breaches(world) == [(cid, "answer"), (cid, "answer")]
    assert world.store.chat(cid).sla_raised == ("answer:1", "answer:4")


def test_the_clocks_count_service_hours_only(world):
    world.on_desk(CONSULTANT)
    cid = world.open(visitor(), "你好", at=NIGHT).consultation.id
    assert staffing.sweep(world.desk, NIGHT + UNATTENDED * 10) == 0  # the desk is closed: no clock runs
    opening = shifts.next_opening(world.store.shifts(), NIGHT)
    assert staffing.sweep(world.desk, opening + ACCEPT) == 1
    assert breaches(world) == [(cid, "accept")]


# what consultants and the team lead see ----------------------------------------------------------------------------
def test_a_consultant_sees_their_own_queue_and_a_team_lead_all_of_it(world):
    world.on_desk(CONSULTANT, skills=["urology"])
    urology = world.open(visitor("v1"), "尿频", department="urology").consultation.id
    world.open(visitor("v2"), "鼻塞", department="ent")
    assert [q.id for q in staffing.queue(world.desk, CONSULTANT, NOW)] == [urology]
    assert len(staffing.queue(world.desk, LEAD, NOW)) == 2
    assert len(staffing.queue(world.desk, CONSULTANT, NOW + timedelta(seconds=POLICY.skill_wait_seconds))) == 2
    with pytest.raises(Forbidden):
        staffing.queue(world.desk, PATIENT, NOW)


def test_the_team_leads_view(world):
    world.on_desk(CONSULTANT)
    urgent = world.open(visitor("v1"), "胸口疼得厉害，喘不上气").consultation.id
    staffing.route(world.desk, NOW)
    view = staffing.desk_view(world.desk, LEAD, NOW + timedelta(seconds=10))
    assert view.in_service_hours and view.on_duty_shifts == ["day"]
    assert [(q.id, q.status, q.waited_seconds) for q in view.queue] == [(urgent, "assigned", 10)]
    assert view.red_flags == [{"consultation_id": urgent, "codes": ["chest_pain", "breathing"], "status": "assigned",
                               "consultant_id": CONSULTANT.principal.sub}]
    assert [(c.consultant_id, c.load, c.on_duty) for c in view.consultants] == [(CONSULTANT.principal.sub, 1, True)]
    with pytest.raises(Forbidden):
        staffing.desk_view(world.desk, CONSULTANT, NOW)


def test_shifts_roster_and_presence(world):
    with pytest.raises(Forbidden):
        staffing.set_shifts(world.desk, CONSULTANT, [s.model_dump(mode="json") for s in DAY_WITH_LEAD], NOW)
    with pytest.raises(InvalidInput) as bad:
        staffing.set_shifts(world.desk, LEAD, [{"code": "day", "name_zh": "白班", "name_en": "Day", "start": "08:00",
                                                "end": "08:00"}], NOW)
    assert bad.value.errors[0]["field"] == "shifts[0].end"
    assert [s.code for s in staffing.set_shifts(world.desk, LEAD, [s.model_dump(mode="json")
                                                                  for s in DAY_WITH_LEAD], NOW)] == ["day"]
    assert [s.team_lead_id for s in staffing.current_shifts(world.desk)] == [LEAD.principal.sub]
    with pytest.raises(InvalidInput) as unknown:
        staffing.put_roster(world.desk, LEAD, CONSULTANT.principal.sub, RosterEntry(shifts=["evening"]), NOW)
    assert unknown.value.errors[0]["field"] == "shifts[0]"
    with pytest.raises(NotFound):  # not what an account id looks like
        staffing.put_roster(world.desk, LEAD, "someone", RosterEntry(shifts=["day"]), NOW)
    with pytest.raises(Forbidden):
        staffing.put_roster(world.desk, CONSULTANT, CONSULTANT.principal.sub, RosterEntry(shifts=["day"]), NOW)
    view = staffing.put_roster(world.desk, LEAD, CONSULTANT.principal.sub,
                               RosterEntry(skills=["ent"], max_chats=2, shifts=["day"]), NOW)
    assert (view.skills, view.max_chats, view.available, view.on_duty) == (["ent"], 2, False, True)
    assert staffing.set_presence(world.desk, CONSULTANT, True, NOW).available
    newcomer = staffing.set_presence(world.desk, COLLEAGUE, True, NOW)  # not rostered yet: the defaults
    assert (newcomer.max_chats, newcomer.shifts) == (5, ["day", "evening"])
    with pytest.raises(Forbidden):
        staffing.set_presence(world.desk, PATIENT, True, NOW)


# the loop ----------------------------------------------------------------------------------------------------------
def test_a_round_of_the_desk_loop_routes_then_runs_the_clocks(world):
    world.on_desk(CONSULTANT)
    world.open(visitor(), "你好")
    clock = iter([NOW, NOW + ACCEPT])
    loop = DeskLoop(SimpleNamespace(db=None), world.desk, lease_seconds=10, retry_max=1, clock=lambda: next(clock))
    assert loop.lease_name == "intake-desk" and loop.poll_interval == POLICY.poll_interval
    assert loop.round() == 1  # offered
    assert loop.round() == 1  # the offer missed: the accept breach
    assert [type(e).__name__ for _, e in world.store.emitted[-2:]] == ["ConsultationAssigned", "ServiceLevelBreached"]
