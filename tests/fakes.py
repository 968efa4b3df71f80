"""An in-memory stand-in for :class:`wenzhen.storage.Store`, for unit tests only.

It keeps just enough of MongoDB's behaviour for the domain rules and the shared
mechanics: unique ``_id`` and the *unique* indexes a service declares (compound,
sparse and partial ones: pass ``domain.INDEXES``); queries by equality on plain
and dotted fields (``None`` also matches a missing field, an array matches any of
its elements), ``$in``/``$ne``/``$gt``/``$gte``/``$lt``/``$lte`` and ``$or``;
inclusion projections; ``sort``/``limit``; ``bulk_write`` of ``UpdateOne``s; the update operators ``$set``,
``$inc`` and ``$setOnInsert`` (upserts too); all-or-nothing transactions (a body
that raises leaves nothing behind). Anything else raises UnsupportedByFake
rather than pretending: what needs more of MongoDB belongs in the integration tests.
"""
from __future__ import annotations

import copy
import operator
from types import SimpleNamespace

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

_MISSING = object()


def _get(doc, path: str):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


def _equals(value, wanted) -> bool:
    if value is _MISSING:
        return wanted is None
    if isinstance(value, list) and not isinstance(wanted, list):
        return wanted in value
    return value == wanted


def _compare(op):
    def check(value, arg) -> bool:
        if value is _MISSING or value is None:
            return False
        try:
            return op(value, arg)
        except TypeError:  # MongoDB compares values of one type only
            return False
    return check


_OPERATORS = {
    "$in": lambda value, arg: any(_equals(value, item) for item in arg),
    "$ne": lambda value, arg: not _equals(value, arg),
    "$gt": _compare(operator.gt), "$gte": _compare(operator.ge),
    "$lt": _compare(operator.lt), "$lte": _compare(operator.le),
}


def _is_operators(cond) -> bool:
    return isinstance(cond, dict) and bool(cond) and all(key.startswith("$") for key in cond)


def matches(doc: dict, query: dict | None) -> bool:
    for key, cond in (query or {}).items():
        if key == "$or":
            if not any(matches(doc, branch) for branch in cond):
                return False
        elif key.startswith("$"):
            raise UnsupportedByFake(f"FakeCollection: query operator {key}")
        elif _is_operators(cond):
            for op, arg in cond.items():
                if op not in _OPERATORS:
                    raise UnsupportedByFake(f"FakeCollection: query operator {op}")
                if not _OPERATORS[op](_get(doc, key), arg):
                    return False
        elif not _equals(_get(doc, key), cond):
            return False
    return True


def _project(doc: dict, projection: dict | None) -> dict:
    doc = copy.deepcopy(doc)
    if not projection:
        return doc
    if not all(on for name, on in projection.items() if name != "_id"):
        raise UnsupportedByFake("FakeCollection: exclusion projections")
    kept = {name: doc[name] for name in projection if name != "_id" and name in doc}
    if projection.get("_id", 1):
        kept["_id"] = doc["_id"]
    return kept


