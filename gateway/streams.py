"""Live delivery for the chat: Server-Sent Events fed by intake's events.

Each gateway worker follows ``intake.events`` on its RPC connection (one exclusive queue, bound to every intake
event). An event about a consultation bumps that consultation's counter and wakes the streams waiting on it; each
stream then asks intake for the messages after the last one it sent — with the caller's own identity, so intake
checks and audits every read exactly as for ``GET …/messages``. The events themselves carry no text.

Why SSE: one-way server→client fits (the client posts with ordinary requests), it runs over plain HTTP/1.1
through proxies, browsers reconnect by themselves and resume with ``Last-Event-ID`` (the message seq). A stream
lasts at most ``STREAM_SECONDS`` and then ends cleanly: the client reconnects with a fresh access token, so a
revoked session or an expired token stops receiving within a minute. Each open stream holds one gunicorn thread
(``GATEWAY_THREADS``). Where SSE cannot be used, ``GET …/messages?after=<seq>&wait=25`` long-polls the same way.
"""
from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterator

from wenzhen.rpc_client import Subscription

STREAM_SECONDS = 55.0
KEEPALIVE_SECONDS = 15.0
# events the team lead's desk stream passes on (ids and codes only)
DESK_EVENTS = {"consultation_opened", "consultation_assigned", "consultation_accepted", "consultation_transferred",
               "consultation_closed", "red_flag_raised", "service_level_breached", "consultation_incident_opened",
               "consultation_patient_linked"}


class Hub:
    def __init__(self, remember: int = 20_000):
        self._cond = threading.Condition()
        self._versions: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._remember = remember
        self._desk: collections.deque[tuple[int, dict]] = collections.deque(maxlen=500)
        self._desk_seq = 0

    def on_event(self, envelope: dict) -> None:
        subject = envelope.get("subject")
        with self._cond:
            if subject:
                self._versions[subject] = self._versions.pop(subject, 0) + 1
                while len(self._versions) > self._remember:
                    self._versions.popitem(last=False)
            if envelope.get("type") in DESK_EVENTS:
                self._desk_seq += 1
                self._desk.append((self._desk_seq, {"type": envelope["type"], "time": envelope.get("time"),
                                                    **envelope.get("data", {})}))
            self._cond.notify_all()

    def version(self, subject: str) -> int:
        return self._versions.get(subject, 0)

    def wait(self, subject: str, seen: int, timeout: float) -> int:
        """Until the subject's counter moves past ``seen`` (or the timeout); returns the counter."""
        with self._cond:
            self._cond.wait_for(lambda: self._versions.get(subject, 0) != seen, timeout)
            return self._versions.get(subject, 0)

    def desk_position(self) -> int:
        return self._desk_seq

    def desk_since(self, position: int, timeout: float) -> tuple[int, list[dict]]:
        with self._cond:
            self._cond.wait_for(lambda: self._desk_seq > position, timeout)
            return self._desk_seq, [event for seq, event in self._desk if seq > position]


hub = Hub()


def subscription() -> Subscription:
    return Subscription("intake.events", "#", hub.on_event)


def sse(data: dict | list, event: str | None = None, event_id: int | str | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def conversation(fetch, consultation_id: str, after: int, first_page: dict,
                 seconds: float = STREAM_SECONDS) -> Iterator[bytes]:
    """The SSE body of one consultation: ``message`` events (id = seq) and ``read`` receipts, then it ends.
    ``fetch(after)`` returns intake's message page as the caller; ``first_page`` was fetched before answering, so
    an unauthorized caller got a 404 instead of a stream."""
    deadline = time.monotonic() + seconds
    yield b"retry: 1000\n\n"
    page, read = first_page, None
    while True:
        seen = hub.version(consultation_id)
        for message in page["items"]:
            yield sse(message, "message", message["seq"])
            after = message["seq"]
        if page["read"] != read:
            read = page["read"]
            yield sse(read, "read")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        if hub.wait(consultation_id, seen, min(KEEPALIVE_SECONDS, remaining)) == seen:
            yield b": keep-alive\n\n"
            continue
        try:
            page = fetch(after)
        except Exception:  # noqa: BLE001 - access ended or intake unreachable: end the stream, the client reconnects
            return


def desk(seconds: float = STREAM_SECONDS) -> Iterator[bytes]:
    """The desk's SSE body: one ``desk`` event per consultation event (ids, codes and kinds only)."""
    deadline = time.monotonic() + seconds
    position = hub.desk_position()
    yield b"retry: 1000\n\n"
    while (remaining := deadline - time.monotonic()) > 0:
        position, events = hub.desk_since(position, min(KEEPALIVE_SECONDS, remaining))
        if not events:
            yield b": keep-alive\n\n"
            continue
        for event in events:
            yield sse(event, "desk")
