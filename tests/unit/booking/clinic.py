"""A small clinic for booking's unit tests: one urology doctor with a weekly schedule, the callers, explicit clocks,
and the slots the schedule yields (from the schedules' pure rules), for the capabilities' fake stores."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from contracts.booking.schemas import ScheduleTemplate, ServiceCode
from services.booking.catalogue.rules import Bookable, service_settings
from services.booking.schedules import rules as schedule_rules
from services.booking.schedules.rules import SlotRecord
from services.booking.settings import Policy
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.crypto import Keyring, new_key_settings
from wenzhen.timez import hospital_zone

KEYS = Keyring.from_env(new_key_settings())
SH = hospital_zone()
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=SH).astimezone(UTC)  # Monday 07:00 in Shanghai
MONDAY, TUESDAY, SUNDAY = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 8)
NEXT_MONDAY = MONDAY + timedelta(days=7)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
POLICY = Policy()
DOCTOR_ID = "acc_doc1"
OTHER_DOCTOR_ID = "acc_doc2"
ROOM = "op3_12"
WEEK = {"sessions": [
    {"weekday": 1, "start": "08:00", "end": "12:00", "service": "first_visit", "capacity": 1, "room": ROOM},
    {"weekday": 1, "start": "14:00", "end": "17:00", "service": "first_visit", "capacity": 1, "room": ROOM},
    {"weekday": 2, "start": "09:00", "end": "11:00", "service": "online_video", "capacity": 1},
]}
PROFILE = Bookable(id=DOCTOR_ID, department="urology", services=("first_visit", "follow_up", "online_video"),
                   active=True, fee_fen=5000)

MANAGER = user(Role.manager, "acc_m1")
CONSULTANT = user(Role.consultant, "acc_c1")
OTHER_CONSULTANT = user(Role.consultant, "acc_c2")
TEAM_LEAD = user(Role.team_lead, "acc_t1")
DOCTOR = user(Role.doctor, DOCTOR_ID)
OTHER_DOCTOR = user(Role.doctor, OTHER_DOCTOR_ID)
PATIENT = user(Role.patient, "acc_p1", patients=("pat_1", "pat_kid"))
OTHER_PATIENT = user(Role.patient, "acc_p2", patients=("pat_2",))
PAYMENTS = Caller.service("payments")


def local(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=SH).astimezone(UTC)


def services() -> dict:
    return {code: service_settings(code, {}) for code in ServiceCode}


def week_slots(template: dict = WEEK, now: datetime = NOW, horizon_days: int = 14,
               doctor: Bookable = PROFILE) -> dict[str, SlotRecord]:
    """The slots the schedule yields, as the generator stores them."""
    return schedule_rules.wanted_slots(doctor, ScheduleTemplate.model_validate(template), services(), now,
                                       horizon_days)


def on_day(slots, day: date, doctor_id: str = DOCTOR_ID) -> list[SlotRecord]:
    """The open slots of ``day``, in time order (``slots``: the records or a dict of them)."""
    lo, hi = local(day, "00:00"), local(day + timedelta(days=1), "00:00")
    found = [s for s in (slots.values() if isinstance(slots, dict) else slots)
             if s.doctor_id == doctor_id and lo <= s.start < hi and s.status == "open"]
    return sorted(found, key=lambda s: s.start)


def times(slots) -> list[str]:
    return [s.start.astimezone(SH).strftime("%H:%M") for s in slots]