def _set(doc: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = copy.deepcopy(value)


def _apply(doc: dict, update: dict, inserting: bool) -> None:
    for op, fields in update.items():
        if op == "$set" or (op == "$setOnInsert" and inserting):
            for path, value in fields.items():
                _set(doc, path, value)
        elif op == "$inc":
            for path, n in fields.items():
                current = _get(doc, path)
                _set(doc, path, (0 if current is _MISSING else current) + n)
        elif op != "$setOnInsert":
            raise UnsupportedByFake(f"FakeCollection: update operator {op}")


def _index_entry(index, doc: dict) -> list | None:
    """What a unique index holds for ``doc``, or None when it does not cover it (sparse, partial)."""
    partial = index.options.get("partialFilterExpression")
    if partial is not None and not matches(doc, partial):
        return None
    values = [_get(doc, name) for name, _ in index.keys]
    if index.options.get("sparse") and all(v is _MISSING for v in values):
        return None
    return [None if v is _MISSING else v for v in values]



class UnsupportedByFake(Exception):
    """The fake does not imitate this MongoDB feature: the test belongs with the integration tests."""

class FakeCursor(list):
    """What ``find`` returns: the documents, with pymongo's ``sort`` and ``limit``."""

    def sort(self, key, direction: int = 1):
        for name, order in reversed([(key, direction)] if isinstance(key, str) else list(key)):
            def rank(doc, name=name):  # null and missing sort first, as in MongoDB
                value = _get(doc, name)
                return (0, None) if value is _MISSING or value is None else (1, value)
            list.sort(self, key=rank, reverse=order < 0)  # stable: least significant key first
        return self

    def limit(self, n: int):
        if n:
            del self[n:]
        return self


class FakeCollection:
    """``unique``: the :class:`wenzhen.storage.Index` declarations to enforce."""

    def __init__(self, unique=()):
        self.docs: dict = {}
        self.unique = list(unique)

    def _check_unique(self, doc: dict) -> None:
        for index in self.unique:
            mine = _index_entry(index, doc)
            if mine is not None and any(other["_id"] != doc["_id"] and _index_entry(index, other) == mine
                                        for other in self.docs.values()):
                raise DuplicateKeyError(f"E11000 duplicate key error: index {index.name or index.keys}")

    def insert_one(self, doc, session=None):
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"E11000 duplicate key error: _id {doc['_id']}")
        self._check_unique(doc)
        self.docs[doc["_id"]] = copy.deepcopy(doc)
        return SimpleNamespace(inserted_id=doc["_id"])

    def _update(self, query, update, upsert: bool) -> tuple[dict | None, dict | None]:
        """The stored document before and after the update (None, new one: upserted; None, None: no match)."""
        found = next((d for d in self.docs.values() if matches(d, query)), None)
        if found is None:
            if not upsert:
                return None, None
            new = {}
            for path, value in query.items():
                if not path.startswith("$") and not _is_operators(value):
                    _set(new, path, value)
            if "_id" not in new:
                raise UnsupportedByFake("FakeCollection: an upsert without _id in its query")
            _apply(new, update, inserting=True)
            self.insert_one(new)
            return None, copy.deepcopy(new)
        after = copy.deepcopy(found)
        _apply(after, update, inserting=False)
        self._check_unique(after)
        self.docs[found["_id"]] = after
        return copy.deepcopy(found), copy.deepcopy(after)

    def update_one(self, query, update, upsert=False, session=None):
        before, after = self._update(query, update, upsert)
        return SimpleNamespace(matched_count=int(before is not None), modified_count=int(before not in (None, after)),
                               upserted_id=after["_id"] if before is None and after else None)

    def bulk_write(self, requests, ordered=True, session=None):
        """``UpdateOne`` requests only (each applied as ``update_one``); other kinds are not imitated."""
        upserted = 0
        for request in requests:
            if not isinstance(request, UpdateOne):
                raise UnsupportedByFake(f"FakeCollection: bulk {type(request).__name__}")
            doc = request._doc
            upserted += self.update_one(request._filter, doc, upsert=bool(request._upsert)).upserted_id is not None
        return SimpleNamespace(upserted_count=upserted)

    def find_one_and_update(self, query, update, projection=None, upsert=False,
                            return_document=ReturnDocument.BEFORE, session=None):
        before, after = self._update(query, update, upsert)
        chosen = after if return_document == ReturnDocument.AFTER else before
        return None if chosen is None else _project(chosen, projection)

    def find(self, query=None, projection=None, session=None):
        return FakeCursor(_project(d, projection) for d in self.docs.values() if matches(d, query))

    def find_one(self, query=None, projection=None, session=None):
        found = self.find(query, projection)
        return found[0] if found else None


class FakeTx:
    def __init__(self, collections, emitted, unique=None):
        self.collections = collections
        self.emitted = emitted
        self.unique = unique or {}

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection(self.unique.get(name, ())))

    def emit(self, data, subject):
        self.emitted.append((subject, data))


class FakeStore:
    """``indexes``: a service's declared indexes (e.g. ``domain.INDEXES``); its unique ones are enforced."""

    def __init__(self, indexes=()):
        self.unique: dict[str, list] = {}
        for index in indexes:
            if index.unique:
                self.unique.setdefault(index.collection, []).append(index)
        self.collections: dict[str, FakeCollection] = {}
        self.emitted: list = []

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection(self.unique.get(name, ())))

    def transact(self, body):
        staged, emitted = copy.deepcopy(self.collections), []
        result = body(FakeTx(staged, emitted, self.unique))  # raises -> nothing is kept
        self.collections.clear()
        self.collections.update(staged)
        self.emitted.extend(emitted)
        return result

    def ping(self):
        return True


# the per-capability fakes (issue 11): a capability's use cases over its store's named methods ---------------------
class RecordingTx:
    """What a use case's transaction body sees in a unit test: ``emit`` and the audit log, recorded."""

    def __init__(self) -> None:
        self.emitted: list = []
        self.audited: list[dict] = []

    def emit(self, data, subject):
        self.emitted.append((subject, data))

    def __getitem__(self, name):
        from wenzhen.storage import AUDIT_LOG

        if name != AUDIT_LOG:
            raise UnsupportedByFake(f"a use case reaches {name!r} through its store's methods, not the transaction")
        return SimpleNamespace(insert_one=self.audited.append)


class FakeCapabilityStore:
    """Base of ``tests/unit/<service>/<capability>/fakes.py``: subclasses keep their state in attributes (dicts and
    lists) and implement the capability store's named methods over them. ``transact`` runs the body with a
    :class:`RecordingTx` and puts the state back when the body raises (all or nothing, like the real one);
    ``emitted`` and ``audited`` collect what committed bodies emitted and audited (and reads audit outside one)."""

    _RECORDS = ("emitted", "audited")

    def __init__(self) -> None:
        self.emitted: list = []
        self.audited: list[dict] = []

    def transact(self, body):
        saved = copy.deepcopy({k: v for k, v in vars(self).items() if k not in self._RECORDS})
        tx = RecordingTx()
        try:
            result = body(tx)
        except BaseException:
            vars(self).update(saved)
            raise
        self.emitted.extend(tx.emitted)
        self.audited.extend(tx.audited)
        return result

    def __getitem__(self, name):
        from wenzhen.storage import AUDIT_LOG

        if name != AUDIT_LOG:
            raise UnsupportedByFake(f"a use case reaches {name!r} through its store's methods")
        return SimpleNamespace(insert_one=self.audited.append)

    def events(self, kind) -> list:
        """The data of the committed events of one type."""
        return [data for _subject, data in self.emitted if isinstance(data, kind)]
