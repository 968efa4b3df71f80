"""The audit trail: who read or changed which personal or clinical data, when, why and from where.

Each service keeps the trail of the data it holds, in its own database
(``audit_log``), so recording never depends on another service being up:

* :func:`record` inserts one entry — inside the business transaction for a
  change, before the data is returned for a read (fail closed: no entry, no data).
* The :class:`Sealer` (one per service at a time, by lease) chains entries in
  the order it seals them: entry *n* stores ``seq = n``, ``prev`` (the hash of
  entry *n-1*) and ``hash = HMAC-SHA256(WENZHEN_AUDIT_KEY, canonical(entry, seq, prev))``.
  The chain's head (last ``seq`` and ``hash``) is kept beside it and moves in
  the same transaction. Without the key nobody can re-hash an altered chain.
* :func:`verify` walks the chain and reports the first broken link: an altered
  entry (hash), a deleted one (``seq`` gap or ``prev`` mismatch), or a cut tail
  (the head records more than is there), and — against the newest checkpoint the
  sealer published as an ``audit_chain_sealed`` event, kept outside this database —
  a chain cut back with its head rewound. ``python -m wenzhen.audit verify``.
* :func:`search` serves the admins' query and the patient's "who looked at my
  record"; :func:`to_fhir` shapes an entry as a FHIR R4 AuditEvent.

Entries hold identifiers, never names or clinical content.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

from wenzhen import ids
from wenzhen.auth import Caller
from wenzhen.config import SERVICES
from wenzhen.crypto import KeyringError
from wenzhen.events import EventData
from wenzhen.lease import LeasedLoop
from wenzhen.storage import AUDIT_HEAD, AUDIT_LOG, Store, Tx
from wenzhen.timez import as_utc, parse_iso, to_local_iso, to_utc_iso, utcnow

GENESIS = "0" * 64
HEAD_ID = "chain"
SEAL_BATCH = 200

# FHIR AuditEvent.action
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"


class Outcome(StrEnum):
    success = "success"
    denied = "denied"  # refused by an access rule
    failed = "failed"  # e.g. a wrong password


# the fields the hash covers (and nothing else: ``sealed`` is bookkeeping)
CHAINED = ("_id", "recorded", "action", "subtype", "outcome", "entity_type", "entity_id", "patient_id",
           "agent_kind", "agent_id", "agent_role", "purpose", "ip", "request_id", "detail")


@lru_cache(maxsize=1)
def audit_key() -> bytes:
    return key_from_env()


def key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    try:
        key = base64.b64decode(env.get("WENZHEN_AUDIT_KEY", "").encode(), validate=True)
    except ValueError:
        raise KeyringError("WENZHEN_AUDIT_KEY is not base64") from None
    if len(key) < 32:
        raise KeyringError("WENZHEN_AUDIT_KEY is not set (32 bytes, base64): the audit chain cannot be sealed")
    return key


# recording ---------------------------------------------------------------------------------------------------------
def record(target: Store | Tx, caller: Caller, action: str, subtype: str, entity_type: str,
           entity_id: str | None, *, patient_id: str | None = None, outcome: Outcome = Outcome.success,
           detail: str | None = None) -> str:
    """Append one entry (in ``target``'s transaction when it is a Tx); returns its id."""
    principal = caller.principal
    entry = {
        "_id": ids.new_id("aud"),
        "recorded": utcnow(),
        "action": action,
        "subtype": subtype,
        "outcome": outcome.value,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "patient_id": patient_id,
        "agent_kind": principal.kind,
        "agent_id": principal.sub or None,
        "agent_role": principal.role.value if principal.role else None,
        "purpose": caller.purpose.value,
        "ip": caller.origin_ip,
        "request_id": caller.request_id,
        "detail": detail,
        "sealed": False,
    }
    sink = target[AUDIT_LOG]
    if isinstance(target, Tx) or not isinstance(sink, Collection):
        sink.insert_one(entry)  # with the transaction (or a test's recorder)
    else:
        _group_writer(sink).write(entry)
    return entry["_id"]


class GroupWriter:
    """Audit entries written outside a transaction (reads), by group commit: the first caller to find nobody writing
    inserts everything queued meanwhile in one ``insert_many`` and goes on until the queue is empty; every caller
    returns only once its own entry is stored (or raises the error that kept it out), so no data leaves unaudited.
    At low load nobody waits for anybody; under a rush one round trip carries many entries."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._lock = threading.Lock()
        self._queue: list[list] = []
        self._writing = False

    def write(self, entry: dict) -> None:
        slot = [entry, threading.Event(), None]
        with self._lock:
            self._queue.append(slot)
            leader = not self._writing
            self._writing = True
        if leader:
            self._drain()
        slot[1].wait()
        if slot[2] is not None:
            raise slot[2]

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._writing = False
                    return
            error = None
            try:
                self.collection.insert_many([slot[0] for slot in batch], ordered=False)
            except Exception as exc:  # noqa: BLE001 - every caller of the batch learns it: none is audited
                error = exc
            for slot in batch:
                slot[2] = error
                slot[1].set()


_writers: dict[tuple[str, str], GroupWriter] = {}
_writers_lock = threading.Lock()


def _group_writer(collection: Collection) -> GroupWriter:
    key = (collection.database.name, collection.name)
    with _writers_lock:
        if key not in _writers or _writers[key].collection.database.client is not collection.database.client:
            _writers[key] = GroupWriter(collection)
        return _writers[key]


# the chain ---------------------------------------------------------------------------------------------------------
def canonical(entry: Mapping, seq: int, prev: str) -> bytes:
    fields = {name: entry.get(name) for name in CHAINED}
    fields["recorded"] = to_utc_iso(entry["recorded"])
    return json.dumps({"seq": seq, "prev": prev, "entry": fields}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def link_hash(key: bytes, entry: Mapping, seq: int, prev: str) -> str:
    return hmac.new(key, canonical(entry, seq, prev), hashlib.sha256).hexdigest()


class ChainMoved(Exception):
    """Another sealer advanced the chain first; this round is abandoned (nothing was written)."""


CHECKPOINT_TYPE = "audit_chain_sealed"


class AuditChainSealed(EventData):
    """A checkpoint of a service's audit chain: its head at that moment. Published so that the head is kept
    outside the service's database (reports archives it; a hospital's security system can subscribe), which lets
    ``verify`` notice a chain cut back and rewound by someone who can write that database."""

    seq: int = Field(description="The last sealed entry")
    hash: str = Field(description="Its chain hash (HMAC-SHA256, hex)")


# one event type per service: the checkpoint comes from the service whose chain it is
CHECKPOINTS: dict[str, type[AuditChainSealed]] = {
    name: type(f"AuditChainSealed_{name}", (AuditChainSealed,), {"source": name, "type": CHECKPOINT_TYPE,
                                                                 "__module__": __name__})
    for name in SERVICES
}


class Sealer(LeasedLoop):
    """Chains unsealed entries, in batches, each batch in one transaction with the head; publishes a checkpoint of
    the head at most every ``checkpoint_seconds``."""

    lease_name = "audit-sealer"

    def __init__(self, store: Store, key: bytes, *, lease_seconds: float = 10.0, poll_interval: float = 0.5,
                 checkpoint_seconds: float = 10.0):
        super().__init__(store.db, lease_seconds=lease_seconds, poll_interval=poll_interval, retry_max=30.0)
        self.store = store
        self.key = key
        self.checkpoint_seconds = checkpoint_seconds

    def round(self) -> int:
        return seal(self.store, self.key, checkpoint_seconds=self.checkpoint_seconds)


def seal(store: Store, key: bytes, limit: int = SEAL_BATCH, checkpoint_seconds: float | None = None) -> int:
    """Seal up to ``limit`` entries (returns how many) and, when one is due, publish a checkpoint of the head."""
    batch = list(store[AUDIT_LOG].find({"sealed": False}).sort("_id", ASCENDING).limit(limit))
    head = store[AUDIT_HEAD].find_one({"_id": HEAD_ID}) or {"seq": 0, "hash": GENESIS}
    due = checkpoint_seconds is not None and head.get("checkpoint_seq") != head["seq"] and (
        not head.get("checkpoint_at") or (utcnow() - as_utc(head["checkpoint_at"])).total_seconds()
        >= checkpoint_seconds)
    if not batch and not due:
        return 0

    def body(tx: Tx) -> int:
        head = tx[AUDIT_HEAD].find_one({"_id": HEAD_ID}) or {"seq": 0, "hash": GENESIS}
        seq, prev = head["seq"], head["hash"]
        links = []
        for entry in batch:
            seq += 1
            digest = link_hash(key, entry, seq, prev)
            links.append(UpdateOne({"_id": entry["_id"], "sealed": False},
                                   {"$set": {"sealed": True, "seq": seq, "prev": prev, "hash": digest}}))
            prev = digest
        if links:  # the whole batch in one call; an entry sealed meanwhile by another sealer abandons the round
            done = tx[AUDIT_LOG].bulk_write(links, ordered=True)
            if done.matched_count != len(links):
                raise ChainMoved(batch[0]["_id"])
        changes = {"seq": seq, "hash": prev}
        if batch:
            changes["sealed_at"] = utcnow()
        if due and seq:
            tx.emit(CHECKPOINTS[store.name](seq=seq, hash=prev), subject=f"audit-chain-{store.name}")
            changes.update(checkpoint_seq=seq, checkpoint_at=utcnow())
        tx[AUDIT_HEAD].update_one({"_id": HEAD_ID, "seq": head["seq"]}, {"$set": changes}, upsert=True)
        return len(batch)

    return store.transact(body)


class Verdict(BaseModel):
    service: str
    entries: int = Field(description="Sealed entries checked.")
    head_seq: int
    intact: bool
    broken_at: int | None = Field(default=None, description="seq of the first broken link.")
    broken_entry: str | None = None
    reason: str | None = None
    unsealed: int = 0
    oldest_unsealed_seconds: float | None = None

    def line(self) -> str:
        tail = f"; {self.unsealed} not yet sealed" if self.unsealed else ""
        if self.intact:
            return f"{self.service}: intact, {self.entries} entries (head seq {self.head_seq}){tail}"
        entry = f" (entry {self.broken_entry})" if self.broken_entry else ""
        return f"{self.service}: BROKEN at seq {self.broken_at}{entry}: {self.reason}{tail}"


def verify(db: Database, key: bytes, service: str, checkpoint: Mapping | None = None) -> Verdict:
    """Walk the chain in ``seq`` order; stop at the first broken link. ``checkpoint`` (``{"seq", "hash"}``, the
    newest published one, kept outside this database) catches a chain cut back with its head rewound."""
    head = db[AUDIT_HEAD].find_one({"_id": HEAD_ID}) or {"seq": 0, "hash": GENESIS}
    unsealed = db[AUDIT_LOG].count_documents({"sealed": False})
    oldest = db[AUDIT_LOG].find_one({"sealed": False}, sort=[("_id", ASCENDING)])
    age = (utcnow() - as_utc(oldest["recorded"])).total_seconds() if oldest else None
    verdict = {"service": service, "head_seq": head["seq"], "unsealed": unsealed, "oldest_unsealed_seconds": age}

    def broken(seq: int, entry: str | None, reason: str, checked: int) -> Verdict:
        return Verdict(**verdict, entries=checked, intact=False, broken_at=seq, broken_entry=entry, reason=reason)

    expected, prev = 1, GENESIS
    at_checkpoint = None
    # up to the head read above: what the sealer adds meanwhile is for the next check
    for entry in db[AUDIT_LOG].find({"seq": {"$lte": head["seq"]}}).sort("seq", ASCENDING):
        if entry["seq"] != expected:
            return broken(expected, None, f"entry {expected} is missing (deleted?); the next is {entry['seq']}",
                          expected - 1)
        if entry.get("prev") != prev:
            return broken(expected, entry["_id"], "does not link to the entry before it (one was deleted or "
                                                  "replaced)", expected - 1)
        if not hmac.compare_digest(entry.get("hash", ""), link_hash(key, entry, expected, prev)):
            return broken(expected, entry["_id"], "its content was altered (hash mismatch)", expected - 1)
        prev = entry["hash"]
        if checkpoint and entry["seq"] == checkpoint["seq"]:
            at_checkpoint = entry
        expected += 1
    last = expected - 1
    if last < head["seq"]:
        return broken(last + 1, None, f"entries {last + 1}..{head['seq']} are missing (the chain head records "
                                      f"{head['seq']})", last)
    if prev != head["hash"]:
        return broken(head["seq"], None, "the chain head does not match the last entry", last)
    if checkpoint and checkpoint["seq"] > last:
        return broken(last + 1, None, f"entries {last + 1}..{checkpoint['seq']} are missing: a published checkpoint "
                                      f"records seq {checkpoint['seq']} (the chain was cut back and its head "
                                      "rewound)", last)
    if at_checkpoint is not None and at_checkpoint["hash"] != checkpoint["hash"]:
        return broken(checkpoint["seq"], at_checkpoint["_id"], "differs from its published checkpoint (the chain "
                                                               "was rewritten)", last)
    return Verdict(**verdict, entries=last, intact=True)


# searching and showing ---------------------------------------------------------------------------------------------
class AuditQuery(BaseModel):
    """Filters of an audit search; all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid")

    patient_id: str | None = Field(default=None, max_length=64, description="Whose data was touched.")
    agent_id: str | None = Field(default=None, max_length=64, description="Who acted (account id or service).")
    entity_type: str | None = Field(default=None, max_length=64, examples=["Patient"])
    entity_id: str | None = Field(default=None, max_length=64)
    exclude_agent_id: str | None = Field(default=None, max_length=64, description="Leave out this actor's own "
                                         "entries (a patient looking at who else looked).")
    since: datetime | None = None
    until: datetime | None = None
    before: str | None = Field(default=None, max_length=64, description="Paging cursor: entries older than this "
                                                                        "id.")
    limit: int = Field(default=50, ge=1, le=200)

    def mongo_filter(self) -> dict:
        query: dict = {}
        for name in ("patient_id", "agent_id", "entity_type", "entity_id"):
            value = getattr(self, name)
            if value is not None:
                query[name] = value
        if self.exclude_agent_id:
            query["agent_id"] = {"$ne": self.exclude_agent_id, **({"$eq": self.agent_id} if self.agent_id else {})}
        window = {}
        if self.since:
            window["$gte"] = as_utc(self.since)
        if self.until:
            window["$lt"] = as_utc(self.until)
        if window:
            query["recorded"] = window
        if self.before:
            query["_id"] = {"$lt": self.before}
        return query


