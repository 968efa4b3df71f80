"""Consultants' shifts and the service hours they make, as pure functions of an explicit time.

The online desk answers only while a shift is on duty (DOMAIN.md, service rules): outside those hours an
automatic reply tells the patient when the desk opens and the chat stays queued; the accept and answer
clocks (``sla``) count service time only; and every waiting chat has a responsible shift, so a patient left
alone is an incident with somebody's name on it.

Shift times are the hospital's local wall-clock times (``wenzhen.timez.hospital_zone()``), because that is how
team leads write rosters; every function here takes and returns aware UTC datetimes (a naive one is read as
UTC, like the values MongoDB hands back). A shift whose ``end`` is earlier than its ``start`` runs past
midnight and belongs to the weekday it started on: an evening shift 22:00–02:00 on Sundays only covers
Monday 01:00 and not Sunday 01:00. A shift covers ``[start, end)``: the day shift serves at 08:00:00 exactly
and not at 17:00:00.

No storage here: the service keeps the team leads' edited list and passes it in (``validate_shifts`` first).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from pydantic import ValidationError

from contracts.intake.consultations import Shift
from wenzhen.errors import InvalidInput, field_error
from wenzhen.timez import as_utc, hospital_zone

SEARCH_DAYS = 8  # next_opening looks this many days ahead: a weekly roster always opens within a week

DEFAULT_SHIFTS: tuple[Shift, ...] = (
    Shift(code="day", name_zh="白班", name_en="Day shift", start=time(8, 0), end=time(17, 0)),
    Shift(code="evening", name_zh="晚班", name_en="Evening shift", start=time(16, 30), end=time(23, 0)),
)


def _field(loc: tuple) -> str:
    """A pydantic location as the field path clients see, e.g. ``("weekdays", 2)`` → ``weekdays[2]``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".")


def validate_shifts(items: list[dict]) -> list[Shift]:
    """A team lead's edited shift list, or InvalidInput naming every bad field (``shifts[1].end``)."""
    if not isinstance(items, list):
        raise InvalidInput("The shifts are invalid.", [field_error("shifts", "must be a list of shifts", "type")])
    if not items:
        raise InvalidInput("The shifts are invalid.",
                           [field_error("shifts", "must hold at least one shift", "too_short")])
    errors: list[dict] = []
    shifts: list[Shift] = []
    for index, item in enumerate(items):
        prefix = f"shifts[{index}]"
        if not isinstance(item, dict | Shift):
            errors.append(field_error(prefix, "must be an object", "type"))
            continue
        try:
            shifts.append(Shift.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                message = err.get("msg", "invalid").removeprefix("Value error, ")
                where = _field(err.get("loc", ()))
                errors.append(field_error(f"{prefix}.{where}" if where else prefix, message,
                                          err.get("type", "value_error")))
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        code = item.code if isinstance(item, Shift) else item.get("code") if isinstance(item, dict) else None
        if isinstance(code, str):
            code = code.strip()
            if code in seen:
                errors.append(field_error(f"shifts[{index}].code", f"repeats the code of shifts[{seen[code]}]",
                                          "duplicate"))
            else:
                seen[code] = index
    if errors:
        raise InvalidInput("The shifts are invalid.", errors)
    return shifts


# occurrences -------------------------------------------------------------------------------------------------------
def _span(shift: Shift, day: date) -> tuple[datetime, datetime] | None:
    """The occurrence of ``shift`` that starts on local ``day``, as aware UTC ``[begin, end)``; None if it is off."""
    if day.weekday() not in shift.weekdays:
        return None
    zone = hospital_zone()
    begin = datetime.combine(day, shift.start, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1) if shift.overnight else day, shift.end, tzinfo=zone)
    return begin.astimezone(UTC), end.astimezone(UTC)


def _local_day(at: datetime) -> date:
    return at.astimezone(hospital_zone()).date()


def _on_duty(shifts: Sequence[Shift], at: datetime) -> list[tuple[Shift, datetime, datetime]]:
    """The shifts covering ``at`` with the occurrence that covers it (one started today or, overnight, yesterday)."""
    today = _local_day(at)
    found = []
    for shift in shifts:
        for day in (today - timedelta(days=1), today):
            span = _span(shift, day)
            if span is not None and span[0] <= at < span[1]:
                found.append((shift, *span))
                break
    return found


