"""Opaque, time-ordered identifiers: ``<prefix>_<26 chars Crockford base32>`` (ULID layout)."""
from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str = "") -> str:
    """48 bits of milliseconds then 80 random bits; sorts by creation time."""
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    rnd = int.from_bytes(os.urandom(10), "big")
    body = _b32(ms, 10) + _b32(rnd, 16)
    return f"{prefix}_{body}" if prefix else body


def is_id(value: str, prefix: str) -> bool:
    """Whether ``value`` has the shape of an id ``new_id(prefix)`` makes (what does not, no record can have)."""
    return re.fullmatch(f"{re.escape(prefix)}_[{_ALPHABET}]{{26}}", value) is not None
