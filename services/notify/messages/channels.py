"""Delivery channels. Sending happens after the commit, from ``notifications`` (status ``queued``), by the
:class:`Dispatcher`: a message is recorded with the fact that caused it and sent at least once.

There is no SMS gateway on a development machine: :class:`FileSmsSink` appends
each message as one JSON line to ``SMS_SINK_FILE`` (``make run`` uses
``var/sms.jsonl``), where a developer, the demo and the tests read the codes.
A production deployment puts its operator's API behind the same ``send``.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Protocol

from wenzhen.timez import to_utc_iso, utcnow

log = logging.getLogger("notify.channels")


class SmsChannel(Protocol):
    name: str

    def send(self, message_id: str, to: str, text: str) -> None: ...


class FileSmsSink:
    """Development only: the file holds phone numbers and codes in clear text (keep it private, mode 0600)."""

    name = "file"

    def __init__(self, path: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, message_id: str, to: str, text: str) -> None:
        line = json.dumps({"id": message_id, "to": to, "text": text, "at": to_utc_iso(utcnow())}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def sms_channel(sink_file: str) -> SmsChannel | None:
    if not sink_file:
        log.warning("no SMS channel configured (SMS_SINK_FILE): SMS messages stay queued")
        return None
    return FileSmsSink(sink_file)