def service_end(shifts: Sequence[Shift], at: datetime, until: datetime | None = None) -> datetime | None:
    """When the service stretch covering ``at`` ends (overlapping and back-to-back shifts merged); None if closed.

    With ``until`` the walk stops once the stretch is known to reach it (the result is then ``until`` or later);
    a roster covering every minute of the week has no end, so the walk also stops ``SEARCH_DAYS`` after ``at``.
    """
    at = as_utc(at)
    covering = _on_duty(shifts, at)
    if not covering:
        return None
    end = max(span_end for _, _, span_end in covering)
    guard = at + timedelta(days=SEARCH_DAYS)
    while (until is None or end < until) and end < guard:
        following = _on_duty(shifts, end)  # a shift starting exactly when another ends continues the stretch
        if not following:
            break
        end = max(span_end for _, _, span_end in following)
    return end


# service hours -----------------------------------------------------------------------------------------------------
def active(shifts: Sequence[Shift], at: datetime) -> list[Shift]:
    """The shifts on duty at ``at``, in the order given (two during a handover)."""
    return [shift for shift, _, _ in _on_duty(shifts, as_utc(at))]


def in_service(shifts: Sequence[Shift], at: datetime) -> bool:
    return bool(_on_duty(shifts, as_utc(at)))


def next_opening(shifts: Sequence[Shift], at: datetime) -> datetime | None:
    """``at`` when the desk is open; otherwise the next moment a shift starts (aware UTC).

    None when no shift starts within ``SEARCH_DAYS`` (only when there are no shifts at all: a valid shift runs
    on at least one weekday).
    """
    found = _next_start(shifts, as_utc(at))
    return found[1] if found else None


def _next_start(shifts: Sequence[Shift], at: datetime) -> tuple[Shift, datetime] | None:
    """The shift that is on duty at ``at`` or opens next, with that moment (``at`` itself when on duty)."""
    if _on_duty(shifts, at):
        return _newest(shifts, at), at
    today = _local_day(at)
    best: tuple[Shift, datetime] | None = None
    for offset in range(SEARCH_DAYS + 1):
        for shift in shifts:
            span = _span(shift, today + timedelta(days=offset))
            if span is not None and span[0] > at and (best is None or span[0] < best[1]):
                best = (shift, span[0])
    return best


def _newest(shifts: Sequence[Shift], at: datetime) -> Shift:
    covering = _on_duty(shifts, at)
    latest = max(begin for _, begin, _ in covering)
    return next(shift for shift, begin, _ in covering if begin == latest)


def responsible(shifts: Sequence[Shift], at: datetime) -> Shift | None:
    """The shift answerable for a chat waiting at ``at``.

    * On duty alone: that shift.
    * During an overlap (the 16:30–17:00 handover): the shift that started most recently. The incoming shift
      owns new and waiting chats from its start; the outgoing one finishes the chats it already has, and its
      consultants still take chats while on duty (``routing``), but an unaccepted chat is the incoming team
      lead's to answer for. Equal starts: the first in the list.
    * Out of service: the shift that opens next; it owns the chats queued overnight.
    * None when there are no shifts.
    """
    found = _next_start(shifts, as_utc(at))
    return found[0] if found else None


# the automatic reply -----------------------------------------------------------------------------------------------
EMERGENCY_ZH = "如有紧急情况请立即拨打120。"
EMERGENCY_EN = "In an emergency, call 120 immediately."
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")


def opening_text(at_utc: datetime | None) -> dict[str, str]:
    """The automatic out-of-hours reply, ``{"zh": …, "en": …}``, stating ``at_utc`` (next_opening) in local time.

    ``None`` (no opening known) leaves the time out rather than inventing one. The 120 line is always there:
    a queued chat must never look like the place to wait with an emergency.
    """
    if at_utc is None:
        return {
            "zh": f"您好，现在是非服务时间。您的咨询已排队，我们会尽快回复。{EMERGENCY_ZH}",
            "en": f"Hello, we are outside our service hours. Your consultation is queued and we will reply as soon "
                  f"as we can. {EMERGENCY_EN}",
        }
    local = as_utc(at_utc).astimezone(hospital_zone())
    clock = f"{local:%H:%M}"
    return {
        "zh": f"您好，现在是非服务时间。我们将于 {local.month}月{local.day}日 {clock} 起为您服务，您的咨询已排队，"
              f"届时会第一时间回复。{EMERGENCY_ZH}",
        "en": f"Hello, we are outside our service hours. We will be with you from {clock} on {local.day} "
              f"{MONTHS_EN[local.month - 1]}; your consultation is queued and we will reply first thing then. "
              f"{EMERGENCY_EN}",
    }
