"""The audit trail's entries in the real database: kept with their transaction, searched by its filters."""
import pytest

from wenzhen import audit
from wenzhen.audit import AuditQuery
from wenzhen.auth import Caller, Principal, PurposeOfUse, Role
from wenzhen.storage import AUDIT_LOG

pytestmark = pytest.mark.integration

DOCTOR = Caller(principal=Principal.user("acc_d", Role.doctor, sid="ses_1"), purpose=PurposeOfUse.ETREAT,
                origin_ip="203.0.113.5", request_id="req_1")


def test_record_in_a_transaction_is_kept_only_if_the_transaction_is(db_store):
    store = db_store
    store.transact(lambda tx: audit.record(tx, DOCTOR, audit.UPDATE, "update", "Patient", "pat_1"))

    def failing(tx):
        audit.record(tx, DOCTOR, audit.UPDATE, "update", "Patient", "pat_2")
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        store.transact(failing)
    assert [e["entity_id"] for e in store[AUDIT_LOG].find({})] == ["pat_1"]


def test_a_patient_leaves_out_their_own_entries(db_store):
    query = AuditQuery(patient_id="pat_1", exclude_agent_id="acc_p")
    assert query.mongo_filter() == {"patient_id": "pat_1", "agent_id": {"$ne": "acc_p"}}
    store = db_store
    for caller in (Caller(principal=Principal.user("acc_p", Role.patient)), DOCTOR, Caller.service("notify")):
        audit.record(store, caller, audit.READ, "read", "Patient", "pat_1", patient_id="pat_1")
    audit.record(store, DOCTOR, audit.READ, "read", "Patient", "pat_2", patient_id="pat_2")
    found = store[AUDIT_LOG].find(query.mongo_filter())
    assert sorted(e["agent_id"] for e in found) == ["acc_d", "notify"]


def test_reads_are_audited_by_group_commit_and_each_returns_only_once_its_entry_is_stored(db_store):
    import threading

    ids, barrier = [], threading.Barrier(24)

    def read(n: int) -> None:
        barrier.wait()
        entry_id = audit.record(db_store, DOCTOR, audit.READ, "read", "Patient", f"pat_{n}", patient_id=f"pat_{n}")
        assert db_store[AUDIT_LOG].find_one({"_id": entry_id}) is not None  # stored before record() returned
        ids.append(entry_id)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ids) == 24 and db_store[AUDIT_LOG].count_documents({"_id": {"$in": ids}}) == 24


def test_an_entry_that_cannot_be_stored_fails_the_read(db_store):
    from pymongo.errors import BulkWriteError

    entry_id = audit.record(db_store, DOCTOR, audit.READ, "read", "Patient", "pat_1", patient_id="pat_1")
    original = audit.ids.new_id
    audit.ids.new_id = lambda prefix: entry_id  # the same id again: the database refuses it
    try:
        with pytest.raises(BulkWriteError):
            audit.record(db_store, DOCTOR, audit.READ, "read", "Patient", "pat_1", patient_id="pat_1")
    finally:
        audit.ids.new_id = original


def test_the_sealer_chains_only_what_waits_in_its_queue(db_store):
    from wenzhen.storage import AUDIT_HEAD

    key = bytes(range(32))
    for n in range(5):
        audit.record(db_store, DOCTOR, audit.READ, "read", "Patient", f"pat_{n}", patient_id=f"pat_{n}")
    assert audit.seal(db_store, key) == 5 and audit.seal(db_store, key) == 0
    assert db_store[AUDIT_HEAD].find_one({"_id": audit.HEAD_ID})["seq"] == 5
    plan = db_store[AUDIT_LOG].find({"sealed": False}).sort("_id", 1).limit(200).explain()["queryPlanner"]
    assert "unsealed_queue" in str(plan["winningPlan"])  # the partial index: its size is what waits, not history
    assert audit.verify(db_store.db, key, "mechanics").intact
