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
