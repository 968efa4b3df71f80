"""The per-capability fake stores' base: all or nothing, events and audit recorded, no raw database."""
import pytest


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
