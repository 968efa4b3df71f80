"""A year of history, loaded into the bench's databases after the first round, in the services' exact stored shape.

What is written (``BENCH_GROWTH_SCALE`` scales every count; 1 by default):

* **booking**: 12,500 past slots of 25 other doctors (4 places each, one every 30 minutes over 250 mornings) and
  50,000 appointments in them (completed, some cancelled — their place given back — and some no-shows), the 20,000
  patients they are for in ``known_patients`` (with the ``processed_events`` record of the ``patient_registered``
  that told booking), and the per-subject counters (``outbox_heads``) of their events when the service keeps them;
* **the outbox**: 200,000 events — three per appointment in booking's (``slot_held``, ``appointment_booked``,
  ``appointment_confirmed``), 50,000 in intake's (``patient_registered`` for the patients, then intake's other
  types) — all ``sent``; each also archived in reports' ``event_log`` with reports' ``processed_events`` record;
* **intake**: the 20,000 patients (name and phone encrypted with the stack's keys, the phone's blind index) and an
  account's ``self`` link to each;
* **the audit trail**: 500,000 entries — 300,000 in intake (reads of patients), 150,000 in booking, 50,000 in
  identity — each chained as the sealer chains (``seq`` after the chain's head, ``prev``, the HMAC with the stack's
  ``WENZHEN_AUDIT_KEY``) and written ``sealed: true``; the head moves past them first, conditional on it not having
  moved meanwhile (the sealer then chains new entries after the history), so ``python -m wenzhen.audit verify``
  finds the chain intact once the load is done.

Every document is a copy of one the services wrote in the first round (its keys and value types), with ids, times
and references replaced: the shapes follow the services as they change. Event and entry ids are made with the
history's own timestamps (``wenzhen.ids`` layout), so they sort by time as real ones do.

Fast: ``insert_many`` in batches of 2,000, and secondary
indexes dropped before the load and rebuilt after it, with the same keys and options (SecantusDB maintains each
index document by document at about a fifth of its insert rate; a build over the loaded collection is about three
times cheaper) — except the sealer's queue (:data:`KEEP_INDEXES`). Sent outbox entries
keep an ``expires_at`` a week ahead: the relay's retention would leave only the last week of a real year, so the
outbox here is bigger than a year's (the stricter test).
"""
from __future__ import annotations

import copy
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from pymongo import MongoClient
from pymongo.collection import Collection

from wenzhen import ids
from wenzhen.audit import GENESIS, HEAD_ID, key_from_env, link_hash
from wenzhen.crypto import Keyring
from wenzhen.storage import AUDIT_HEAD, AUDIT_LOG, OUTBOX, OUTBOX_HEADS, PROCESSED

BATCH = 2_000
APPOINTMENTS = 50_000
PATIENTS = 20_000
DOCTORS = 25
PLACES = 4  # per history slot
INTAKE_EVENTS = 50_000
AUDIT = {"intake": 300_000, "booking": 150_000, "identity": 50_000}
YEAR = timedelta(days=365)
# kept during the load: the sealer's queue (its round would scan the growing audit log every half second otherwise);
# every other secondary index is dropped and rebuilt after the load — the chain's unique order too: the history's
# range of seq is reserved before it is written (Growth.audit). Keeping the indexes the other periodic loops query
# (the relay's pending_in_order, booking's sweeps') was measured slower: their rounds scan the growing collections
# meanwhile, but maintaining those indexes document by document costs more.
KEEP_INDEXES = {AUDIT_LOG: {"unsealed_queue"}}
REFERENCES = ("patient_id", "appointment_id", "slot_id", "doctor_id", "account_id")


