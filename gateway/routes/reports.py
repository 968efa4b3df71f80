"""Aggregates for managers (no personal data)."""
from __future__ import annotations

from gateway.api import Call
from gateway.app_api import api
from wenzhen.auth import Role


@api.route("GET", "/v1/reports/event-counts", summary="How many events of each type", tags=["reports"],
           allow={Role.manager})
def event_counts(call: Call) -> dict:
    """Counts by `<service>.<event type>` since the start: aggregates only, no record is identifiable."""
    return call.rpc("reports", "event_counts")
