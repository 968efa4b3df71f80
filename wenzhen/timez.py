"""Time rules: UTC in storage and on the wire inside the system, the hospital's zone at the edges."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from wenzhen.config import settings


def utcnow() -> datetime:
    """Aware UTC now, truncated to milliseconds (what MongoDB keeps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@lru_cache(maxsize=1)
def hospital_zone() -> ZoneInfo:
    return ZoneInfo(settings().hospital_tz)


def as_utc(value: datetime) -> datetime:
    """MongoDB hands back naive UTC datetimes; make them aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_local_iso(value: datetime) -> str:
    """ISO 8601 in the hospital's zone, e.g. ``2026-11-23T14:03:00.123+08:00``."""
    return as_utc(value).astimezone(hospital_zone()).isoformat(timespec="milliseconds")


def parse_iso(value: str) -> datetime:
    """An ISO 8601 date-time from the wire (``Z`` or an offset) as an aware UTC datetime; one without an offset is
    taken as UTC (the system's own timestamps). The one parser for times that crossed a process."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return as_utc(parsed)


def to_utc_iso(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
