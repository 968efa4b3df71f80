"""The in-memory store behaves like MongoDB where the unit tests rely on it, and refuses to pretend elsewhere."""
import pytest
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from tests.fakes import FakeStore, UnsupportedByFake
from wenzhen.storage import Index


def test_queries_follow_mongodb_for_null_arrays_dotted_fields_and_or():
    col = FakeStore()["c"]
    col.insert_one({"_id": 1, "until": None, "tags": ["a", "b"], "identity": {"status": "verified"}})
    col.insert_one({"_id": 2, "tags": [], "identity": {"status": "unverified"}, "n": 5})
    assert [d["_id"] for d in col.find({"until": None})] == [1, 2]  # null matches a missing field too
    assert [d["_id"] for d in col.find({"tags": "b"})] == [1]
    assert [d["_id"] for d in col.find({"identity.status": "unverified"})] == [2]
    assert [d["_id"] for d in col.find({"$or": [{"n": {"$gt": 4}}, {"tags": "a"}]})] == [1, 2]
    assert [d["_id"] for d in col.find({"n": {"$lt": 10}})] == [2]  # a missing field is not less than 10
    assert [d["_id"] for d in col.find({"_id": {"$in": [2, 3]}})] == [2]
    assert col.find_one({"_id": 1}, {"tags": 1}) == {"_id": 1, "tags": ["a", "b"]}


def test_reads_are_copies():
    col = FakeStore()["c"]
    col.insert_one({"_id": 1, "tags": ["a"]})
    col.find_one({"_id": 1})["tags"].append("b")
    col.find()[0]["tags"].append("c")
    assert col.docs[1]["tags"] == ["a"]


def test_updates_and_upserts():
    col = FakeStore()["c"]
    assert col.find_one_and_update({"_id": "k"}, {"$inc": {"n": 1}, "$setOnInsert": {"since": 0}}, upsert=True,
                                   return_document=ReturnDocument.AFTER) == {"_id": "k", "n": 1, "since": 0}
    before = col.find_one_and_update({"_id": "k"}, {"$inc": {"n": 1}, "$setOnInsert": {"since": 9},
                                                    "$set": {"a.b": 2}})
    assert before == {"_id": "k", "n": 1, "since": 0} and col.docs["k"] == {"_id": "k", "n": 2, "since": 0,
                                                                             "a": {"b": 2}}
    result = col.update_one({"_id": "missing"}, {"$set": {"x": 1}})
    assert result.matched_count == 0 and "missing" not in col.docs


def test_sort_and_limit():
    col = FakeStore()["c"]
    for i, n in enumerate([3, None, 1, 2]):
        col.insert_one({"_id": i, "n": n})
    assert [d["n"] for d in col.find().sort("n")] == [None, 1, 2, 3]
    assert [d["n"] for d in col.find().sort("n", -1).limit(2)] == [3, 2]


def test_unique_indexes_as_declared_with_sparse_and_partial_ones():
    store = FakeStore(indexes=[Index("c", [("doc", ASCENDING)], unique=True, options={"sparse": True}),
                               Index("c", [("a", ASCENDING), ("b", ASCENDING)], unique=True,
                                     options={"partialFilterExpression": {"live": True}}),
                               Index("c", [("plain", ASCENDING)])])  # not unique: not enforced
    col = store["c"]
    col.insert_one({"_id": 1, "a": 1, "b": 1, "live": True, "plain": 1})
    col.insert_one({"_id": 2, "a": 1, "b": 1, "live": False, "plain": 1})  # outside the partial index
    col.insert_one({"_id": 3, "a": 1, "b": 2, "live": True})  # another compound key
    with pytest.raises(DuplicateKeyError):
        col.insert_one({"_id": 4, "a": 1, "b": 1, "live": True})
    col.update_one({"_id": 1}, {"$set": {"doc": "x"}})
    with pytest.raises(DuplicateKeyError):  # updates are checked too
        col.update_one({"_id": 2}, {"$set": {"doc": "x"}})
    with pytest.raises(DuplicateKeyError):
        col.insert_one({"_id": 1})


def test_what_the_fake_does_not_model_is_refused_not_faked():
    col = FakeStore()["c"]
    col.insert_one({"_id": 1, "tags": []})
    for query in ({"tags": {"$size": 0}}, {"$and": [{"_id": 1}]}, {"$where": "true"}):
        with pytest.raises(UnsupportedByFake):
            col.find(query)
    with pytest.raises(UnsupportedByFake):
        col.update_one({"_id": 1}, {"$push": {"tags": "a"}})
    with pytest.raises(UnsupportedByFake):
        col.find({}, {"tags": 0})
    with pytest.raises(UnsupportedByFake):
        col.update_one({"name": "x"}, {"$set": {"n": 1}}, upsert=True)


def test_a_transaction_that_raises_leaves_nothing_behind():
    store = FakeStore()

    def body(tx):
        tx["c"].insert_one({"_id": 1})
        tx.emit("event", subject="s")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.transact(body)
    assert store["c"].docs == {} and store.emitted == []


def test_a_capability_fake_keeps_all_or_nothing_and_records_events_and_audit():
    from tests.fakes import FakeCapabilityStore, UnsupportedByFake
    from wenzhen.storage import AUDIT_LOG

    class Fake(FakeCapabilityStore):
        def __init__(self):
            super().__init__()
            self.rows: dict[str, int] = {}

    fake = Fake()

    def ok(tx):
        fake.rows["a"] = 1
        tx.emit("created", subject="a")
        tx[AUDIT_LOG].insert_one({"entity_id": "a"})

    def fails(tx):
        fake.rows["b"] = 2
        tx.emit("lost", subject="b")
        raise RuntimeError("boom")

    fake.transact(ok)
    with pytest.raises(RuntimeError):
        fake.transact(fails)
    assert fake.rows == {"a": 1} and fake.emitted == [("a", "created")] and fake.audited == [{"entity_id": "a"}]
    with pytest.raises(UnsupportedByFake):
        fake.transact(lambda tx: tx["slots"])
