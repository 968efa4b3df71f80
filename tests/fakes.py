"""An in-memory stand-in for :class:`wenzhen.storage.Store`, for unit tests only.

It keeps just enough of MongoDB's behaviour for the shared mechanics: unique
``_id``, all-or-nothing transactions (a body that raises leaves nothing behind).
"""
from __future__ import annotations

import copy

from pymongo.errors import DuplicateKeyError


class FakeCollection:
    def __init__(self):
        self.docs: dict = {}

    def insert_one(self, doc, session=None):
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
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


class FakeTx:
    def __init__(self, collections):
        self.collections = collections
        self.emitted = []

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection())


class FakeStore:
    def __init__(self):
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection())

    def transact(self, body):
        staged = copy.deepcopy(self.collections)
        result = body(FakeTx(staged))  # raises -> nothing is kept
        self.collections.clear()
        self.collections.update(staged)
        return result
