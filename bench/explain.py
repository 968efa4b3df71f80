"""The plans of the hot queries: every query on a request path or a periodic loop, explained against the database.

    PYTHONPATH=. .venv/bin/python -m bench.explain          # MONGO_URI and WENZHEN_DB_PREFIX of the environment

``make bench`` runs it after the growth load, against its own databases. For each query of :data:`QUERIES` — one
table of (service, collection, filter, sort, how the code runs it) — it prints the winning plan's stages (IXSCAN /
COLLSCAN / IDHACK / SORT…) and the index, the collection's size, the query's own time (median of five runs) and,
where explain says COLLSCAN, the time of a true scan of that collection; and flags every COLLSCAN.

SecantusDB's ``explain`` needs reading with care (docs/secantusdb.md): it reports COLLSCAN for any filter an index
covers only in part (``{a: 1, z: …}`` with an index on ``a``) and for ``_id`` with another condition, although the
query executes by the index; so a COLLSCAN is called real (``!!``) only when the query costs at least a quarter of a
true scan of the same collection (``*`` otherwise: reported only). ``findAndModify`` executes its filter as
``{_id: x, $and: [filter]}``, a true scan: queries run that way (``via="findAndModify"``) are explained and timed
with that filter, which is what the server does.

For a test: :func:`plans` gives ``(query, service, Plan)`` for a database getter, and :func:`scans` the queries that
scan their collection — ``assert not scans(db_of)`` against a real server with data in it (the check is a ratio
of two timings on the same server, no threshold in milliseconds; ``timed=False`` trusts explain alone).
"""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pymongo.database import Database

from wenzhen.config import SERVICES

NOW = datetime.now(UTC)
ANY = "*"  # every service's database (the mechanics)


@dataclass(frozen=True)
class HotQuery:
    service: str  # whose database ("*": every service's)
    collection: str
    filter: dict
    sort: list[tuple[str, int]] | None = None
    limit: int = 0
    via: str = "find"  # how the code runs it: find, update (update_one/many), findAndModify
    where: str = ""  # what runs it (code and path)

    @property
    def executed_filter(self) -> dict:
        """The filter the server executes: findAndModify's is ``{_id: x, $and: [filter]}`` (SecantusDB 0.7.0b3)."""
        if self.via == "findAndModify" and "_id" in self.filter:
            return {"_id": self.filter["_id"], "$and": [self.filter]}
        return self.filter


