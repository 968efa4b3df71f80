"""The booking bench's clinic, made through the gateway the way a hospital would: a manager and a doctor (created by
the first admin, activated with TOTP), a department, a room, the doctor's profile and a weekly schedule of short,
roomy slots (every morning 08:00–12:00, 5 minutes, 20 places each: over 600 slots in the booking horizon), and
patients registered by the bench's consultant. The load is then the consultant booking them, each request its own
``POST /v1/appointments`` with its own ``Idempotency-Key`` (bench/lua/book.lua, or load.py's fallback).

Request ``k`` books patient ``(k // slots) % patients`` into slot ``k % slots``: no patient is sent to the same slot
twice (``k`` stays below ``slots × patients``), and consecutive requests spread over the slots, so the figure is the
cost of a booking — the conditional update of the slot, the appointment, its events in the outbox and the audit
entry, all in one transaction — rather than of one slot's contention. Afterwards :func:`overbooked` counts slots
whose bookings disagree with their counters or exceed their capacity (it must be 0).

The rush (:func:`rush_clinics`) is the other case: a second doctor with single-place slots, the same patients, a
fresh set of slots for every run; most requests find the place taken (409), and no slot may hold more than one.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from pymongo import MongoClient

from bench.isolated import BenchStack
from deploy.client import Api, ApiError, activate_staff
from wenzhen.timez import hospital_zone, utcnow

DEPARTMENT = "bench_urology"
ROOM = "bench_room_1"
CAPACITY = 20
SLOT_MINUTES = 5
SLOTS = 600
PATIENTS = 200
REGISTER_THREADS = 8
RUSH_SLOTS = 16  # single-place slots per run of the rush (half the connections), for the same 200 patients
RUSH_RUNS = 4  # warm-up and measurement, on the empty and on the grown database


@dataclass(frozen=True)
class Clinic:
    doctor_id: str
    patients: list[str] = field(repr=False)
    slots: list[str] = field(repr=False)

    @property
    def spec(self) -> str:
        """What the load generator needs: ``patient,patient,…;slot,slot,…``."""
        return ",".join(self.patients) + ";" + ",".join(self.slots)


def book_body(spec: str, k: int) -> tuple[str, str]:
    """Request ``k``'s JSON body and Idempotency-Key (the fallback client's twin of book.lua)."""
    patients, slots = (part.split(",") for part in spec.split(";"))
    slot, patient = slots[k % len(slots)], patients[(k // len(slots)) % len(patients)]
    return f'{{"patient_id":"{patient}","slot_id":"{slot}"}}', f"bench-py-{k}"


@dataclass(frozen=True)
class Hospital:
    """What every clinic of the bench shares: the gateway, the first admin and a manager (activated with TOTP) who
    made the department and the room."""

    api: Api = field(repr=False)
    admin: Api = field(repr=False)
    manager: Api = field(repr=False)


def set_up(stack: BenchStack, admin_token: str, consultant_token: str, say: Callable[[str], None]
           ) -> tuple[Hospital, Clinic]:
    """The hospital and the bench's first clinic: a doctor with capacity-20 slots, and the registered patients."""
    api = Api(stack.gateway_url())
    admin = api.with_token(admin_token)
    say("booking: a manager and a doctor (activated with TOTP), a department, a room, the doctor's schedule…")
    manager = _staff(api, admin, "bench.manager", "manager")
    m = api.with_token(manager.tokens["access_token"])
    m.post("/v1/departments", {"code": DEPARTMENT, "name_zh": "泌尿外科", "name_en": "Urology"})
    m.post("/v1/rooms", {"code": ROOM, "name": "门诊楼3层12诊室", "department": DEPARTMENT})
    hospital = Hospital(api, admin, m)
    doctor_id, slots = doctor(hospital, "bench.doctor", "BENCH0000001", CAPACITY, SLOTS, say)
    say(f"booking: {len(slots)} slots of {CAPACITY} places; registering {PATIENTS} patients…")
    patients = _patients(stack, api.with_token(consultant_token))
    _settle(stack, patients, say)
    return hospital, Clinic(doctor_id, patients, slots)


