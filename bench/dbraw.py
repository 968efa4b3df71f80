"""What the services are built on, measured bare on the bench's own servers and cores: the database through pymongo
(the isolated stack's MONGO_URI, a database of the bench's own beside the services') and the password hash.

* ``find_one`` by ``_id`` of a slot-like document, ``insert_one`` of an audit-entry-like document;
* the minimum a booking needs, as one transaction: a conditional update of a slot-like document by ``_id`` with
  ``free > 0`` (``$inc booked +1, free -1``), then two inserts — an appointment-like document and an outbox-like
  entry (into a collection with the outbox's ``(status, subject, sequence)`` index);
* Argon2id verifications with identity's parameters (``ARGON2_*``: m=19456 KiB, t=2, p=1 by default), argon2-cffi in
  threads (it releases the GIL), at the sign-in figure's concurrency.

Each at 1 thread and at the HTTP figures' concurrency (one shared MongoClient, as a service process has). The slots
have a billion places each, so the conditional update always matches: the figure is the transaction's cost, not a
full slot's.
"""
from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from pymongo import ASCENDING, MongoClient
from pymongo.database import Database

from bench.load import LoadResult, summarize
from wenzhen import ids

SLOTS = 600  # as many as the booking bench's clinic
MAX_OPERATIONS = 1_000_000
ARGON2_DEFAULTS = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_KIB": 19_456, "ARGON2_PARALLELISM": 1}


def database(uri: str, name: str) -> Database:
    return MongoClient(uri, tz_aware=True, maxPoolSize=100)[name]


def prepare(db: Database) -> list[str]:
    """Fresh slot-like documents (returns their ids), and the outbox-like collection's index."""
    for name in ("slots", "appointments", "outbox", "inserts"):
        db[name].drop()
    start = datetime.now(UTC) + timedelta(days=1)
    slot_ids = [f"slot_raw{n:05d}" for n in range(SLOTS)]
    db["slots"].insert_many([{"_id": sid, "doctor_id": "acc_raw", "department": "raw", "service": "first_visit",
                              "online": False, "room": "raw", "start": start + timedelta(minutes=5 * n),
                              "end": start + timedelta(minutes=5 * n + 5), "capacity": 10**9, "booked": 0,
                              "free": 10**9, "status": "open"} for n, sid in enumerate(slot_ids)])
    db["outbox"].create_index([("status", ASCENDING), ("subject", ASCENDING), ("sequence", ASCENDING)],
                              name="pending_in_order")
    return slot_ids


def _loop(op: Callable[[], object], deadline: float) -> tuple[list[float], int]:
    latencies, errors = [], 0
    while time.perf_counter() < deadline and len(latencies) < MAX_OPERATIONS:
        started = time.perf_counter()
        try:
            op()
        except Exception:  # noqa: BLE001 - counted: a baseline that fails says so
            errors += 1
        latencies.append(time.perf_counter() - started)
    return latencies, errors


def run(op: Callable[[], object], threads: int, seconds: float) -> LoadResult:
    started = time.perf_counter()
    deadline = started + seconds
    with ThreadPoolExecutor(threads, thread_name_prefix="raw") as pool:
        runs = list(pool.map(lambda _: _loop(op, deadline), range(threads)))
    return summarize(runs, time.perf_counter() - started)


def operations(db: Database, slot_ids: list[str]) -> dict[str, Callable[[], object]]:
    """The three raw operations, by the name of their figure."""
    client = db.client

    def find_one() -> object:
        return db["slots"].find_one({"_id": random.choice(slot_ids)})

    def insert_one() -> object:
        return db["inserts"].insert_one(_audit_like())

    def booking_tx() -> object:
        sid = random.choice(slot_ids)

        def body(session) -> None:
            taken = db["slots"].update_one({"_id": sid, "status": "open", "free": {"$gt": 0}},
                                           {"$inc": {"booked": 1, "free": -1}}, session=session)
            if taken.matched_count != 1:
                raise RuntimeError("the slot-like document had no free place")
            appointment_id = ids.new_id("apt")
            db["appointments"].insert_one({"_id": appointment_id, "patient_id": ids.new_id("pat"), "slot_id": sid,
                                           "status": "confirmed", "holds_slot": True,
                                           "booked_at": datetime.now(UTC), "checkin_code": "x" * 24},
                                          session=session)
            db["outbox"].insert_one({"_id": ids.new_id("evt"), "status": "pending", "subject": appointment_id,
                                     "sequence": 1, "type": "appointment_booked", "attempts": 0,
                                     "envelope": {"id": appointment_id, "data": {"slot_id": sid}}}, session=session)

        with client.start_session() as session:
            session.with_transaction(body)

    return {"raw_find_one_by_id": find_one, "raw_insert_one": insert_one, "raw_booking_tx": booking_tx}


def _audit_like() -> dict:
    return {"_id": ids.new_id("aud"), "recorded": datetime.now(UTC), "action": "R", "subtype": "read",
            "outcome": "success", "entity_type": "Patient", "entity_id": ids.new_id("pat"), "patient_id": None,
            "agent_kind": "user", "agent_id": ids.new_id("acc"), "agent_role": "patient", "purpose": "TREAT",
            "ip": "127.0.0.1", "request_id": "bench", "detail": None, "sealed": False}


# Argon2id ------------------------------------------------------------------------------------------------------------
def argon2_parameters(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(time cost, memory KiB, parallelism) as identity reads them (its ``ARGON2_*`` settings)."""
    env = os.environ if env is None else env
    t, m, p = (int(env.get(name) or default) for name, default in ARGON2_DEFAULTS.items())
    return t, m, p


def argon2_verifications(params: tuple[int, int, int], threads: int, seconds: float) -> LoadResult:
    t, m, p = params
    hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)
    stored = hasher.hash("Bench-correct-horse-battery")
    return run(lambda: hasher.verify(stored, "Bench-correct-horse-battery"), threads, seconds)
