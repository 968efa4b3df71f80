"""Live delivery of a chat message: from the consultant's ``POST …/messages`` to the visitor's Server-Sent Events
stream, through intake's transaction, the outbox relay, RabbitMQ, the gateway worker's subscription and a fetch
as the visitor. Measured one message at a time (latency, not throughput: the desk's promise is "within a second"),
next to the sequential echo RPC's latency measured in the same run."""
from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request

from deploy.client import Api

MESSAGES = 200
PAUSE = 0.02  # between messages: a fast typist, not a flood


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class _Stream:
    def __init__(self, base: str, token: str, consultation_id: str):
        request = urllib.request.Request(f"{base}/v1/consultations/{consultation_id}/stream",
                                         headers={"Authorization": f"Bearer {token}"})
        self.response = urllib.request.urlopen(request, timeout=70)
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                self.ready.set()
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "message":
                    self.arrived[json.loads(line[5:])["id"]] = time.monotonic()
        except (OSError, ValueError, AttributeError):
            pass

    def wait_for(self, message_id: str, timeout: float = 10.0) -> float | None:
        deadline = time.monotonic() + timeout
        while message_id not in self.arrived:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.001)
        return self.arrived[message_id]

    def close(self) -> None:
        self.response.close()


def _take(consultant: Api, cid: str, timeout: float = 30.0) -> None:
    """The chat as the consultant's: accepted when the desk's routing offered it to them, else picked from the
    queue (the consultant is on the desk: bench/callers.py)."""
    deadline = time.monotonic() + timeout
    while True:
        mine = {c["id"]: c["status"] for c in consultant.get("/v1/consultations")}
        if mine.get(cid) == "active":
            return
        if mine.get(cid) == "assigned":
            if consultant.send("POST", f"/v1/consultations/{cid}/accept").status == 200:
                return
        elif consultant.send("POST", f"/v1/consultations/{cid}/pick").status == 200:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the consultant could not take the chat {cid} within {timeout:.0f}s")
        time.sleep(0.3)


def delivery(base_url: str, consultant_token: str) -> dict:
    """Open a chat as a visitor, take it as the consultant, and time each answer to its arrival on the visitor's
    stream. Streams end after about a minute: a new one is opened when needed, as a browser would."""
    opened = Api(base_url).post("/v1/consultations", {"message": "压测：请问门诊几点开始？"})
    cid, visitor = opened["consultation"]["id"], opened["visitor_token"]["access_token"]
    consultant = Api(base_url, token=consultant_token)
    _take(consultant, cid)
    latencies, lost, stream, opened_at = [], 0, None, 0.0
    try:
        for n in range(MESSAGES):
            if stream is None or time.monotonic() - opened_at > 45:
                if stream:
                    stream.close()
                stream, opened_at = _Stream(base_url, visitor, cid), time.monotonic()
                stream.ready.wait(5)
            sent = time.monotonic()
            message = consultant.post(f"/v1/consultations/{cid}/messages", {"text": f"压测回复 {n}"})["items"][0]
            arrived = stream.wait_for(message["id"])
            if arrived is None:
                lost += 1
            else:
                latencies.append((arrived - sent) * 1000)
            time.sleep(PAUSE)
    finally:
        if stream:
            stream.close()
        consultant.post(f"/v1/consultations/{cid}/close", {"outcome": "dropped"})
    return {"messages": MESSAGES, "delivered": len(latencies), "lost": lost,
            "p50_ms": statistics.median(latencies) if latencies else None,
            "p99_ms": _percentile(latencies, 0.99) if latencies else None,
            "max_ms": max(latencies) if latencies else None}
