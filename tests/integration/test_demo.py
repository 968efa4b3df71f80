"""`make demo`'s desk part on a desk in use: other clients' chats queued ahead of the demo's, another consultant on
the desk, run twice. It used to wait for the router to offer the demo's chat to the demo's consultant (which the
router rightly does not while older chats wait), fail, and close other clients' chats as "dropped" on the way out.
"""
from __future__ import annotations

from deploy.client import Api
from deploy.demo import Actor, Journey
from deploy.demo_chat import chat_journey
from tests.integration.conftest import new_origin

OTHERS = ("我头疼三天了", "孩子发烧38度5", "尿频尿急怎么办", "想咨询一下复诊", "腰痛挂什么科", "我咳嗽一周了")


def test_the_demo_chat_works_on_a_desk_in_use_and_leaves_other_clients_chats_open(stack):
    others = [stack.api().post("/v1/consultations", {"channel": "web", "message": text})["consultation"]["id"]
              for text in OTHERS]
    colleague = stack.staff("consultant")  # someone else on the desk, who accepts nothing
    colleague.as_user.call("PUT", "/v1/desk/presence", {"available": True})
    admin = Actor("admin", stack.admin())
    outcomes = []
    for run in ("used1", "used2"):
        journey = Journey(stack.url, run)
        journey.api = Api(stack.url, origin=new_origin())  # the demo's anonymous visitors, from their own address
        outcomes.append(chat_journey(journey, admin))

    lead = stack.staff("team_lead").as_user
    for outcome in outcomes:
        for cid in (outcome.consultation_id, outcome.urgent_id):
            assert lead.get(f"/v1/consultations/{cid}")["status"] == "closed"
    states = {cid: lead.get(f"/v1/consultations/{cid}") for cid in others}
    assert all(chat["status"] != "closed" for chat in states.values()), states
    # none is left with one of the demo's consultants (each run's consultant handed back what it was offered)
    demo_consultants = {c["consultant_id"] for o in outcomes
                        for c in [lead.get(f"/v1/consultations/{o.consultation_id}")]}
    assert not {chat.get("consultant_id") for chat in states.values()} & demo_consultants
