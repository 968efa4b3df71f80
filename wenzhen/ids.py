"""Opaque, time-ordered identifiers: ``<prefix>_<26 chars Crockford base32>`` (ULID layout).

Within one process the ids are strictly increasing (ULID's monotonic mode: an id made in the same millisecond as
the last one is the last one's random part plus one), so an id breaks a tie between records stamped with the same
time in the order they were made — a waitlist's place in line, an outbox's order. Across processes they sort by
millisecond only."""
from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ALPHABET = _ALPHABET  # Crockford base32
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = [0, 0]  # the millisecond and random part of the last id made here


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str = "") -> str:
    """48 bits of milliseconds then 80 random bits; sorts by creation time, and in order of making here."""
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    with _lock:
        last_ms, last_rnd = _last
        if ms <= last_ms and last_rnd + 1 < (1 << _RANDOM_BITS):
            ms, rnd = last_ms, last_rnd + 1  # same millisecond (or a clock stepped back): keep the order
        else:
            rnd = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
        _last[:] = [ms, rnd]
    body = _b32(ms, 10) + _b32(rnd, 16)
    return f"{prefix}_{body}" if prefix else body


def is_id(value: str, prefix: str) -> bool:
    """Whether ``value`` has the shape of an id ``new_id(prefix)`` makes (what does not, no record can have)."""
    return re.fullmatch(f"{re.escape(prefix)}_[{_ALPHABET}]{{26}}", value) is not None


_OURS = re.compile(f"^([a-z]{{2,5}})_([{_ALPHABET}]{{26}})$")
_FHIR = re.compile(f"^([a-z]{{2,5}})-([{_ALPHABET}]{{26}})$")


def to_fhir(value: str) -> str:
    """The id as FHIR writes ids (``[A-Za-z0-9-.]``): ``pat_01H…`` is ``pat-01H…``; another shape keeps its safe
    characters (anything else becomes ``-``)."""
    found = _OURS.match(value)
    return f"{found.group(1)}-{found.group(2)}" if found else re.sub(r"[^A-Za-z0-9\-.]", "-", value)[:64]


def from_fhir(value: str) -> str | None:
    """``pat-01H…`` → ``pat_01H…``; None for anything that is no Wenzhen id."""
    found = _FHIR.match(value)
    return f"{found.group(1)}_{found.group(2)}" if found else None
