"""The archive's decisions, pure: what is kept of an event, how events are counted, who reads the aggregates."""
from __future__ import annotations

from datetime import datetime

from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden
from wenzhen.events import Envelope


def archived(source: str, envelope: Envelope, now: datetime) -> dict:
    """The event as kept: its envelope whole, and what it is searched and counted by."""
    return {"source": source, "type": envelope.type, "subject": envelope.subject, "time": envelope.time,
            "envelope": envelope.model_dump(mode="json"), "received_at": now}


def count_key(source: str, event_type: str) -> str:
    return f"{source}.{event_type}"


def require_manager(principal: Principal) -> None:
    if not principal.has_role(Role.manager):
        raise Forbidden("Aggregates are for managers.")


def require_admin(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        raise Forbidden("Only admins verify the audit trail.")