class Growth:
    def __init__(self, mongo_uri: str, database_name: Callable[[str], str], env: dict[str, str],
                 say: Callable[[str], None], scale: float | None = None) -> None:
        self.client = MongoClient(mongo_uri, tz_aware=True)
        self.db = lambda service: self.client[database_name(service)]
        self.keys = Keyring.from_env(env)
        self.audit_key = key_from_env(env)
        self.say = say
        self.scale = float(os.environ.get("BENCH_GROWTH_SCALE") or 1) if scale is None else scale
        self.now = datetime.now(UTC)
        self.written: dict[str, int] = {}
        self._lock = threading.Lock()
        self._dropped: dict[tuple[str, str], list] = {}  # collection -> [lanes writing, the indexes dropped]

    def n(self, count: int) -> int:
        return max(1, int(count * self.scale))

    # the whole load ------------------------------------------------------------------------------------------------
    def load(self) -> dict[str, int]:
        patients = [_past_id("pat", self.now - YEAR + timedelta(minutes=n)) for n in range(self.n(PATIENTS))]
        accounts = [_past_id("acc", self.now - YEAR + timedelta(minutes=n)) for n in range(len(patients))]
        lanes = [  # one after the other: side by side was measured slower (the one database process is the bound)
            [("intake patients and links", lambda: self.intake(patients, accounts)),
             ("intake's events", lambda: self.intake_events(patients)),
             ("intake's audit trail", lambda: self.audit("intake", patients, accounts))],
            [("booking slots, appointments, known patients, events", lambda: self.booking(patients)),
             ("booking's audit trail", lambda: self.audit("booking", patients, accounts))],
            [("identity's audit trail", lambda: self.audit("identity", patients, accounts))],
        ]

        def run(lane: list) -> None:
            for what, step in lane:
                started = time.monotonic()
                step()
                self.say(f"growth: {what} in {time.monotonic() - started:.0f}s")

        for lane in lanes:
            run(lane)
        return dict(self.written)

    # intake --------------------------------------------------------------------------------------------------------
    def intake(self, patients: list[str], accounts: list[str]) -> None:
        db = self.db("intake")
        model = _one(db["patients"])
        link_model = _one(db["patient_links"], {"is_self": True})

        def patient(n: int, pid: str) -> dict:
            when = self.now - YEAR + timedelta(minutes=n)
            phone = f"186{n:08d}"
            doc = {"_id": pid, "sex": "female" if n % 2 else "male",
                   "birth_date": f"{1950 + n % 60}-0{1 + n % 9}-1{n % 10}",
                   "phone_index": self.keys.blind_index("phone", phone), "registered_at": when,
                   "registered_by": accounts[n],
                   "name": self.keys.encrypt(f"历史患者{n}", field="name", record=pid),
                   "phone": self.keys.encrypt(phone, field="phone", record=pid)}
            return _shaped(doc, model, "patients")

        def link(n: int, pid: str) -> dict:
            doc = {"_id": _past_id("lnk", self.now - YEAR + timedelta(minutes=n)), "account_id": accounts[n],
                   "patient_id": pid, "relationship": "self", "is_self": True, "active": True,
                   "created_at": self.now - YEAR + timedelta(minutes=n)}
            return _shaped(doc, link_model, "patient_links")

        self.bulk(db["patients"], (patient(n, pid) for n, pid in enumerate(patients)))
        self.bulk(db["patient_links"], (link(n, pid) for n, pid in enumerate(patients)))

    # booking -------------------------------------------------------------------------------------------------------
    def booking(self, patients: list[str]) -> None:
        db = self.db("booking")
        slot_model, apt_model = _one(db["slots"]), _one(db["appointments"])
        known_model = _one(db["known_patients"])
        templates = _templates(db[OUTBOX], ("slot_held", "appointment_booked", "appointment_confirmed"))
        slots, appointments, events, heads = [], [], [], {}
        doctors = [_past_id("acc", self.now - YEAR - timedelta(days=30 - d)) for d in range(DOCTORS)]
        n_slots = self.n(APPOINTMENTS) // PLACES
        for n in range(n_slots):
            doctor = doctors[n % DOCTORS]
            k = n // DOCTORS
            start = (self.now - timedelta(days=1 + k // 2)).replace(hour=0, minute=0, second=0, microsecond=0) \
                + timedelta(hours=0, minutes=30 * (k % 2))  # 08:00 / 08:30 in the hospital's zone (UTC+8)
            sid = _slot_id(doctor, start)
            held = 0
            for j in range(PLACES):
                pid = patients[(n * PLACES + j) % len(patients)]
                booked_at = start - timedelta(days=3, minutes=j)
                apt = _past_id("apt", booked_at)
                status = "cancelled" if j == 3 and n % 3 == 0 else "no_show" if j == 2 and n % 10 == 1 else "completed"
                holds = status != "cancelled"
                held += holds
                doc = {**_appointment(apt, pid, sid, doctor, start, booked_at), "status": status, "holds_slot": holds}
                if status == "completed":
                    doc.update(checked_in_at=start - timedelta(minutes=10), checkin_method="desk",
                               checked_in_by=doctor, completed_at=start + timedelta(minutes=25))
                elif status == "cancelled":
                    doc.update(cancelled_at=booked_at + timedelta(days=1), cancel_reason="patient", late_cancel=False)
                else:
                    doc.update(no_show_at=start + timedelta(minutes=30))
                appointments.append(_shaped(doc, apt_model, "appointments", extra_ok=True))
                values = {"patient_id": pid, "appointment_id": apt, "slot_id": sid, "doctor_id": doctor}
                events.append(("slot_held", sid, j + 1, booked_at, values))
                events.append(("appointment_booked", apt, 1, booked_at, values))
                events.append(("appointment_confirmed", apt, 2, booked_at, values))
                heads[apt] = 2
            heads[sid] = PLACES
            slots.append(_shaped({"_id": sid, "doctor_id": doctor, "department": "bench_history",
                                  "service": "first_visit", "online": False, "room": "bench_history_room",
                                  "start": start, "end": start + timedelta(minutes=30), "capacity": PLACES,
                                  "booked": held, "free": PLACES - held, "status": "open"}, slot_model, "slots"))
        self.bulk(db["slots"], slots)
        self.bulk(db["appointments"], appointments)
        seen = self.now - YEAR
        self.bulk(db["known_patients"], (_shaped({"_id": pid, "seen_at": seen}, known_model, "known_patients")
                                         for pid in patients))
        handler = _handler_of(db[PROCESSED], "booking")
        if handler:
            self.bulk(db[PROCESSED], ({"_id": f"{handler}:{_past_id('evt', seen + timedelta(seconds=n))}",
                                       "at": seen + timedelta(seconds=n)} for n in range(len(patients))))
        if OUTBOX_HEADS in db.list_collection_names():  # the per-subject counters, where the service keeps them
            self.bulk(db[OUTBOX_HEADS], ({"_id": subject, "sequence": n} for subject, n in heads.items()))
        self.events("booking", templates, events)

    def intake_events(self, patients: list[str]) -> None:
        db = self.db("intake")
        templates = _templates(db[OUTBOX], None)
        others = [t for t in templates if t != "patient_registered"] or list(templates)
        events = []
        for n in range(self.n(INTAKE_EVENTS)):
            pid = patients[n % len(patients)]
            when = self.now - YEAR + timedelta(minutes=n)
            kind = "patient_registered" if n < len(patients) and "patient_registered" in templates else \
                others[n % len(others)]
            subject = pid if kind == "patient_registered" else _past_id("con", when)
            events.append((kind, subject, 1, when, {"patient_id": pid}))
        self.events("intake", templates, events)

    # events: the outbox, reports' event log ------------------------------------------------------------------------
    def events(self, source: str, templates: dict[str, dict], events: list[tuple]) -> None:
        """``(type, subject, sequence, time, references)`` as sent outbox entries of ``source`` and reports' archive."""
        if not templates:
            self.say(f"growth: {source} wrote no events in the first round: none to copy, its history has none")
            return
        reports = self.db("reports")
        log_model = _one(reports["event_log"], {"source": source})
        handler = _handler_of(reports[PROCESSED], f"reports.archive_{source}")  # None: the archive keeps no record
        outbox, archived, processed = [], [], []
        for kind, subject, sequence, when, refs in events:
            entry = copy.deepcopy(templates[kind])
            eid = _past_id("evt", when)
            env = entry["envelope"]
            env.update(id=eid, subject=subject, sequence=sequence, time=when.isoformat().replace("+00:00", "Z"))
            for name in REFERENCES:
                if name in env.get("data", {}) and name in refs:
                    env["data"][name] = refs[name]
            entry.update(_id=eid, subject=subject, sequence=sequence, status="sent")
            for name in ("sent_at",):
                if name in entry:
                    entry[name] = when
            if "expires_at" in entry:
                entry["expires_at"] = self.now + timedelta(days=7)
            outbox.append(entry)
            if log_model is not None:
                doc = {**log_model, "_id": eid, "source": source, "type": kind, "subject": subject,
                       "time": when if isinstance(log_model.get("time"), datetime) else env["time"],
                       "envelope": env, "received_at": when}
                archived.append(doc)
            if handler:
                processed.append({"_id": f"{handler}:{eid}", "at": when})
        self.bulk(self.db(source)[OUTBOX], outbox)
        if archived:
            self.bulk(reports["event_log"], archived)
        if processed:
            self.bulk(reports[PROCESSED], processed)

    # the audit trail -----------------------------------------------------------------------------------------------
    def audit(self, service: str, patients: list[str], accounts: list[str]) -> None:
        """The entries chained after the head, the head moved past them first (conditional on it not having moved:
        else chained again from the new head), then the entries written: the sealer, running meanwhile, chains any
        new entry after the history and never on a ``seq`` the history takes."""
        db = self.db(service)
        model = _one(db[AUDIT_LOG], {"sealed": True})
        if model is None:
            self.say(f"growth: {service} sealed no audit entry in the first round: none to copy")
            return
        count = self.n(AUDIT[service])
        for _attempt in range(5):
            head = db[AUDIT_HEAD].find_one({"_id": HEAD_ID}) or {"seq": 0, "hash": GENESIS}
            entries = self._chained(model, head, count, patients, accounts)
            moved = db[AUDIT_HEAD].update_one({"_id": HEAD_ID, "seq": head["seq"], "hash": head["hash"]},
                                              {"$set": {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"],
                                                        "sealed_at": self.now}})
            if moved.matched_count == 1:
                break
        else:
            raise SystemExit(f"growth: {service}'s audit chain head kept moving; run the bench again")
        self.bulk(db[AUDIT_LOG], entries)

    def _chained(self, model: dict, head: dict, count: int, patients: list[str], accounts: list[str]) -> list[dict]:
        seq, prev, entries = head["seq"], head["hash"], []
        for n in range(count):
            when = self.now - YEAR + YEAR * n / count
            pid = patients[n % len(patients)]
            entry = {**model, "_id": _past_id("aud", when), "recorded": when, "action": "R", "subtype": "read",
                     "outcome": "success", "entity_type": "Patient", "entity_id": pid, "patient_id": pid,
                     "agent_kind": "user", "agent_id": accounts[n % len(accounts)], "agent_role": "patient",
                     "request_id": f"hist-{n}", "detail": None, "sealed": True}
            seq += 1
            digest = link_hash(self.audit_key, entry, seq, prev)
            entry.update(seq=seq, prev=prev, hash=digest)
            prev = digest
            entries.append(entry)
        return entries

    # writing -------------------------------------------------------------------------------------------------------
    def bulk(self, coll: Collection, docs: Iterable[dict]) -> int:
        """Insert in batches with the collection's secondary indexes dropped, then rebuild them as they were (by the
        last lane writing to the collection)."""
        self._drop_indexes(coll)
        written, batch = 0, []
        try:
            for doc in docs:
                batch.append(doc)
                if len(batch) >= BATCH:
                    coll.insert_many(batch, ordered=False)
                    written, batch = written + len(batch), []
            if batch:
                coll.insert_many(batch, ordered=False)
                written += len(batch)
        finally:
            self._rebuild_indexes(coll)
        key = f"{coll.database.name.split('_', 1)[-1]}.{coll.name}"
        with self._lock:
            self.written[key] = self.written.get(key, 0) + written
        return written

    def _drop_indexes(self, coll: Collection) -> None:
        key = (coll.database.name, coll.name)
        with self._lock:
            if key in self._dropped:
                self._dropped[key][0] += 1
                return
            keep = {"_id_", *KEEP_INDEXES.get(coll.name, ())}
            dropped = {name: spec for name, spec in coll.index_information().items() if name not in keep}
            for name in dropped:
                coll.drop_index(name)
            self._dropped[key] = [1, dropped]

    def _rebuild_indexes(self, coll: Collection) -> None:
        key = (coll.database.name, coll.name)
        with self._lock:
            self._dropped[key][0] -= 1
            if self._dropped[key][0]:
                return
            _, dropped = self._dropped.pop(key)
            for name, spec in dropped.items():
                options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
                coll.create_index(list(spec["key"]), name=name, **options)


# helpers ---------------------------------------------------------------------------------------------------------
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _past_id(prefix: str, when: datetime) -> str:
    """An id of ``wenzhen.ids``' layout made at ``when`` (48 bits of milliseconds, 80 random bits)."""
    ms = int(when.timestamp() * 1000) & ((1 << 48) - 1)
    rnd = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_b32(ms, 10)}{_b32(rnd, 16)}"


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _slot_id(doctor: str, start: datetime, service: str = "first_visit") -> str:
    """As booking derives a slot's id from (doctor, start, service)."""
    key = f"{doctor}|{start.astimezone(UTC).isoformat()}|{service}"
    return "slot_" + hashlib.sha256(key.encode()).hexdigest()[:26]


def _appointment(apt: str, pid: str, sid: str, doctor: str, start: datetime, booked_at: datetime) -> dict:
    return {"_id": apt, "patient_id": pid, "slot_id": sid, "doctor_id": doctor, "department": "bench_history",
            "service": "first_visit", "start": start, "end": start + timedelta(minutes=30),
            "room": "bench_history_room", "online": False, "kind": "visit", "notice": None, "status": "completed",
            "holds_slot": True, "fee_fen": 5000, "prepayment": False, "hold_expires_at": None, "booked_at": booked_at,
            "booked_by": "acc_history_consultant", "booked_by_role": "consultant", "confirmed_at": booked_at,
            "reschedules": 0, "follow_up_of": None, "consultation_id": None, "prior_diagnosis": None,
            "half_day": None, "waitlist_id": None, "offer_expires_at": None,
            "checkin_code": ids.new_id("chk")[-24:],
            "reminded": {"h24": {"at": start - timedelta(hours=24), "sent": True},
                         "h2": {"at": start - timedelta(hours=2), "sent": True}}}


def _one(coll: Collection, query: dict | None = None) -> dict | None:
    return coll.find_one(query or {})


def _shaped(doc: dict, model: dict | None, what: str, extra_ok: bool = False) -> dict:
    """``doc`` with every field of a real stored ``model`` (its value where ``doc`` has none): the shape the service
    writes today. Fields of ``doc`` the model lacks are kept only with ``extra_ok`` (later states of a document)."""
    if model is None:
        return doc
    shaped = {**{k: v for k, v in model.items() if k not in doc}, **doc}
    if not extra_ok:
        shaped = {k: v for k, v in shaped.items() if k in model}
    return shaped


def _templates(outbox: Collection, types: Iterable[str] | None) -> dict[str, dict]:
    """One real outbox entry per event type (sent ones first), to copy."""
    found: dict[str, dict] = {}
    wanted = set(types) if types is not None else None
    for entry in outbox.find({} if wanted is None else {"type": {"$in": sorted(wanted)}}).limit(5_000):
        kind = entry.get("type") or entry["envelope"]["type"]
        if kind not in found or (entry.get("status") == "sent" and found[kind].get("status") != "sent"):
            found[kind] = entry
    return found


def _handler_of(processed: Collection, prefix: str) -> str | None:
    """The handler part (``service.method``) of a real ``processed_events`` record starting with ``prefix``."""
    doc = processed.find_one({"_id": {"$regex": f"^{prefix}"}})
    return doc["_id"].rsplit(":", 1)[0] if doc else None


def load(mongo_uri: str, database_name: Callable[[str], str], env: dict[str, str],
         say: Callable[[str], None]) -> tuple[dict[str, int], float]:
    started = time.monotonic()
    written = Growth(mongo_uri, database_name, env, say).load()
    return written, time.monotonic() - started

