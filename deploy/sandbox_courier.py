"""The sandbox courier: an SF-shaped courier (``contracts.pharmacy.courier``) as its own HTTP server process, so the
pharmacy is developed and tested against the real wire (signed forms, JSON answers, signed route pushes) and against
a courier's failures, without a courier account.

    python -m deploy.sandbox_courier --port 8791 --push-url http://127.0.0.1:8000/v1/courier/route-pushes \\
        --partner-id WENZHEN_DEV [--check-word W | env COURIER_CHECK_WORD] [--step-seconds 2] [--state-file F]

``POST /std/service`` answers the three service codes. Each created order plays its route (50, 30, 44, 80) one step
every ``--step-seconds``, pushed signed to ``--push-url``; a push not answered ``0000`` is retried with backoff.
``/sandbox/*`` injects faults and drives routes by hand (docs/courier.md). Orders (no personal data: ids, cities and
routes) are kept in ``--state-file`` so a restart remembers its waybills. Imports the contract and the stdlib only.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from contracts.pharmacy import courier as wire

MAX_BODY = 1 << 20
MAX_BACKOFF = 30.0
DEFAULT_FAULTS: dict[str, Any] = {"down": False, "slow_seconds": 0.0, "fail_next": 0, "duplicate_pushes": False,
                                  "reorder_pushes": False, "auto_route": True}
REMARKS = {"50": "顺丰速运 已收取快件", "30": "快件已发车，正在运往目的地", "44": "快件正在派送途中",
           "33": "快件派送不成功，将再次派送", "80": "已签收，感谢使用顺丰", "99": "快件已退回寄件人"}
AT_DESTINATION = {"44", "33", "80"}
REQUIRED = ("partnerID", "requestID", "serviceCode", "timestamp", "msgDigest", "msgData")


def say(text: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {text}", flush=True)


@dataclass
class Job:
    """One delivery of a route step's push."""

    order_id: str
    route_id: str
    body: dict[str, str]
    due: float
    attempts: int = 0
    duplicate: bool = False  # the second copy of a push (duplicate_pushes): sent once, never retried


