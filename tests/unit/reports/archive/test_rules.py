"""The archive's pure rules."""
from datetime import UTC, datetime

import pytest

from contracts.intake.events import PatientRegistered
from services.reports.archive import rules
from tests.people import user
from wenzhen.auth import Role
from wenzhen.errors import Forbidden
from wenzhen.events import Envelope

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_an_event_is_kept_whole_with_what_it_is_counted_and_searched_by():
    envelope = Envelope.wrap(PatientRegistered(patient_id="pat_1", sex="male", birth_year=1990), "pat_1")
    kept = rules.archived("intake", envelope, NOW)
    assert (kept["source"], kept["type"], kept["subject"], kept["received_at"]) == (
        "intake", "patient_registered", "pat_1", NOW)
    assert kept["envelope"] == envelope.model_dump(mode="json") and kept["time"] == envelope.time
    assert rules.count_key("intake", "patient_registered") == "intake.patient_registered"


def test_managers_read_the_counts_and_admins_the_checkpoints():
    rules.require_manager(user(Role.manager, "acc_m").principal)
    rules.require_admin(user(Role.admin, "acc_a").principal)
    with pytest.raises(Forbidden):
        rules.require_manager(user(Role.admin, "acc_a").principal)
    with pytest.raises(Forbidden):
        rules.require_admin(user(Role.manager, "acc_m").principal)
