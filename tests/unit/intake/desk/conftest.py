"""The desk's use cases over in-memory stores: the desk's own, and the patients' and triage's behind their narrow
interfaces. The clock is explicit: a Monday, 10:00 in the hospital's zone (the day shift is on duty)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from contracts.intake.consultations import ConsultationOpen, RosterEntry
from contracts.intake.patients import PatientRegistration
from services.intake.desk import sla, usecases
from services.intake.desk.rules import DeskPolicy
from services.intake.desk.usecases import Desk
from services.intake.patients import usecases as patients
from services.intake.patients.usecases import PatientAccess
from services.intake.triage.usecases import TriageRules
from tests.people import user
from tests.unit.intake.desk.fakes import FakeDeskStore
from tests.unit.intake.patients.fakes import FakePatientStore
from tests.unit.intake.triage.fakes import FakeRuleTableStore
from wenzhen.auth import Caller, Role

MONDAY_10 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
NIGHT = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 00:00 on Tuesday: no shift on duty
POLICY = DeskPolicy(service_levels=sla.Policy(accept_seconds=25, answer_seconds=60, unattended_seconds=120),
                    skill_wait_seconds=15, transcript_retention=timedelta(days=1096), attachment_max_bytes=1_000_000)

LEAD = user(Role.team_lead, "acc_01HZZZZZZZZZZZZZZZZZZZZZL1")
CONSULTANT = user(Role.consultant, "acc_01HZZZZZZZZZZZZZZZZZZZZZC1")
COLLEAGUE = user(Role.consultant, "acc_01HZZZZZZZZZZZZZZZZZZZZZC2")
PATIENT = user(Role.patient, "acc_01HZZZZZZZZZZZZZZZZZZZZZP1")
DOCTOR = user(Role.doctor, "acc_01HZZZZZZZZZZZZZZZZZZZZZD1")


def visitor(sub: str = "vis_1") -> Caller:
    return user(Role.visitor, sub)


@dataclass
class World:
    desk: Desk
    store: FakeDeskStore
    people: FakePatientStore
    rules: FakeRuleTableStore

    def on_desk(self, who: Caller, *, skills: list[str] | None = None, max_chats: int = 5,
                available: bool = True) -> None:
        self.store.put_roster(who.principal.sub, RosterEntry(skills=skills or [], max_chats=max_chats), "lead")
        self.store.roster[who.principal.sub]["available"] = available

    def open(self, caller: Caller, text: str = "你好，想问问挂号的事", at: datetime = MONDAY_10, **fields):
        return usecases.open_consultation(self.desk, caller, ConsultationOpen(message=text, **fields), at)

    def patient(self, caller: Caller = CONSULTANT, name: str = "王秀英", **fields) -> str:
        registration = PatientRegistration.model_validate({"name": name, "sex": "female", "birth_date": "1960-01-02",
                                                           "phone": "13812345678", **fields})
        return patients.register_patient(self.people, caller, registration, MONDAY_10 - timedelta(hours=1)).id

    def events(self, kind) -> list:
        return self.store.events(kind)

    def audited(self, **match) -> list[dict]:
        return [e for e in self.store.audited if all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def world() -> World:
    store, people, tables = FakeDeskStore(), FakePatientStore(), FakeRuleTableStore()
    desk = Desk(store=store, patients=PatientAccess(people), triage=TriageRules(tables), policy=POLICY)
    return World(desk, store, people, tables)