class Courier:
    """Orders, their routes, the push queue and the faults, under one lock. Two threads beside the HTTP server's:
    the player advances routes, the pusher delivers pushes."""

    def __init__(self, partner_id: str, check_word: str, push_url: str, step_seconds: float = 2.0,
                 state_file: Path | None = None, retry_seconds: float = 1.0, max_attempts: int = 30):
        self.partner_id = partner_id
        self.check_word = check_word
        self.push_url = push_url
        self.step_seconds = step_seconds
        self.state_file = state_file
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self.lock = threading.RLock()
        self.stopped = threading.Event()
        self.orders: dict[str, dict[str, Any]] = {}  # orderId -> order (what the state file holds)
        self.by_waybill: dict[str, str] = {}
        self.jobs: list[Job] = []
        self.faults = dict(DEFAULT_FAULTS)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the push URL is never proxied

    # state ----------------------------------------------------------------------------------------------------------
    def load(self) -> None:
        if not self.state_file or not self.state_file.exists():
            return
        saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        now = time.time()
        with self.lock:
            for order in saved.get("orders", []):
                self.orders[order["orderId"]] = order
                self.by_waybill[order["waybill"]] = order["orderId"]
                if order["plan"]:
                    order["nextAt"] = now + self.step_seconds
                for route in order["routes"]:
                    if route["state"] == "pending":
                        self._enqueue(order, route, now)
                self._release_held(order, now)  # the faults start afresh: nothing is held back any more
        say(f"loaded {len(self.orders)} orders from {self.state_file}")

    def save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            text = json.dumps({"orders": list(self.orders.values())}, ensure_ascii=False, indent=1)
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.state_file)

    # the open platform ----------------------------------------------------------------------------------------------
    def service(self, form: dict[str, str]) -> dict[str, Any]:
        """The answer to one ``/std/service`` form (after the faults that drop or delay it)."""
        response_id = uuid.uuid4().hex
        with self.lock:
            if self.faults["fail_next"] > 0:
                self.faults["fail_next"] -= 1
                return wire.api_answer(wire.API_BUSY, response_id, "系统繁忙，请稍后再试")
        missing = [name for name in REQUIRED if not form.get(name)]
        if missing:
            return wire.api_answer(wire.API_MISSING_FIELD, response_id, f"必传参数不可为空: {', '.join(missing)}")
        if form["partnerID"] != self.partner_id:
            return wire.api_answer(wire.API_NO_ACCESS, response_id, "无对应服务权限")
        if not wire.verify_digest(form["msgData"], form["timestamp"], self.check_word, form["msgDigest"]):
            return wire.api_answer(wire.API_DIGEST_FAILED, response_id, "数字签名无效")
        handlers = {wire.ServiceCode.create_order: self.create_order, wire.ServiceCode.search_order: self.search_order,
                    wire.ServiceCode.search_routes: self.search_routes}
        handler = handlers.get(form["serviceCode"])  # a StrEnum key matches its string
        if handler is None:
            return wire.api_answer(wire.API_NO_ACCESS, response_id, "无对应服务权限")
        try:
            data = json.loads(form["msgData"])
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return wire.api_answer(wire.API_MISSING_FIELD, response_id, "msgData 不是 JSON 对象")
        return wire.api_answer(wire.API_OK, response_id, "", handler(data))

    def create_order(self, data: dict[str, Any]) -> wire.BusinessResult:
        try:
            order = wire.ShipmentRequest.from_msg_data(data)
        except ValueError as exc:  # names fields, never values
            return wire.business_error(wire.BIZ_INVALID, str(exc))
        now = time.time()
        with self.lock:
            if order.order_id in self.orders:
                return wire.business_error(wire.BIZ_DUPLICATE_ORDER, "重复下单")
            waybill = self._new_waybill()
            record = {"orderId": order.order_id, "waybill": waybill, "expressTypeId": order.express_type,
                      "origin": order.sender.city, "destination": order.recipient.city,
                      "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
                      "plan": [op.value for op in wire.HAPPY_ROUTE], "nextAt": now + self.step_seconds, "routes": []}
            self.orders[order.order_id] = record
            self.by_waybill[waybill] = order.order_id
            self.save()
        say(f"order {order.order_id}: waybill {waybill} (express type {order.express_type})")
        return wire.business_ok(self._order_data(record))

    def search_order(self, data: dict[str, Any]) -> wire.BusinessResult:
        with self.lock:
            record = self.orders.get(str(data.get("orderId")))
            if record is None:
                return wire.business_error(wire.BIZ_UNKNOWN_ORDER, "订单不存在")
            return wire.business_ok(self._order_data(record))

    def search_routes(self, data: dict[str, Any]) -> wire.BusinessResult:
        numbers = data.get("trackingNumber")
        if str(data.get("trackingType")) != "1":
            return wire.business_error(wire.BIZ_INVALID, "trackingType 1 (waybill numbers) only")
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            return wire.business_error(wire.BIZ_INVALID, "trackingNumber must be a list of waybill numbers")
        with self.lock:
            resps = []
            for number in numbers:
                record = self.orders.get(self.by_waybill.get(number, ""))
                routes = [dict(route["event"]) for route in record["routes"]] if record else []
                resps.append({"mailNo": number, "routes": routes})
        return wire.business_ok({"routeResps": resps})

    @staticmethod
    def _order_data(record: dict[str, Any]) -> dict[str, Any]:
        return {"orderId": record["orderId"], "filterResult": 2,
                "waybillNoInfoList": [{"waybillType": wire.WAYBILL_MAIN, "waybillNo": record["waybill"]}]}

    def _new_waybill(self) -> str:
        while True:
            waybill = "SF" + "".join(random.choices("0123456789", k=13))
            if waybill not in self.by_waybill:
                return waybill

    # routes ---------------------------------------------------------------------------------------------------------
    def step(self, record: dict[str, Any], op_code: str) -> dict[str, str]:
        """Make ``op_code`` happen to the order now: recorded (a route query sees it) and queued as a push."""
        now = time.time()
        op = wire.OpCode(op_code)
        city = record["destination"] if op_code in AT_DESTINATION else record["origin"]
        event = wire.RouteEvent(id=uuid.uuid4().hex, mailno=record["waybill"], orderid=record["orderId"],
                                accept_time=datetime.now(UTC), accept_address=city, remark=REMARKS[op_code],
                                op_code=op).to_wire()
        with self.lock:
            plan = record["plan"]
            record["plan"] = [] if op.terminal else plan[plan.index(op_code) + 1:] if op_code in plan else plan
            record["nextAt"] = now + self.step_seconds if record["plan"] else None
            route = {"event": event, "state": "held" if self.faults["reorder_pushes"] else "pending", "attempts": 0,
                     "sent": 0}
            record["routes"].append(route)
            if route["state"] == "pending":
                self._enqueue(record, route, now)
            if not record["plan"]:
                self._release_held(record, now)
            self.save()
        say(f"waybill {record['waybill']}: {op_code} {op.meaning}")
        return event

    def finished(self, record: dict[str, Any]) -> bool:
        return any(wire.OpCode(r["event"]["opCode"]).terminal for r in record["routes"])

    def _enqueue(self, record: dict[str, Any], route: dict[str, Any], now: float) -> None:
        event = wire.RouteEvent.model_validate(route["event"])
        body = wire.push_body(self.partner_id, uuid.uuid4().hex, [event], self.check_word, int(now * 1000))
        route["state"] = "pending"
        self.jobs.append(Job(record["orderId"], event.id, body, now))
        if self.faults["duplicate_pushes"]:
            self.jobs.append(Job(record["orderId"], event.id, body, now, duplicate=True))

    def _release_held(self, record: dict[str, Any], now: float) -> None:
        """Send the pushes held back by ``reorder_pushes``, newest first."""
        for route in reversed([r for r in record["routes"] if r["state"] == "held"]):
            self._enqueue(record, route, now)

    def play(self) -> None:
        """The player thread: each order's next step when it is due (unless auto_route is off)."""
        while not self.stopped.wait(0.05):
            now = time.time()
            with self.lock:  # held across the steps: a step by hand (/sandbox/advance) cannot slip in between
                if not self.faults["auto_route"]:
                    continue
                for record in list(self.orders.values()):
                    if record["plan"] and record["nextAt"] is not None and record["nextAt"] <= now:
                        self.step(record, record["plan"][0])

    # pushes ---------------------------------------------------------------------------------------------------------
    def push(self) -> None:
        """The pusher thread: deliver due pushes one at a time, in queue order; retry failures with backoff."""
        while not self.stopped.wait(0.02):
            while not self.stopped.is_set():
                with self.lock:
                    now = time.time()
                    job = next((j for j in self.jobs if j.due <= now), None)
                    if job is None:
                        break
                    self.jobs.remove(job)
                self._deliver(job)

    def _deliver(self, job: Job) -> None:
        answer = self.send(job.body)
        ok = answer.get("return_code") == wire.PUSH_OK
        with self.lock:
            record = self.orders.get(job.order_id)
            route = next((r for r in record["routes"] if r["event"]["id"] == job.route_id), None) if record else None
            if route is None:
                return
            op = route["event"]["opCode"]
            if ok:
                route["sent"] += 1
                if not job.duplicate:
                    route["state"] = "delivered"
                say(f"push {record['waybill']} {op}{' (again)' if job.duplicate else ''}: taken")
            elif not job.duplicate:
                job.attempts += 1
                route["attempts"] = job.attempts
                if job.attempts >= self.max_attempts:
                    route["state"] = "abandoned"
                    say(f"push {record['waybill']} {op}: abandoned after {job.attempts} attempts")
                else:
                    job.due = time.time() + min(self.retry_seconds * 2 ** (job.attempts - 1), MAX_BACKOFF)
                    self.jobs.append(job)
                    say(f"push {record['waybill']} {op}: not taken ({answer.get('error') or answer.get('return_code')})"
                        f"; retry {job.attempts} in {job.due - time.time():.1f}s")
            self.save()

    def send(self, body: dict[str, str]) -> dict[str, Any]:
        """POST one push; the receiver's answer, or ``{"error": ...}``."""
        request = urllib.request.Request(self.push_url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with self.opener.open(request, timeout=5) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return {"error": f"HTTP {exc.code}"}
        except (OSError, ValueError) as exc:
            return {"error": type(exc).__name__}
        return answer if isinstance(answer, dict) else {"error": "not a JSON object"}

    def forge(self, record: dict[str, Any], op_code: str, unsigned: bool) -> dict[str, Any]:
        """A push claiming ``op_code`` that the courier did not sign (wrong check word, or no digest at all); not
        recorded as a step of the route."""
        event = wire.RouteEvent(id=uuid.uuid4().hex, mailno=record["waybill"], orderid=record["orderId"],
                                accept_time=datetime.now(UTC), accept_address=record["destination"],
                                remark=REMARKS[op_code], op_code=wire.OpCode(op_code))
        body = wire.push_body(self.partner_id, uuid.uuid4().hex, [event], "forged-" + uuid.uuid4().hex,
                              int(time.time() * 1000))
        if unsigned:
            del body["msgDigest"]
        answer = self.send(body)
        say(f"forged push {record['waybill']} {op_code}: {answer}")
        return {"waybill": record["waybill"], "opCode": op_code, "id": event.id, "answer": answer}

    # control --------------------------------------------------------------------------------------------------------
    def set_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Raises ValueError for an unknown fault or a value of the wrong kind."""
        updated = dict(DEFAULT_FAULTS) if changes.get("reset") else dict(self.faults)
        for key, value in changes.items():
            if key == "reset":
                continue
            if key not in DEFAULT_FAULTS:
                raise ValueError(f"unknown fault {key!r}")
            default = DEFAULT_FAULTS[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 600
            if not ok:
                raise ValueError(f"{key}: expected {type(default).__name__} >= 0")
            updated[key] = float(value) if isinstance(default, float) else value
        now = time.time()
        with self.lock:
            resumed = updated["auto_route"] and not self.faults["auto_route"]
            self.faults = updated
            for record in self.orders.values():
                if resumed and record["plan"]:
                    record["nextAt"] = now + self.step_seconds
                if not updated["reorder_pushes"]:
                    self._release_held(record, now)
            say(f"faults: {json.dumps(updated)}")
            return dict(updated)

    def listing(self) -> list[dict[str, Any]]:
        """The orders and what became of their steps (no personal data: ids, op codes and push states)."""
        with self.lock:
            return [{"orderId": r["orderId"], "waybill": r["waybill"], "expressTypeId": r["expressTypeId"],
                     "steps": [route["event"]["opCode"] for route in r["routes"]], "finished": self.finished(r),
                     "pushes": [{"id": route["event"]["id"], "opCode": route["event"]["opCode"],
                                 "state": route["state"], "attempts": route["attempts"], "sent": route["sent"]}
                                for route in r["routes"]]}
                    for r in self.orders.values()]

    def order_by_waybill(self, waybill: object) -> dict[str, Any] | None:
        with self.lock:
            return self.orders.get(self.by_waybill.get(waybill, "")) if isinstance(waybill, str) else None


def handler_for(courier: Courier) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):  # one line per event is said by the courier; bodies never
            pass

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the caller gave up waiting (slow_seconds)
                self.close_connection = True

        def body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True  # the body stays unread
                self.answer(413, {"error": "body too large"})
                return None
            return self.rfile.read(length)

        def json_body(self) -> dict[str, Any] | None:
            raw = self.body()
            if raw is None:
                return None
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self.answer(400, {"error": "a JSON object is expected"})
                return None
            return body

        def do_GET(self):
            if self.path == "/healthz":
                self.answer(200, {"status": "up", "partnerID": courier.partner_id})
            elif self.path == "/sandbox/orders":
                self.answer(200, courier.listing())
            elif self.path == "/sandbox/faults":
                with courier.lock:
                    faults = dict(courier.faults)
                self.answer(200, faults)
            else:
                self.answer(404, {"error": "not found"})

        def do_POST(self):
            if self.path == wire.SERVICE_PATH:
                self.std_service()
            elif self.path == "/sandbox/faults":
                self.control_faults()
            elif self.path in ("/sandbox/advance", "/sandbox/forge"):
                self.control_route()
            else:
                self.answer(404, {"error": "not found"})

        def std_service(self) -> None:
            raw = self.body()
            if raw is None:
                return
            with courier.lock:
                slow, down = courier.faults["slow_seconds"], courier.faults["down"]
            if down:
                status, answer = 503, {"error": "service unavailable (sandbox fault: down)"}
            else:
                try:
                    fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                except UnicodeDecodeError:
                    fields = {}
                status, answer = 200, courier.service({k: v[0] for k, v in fields.items()})
            if slow:  # done, but answered late: a caller that gave up does not know it was done
                time.sleep(slow)
            self.answer(status, answer)

        def control_faults(self) -> None:
            body = self.json_body()
            if body is None:
                return
            try:
                self.answer(200, courier.set_faults(body))
            except ValueError as exc:
                self.answer(400, {"error": str(exc)})

        def control_route(self) -> None:
            body = self.json_body()
            if body is None:
                return
            record = courier.order_by_waybill(body.get("waybill"))
            if record is None:
                self.answer(404, {"error": "no such waybill"})
                return
            op_code = body.get("op_code")
            if op_code is not None and op_code not in {op.value for op in wire.OpCode}:
                self.answer(400, {"error": f"op_code is one of {', '.join(wire.OpCode)}"})
                return
            if self.path == "/sandbox/forge":
                self.answer(200, courier.forge(record, op_code or wire.OpCode.delivered.value,
                                               bool(body.get("unsigned"))))
                return
            with courier.lock:
                op_code = op_code or (record["plan"][0] if record["plan"] else None)
                if op_code is None or courier.finished(record):
                    self.answer(409, {"error": "the route is finished"})
                    return
                event = courier.step(record, op_code)
            self.answer(200, event)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.sandbox_courier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--push-url", required=True, help="where route pushes go (our gateway's route-push URL)")
    parser.add_argument("--partner-id", default=os.environ.get("COURIER_PARTNER_ID") or "WENZHEN_DEV")
    parser.add_argument("--check-word", default=None,
                        help="default: $COURIER_CHECK_WORD (prefer it: a command line is visible to every user)")
    parser.add_argument("--step-seconds", type=float, default=2.0, help="between the steps of a route")
    parser.add_argument("--retry-seconds", type=float, default=1.0, help="first backoff of a push not taken")
    parser.add_argument("--max-attempts", type=int, default=30, help="of one push before it is abandoned")
    parser.add_argument("--state-file", type=Path, default=None, help="orders kept here across restarts")
    args = parser.parse_args(argv)
    check_word = args.check_word or os.environ.get("COURIER_CHECK_WORD")
    if not check_word:
        parser.error("no check word: --check-word or COURIER_CHECK_WORD")
    if args.state_file:
        args.state_file.parent.mkdir(parents=True, exist_ok=True)
    courier = Courier(args.partner_id, check_word, args.push_url, args.step_seconds, args.state_file,
                      args.retry_seconds, args.max_attempts)
    courier.load()
    server = Server((args.host, args.port), handler_for(courier))
    threads = [threading.Thread(target=courier.play, name="player", daemon=True),
               threading.Thread(target=courier.push, name="pusher", daemon=True)]
    for thread in threads:
        thread.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"sandbox courier on :{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        courier.stopped.set()
        server.server_close()
        courier.save()


if __name__ == "__main__":
    main()