def search(db: Database, query: AuditQuery, service: str) -> list[dict]:
    """Newest first, at most ``query.limit``."""
    cursor = db[AUDIT_LOG].find(query.mongo_filter()).sort("_id", DESCENDING).limit(query.limit)
    return [view(entry, service) for entry in cursor]


def view(entry: Mapping, service: str) -> dict:
    return {
        "id": entry["_id"],
        "service": service,
        "recorded": to_local_iso(entry["recorded"]),
        "action": entry["action"],
        "subtype": entry["subtype"],
        "outcome": entry["outcome"],
        "entity": {"type": entry["entity_type"], "id": entry.get("entity_id")},
        "patient_id": entry.get("patient_id"),
        "agent": {"kind": entry["agent_kind"], "id": entry.get("agent_id"), "role": entry.get("agent_role")},
        "purpose": entry["purpose"],
        "origin": {"ip": entry.get("ip"), "request_id": entry.get("request_id")},
        "detail": entry.get("detail"),
        "seq": entry.get("seq"),
    }


_FHIR_OUTCOME = {"success": "0", "failed": "4", "denied": "4"}
_FHIR_RESOURCES = {"Patient", "AuditEvent", "Consent", "Practitioner", "Person", "Encounter", "MedicationRequest",
                   "ServiceRequest", "DiagnosticReport", "Observation", "Appointment"}
