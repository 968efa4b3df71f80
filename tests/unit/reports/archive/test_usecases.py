"""The archive's use cases over an in-memory store, and its handlers: one per service, each keeping that service's
events as ``rules.archived`` makes them."""
import pytest

from contracts.identity.events import AccountRegistered
from contracts.intake.events import PatientRegistered
from services import service_class
from services.reports.archive import usecases
from tests.people import user
from tests.unit.reports.archive.fakes import FakeArchiveStore
from wenzhen.audit import CHECKPOINTS
from wenzhen.auth import Role
from wenzhen.config import SERVICES
from wenzhen.errors import Forbidden
from wenzhen.events import Envelope

MANAGER, ADMIN = user(Role.manager, "acc_m"), user(Role.admin, "acc_a")


@pytest.fixture
def store() -> FakeArchiveStore:
    fake = FakeArchiveStore()
    reports = service_class("reports")
    for source, event, subject in (("intake", PatientRegistered(patient_id="pat_1", sex="male", birth_year=1990),
                                    "pat_1"),
                                   ("intake", PatientRegistered(patient_id="pat_2", sex="female", birth_year=1991),
                                    "pat_2"),
                                   ("identity", AccountRegistered(account_id="acc_1"), "acc_1"),
                                   ("booking", CHECKPOINTS["booking"](seq=7, hash="a" * 64), "chain"),
                                   ("booking", CHECKPOINTS["booking"](seq=9, hash="b" * 64), "chain")):
        envelope = Envelope.wrap(event, subject)
        handler = getattr(reports, f"archive_{source}").__wrapped__  # what the service's handler keeps
        fake.keep(envelope.id, handler(None, envelope))
        fake.keep(envelope.id, handler(None, envelope))  # a redelivery is kept once
    return fake


def test_every_service_s_events_have_an_archiving_handler():
    assert {f"archive_{name}" for name in SERVICES} <= set(dir(service_class("reports")))


def test_managers_count_events_by_service_and_type(store):
    assert usecases.event_counts(store, MANAGER) == {"intake.patient_registered": 2, "identity.account_registered": 1,
                                                     "booking.audit_chain_sealed": 2}
    with pytest.raises(Forbidden):
        usecases.event_counts(store, ADMIN)


def test_admins_get_each_service_s_newest_checkpoint(store):
    assert usecases.audit_checkpoints(store, ADMIN) == {"booking": {"seq": 9, "hash": "b" * 64}}
    with pytest.raises(Forbidden):
        usecases.audit_checkpoints(store, MANAGER)
