"""The pharmacy's courier client against the sandbox courier, both real: the sandbox runs as its own process
(``python -m deploy.sandbox_courier``) and pushes routes over HTTP to a receiver in this test, as it would to the
gateway. No RabbitMQ or database: none of the stack's fixtures are used.

What must hold: a create is idempotent by orderId; routes arrive as signed pushes the client believes, and a forged
one it does not; the courier's failures (busy, down, slow) are ``CourierUnavailable``; pushes that arrive twice or
out of order are seen as such; a restarted courier remembers its waybills."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from contracts.pharmacy.courier import OpCode, RoutePush, ShipmentRequest, push_answer, push_body
from deploy.stack import ROOT, SECRETS, Stack, free_port, is_stack_command, proc_cmdline, proc_environ
from services.pharmacy.shipping.courier import CourierClient, CourierRefused, CourierUnavailable
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration

PARTNER = "WENZHEN_TEST"
CHECK_WORD = "test-check-word-" + uuid.uuid4().hex
STEP = 0.2
HAPPY = ["50", "30", "44", "80"]


class Receiver:
    """Our side of the pushes (the gateway's route, in miniature): keeps every body and answers ``0000``, or
    ``1000`` to the next ``refuse`` pushes."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.refuse = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.bodies.append(body)
                    refused = receiver.refuse > 0
                    receiver.refuse -= refused
                data = json.dumps(push_answer(not refused, "refused by the test")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/courier/route-pushes"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies_for(self, waybill: str) -> list[dict]:
        """The push bodies (in arrival order) that name ``waybill``."""
        def names(body: dict) -> bool:
            try:
                return any(r.get("mailno") == waybill for r in json.loads(body["msgData"])["WaybillRoute"])
            except (KeyError, ValueError, TypeError, AttributeError):
                return False

        with self.lock:
            return [b for b in self.bodies if names(b)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Sandbox:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.service_url = f"{self.url}/std/service"

    def faults(self, **faults) -> dict:
        response = requests.post(f"{self.url}/sandbox/faults", json=faults, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def control(self, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.url}/sandbox/{path}", json=body, timeout=10)

    def order(self, waybill: str) -> dict:
        return next(o for o in requests.get(f"{self.url}/sandbox/orders", timeout=5).json() if o["waybill"] == waybill)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_sandbox(push_url: str, var: Path, port: int | None = None) -> Sandbox:
    port = port or free_port()
    log = var / f"sandbox-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.sandbox_courier", "--port", str(port), "--push-url", push_url,
             "--partner-id", PARTNER, "--step-seconds", str(STEP), "--retry-seconds", "0.2",
             "--state-file", str(var / "courier.json")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "COURIER_CHECK_WORD": CHECK_WORD})
    sandbox = Sandbox(proc, port, log)

    def up() -> bool:
        assert proc.poll() is None, f"the sandbox exited: {log.read_text()}"
        try:
            return requests.get(f"{sandbox.url}/healthz", timeout=1).json()["partnerID"] == PARTNER
        except requests.RequestException:
            return False

    wait_until(up, timeout=20, what="the sandbox courier to listen")
    assert f"sandbox courier on :{port}" in log.read_text()
    return sandbox


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sandbox(receiver, tmp_path_factory):
    s = start_sandbox(receiver.url, tmp_path_factory.mktemp("courier"))
    yield s
    assert s.stop() == 0  # SIGTERM ends it cleanly (its state saved)


@pytest.fixture(autouse=True)
def no_faults(request):
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").faults(reset=True)


@pytest.fixture
def client(sandbox):
    return CourierClient(sandbox.service_url, PARTNER, CHECK_WORD, timeout=2.0)


def shipment(cold_chain: bool = False) -> ShipmentRequest:
    return ShipmentRequest(order_id=f"po-{uuid.uuid4().hex[:12]}", cargo="药品", cold_chain=cold_chain,
                           sender={"name": "第一医院药房", "phone": "02088888888", "address": "中山二路58号",
                                   "city": "广州市"},
                           recipient={"name": "张三", "phone": "13912345678", "address": "幸福路1号", "city": "上海市"})


def verified(client: CourierClient, bodies: list[dict]) -> list[RoutePush]:
    pushes = [client.verify_push(b) for b in bodies]
    assert all(pushes), "a push the sandbox signed did not verify"
    return pushes


def ops(pushes: list[RoutePush]) -> list[str]:
    return [e.op_code.value for p in pushes for e in p.events]


def delivered(receiver: Receiver, waybill: str, count: int = 4):
    """Wait for ``count`` distinct route steps of ``waybill`` to have been pushed; the bodies."""
    def enough():
        bodies = receiver.bodies_for(waybill)
        ids = {r["id"] for b in bodies for r in json.loads(b["msgData"])["WaybillRoute"]}
        return bodies if len(ids) >= count else None

    return wait_until(enough, timeout=15, what=f"{count} route steps of {waybill}")


def test_a_create_answers_a_waybill_and_the_same_order_again_the_same_one(client):
    order = shipment()
    waybill = client.create_shipment(order)
    assert re.fullmatch(r"SF\d{13}", waybill)
    assert client.create_shipment(order) == waybill  # 8016, then the order's waybill: a retry is harmless
    assert client.waybill_for(order.order_id) == waybill
    assert client.waybill_for("po-never-placed") is None
    other = client.create_shipment(shipment(cold_chain=True))
    assert other != waybill


def test_the_route_arrives_as_signed_pushes_that_end_delivered_and_match_the_query(sandbox, receiver, client):
    order = shipment()
    waybill = client.create_shipment(order)
    pushes = verified(client, delivered(receiver, waybill))
    assert ops(pushes) == HAPPY
    events = [e for p in pushes for e in p.events]
    assert {e.orderid for e in events} == {order.order_id} and {e.mailno for e in events} == {waybill}
    assert events[0].accept_address == "广州市" and events[-1].accept_address == "上海市"
    assert all(e.accept_time.utcoffset().total_seconds() == 0 for e in events)
    assert abs(time.time() - events[-1].accept_time.timestamp()) < 30
    assert pushes[-1].events[0].op_code is OpCode.delivered and OpCode.delivered.terminal

    queried = client.query_routes(waybill)
    assert [(e.id, e.op_code.value, e.accept_time) for e in queried] == [(e.id, e.op_code.value, e.accept_time)
                                                                          for e in events]
    listed = sandbox.order(waybill)
    assert listed["steps"] == HAPPY and listed["finished"] and listed["orderId"] == order.order_id
    wait_until(lambda: all(p["state"] == "delivered" for p in sandbox.order(waybill)["pushes"]), timeout=5,
               what="every push taken")
    assert "张三" not in json.dumps(listed, ensure_ascii=False) and "13912345678" not in json.dumps(listed)
    assert "张三" not in sandbox.log.read_text() and "13912345678" not in sandbox.log.read_text()


def test_system_busy_is_transient_and_the_next_call_succeeds(sandbox, client):
    order = shipment()
    sandbox.faults(fail_next=1)
    with pytest.raises(CourierUnavailable, match="A1099"):
        client.create_shipment(order)
    waybill = client.create_shipment(order)
    assert client.waybill_for(order.order_id) == waybill
    sandbox.faults(fail_next=2)
    with pytest.raises(CourierUnavailable):
        client.query_routes(waybill)
    with pytest.raises(CourierUnavailable):
        client.waybill_for(order.order_id)
    assert client.waybill_for(order.order_id) == waybill


def test_a_courier_that_is_down_is_unavailable(sandbox, client):
    order = shipment()
    sandbox.faults(down=True)
    with pytest.raises(CourierUnavailable, match="HTTP 503"):
        client.create_shipment(order)
    sandbox.faults(down=False)
    assert re.fullmatch(r"SF\d{13}", client.create_shipment(order))


def test_an_answer_later_than_the_timeout_is_unavailable_and_the_retry_finds_the_order(sandbox, client):
    order = shipment()
    sandbox.faults(slow_seconds=1.5)
    impatient = CourierClient(sandbox.service_url, PARTNER, CHECK_WORD, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(CourierUnavailable, match="no answer within 0.5s"):
        impatient.create_shipment(order)
    assert time.monotonic() - started < 1.4
    sandbox.faults(slow_seconds=0)
    waybill = client.create_shipment(order)  # the courier did create it: the retry gets that waybill
    assert [o["orderId"] for o in requests.get(f"{sandbox.url}/sandbox/orders", timeout=5).json()
            if o["waybill"] == waybill] == [order.order_id]


def test_a_wrong_check_word_or_partner_is_refused_not_retried(sandbox):
    with pytest.raises(CourierRefused) as digest:
        CourierClient(sandbox.service_url, PARTNER, "not-the-check-word").create_shipment(shipment())
    assert digest.value.code == "A1002"
    with pytest.raises(CourierRefused) as partner:
        CourierClient(sandbox.service_url, "SOMEONE_ELSE", CHECK_WORD).query_routes("SF0000000000000")
    assert partner.value.code == "A1004"
    assert "张三" not in str(digest.value)


def test_duplicate_pushes_arrive_twice_with_the_same_route_ids(sandbox, receiver, client):
    sandbox.faults(duplicate_pushes=True)
    waybill = client.create_shipment(shipment())
    delivered(receiver, waybill)
    wait_until(lambda: len(receiver.bodies_for(waybill)) >= 8, timeout=10, what="every push twice")
    pushes = verified(client, receiver.bodies_for(waybill))
    counts = Counter(e.id for p in pushes for e in p.events)
    assert len(counts) == 4 and set(counts.values()) == {2}  # a consumer deduplicates on the route id
    assert sorted(set(ops(pushes)), key=HAPPY.index) == HAPPY
    assert [p["sent"] for p in sandbox.order(waybill)["pushes"]] == [2, 2, 2, 2]


def test_reordered_pushes_arrive_newest_first_and_ranks_put_them_right(sandbox, receiver, client):
    sandbox.faults(reorder_pushes=True)
    waybill = client.create_shipment(shipment())
    pushes = verified(client, delivered(receiver, waybill))
    arrived = [e for p in pushes for e in p.events]
    assert [e.op_code.value for e in arrived] == list(reversed(HAPPY))
    state = None
    for e in arrived:  # what a consumer keeps, taking pushes as they come
        if e.supersedes(state):
            state = e
    assert state.op_code is OpCode.delivered
    assert [e.op_code.value for e in client.query_routes(waybill)] == HAPPY  # the query has the true order


def test_a_push_that_is_not_taken_is_retried(sandbox, receiver, client):
    sandbox.faults(auto_route=False)
    waybill = client.create_shipment(shipment())
    with receiver.lock:
        receiver.refuse = 2
    assert sandbox.control("advance", {"waybill": waybill}).json()["opCode"] == "50"
    bodies = wait_until(lambda: len(receiver.bodies_for(waybill)) >= 3 and receiver.bodies_for(waybill),
                        timeout=15, what="the push's retries")
    assert len({b["msgData"] for b in bodies}) == 1  # the same push, again
    pushed = wait_until(lambda: sandbox.order(waybill)["pushes"][0]["state"] == "delivered"
                        and sandbox.order(waybill)["pushes"][0], timeout=5, what="the push taken")
    assert pushed["attempts"] == 2 and pushed["sent"] == 1


def test_routes_advance_by_hand_when_auto_route_is_off(sandbox, receiver, client):
    sandbox.faults(auto_route=False)
    waybill = client.create_shipment(shipment())
    time.sleep(STEP * 3)
    assert receiver.bodies_for(waybill) == [] and sandbox.order(waybill)["steps"] == []
    assert sandbox.control("advance", {"waybill": waybill}).json()["opCode"] == "50"
    assert sandbox.control("advance", {"waybill": waybill, "op_code": "33"}).json()["opCode"] == "33"
    assert sandbox.control("advance", {"waybill": waybill}).json()["opCode"] == "30"
    assert sandbox.control("advance", {"waybill": waybill, "op_code": "99"}).json()["opCode"] == "99"
    assert sandbox.control("advance", {"waybill": waybill}).status_code == 409  # returned: nothing follows
    assert sandbox.control("advance", {"waybill": "SF0000000000000"}).status_code == 404
    assert sandbox.control("advance", {"waybill": waybill, "op_code": "12"}).status_code == 400
    assert ops(verified(client, delivered(receiver, waybill))) == ["50", "33", "30", "99"]
    assert [e.op_code.value for e in client.query_routes(waybill)] == ["50", "33", "30", "99"]
    assert sandbox.faults(auto_route=True)["auto_route"] is True
    assert requests.post(f"{sandbox.url}/sandbox/faults", json={"down": "yes"}, timeout=5).status_code == 400


def test_a_forged_push_is_not_believed(sandbox, receiver, client):
    sandbox.faults(auto_route=False)
    waybill = client.create_shipment(shipment())
    answer = sandbox.control("forge", {"waybill": waybill, "op_code": "80"}).json()
    assert answer["answer"]["return_code"] == "0000"  # the receiver took it; believing it is another matter
    forged = receiver.bodies_for(waybill)
    assert len(forged) == 1 and RoutePush.parse(forged[0]).events[0].op_code is OpCode.delivered
    assert client.verify_push(forged[0]) is None
    assert client.query_routes(waybill) == []  # the courier knows of no such step

    sandbox.control("forge", {"waybill": waybill, "op_code": "80", "unsigned": True})
    unsigned = receiver.bodies_for(waybill)[1]
    assert "msgDigest" not in unsigned
    with pytest.raises(ValueError, match="msgDigest"):
        client.verify_push(unsigned)

    honest = RoutePush.parse(forged[0]).events
    assert client.verify_push(push_body(PARTNER, "r", honest, CHECK_WORD, 1)) is not None
    assert client.verify_push(push_body("SOMEONE_ELSE", "r", honest, CHECK_WORD, 1)) is None


def test_a_restarted_sandbox_remembers_its_waybills_and_finishes_its_routes(receiver, tmp_path):
    first = start_sandbox(receiver.url, tmp_path)
    client = CourierClient(first.service_url, PARTNER, CHECK_WORD)
    first.faults(auto_route=False)
    order = shipment()
    waybill = client.create_shipment(order)
    first.control("advance", {"waybill": waybill})
    delivered(receiver, waybill, count=1)
    assert first.stop() == 0

    second = start_sandbox(receiver.url, tmp_path, port=first.port)
    try:
        assert client.create_shipment(order) == waybill
        assert [e.op_code.value for e in client.query_routes(waybill)] == ["50"]
        pushes = verified(client, delivered(receiver, waybill))  # auto_route is on again after a restart
        assert ops(pushes) == HAPPY
    finally:
        assert second.stop() == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_stack_starts_the_sandbox_as_a_child_that_alone_with_pharmacy_holds_the_check_word(tmp_path, monkeypatch):
    for name in ("COURIER_URL", "COURIER_CHECK_WORD", "COURIER_PARTNER_ID", "COURIER_SANDBOX_PORT"):
        monkeypatch.delenv(name, raising=False)
    keys = {name: "unused" for name in SECRETS}  # no development keys but the check word
    port = free_port()
    stack = Stack({**keys, "COURIER_SANDBOX_PORT": str(port), "GATEWAY_PORT": str(free_port())}, tmp_path,
                  say=lambda *_: None)
    word = stack.env["COURIER_CHECK_WORD"]
    assert len(word) >= 24 and f"COURIER_CHECK_WORD={word}" in (tmp_path / "secrets.env").read_text()
    assert "WENZHEN_DATA_KEYS" not in (tmp_path / "secrets.env").read_text()
    assert stack.env["COURIER_URL"] == f"http://127.0.0.1:{port}/std/service"
    assert stack.env["COURIER_PARTNER_ID"] == "WENZHEN_DEV"
    assert stack.process_env("pharmacy")["COURIER_CHECK_WORD"] == word
    assert all("COURIER_CHECK_WORD" not in stack.process_env(p) for p in ("booking", "identity", "gateway", "topology"))
    assert stack.process_env("booking")["COURIER_URL"] == stack.env["COURIER_URL"]  # not a secret

    proc = stack.start_courier_sandbox()
    try:
        argv, env = proc_cmdline(proc.pid), proc_environ(proc.pid)
        assert env["COURIER_CHECK_WORD"] == word and "WENZHEN_DATA_KEYS" not in env
        assert word not in " ".join(argv)  # a command line is readable by every user of the machine
        assert f"http://127.0.0.1:{stack.settings.gateway_port}/v1/courier/route-pushes" in argv
        assert is_stack_command(argv, tmp_path)  # a leftover of a killed supervisor is found and ended
        client = CourierClient(stack.env["COURIER_URL"], "WENZHEN_DEV", word)
        order = shipment()
        waybill = client.create_shipment(order)
        assert client.create_shipment(order) == waybill
    finally:
        stack.stop_all()
    assert proc.poll() is not None
    assert f"sandbox courier on :{port}" in (tmp_path / "log" / "courier-sandbox.log").read_text()
    assert waybill in (tmp_path / "courier-sandbox.json").read_text()  # kept for the next start
    assert Stack({**keys}, tmp_path, say=lambda *_: None).env["COURIER_CHECK_WORD"] == word  # made once

    real = Stack({**keys, "COURIER_URL": "https://courier.example/std/service"}, tmp_path / "real", say=print)
    assert not real.courier_sandbox and real.env["COURIER_URL"] == "https://courier.example/std/service"
    assert "COURIER_CHECK_WORD" not in real.env  # a real courier's comes from the secret store, never made up
