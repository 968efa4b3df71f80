"""Shipping decisions, pure: when to try the courier again, and what a step of the route does to the order."""
from __future__ import annotations

from datetime import datetime, timedelta

from contracts.pharmacy.courier import OpCode

RETRY_MAX_SECONDS = 300.0
PUSH_CHECK_ATTEMPTS = 20  # an unverified push whose waybill the courier never confirms is dropped after these


def next_attempt(attempts: int, now: datetime, base: float = 1.0) -> datetime:
    """Exponential backoff, at most five minutes: a courier down for a while delays shipments, loses none."""
    return now + timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def effect(op_code: OpCode) -> str | None:
    """What a route step does to the order: ``deliver``, ``return``, ``problem`` (a failed delivery attempt) or
    nothing (progress only). A step that arrives after a terminal one changes nothing: the order's transitions only
    go forward."""
    return {OpCode.delivered: "deliver", OpCode.returned: "return", OpCode.delivery_failed: "problem"}.get(op_code)