_LOGIN_SUBTYPES = {"login": ("110122", "Login"), "logout": ("110123", "Logout")}


def to_fhir(item: dict) -> dict:
    """One :func:`view` as a FHIR R4 AuditEvent."""
    subtype = item["subtype"]
    if subtype in _LOGIN_SUBTYPES:
        kind = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114",
                "display": "User Authentication"}
        code, display = _LOGIN_SUBTYPES[subtype]
        subtypes = [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": code, "display": display}]
    else:
        kind = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                "display": "RESTful Operation"}
        subtypes = [{"system": "urn:wenzhen:audit-subtype", "code": subtype}]
    agent = item["agent"]
    who = {"identifier": {"system": f"urn:wenzhen:{'account' if agent['kind'] == 'user' else agent['kind']}",
                          "value": agent["id"] or "anonymous"}}
    fhir_agent: dict = {"who": who, "requestor": True}
    if agent.get("role"):
        fhir_agent["role"] = [{"coding": [{"system": "urn:wenzhen:role", "code": agent["role"]}]}]
    if item["origin"].get("ip"):
        fhir_agent["network"] = {"address": item["origin"]["ip"], "type": "2"}
    entities = []
    entity = item["entity"]
    if entity.get("id"):
        what = ({"reference": f"{entity['type']}/{ids.to_fhir(entity['id'])}"} if entity["type"] in _FHIR_RESOURCES
                else {"identifier": {"system": f"urn:wenzhen:{entity['type']}", "value": entity["id"]}})
        entities.append({"what": what, "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                                                 "code": "2", "display": "System Object"}})
    if item.get("patient_id"):
        entities.append({"what": {"reference": f"Patient/{ids.to_fhir(item['patient_id'])}"},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                                  "display": "Person"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                                  "display": "Patient"}})
    event = {
        "resourceType": "AuditEvent",
        "id": ids.to_fhir(item["id"]),
        "type": kind,
        "subtype": subtypes,
        "action": item["action"],
        "recorded": to_utc_iso(parse_iso(item["recorded"])),
        "outcome": _FHIR_OUTCOME.get(item["outcome"], "8"),
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                        "code": item["purpose"]}]}],
        "agent": [fhir_agent],
        "source": {"site": "wenzhen", "observer": {"display": f"wenzhen/{item['service']}"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                             "display": "Application Server"}]},
        "entity": entities,
    }
    if item["outcome"] != "success":
        event["outcomeDesc"] = item["outcome"]
    if item["origin"].get("request_id"):
        event["extension"] = [{"url": "urn:wenzhen:fhir:request-id", "valueString": item["origin"]["request_id"]}]
    return event


