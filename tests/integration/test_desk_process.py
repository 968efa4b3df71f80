"""intake's desk loop as a deployable of its own (issue 11): the regular intake process is replaced by two — every RPC,
event handler and the complaints' loop in ``python -m services intake --without desk``, the desk loop alone in
``python -m services intake --only desk`` — and routing and the service-level clocks stop without the second and
come back with it, while the first answers every RPC (the desk process takes none: it has no RPC queue consumer)."""
from __future__ import annotations

import sys
import time

import pytest

from tests.integration.conftest import wait_until
from tests.integration.test_consultations import ALL_DAY, Desk, open_as_visitor, outbox_types

pytestmark = pytest.mark.integration

ACCEPT_SECONDS = 8  # the test stack's CONSULT_ACCEPT_SECONDS


def intake(*part: str) -> list[str]:
    return [sys.executable, "-m", "services", "intake", *part]


def test_the_desk_loop_runs_in_its_own_process_and_without_it_nothing_routes_or_breaches(stack):
    desk = Desk(stack, stack.staff("team_lead"), stack.staff("consultant"), stack.staff("consultant"))
    desk.shifts(ALL_DAY)
    desk.roster(desk.a, max_chats=3)
    desk.tidy()  # an empty desk, and the consultant on it
    stack.stop("intake")
    try:
        stack.spawn("intake-beside-desk", intake("--without", "desk"), process="intake")
        stack.wait_service("intake")

        # without the desk process the chat waits, nobody is offered it, and its accept clock runs out unnoticed
        visitor, opened = open_as_visitor(stack, "你好，想咨询一下挂号")
        cid = opened["consultation"]["id"]
        time.sleep(ACCEPT_SECONDS + 1)
        chat = stack.db("intake")["consultations"].find_one({"_id": cid})
        assert chat["status"] == "queued" and chat["sla_raised"] == []
        assert not {"consultation_assigned", "service_level_breached"} & set(outbox_types(stack, cid))
        assert visitor.get(f"/v1/consultations/{cid}")["queue"]["position"] >= 1  # the RPCs are all answered

        # the desk process: the router offers the chat, and the missed offer is a breach that re-queues it
        started = stack.spawn("intake-desk", intake("--only", "desk"), process="intake")
        wait_until(lambda: "service_level_breached" in outbox_types(stack, cid), timeout=45,
                   what="the desk process to route the chat and raise its accept breach")
        kinds = outbox_types(stack, cid)
        assert kinds.index("consultation_assigned") < kinds.index("service_level_breached")
        offer = stack.db("intake")["outbox"].find_one({"subject": cid, "type": "consultation_assigned"})
        assert offer["envelope"]["data"]["by"] == "router"
        chat = stack.db("intake")["consultations"].find_one({"_id": cid})
        offered_to = offer["envelope"]["data"]["consultant_id"]
        assert chat["status"] == "queued" and "accept" in chat["sla_raised"] and offered_to in chat["excluded"]
        lease = stack.db("intake")["leases"].find_one({"_id": "intake-desk"})
        assert lease["owner"].split(":")[1] == str(started.pid)  # the desk process holds the desk's lease
        assert started.poll() is None and "MethodNotFound" not in stack.log_text("intake-beside-desk")
        desk.lead.as_user.post(f"/v1/consultations/{cid}/pick")  # RPCs still go to the other process
        desk.lead.as_user.post(f"/v1/consultations/{cid}/close", {"outcome": "dropped"})
    finally:
        stack.stop("intake-desk")
        stack.stop("intake-beside-desk")
        stack.restore_service("intake")
        desk.tidy()
        desk.presence(desk.a, False)
