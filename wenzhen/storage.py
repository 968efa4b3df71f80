"""MongoDB access: one client per process, one database per service, indexes
declared in code, and a transaction helper that also writes events to the outbox.

Works unchanged against the embedded SecantusDB (a single-node replica set)
and a real MongoDB replica set: both are just ``MONGO_URI``.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database

from wenzhen.crypto import Keyring, keyring
from wenzhen.events import Envelope, EventData

T = TypeVar("T")

OUTBOX = "outbox"
OUTBOX_HEADS = "outbox_heads"
PROCESSED = "processed_events"
DEAD_LETTERS = "dead_letters"
LEASES = "leases"
AUDIT_LOG = "audit_log"
AUDIT_HEAD = "audit_head"
UPGRADES = "upgrades"  # the once-only changes of stored data already made (by name)

_clients: dict[str, MongoClient] = {}
_clients_lock = threading.Lock()


def client(uri: str) -> MongoClient:
    """The process's client for ``uri`` (created once, pooled, thread/greenlet safe)."""
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=30_000, appname="wenzhen")
        return _clients[uri]


@dataclass(frozen=True)
class Index:
    collection: str
    keys: list[tuple[str, int]]
    unique: bool = False
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def create(self, db: Database) -> None:
        kwargs = dict(self.options)
        if self.unique:
            kwargs["unique"] = True
        if self.name:
            kwargs["name"] = self.name
        db[self.collection].create_index(self.keys, **kwargs)


# Indexes of the shared mechanics, present in every service's database.
MECHANICS_INDEXES = [
    Index(OUTBOX, [("status", ASCENDING), ("subject", ASCENDING), ("sequence", ASCENDING)], name="pending_in_order"),
    Index(OUTBOX, [("expires_at", ASCENDING)], name="sent_expiry", options={"expireAfterSeconds": 0}),
    Index(DEAD_LETTERS, [("status", ASCENDING), ("parked_at", ASCENDING)], name="by_status"),
    # the audit trail (wenzhen/audit.py): chain order, the sealer's queue, and the two ways it is searched
    Index(AUDIT_LOG, [("seq", ASCENDING)], unique=True, name="chain_order",
          options={"partialFilterExpression": {"seq": {"$exists": True}}}),
    # the sealer's queue: only unsealed entries are in it, so its round costs what is waiting, not the history
    Index(AUDIT_LOG, [("_id", ASCENDING)], name="unsealed_queue",
          options={"partialFilterExpression": {"sealed": False}}),
    Index(AUDIT_LOG, [("patient_id", ASCENDING), ("_id", DESCENDING)], name="by_patient"),
    Index(AUDIT_LOG, [("agent_id", ASCENDING), ("_id", DESCENDING)], name="by_agent"),
]


# indexes of the mechanics that an older version created, dropped at start
MECHANICS_RETIRED = [(AUDIT_LOG, "unsealed")]


def ensure_indexes(db: Database, indexes: list[Index], retired: list[tuple[str, str]] = ()) -> None:
    for collection, name in [*MECHANICS_RETIRED, *retired]:
        if name in db[collection].index_information():
            db[collection].drop_index(name)
    for index in [*MECHANICS_INDEXES, *indexes]:
        index.create(db)


def run_upgrades(db: Database, upgrades: dict[str, Callable[[Database], None]]) -> None:
    """Run each named change of stored data that this database has not had yet, and remember it: a started process
    pays one lookup per upgrade, not a pass over history. An upgrade must be idempotent (two processes starting
    together may both run it), and is marked done only when it returned."""
    for name, upgrade in upgrades.items():
        if db[UPGRADES].find_one({"_id": name}) is None:
            upgrade(db)
            db[UPGRADES].update_one({"_id": name}, {"$setOnInsert": {"at": datetime.now(UTC)}},
                                    upsert=True)


def update_and_read(collection, query: dict, update: dict, *, upsert: bool = False,
                    projection: dict | None = None) -> dict | None:
    """``find_one_and_update(..., return_document=AFTER)`` as a conditional ``update_one`` by ``_id`` and then a
    read of that document: SecantusDB answers ``find_one_and_update`` on an existing document by scanning the whole
    collection under its lock (docs/secantusdb.md), while ``update_one`` and ``find_one`` by ``_id`` use the index.
    None when the condition matched nothing (and nothing was upserted). Inside a transaction (``collection`` from a
    :class:`Tx`) the read sees exactly this write; outside one a later writer's change may show as well."""
    if "_id" not in query:
        raise ValueError("update_and_read needs the document's _id in the query")
    done = collection.update_one(query, update, upsert=upsert)
    if done.matched_count == 0 and done.upserted_id is None:
        return None
    return collection.find_one({"_id": query["_id"]}, projection)


def find_and_modify(collection, query: dict, update: dict, *, before: bool = False, sort=None,
                    upsert: bool = False) -> dict | None:
    """``find_one_and_update`` without its collection scan on SecantusDB: the document is found by ``query`` (its
    index), changed by a conditional ``update_one`` on its ``_id`` and the same condition, and returned as it was
    (``before``) or is now. None when nothing matched, or when another writer changed it in between (the condition
    no longer held: nothing was written). In a transaction this is exactly ``find_one_and_update``."""
    if "_id" in query and not before and sort is None:
        return update_and_read(collection, query, update, upsert=upsert)
    found = collection.find_one(query, sort=sort) if before else collection.find_one(query, {"_id": 1}, sort=sort)
    if found is None:
        if not upsert:
            return None
        done = collection.update_one(query, update, upsert=True)
        return None if before else collection.find_one({"_id": done.upserted_id})
    done = collection.update_one({**query, "_id": found["_id"]}, update)
    if done.matched_count == 0:
        return None
    return found if before else collection.find_one({"_id": found["_id"]})