def _h(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


# The table: the hot queries of services/*/ and wenzhen/ (values are placeholders; the plan does not depend on them).
QUERIES: list[HotQuery] = [
    # the mechanics, in every service's database
    HotQuery(ANY, "outbox", {"status": "pending"}, [("subject", 1), ("sequence", 1)], 200,
             where="wenzhen/outbox.py Relay.publish_pending (every round, every service)"),
    HotQuery(ANY, "outbox", {"_id": "evt_X", "status": "pending"}, via="update",
             where="wenzhen/outbox.py Relay: an entry marked sent"),
    HotQuery(ANY, "outbox_heads", {"_id": "apt_X"}, via="update",
             where="wenzhen/storage.py Tx.flush: the per-subject counter ($inc, then a read)"),
    HotQuery(ANY, "audit_log", {"sealed": False}, [("_id", 1)], 200,
             where="wenzhen/audit.py seal (the sealer's round, every service)"),
    HotQuery(ANY, "audit_head", {"_id": "chain"}, where="wenzhen/audit.py seal: the chain's head"),
    HotQuery(ANY, "audit_log", {"patient_id": "pat_X"}, [("_id", -1)], 50,
             where="wenzhen/audit.py search: who looked at my record (GET /v1/audit-events)"),
    HotQuery(ANY, "processed_events", {"_id": "booking.handler:evt_X"},
             where="wenzhen/consumer.py: the idempotent consumer's record (an insert; a duplicate key)"),
    HotQuery(ANY, "leases", {"_id": "outbox-relay", "$or": [{"owner": "x"}, {"until": {"$lt": NOW}}]},
             via="update", where="wenzhen/lease.py hold_lease (every loop)"),
    HotQuery(ANY, "rate_limits", {"_id": "login:X:0"}, via="findAndModify",
             where="wenzhen/ratelimit.py hit (sign-in, sign-up, registrations: per request)"),
    HotQuery(ANY, "dead_letters", {"status": "parked"}, [("parked_at", 1)], where="wenzhen/deadletters.py list"),
    # booking
    HotQuery("booking", "slots", {"status": "open", "free": {"$gt": 0}, "start": {"$gte": NOW, "$lt": _h(24)},
                                  "doctor_id": "acc_X"}, [("start", 1), ("doctor_id", 1)], 200,
             where="booking free_slots: GET /v1/doctors/{id}/slots"),
    HotQuery("booking", "slots", {"status": "open", "free": {"$gt": 0}, "start": {"$gte": NOW, "$lt": _h(24)},
                                  "department": "urology"}, [("start", 1), ("doctor_id", 1)], 50,
             where="booking free_slots by department: GET /v1/slots?department="),
    HotQuery("booking", "slots", {"status": "open", "free": {"$gt": 0}, "start": {"$gte": NOW, "$lt": _h(12)},
                                  "service": "first_visit"}, None, 0,
             where="booking half-day candidates: POST /v1/appointments with a half-day"),
    HotQuery("booking", "slots", {"_id": "slot_X", "status": "open", "free": {"$gt": 0}, "start": {"$gt": NOW}},
             via="findAndModify", where="booking take_place: POST /v1/appointments (in the transaction)"),
    HotQuery("booking", "slots", {"_id": "slot_X", "booked": {"$gt": 0}}, via="findAndModify",
             where="booking give_back: cancel, reschedule, lapsed hold"),
    HotQuery("booking", "slots", {"_id": "slot_X"}, where="booking: the slot read before booking"),
    HotQuery("booking", "slots", {"doctor_id": "acc_X", "start": {"$gt": NOW, "$lt": _h(24 * 14)}},
             where="booking slot generation (per doctor, per regeneration)"),
    HotQuery("booking", "idempotency_keys", {"account_id": "acc_X", "key": "k"},
             where="booking: Idempotency-Key lookup (POST /v1/appointments)"),
    HotQuery("booking", "known_patients", {"_id": "pat_X"}, where="booking may_book (staff booking)"),
    HotQuery("booking", "appointments", {"patient_id": "pat_X"}, [("start", 1)], 50,
             where="booking list_appointments by patient: GET /v1/appointments?patient_id="),
    HotQuery("booking", "appointments", {"doctor_id": "acc_X", "start": {"$gte": NOW, "$lt": _h(24)}},
             [("start", 1)], 50, where="booking list_appointments: a doctor's day"),
    HotQuery("booking", "appointments", {"booked_by": "acc_X"}, [("start", 1)], 50,
             where="booking list_appointments: a consultant's bookings"),
    HotQuery("booking", "appointments", {"patient_id": "pat_X", "slot_id": "slot_X", "holds_slot": True},
             where="booking: a patient's place in a slot (waitlist, offers)"),
    HotQuery("booking", "appointments", {"_id": "apt_X", "status": "held"}, via="findAndModify",
             where="booking confirm / cancel / check-in (by id and state)"),
    HotQuery("booking", "appointments", {"status": "held", "hold_expires_at": {"$lte": NOW}}, None, 200,
             where="booking sweeper: holds due"),
    HotQuery("booking", "appointments", {"status": "confirmed", "start": {"$lte": _h(-0.5)}}, None, 200,
             where="booking sweeper: no-shows due"),
    HotQuery("booking", "appointments", {"status": "confirmed", "start": {"$gt": NOW, "$lte": _h(24)},
                                         "reminded.h24": None}, [("start", 1)], 200,
             where="booking sweeper: reminders due"),
    HotQuery("booking", "appointments", {"status": "offered", "offer_expires_at": {"$lte": NOW}}, None, 200,
             where="booking sweeper: waitlist offers due"),
    HotQuery("booking", "waitlist", {"status": "waiting", "until": {"$lte": NOW}}, None, 200,
             where="booking sweeper: waitlist entries lapsed"),
    HotQuery("booking", "waitlist", {"status": "waiting", "doctor_id": "acc_X", "service": "first_visit",
                                     "$or": [{"slot_id": "slot_X"}, {"slot_id": None, "window_start": {"$lte": NOW},
                                                                     "until": {"$gt": NOW}}]},
             [("joined_at", 1), ("_id", 1)], 20, where="booking: the waitlist's line for a freed place"),
    HotQuery("booking", "follow_up_plans", {"reminded_at": None, "remind_at": {"$lte": NOW}}, None, 200,
             where="booking sweeper: follow-up reminders due"),
    # intake
    HotQuery("intake", "patients", {"_id": "pat_X"}, where="intake get_patient: GET /v1/patients/{id}"),
    HotQuery("intake", "patients", {"phone_index": "X"}, where="intake: patients by phone (blind index)"),
    HotQuery("intake", "patient_links", {"account_id": "acc_X", "active": True},
             where="intake access: the records an account acts for (every patient's read)"),
    HotQuery("intake", "patient_links", {"removed_at": {"$gte": _h(-1)}},
             where="intake removed_links: the gateway's catch-up"),
    HotQuery("intake", "care_relations", {"staff_id": "acc_X", "patient_id": "pat_X"},
             where="intake access: a care relationship (staff reads)"),
    HotQuery("intake", "consultations", {"status": "queued"}, [("urgent", -1), ("opened_at", 1)], 500,
             where="intake desk: the queue (routing, every round)"),
    HotQuery("intake", "consultations", {"status": {"$in": ["queued", "offered", "active"]}}, [("opened_at", 1)],
             where="intake desk: open chats (the clocks, every round)"),
    HotQuery("intake", "consultations", {"opened_at": {"$gte": _h(-24)}},
             where="intake desk: today's chats (the desk's figures)"),
    HotQuery("intake", "consultations", {"status": "closed", "accepted_at": {"$ne": None}},
             where="intake desk: closed chats with an answer time (the desk's figures)"),
    HotQuery("intake", "consultation_messages", {"consultation_id": "con_X", "seq": {"$gt": 0}}, [("seq", 1)], 200,
             where="intake: a chat's messages after seq (every live delivery)"),
    HotQuery("intake", "consultation_incidents", {"resolved_at": None}, [("opened_at", -1)], 50,
             where="intake desk: open incidents"),
    # identity
    HotQuery("identity", "accounts", {"login_index": "X"},
             where="identity: the account by login (POST /v1/auth/login)"),
    HotQuery("identity", "login_failures", {"_id": "X", "locked_until": {"$gt": NOW}},
             where="identity: is the login locked (POST /v1/auth/login)"),
    HotQuery("identity", "sessions", {"_id": "ses_X"}, via="findAndModify",
             where="identity: refresh (rotate the session's token)"),
    HotQuery("identity", "sessions", {"account_id": "acc_X", "revoked_at": None},
             where="identity: an account's live sessions"),
    HotQuery("identity", "sessions", {"revoked_at": {"$gte": _h(-1)}},
             where="identity revoked_sessions: the gateway's catch-up"),
    HotQuery("identity", "otps", {"phone_index": "X", "purpose": "signup"}, [("_id", -1)], 1,
             where="identity: the latest code for a phone"),
    # payments
    HotQuery("payments", "invoices", {"purpose": "dispensing_order", "reference": "dso_X"},
             where="payments: the order's invoice (pharmacy's fulfilment_chosen)"),
    HotQuery("payments", "invoices", {"_id": "inv_X", "status": "open", "amount_fen": 100}, via="update",
             where="payments mark_paid: POST /v1/invoices/{id}/desk-payments"),
    HotQuery("payments", "invoices", {"patient_id": "pat_X"}, [("_id", -1)], 50,
             where="payments list_invoices: GET /v1/invoices?patient_id="),
    HotQuery("payments", "invoices", {"status": "open"}, [("_id", -1)], 50,
             where="payments list_invoices: GET /v1/invoices?status=open (finance)"),
    HotQuery("payments", "refunds", {"invoice_id": {"$in": ["inv_X", "inv_Y"]}},
             where="payments: the refund requests of the invoices answered"),
    HotQuery("payments", "refunds", {"invoice_id": "inv_X", "order_id": "dso_X", "reason": "cancelled"},
             where="payments: a refund request recorded already (pharmacy's refund_requested)"),
    HotQuery("payments", "ledger_entries", {"posting_id": "inv_X.issue.1"}, [("line", 1)],
             where="payments ledger: a posting there already, or the revision a re-issue reverses (every posting)"),
    HotQuery("payments", "ledger_totals", {"_id": "revenue|2026-12-05"}, via="update",
             where="payments ledger: an account's running total for the day ($inc, every posting)"),
    HotQuery("payments", "ledger_entries", {"invoice_id": "inv_X"},
             where="payments ledger: an invoice's balances (balance(account, invoice_id))"),
    # notify, reports
    HotQuery("notify", "notifications", {"status": "queued", "channel": "sms"}, [("_id", 1)], 100,
             where="notify: the SMS queue (every round)"),
    HotQuery("notify", "notifications", {"patient_id": "pat_X"}, [("created_at", -1)], 50,
             where="notify: a patient's notifications"),
    HotQuery("reports", "event_log", {"source": "booking", "type": "audit_chain_sealed"},
             [("envelope.data.seq", -1)], 1, where="wenzhen/audit.py latest_checkpoints (audit verify)"),
]


@dataclass(frozen=True)
class Plan:
    stages: list[str]  # outermost first, e.g. ["FETCH", "IXSCAN"]
    index: str | None
    keys_examined: int | None = None
    docs_examined: int | None = None
    ms: float | None = field(default=None, compare=False)  # the query itself (median)
    scan_ms: float | None = field(default=None, compare=False)  # a true scan of the whole collection, for reference
    documents: int | None = None

    @property
    def scan(self) -> str:
        """The access explain reports: IXSCAN, COLLSCAN, IDHACK (or the innermost stage)."""
        return self.stages[-1] if self.stages else "?"

    def shown(self) -> str:
        return " > ".join(self.stages) + (f" ({self.index})" if self.index else "")

    @property
    def verdict(self) -> str:
        """``index``; ``scan`` (a real collection scan); ``reported`` (explain says COLLSCAN, but the query costs under
        a quarter of a true scan of the collection: executed by an index or the ``_id`` lookup); ``unsure`` (explain
        says COLLSCAN, untimed or the collection too small to tell)."""
        if self.scan != "COLLSCAN":
            return "index"
        if self.ms is None or self.scan_ms is None or (self.documents or 0) < SMALL:
            return "unsure"
        return "reported" if self.ms < REPORTED_ONLY * self.scan_ms else "scan"


SMALL = 2_000  # documents: below this, a scan and a lookup cost about the same
REPORTED_ONLY = 0.25  # a COLLSCAN in explain costing less than this share of a true scan is not one


def explain(db: Database, query: HotQuery, timed: bool = False, scans: dict | None = None) -> Plan:
    """The winning plan of ``query`` (as the server executes it); ``timed``: with the query's time and, when explain
    says COLLSCAN, a true scan's (cached in ``scans`` per collection)."""
    command: dict = {"find": query.collection, "filter": query.executed_filter}
    if query.sort:
        command["sort"] = dict(query.sort)
    if query.limit:
        command["limit"] = query.limit
    out = db.command("explain", command, verbosity="executionStats")
    stages, index, node = [], None, out["queryPlanner"]["winningPlan"]
    while node:
        stages.append(node.get("stage", "?"))
        index = index or node.get("indexName")
        node = node.get("inputStage") or (node.get("inputStages") or [None])[0]
    stats = out.get("executionStats", {})
    ms = scan_ms = documents = None
    if timed:
        ms = _time(db, query)
        documents = db[query.collection].estimated_document_count()
        if stages and stages[-1] == "COLLSCAN" and documents >= SMALL:
            key = (db.name, query.collection)
            cache = scans if scans is not None else {}
            if key not in cache:
                cache[key] = _time(db, HotQuery("", query.collection, {"_bench_no_such_field": True}), runs=1)
            scan_ms = cache[key]
    return Plan(stages, index, stats.get("totalKeysExamined"), stats.get("totalDocsExamined"), ms, scan_ms, documents)


def _time(db: Database, query: HotQuery, runs: int = 5) -> float:
    coll = db[query.collection]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        cursor = coll.find(query.executed_filter)
        if query.sort:
            cursor = cursor.sort(query.sort)
        if query.limit:
            cursor = cursor.limit(query.limit)
        list(cursor)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def databases(service: str) -> list[str]:
    return list(SERVICES) if service == ANY else [service]


def plans(database_of: Callable[[str], Database], timed: bool = False) -> list[tuple[HotQuery, str, Plan]]:
    """Every query of :data:`QUERIES`, explained in every database it runs in: (query, service, plan). Collections a
    database does not have (yet) are skipped."""
    found, cache = [], {}
    for query in QUERIES:
        for service in databases(query.service):
            db = database_of(service)
            if query.collection not in db.list_collection_names():
                continue
            found.append((query, service, explain(db, query, timed, cache)))
    return found


def scans(database_of: Callable[[str], Database], timed: bool = True) -> list[tuple[HotQuery, str, Plan]]:
    """The hot queries that scan their collection — for a test: ``assert not scans(db_of)`` against a real server
    with data in it. ``timed`` (default) tells SecantusDB's reported-only COLLSCANs from real ones by comparing the
    query with a true scan of the same collection (a ratio, no unit); ``timed=False`` trusts explain alone (right on
    MongoDB, too strict on SecantusDB 0.7.0b3: docs/secantusdb.md)."""
    found = plans(database_of, timed)
    if not timed:
        return [(q, s, p) for q, s, p in found if p.scan == "COLLSCAN"]
    return [(q, s, p) for q, s, p in found if p.verdict == "scan"]


def _filter_text(query: HotQuery) -> str:
    text = repr(query.filter).replace("datetime.datetime", "dt")
    text = text if len(text) <= 70 else text[:67] + "…"
    return text + (f" sort {dict(query.sort)}" if query.sort else "")


FLAGS = {"index": "  ", "scan": "!!", "reported": "* ", "unsure": "? "}


def report(database_of: Callable[[str], Database], out=sys.stdout) -> list[dict]:
    """Print the table (one line per query; the mechanics' queries in the database where they cost most); returns the
    rows."""
    rows = []
    by_query: dict[int, list[tuple[str, Plan]]] = {}
    for query, service, plan in plans(database_of, timed=True):
        by_query.setdefault(id(query), []).append((service, plan))
    print(f"{'':2}{'service':12} {'collection':22} {'size':>7} {'via':13} {'plan':40} {'ms':>7} {'scan ms':>7}  "
          "filter / where", file=out)
    for query in QUERIES:
        results = by_query.get(id(query), [])
        if not results:
            continue
        service, plan = max(results, key=lambda r: (r[1].documents or 0, r[1].ms or 0))
        label = f"*({service})" if query.service == ANY else service
        flag = FLAGS[plan.verdict]
        scan_ms = f"{plan.scan_ms:.1f}" if plan.scan_ms is not None else ""
        print(f"{flag}{label:12} {query.collection:22} {plan.documents or 0:>7} {query.via:13} {plan.shown()[:40]:40} "
              f"{plan.ms or 0:>7.1f} {scan_ms:>7}  {_filter_text(query)} — {query.where}", file=out)
        rows.append({"service": service, "collection": query.collection, "via": query.via, "plan": plan.shown(),
                     "scan": plan.scan, "verdict": plan.verdict, "collscan": plan.verdict == "scan",
                     "ms": plan.ms, "scan_ms": plan.scan_ms, "documents": plan.documents, "where": query.where,
                     "filter": _filter_text(query)})
    flagged = [r for r in rows if r["collscan"]]
    print(f"{len(rows)} queries; {len(flagged)} scan their collection (!!): "
          + ("; ".join(f"{r['service']}.{r['collection']} ({r['where']})" for r in flagged) or "none"), file=out)
    print("!! a real scan: the query costs at least a quarter of a true scan of its collection (scan ms). * explain "
          "says COLLSCAN, but the query costs far less: SecantusDB reports COLLSCAN for any filter an index covers "
          "only in part, and for _id with other conditions (docs/secantusdb.md). ? explain says COLLSCAN on a "
          f"collection under {SMALL} documents: not told apart", file=out)
    return rows


def main() -> int:
    from wenzhen.config import settings
    from wenzhen.storage import client

    cfg = settings()
    mongo = client(cfg.mongo_uri)
    report(lambda service: mongo[cfg.database_name(service)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
