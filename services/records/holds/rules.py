"""Who places and releases holds (admins), and the retention dates (pure)."""
from __future__ import annotations

from datetime import datetime

from contracts.records.retention import RECORD_YEARS
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden

ENTITY = "Consent"  # FHIR has no LegalHold resource; an AuditEvent's entity type for the hold's record


def require_admin(principal: Principal) -> None:
    if not principal.has_role(Role.admin):
        raise Forbidden("Only an admin places, releases and reads legal holds and retention.")


def records_until(newest_encounter: datetime | None) -> datetime | None:
    if newest_encounter is None:
        return None
    try:
        return newest_encounter.replace(year=newest_encounter.year + RECORD_YEARS)
    except ValueError:
        return newest_encounter.replace(year=newest_encounter.year + RECORD_YEARS, day=28)