class _Bound:
    """A collection whose every call carries the transaction's session."""

    def __init__(self, collection, session: ClientSession):
        self._collection = collection
        self._session = session

    def __getattr__(self, name: str):
        attr = getattr(self._collection, name)
        return functools.partial(attr, session=self._session) if callable(attr) else attr


class Tx:
    """What a transaction body sees: collections bound to the session, and ``emit``.

    Events are numbered within their subject (the envelope's ``sequence``): by the aggregate's own ``version`` when
    the caller passes it (the aggregate document's counter, kept by the store's conditional update: no other write),
    else by a counter per subject in ``outbox_heads`` (one conditional ``$inc`` per subject and transaction, then a
    read — never ``find_one_and_update``, which SecantusDB answers by scanning the collection). The outbox entries
    of a transaction are written in one call when its body has run (:meth:`flush`)."""

    def __init__(self, db: Database, session: ClientSession):
        self.db = db
        self.session = session
        self.emitted: list[Envelope] = []
        self._pending: list[tuple[Envelope, int | None]] = []

    def __getitem__(self, name: str) -> _Bound:
        return _Bound(self.db[name], self.session)

    def emit(self, data: EventData, subject: str, version: int | None = None) -> None:
        """Record an event in the outbox, in this transaction. ``version``: the aggregate's version after this change
        (1 for its first event), which becomes the event's sequence within ``subject``."""
        if version is not None and version < 1:
            raise ValueError("an aggregate's version starts at 1")
        self._pending.append((Envelope.wrap(data, subject), version))

    def flush(self) -> None:
        """Number the pending events and write them to the outbox (called by :meth:`Store.transact`)."""
        if not self._pending:
            return
        counted: dict[str, int] = {}
        for envelope, version in self._pending:
            if version is None:
                counted[envelope.subject] = counted.get(envelope.subject, 0) + 1
        next_number: dict[str, int] = {}
        for subject, n in counted.items():
            self.db[OUTBOX_HEADS].update_one({"_id": subject}, {"$inc": {"sequence": n}}, upsert=True,
                                             session=self.session)
            head = self.db[OUTBOX_HEADS].find_one({"_id": subject}, {"sequence": 1}, session=self.session)
            next_number[subject] = head["sequence"] - n + 1
        entries = []
        for envelope, version in self._pending:
            if version is None:
                version = next_number[envelope.subject]
                next_number[envelope.subject] += 1
            numbered = envelope.model_copy(update={"sequence": version})
            entries.append({"_id": numbered.id, "status": "pending", "subject": numbered.subject,
                            "sequence": version, "type": numbered.type,
                            "envelope": numbered.model_dump(mode="json"), "attempts": 0})
            self.emitted.append(numbered)
        self.db[OUTBOX].insert_many(entries, ordered=True, session=self.session)
        self._pending.clear()


class Store:
    """A service's database with the transaction helper."""

    def __init__(self, db: Database, on_commit: Callable[[list[Envelope]], None] | None = None, name: str = ""):
        self.db = db
        self.name = name or db.name
        self._on_commit = on_commit

    def __getitem__(self, name: str):
        return self.db[name]

    def transact(self, body: Callable[[Tx], T]) -> T:
        """Run ``body`` in a transaction (retried on transient errors) and return its result.

        Events emitted by the body are committed with its writes; after the
        commit the outbox relay is woken up.
        """
        last: list[Tx] = []

        def attempt(session: ClientSession) -> T:
            tx = Tx(self.db, session)
            last[:] = [tx]
            result = body(tx)
            tx.flush()
            return result

        with self.db.client.start_session() as session:
            result = session.with_transaction(attempt)
        if last and last[0].emitted and self._on_commit:
            self._on_commit(last[0].emitted)
        return result

    def ping(self) -> bool:
        self.db.command("ping")
        return True


class CapabilityStore:
    """Base of a capability's store (``services/<name>/<capability>/store.py``): every MongoDB query of the
    capability is a named method of the subclass, over the service's database. The base gives the transaction
    (``transact(body)``: body gets the :class:`Tx`, with ``emit``) and the audit log, which ``wenzhen.audit.record``
    appends to outside a transaction; nothing else of the raw database is reachable through it. ``keys`` encrypt
    and decrypt the capability's personal and clinical fields (the process's keyring unless a test gives its own)."""

    def __init__(self, db: Store, keys: Keyring | None = None) -> None:
        self.db = db
        self._keys = keys

    @property
    def keys(self) -> Keyring:
        return self._keys or keyring()

    def _on(self, tx: Tx | None):
        """The transaction when given (its snapshot and session), else the database."""
        return tx if tx is not None else self.db

    def transact(self, body: Callable[[Tx], T]) -> T:
        return self.db.transact(body)

    def __getitem__(self, name: str):
        if name != AUDIT_LOG:
            raise KeyError(f"{type(self).__name__}: a capability reaches {name!r} through its store's methods")
        return self.db[name]
