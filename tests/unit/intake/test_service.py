"""intake's service classes: what they are made of, the desk's own deployable, the settings read once, and the
entrypoints' contract (arguments validated from their type hints, naming the field)."""
from __future__ import annotations

import inspect

import pytest
from nameko.rpc import Rpc
from nameko.testing.services import worker_factory

from services import service_class
from services.intake import service
from services.intake.complaints.entrypoints import ComplaintLoop
from services.intake.desk.entrypoints import DeskRunner
from services.intake.patients.entrypoints import PatientEntrypoints
from services.intake.settings import IntakeSettings
from tests.people import user
from tests.unit.intake.patients.fakes import FakePatientStore
from wenzhen.auth import Role
from wenzhen.config import Settings
from wenzhen.errors import InvalidInput, NotFound

CONSULTANT = user(Role.consultant, "acc_cons1")
INTAKE_VARIABLES = {"CONSULT_ACCEPT_SECONDS", "CONSULT_ANSWER_SECONDS", "CONSULT_UNATTENDED_SECONDS",
                    "CONSULT_SKILL_WAIT_SECONDS", "DESK_POLL_INTERVAL", "TRANSCRIPT_RETENTION_DAYS",
                    "ATTACHMENT_MAX_BYTES"}


def rpcs(cls) -> set[str]:
    return {name for name, member in inspect.getmembers(cls)
            if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ()))}


def providers(cls, kind) -> list:
    return [member for _, member in inspect.getmembers(cls) if isinstance(member, kind)]


def test_intake_is_five_capabilities_and_their_two_loops():
    assert service_class("intake") is service.IntakeService
    assert service.IntakeService.settings_class is IntakeSettings
    assert [p.enabled for p in providers(service.IntakeService, DeskRunner)] == [True]
    assert len(providers(service.IntakeService, ComplaintLoop)) == 1
    names = {index.name for index in service.IntakeService.indexes}
    assert {"by_phone", "queue", "unique_table_version", "one_live_profile", "by_status_due"} <= names


def test_the_desk_loop_runs_as_a_process_of_its_own_beside_the_rest():
    desk, rest = service.IntakeDesk, service.IntakeBesideDesk
    assert service_class("intake", ("only", "desk")) is desk and service_class("intake", ("without", "desk")) is rest
    assert desk.name == rest.name == "intake"  # intake's database, intake's events
    assert rpcs(desk) == set()  # it answers no RPC, so it does not take intake's RPC messages
    assert [p.enabled for p in providers(desk, DeskRunner)] == [True] and not providers(desk, ComplaintLoop)
    assert rpcs(rest) == rpcs(service.IntakeService)  # every RPC stays with the rest
    assert [p.enabled for p in providers(rest, DeskRunner)] == [False] and providers(rest, ComplaintLoop)
    with pytest.raises(LookupError):
        service_class("intake", ("only", "complaints"))


def test_intakes_settings_are_its_own_read_once_and_checked():
    assert set(IntakeSettings.variables()) == INTAKE_VARIABLES
    assert not INTAKE_VARIABLES & set(Settings.variables())  # no longer the mechanics'
    own = IntakeSettings.from_env({"CONSULT_ACCEPT_SECONDS": "8", "DESK_POLL_INTERVAL": "0.2",
                                   "TRANSCRIPT_RETENTION_DAYS": "1200"})
    policy = own.desk
    assert policy.service_levels.accept_seconds == 8 and policy.poll_interval == 0.2
    assert policy.transcript_retention.days == 1200 and policy.skill_wait_seconds == 15
    assert IntakeSettings().desk.attachment_max_bytes == 10_485_760
    with pytest.raises(InvalidInput) as info:
        IntakeSettings(consult_unattended_seconds=10).check()  # shorter than the accept limit
    assert info.value.errors[0]["field"] == "unattended_seconds"


def test_an_rpc_validates_its_arguments_naming_the_field_and_a_refused_read_is_audited(monkeypatch):
    fake = FakePatientStore()
    monkeypatch.setattr(PatientEntrypoints, "patients", property(lambda self: fake))
    worker = worker_factory(service.IntakeService, caller=CONSULTANT)
    with pytest.raises(InvalidInput) as info:
        worker.register_patient({"name": "x", "sex": "male", "birth_date": "1985-04-12", "phone": "1"})
    assert [e["field"] for e in info.value.errors] == ["phone"] and fake.records == {}
    registered = worker.register_patient({"name": "张三", "sex": "male", "birth_date": "1985-04-12",
                                          "phone": "13812345678"})
    assert registered["name"] == "张三" and registered["birth_date"] == "1985-04-12"  # dumped as JSON
    assert worker.get_patient(registered["id"]) == registered
    with pytest.raises(NotFound):
        worker.get_patient("pat_missing")
    denied = [e for e in fake.audited if e["outcome"] == "denied"]
    assert [(e["entity_id"], e["agent_id"]) for e in denied] == [("pat_missing", "acc_cons1")]