def rush_clinics(hospital: Hospital, patients: list[str], say: Callable[[str], None], runs: int = RUSH_RUNS
                 ) -> list[Clinic]:
    """A second doctor whose slots have a single place each, cut into ``runs`` clinics of ``RUSH_SLOTS`` fresh slots:
    one per run of the rush (warm-up and measurement, on the empty and on the grown database), so that every run
    meets free places and many more patients than places."""
    doctor_id, slots = doctor(hospital, "bench.doctor.rush", "BENCH0000002", 1, RUSH_SLOTS * runs, say)
    if len(slots) < RUSH_SLOTS * runs:
        raise SystemExit(f"bench: only {len(slots)} single-place slots for the rush, {RUSH_SLOTS * runs} needed")
    return [Clinic(doctor_id, patients, slots[n * RUSH_SLOTS:(n + 1) * RUSH_SLOTS]) for n in range(runs)]


def doctor(hospital: Hospital, username: str, licence: str, capacity: int, wanted: int,
           say: Callable[[str], None]) -> tuple[str, list[str]]:
    """A doctor (activated with TOTP) with a profile and a weekly schedule of ``capacity``-place slots every morning;
    returns their account id and their first ``wanted`` free slots."""
    account = _staff(hospital.api, hospital.admin, username, "doctor", title="主任医师", licence_number=licence)
    m = hospital.manager
    profile = {"doctor_id": account.account_id, "display_name": "压测医生", "department": DEPARTMENT,
               "title": "主任医师", "expertise": ["前列腺炎"], "fee_level": "主任医师号", "fee_fen": 5000,
               "licence_number": licence, "services": ["first_visit"]}
    _until_known(lambda: m.post("/v1/doctors", profile), "booking to hear of the doctor's account")
    sessions = [{"weekday": day, "start": "08:00", "end": "12:00", "service": "first_visit",
                 "slot_minutes": SLOT_MINUTES, "capacity": capacity, "room": ROOM} for day in range(1, 8)]
    schedule = m.send("PUT", f"/v1/doctors/{account.account_id}/schedule", {"sessions": sessions})
    if schedule.status == 504:  # the service goes on generating after the gateway stopped waiting
        say("booking: the schedule answer timed out (RPC_TIMEOUT_SECONDS); waiting for the slots to appear…")
    elif schedule.status != 200:
        raise SystemExit(f"bench: PUT schedule → {schedule.status}: {schedule.body}")
    return account.account_id, _slots(hospital.api, account.account_id, wanted)


def _staff(api: Api, admin: Api, username: str, role: str, **fields):
    body = {"username": username, "name": f"压测{role}", "role": role, "department": "urology", **fields}
    created = admin.post("/v1/staff", body)
    return activate_staff(api, username, created["activation_code"], f"Bench-{role}-steady-lantern-88")