def latest_checkpoints(event_log_db: Database) -> dict[str, dict]:
    """The newest published checkpoint of each service's chain, from reports' event log."""
    found = {}
    for name in SERVICES:
        doc = event_log_db["event_log"].find_one({"source": name, "type": CHECKPOINT_TYPE},
                                                 sort=[("envelope.data.seq", DESCENDING)])
        if doc:
            found[name] = {"seq": doc["envelope"]["data"]["seq"], "hash": doc["envelope"]["data"]["hash"]}
    return found


def merge(pages: list[list[dict]], limit: int) -> list[dict]:
    """Several services' newest-first pages as one newest-first page (ids sort by time)."""
    return sorted((item for page in pages for item in page), key=lambda item: item["id"], reverse=True)[:limit]


# the command ------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from wenzhen.config import SERVICES, settings
    from wenzhen.storage import client

    parser = argparse.ArgumentParser(prog="python -m wenzhen.audit", description="Check the audit chains.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="walk every service's chain and report the first broken link")
    check.add_argument("--service", choices=SERVICES, action="append", help="only this service (repeatable)")
    check.add_argument("--json", action="store_true", help="one JSON object per service")
    check.add_argument("--no-checkpoints", action="store_true", help="do not compare with the checkpoints reports "
                                                                       "archived")
    args = parser.parse_args(argv)

    cfg = settings()
    key = key_from_env()
    mongo = client(cfg.mongo_uri)
    anchors = {} if args.no_checkpoints else latest_checkpoints(mongo[cfg.database_name("reports")])
    verdicts = [verify(mongo[cfg.database_name(name)], key, name, anchors.get(name))
                for name in (args.service or SERVICES)]
    for verdict in verdicts:
        print(verdict.model_dump_json() if args.json else verdict.line())
        if verdict.oldest_unsealed_seconds and verdict.oldest_unsealed_seconds > 60:
            print(f"{verdict.service}: warning: entries wait unsealed for "
                  f"{verdict.oldest_unsealed_seconds:.0f}s (is the service running?)", file=sys.stderr)
    return 0 if all(v.intact for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
