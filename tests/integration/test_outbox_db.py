"""Numbering events within their subject, in the real database: by the aggregate's version when the caller has one,
else by a per-subject counter taken once per transaction."""
import pytest

from contracts.intake.events import PatientLinkRemoved, PatientRegistered
from wenzhen.storage import OUTBOX

pytestmark = pytest.mark.integration


def registered(patient: str = "pat_1") -> PatientRegistered:
    return PatientRegistered(patient_id=patient, sex="female", birth_year=1990)


def sequences(store, subject: str) -> list[tuple[int, str]]:
    return [(e["sequence"], e["type"]) for e in store[OUTBOX].find({"subject": subject}).sort("sequence", 1)]


def test_events_of_one_subject_are_numbered_in_order_across_transactions(db_store):
    def two(tx):
        tx.emit(registered(), "pat_1")
        tx.emit(PatientLinkRemoved(link_id="lnk_1", account_id="acc_1", patient_id="pat_1"), "pat_1")
        tx.emit(registered("pat_2"), "pat_2")

    db_store.transact(two)
    db_store.transact(lambda tx: tx.emit(registered(), "pat_1"))
    assert sequences(db_store, "pat_1") == [(1, "patient_registered"), (2, "patient_link_removed"),
                                            (3, "patient_registered")]
    assert sequences(db_store, "pat_2") == [(1, "patient_registered")]


def test_the_aggregate_s_version_is_the_sequence_and_touches_no_counter(db_store):
    db_store.transact(lambda tx: tx.emit(registered("pat_9"), "pat_9", version=7))
    assert sequences(db_store, "pat_9") == [(7, "patient_registered")]
    assert db_store["outbox_heads"].find_one({"_id": "pat_9"}) is None
    with pytest.raises(ValueError):
        db_store.transact(lambda tx: tx.emit(registered("pat_9"), "pat_9", version=0))


def test_a_body_that_fails_leaves_no_event_and_no_number_used(db_store):
    def fails(tx):
        tx.emit(registered("pat_5"), "pat_5")
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db_store.transact(fails)
    db_store.transact(lambda tx: tx.emit(registered("pat_5"), "pat_5"))
    assert sequences(db_store, "pat_5") == [(1, "patient_registered")]


def test_documents_stored_before_versions_continue_their_subjects_count(db_store):
    """booking's upgrade: an appointment stored when its events were counted in outbox_heads gets that count as its
    version, once (run_upgrades remembers it), so the next event follows the last one published."""
    from services.booking.appointments.store import APPOINTMENTS, UPGRADES
    from wenzhen.storage import OUTBOX_HEADS, run_upgrades
    from wenzhen.storage import UPGRADES as DONE

    db = db_store.db
    db[APPOINTMENTS].insert_many([{"_id": "apt_old", "status": "confirmed"}, {"_id": "apt_quiet"},
                                  {"_id": "apt_new", "version": 5}])
    db[OUTBOX_HEADS].insert_one({"_id": "apt_old", "sequence": 3})
    run_upgrades(db, UPGRADES)
    assert {d["_id"]: d["version"] for d in db[APPOINTMENTS].find()} == {"apt_old": 3, "apt_quiet": 0, "apt_new": 5}
    assert db[DONE].count_documents({}) == 1
    db[APPOINTMENTS].insert_one({"_id": "apt_later"})  # stored by an older process after the upgrade: not revisited
    run_upgrades(db, UPGRADES)
    assert "version" not in db[APPOINTMENTS].find_one({"_id": "apt_later"})