def _until_known(attempt: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """Retry a call that needs an event to have reached booking first (422 until then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except ApiError as exc:
            if exc.status != 422 or time.monotonic() > deadline:
                raise SystemExit(f"bench: waiting for {what}: {exc}") from None
            time.sleep(0.2)


def _slots(api: Api, doctor_id: str, wanted: int = SLOTS, timeout: float = 60.0) -> list[str]:
    """The doctor's first ``wanted`` free slots (or all of them, once their number stops growing)."""
    deadline, seen = time.monotonic() + timeout, -1
    while True:
        today = utcnow().astimezone(hospital_zone()).date()
        found: list[str] = []
        for offset in range(14):
            day = today + timedelta(days=offset)
            found += [s["id"] for s in api.get(f"/v1/doctors/{doctor_id}/slots?from={day}&to={day}&limit=200")]
            if len(found) >= wanted:
                return found[:wanted]
        if len(found) >= 100 and len(found) == seen:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: only {len(found)} slots were generated for the booking bench")
        seen = len(found)
        time.sleep(1)


def _patients(stack: BenchStack, consultant: Api) -> list[str]:
    def register(n: int) -> str:
        body = {"name": "压测患者", "sex": "female", "birth_date": "1990-03-04", "phone": f"137{n:08d}"}
        return consultant.post("/v1/patients", body)["id"]

    with ThreadPoolExecutor(REGISTER_THREADS) as pool:
        ids = list(pool.map(register, range(PATIENTS)))
    known = _db(stack)["known_patients"]
    deadline = time.monotonic() + 60
    while known.count_documents({"_id": {"$in": ids}}) < len(ids):  # booking hears of them from intake's events
        if time.monotonic() > deadline:
            raise SystemExit("bench: booking did not hear of the registered patients within 60 s")
        time.sleep(0.2)
    return ids


def _settle(stack: BenchStack, patients: list[str], say: Callable[[str], None], timeout: float = 120.0) -> None:
    """Let the registrations' own consequences finish (welcome SMS, outboxes), so that the figure measures bookings
    rather than the work the set-up left behind."""
    notify = _db(stack, "notify")["notifications"]
    outboxes = [_db(stack, name)["outbox"] for name in ("intake", "booking", "notify")]
    deadline = time.monotonic() + timeout
    while (notify.count_documents({"patient_id": {"$in": patients}}) < len(patients)
           or any(o.count_documents({"status": "pending"}) for o in outboxes)):
        if time.monotonic() > deadline:
            say("booking: the set-up's background work did not settle within 2 minutes; measuring anyway")
            return
        time.sleep(0.5)


def quiet(stack: BenchStack, say: Callable[[str], None], timeout: float = 60.0) -> float:
    """Wait until no service has events waiting in its outbox (what the previous figure set off has been
    published); returns the seconds waited."""
    from wenzhen.config import SERVICES

    outboxes = [_db(stack, name)["outbox"] for name in SERVICES]
    started = time.monotonic()
    while any(o.find_one({"status": "pending"}, {"_id": 1}) for o in outboxes):
        if time.monotonic() - started > timeout:
            say(f"the services' outboxes did not drain within {timeout:.0f}s; measuring anyway")
            break
        time.sleep(0.5)
    return time.monotonic() - started


@lru_cache(maxsize=1)
def _client(uri: str) -> MongoClient:
    return MongoClient(uri, tz_aware=True)


def _db(stack: BenchStack, service: str = "booking"):
    cfg = stack.settings
    return _client(cfg.mongo_uri)[cfg.database_name(service)]


def overbooked(stack: BenchStack, clinic: Clinic, settle_seconds: float = 15.0) -> tuple[int, int]:
    """(slots whose places held disagree with their counters or exceed the capacity, bookings made), once the
    bookings still in flight when the load stopped have finished: the appointments and the slots are read one after
    the other, so a booking committing in between shows as a passing disagreement. A real one stays."""
    deadline = time.monotonic() + settle_seconds
    while True:
        wrong, made = _count_wrong(stack, clinic)
        if wrong == 0 or time.monotonic() > deadline:
            return wrong, made
        time.sleep(1.0)


def _count_wrong(stack: BenchStack, clinic: Clinic) -> tuple[int, int]:
    db = _db(stack)
    holders = Counter(a["slot_id"] for a in db["appointments"].find({"doctor_id": clinic.doctor_id,
                                                                      "holds_slot": True}, {"slot_id": 1}))
    wrong = 0
    for slot in db["slots"].find({"doctor_id": clinic.doctor_id}, {"booked": 1, "free": 1, "capacity": 1}):
        held = holders.get(slot["_id"], 0)
        if held != slot["booked"] or held > slot["capacity"] or slot["booked"] + slot["free"] != slot["capacity"]:
            wrong += 1
    return wrong, sum(holders.values())
