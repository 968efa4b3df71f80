"""An in-memory stand-in for :class:`wenzhen.storage.Store`, for unit tests only.

It keeps just enough of MongoDB's behaviour for the shared mechanics: unique
``_id``, all-or-nothing transactions (a body that raises leaves nothing behind).
"""
from __future__ import annotations

import copy

from pymongo.errors import DuplicateKeyError


class FakeCollection:
    def __init__(self, unique: tuple[str, ...] = ()):
        self.docs: dict = {}
        self.unique = unique

    def insert_one(self, doc, session=None):
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        for field in self.unique:
            if any(d.get(field) == doc.get(field) for d in self.docs.values()):
                raise DuplicateKeyError(f"duplicate {field}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    def update_one(self, query, update, upsert=False, session=None):
        key = query["_id"]
        doc = self.docs.get(key)
        if doc is None:
            if not upsert:
                return
            doc = {"_id": key, **update.get("$setOnInsert", {})}
        doc.update(update.get("$set", {}))
        for field, n in update.get("$inc", {}).items():
            doc[field] = doc.get(field, 0) + n
        self.docs[key] = doc

    def find(self, query=None):
        return [d for d in self.docs.values() if all(d.get(k) == v for k, v in (query or {}).items())]

    def find_one(self, query=None):
        found = self.find(query)
        return copy.deepcopy(found[0]) if found else None


class FakeTx:
    def __init__(self, collections, emitted):
        self.collections = collections
        self.emitted = emitted

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection())

    def emit(self, data, subject):
        self.emitted.append((subject, data))


class FakeStore:
    """``unique`` maps a collection to the fields its unique indexes cover."""

    def __init__(self, unique: dict[str, tuple[str, ...]] | None = None):
        self.collections: dict[str, FakeCollection] = {
            name: FakeCollection(fields) for name, fields in (unique or {}).items()}
        self.emitted: list = []

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection())

    def transact(self, body):
        staged, emitted = copy.deepcopy(self.collections), []
        result = body(FakeTx(staged, emitted))  # raises -> nothing is kept
        self.collections.clear()
        self.collections.update(staged)
        self.emitted.extend(emitted)
        return result

    def ping(self):
        return True
