"""Rule tables over an in-memory store: versions published by managers, history, validation, concurrent publishing,
and what the desk asks of triage (``TriageRules``)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.intake.events import RuleTablePublished
from services.intake.triage import redflags, usecases
from services.intake.triage.advice import DEFAULT_TRIAGE_RULES, recommend_departments
from services.intake.triage.redflags import DEFAULT_RED_FLAGS
from tests.people import user
from tests.unit.intake.triage.fakes import FakeRuleTableStore
from tests.unit.intake.triage.test_rules import RED_FLAGS, TRIAGE
from wenzhen.auth import Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
MANAGER = user(Role.manager, "acc_m1")
OTHER_MANAGER = user(Role.manager, "acc_m2")


@pytest.fixture
def store() -> FakeRuleTableStore:
    return FakeRuleTableStore()


def publish(store, table, items, caller=MANAGER, note=None, **kwargs):
    return usecases.publish(store, caller, table, items, note, NOW, **kwargs)


def fields(info) -> list[str]:
    return [error["field"] for error in info.value.errors]


def test_before_anything_is_published_the_defaults_are_in_force(store):
    triage = usecases.current(store, "triage")
    assert triage.table_version == 0 and triage.rules == DEFAULT_TRIAGE_RULES and triage.published_by is None
    assert usecases.current(store, "red_flags").rules == DEFAULT_RED_FLAGS
    assert usecases.history(store, "red_flags") == [] and store.versions == {}


def test_a_manager_publishes_a_new_version(store):
    table = publish(store, "triage", TRIAGE, note="  男科单独成科 ")
    assert table.table == "triage" and table.table_version == 1
    assert [r.department for r in table.rules] == ["urology", "ent", "dermatology", "andrology"]
    assert table.published_by == "acc_m1" and table.note == "男科单独成科" and table.published_at == NOW
    assert store.emitted == [("rules-triage", RuleTablePublished(table="triage", table_version=1, rules=4))]
    assert usecases.current(store, "triage") == table


def test_versions_count_up_per_table_and_history_is_newest_first(store):
    publish(store, "triage", TRIAGE)
    publish(store, "triage", TRIAGE[:2], OTHER_MANAGER, note="fewer")
    publish(store, "red_flags", RED_FLAGS)
    assert usecases.current(store, "triage").table_version == 2
    assert usecases.current(store, "red_flags").table_version == 1
    history = usecases.history(store, "triage")
    assert [(t.table_version, len(t.rules), t.published_by) for t in history] == [(2, 2, "acc_m2"), (1, 4, "acc_m1")]
    assert [t.table_version for t in usecases.history(store, "triage", limit=1)] == [2]
    assert [s for s, _ in store.emitted] == ["rules-triage", "rules-triage", "rules-red_flags"]
    assert [e.table_version for _, e in store.emitted] == [1, 2, 1]


def test_a_published_table_is_what_detection_and_advice_use(store):
    publish(store, "red_flags", RED_FLAGS)
    publish(store, "triage", TRIAGE)
    flags = usecases.current(store, "red_flags").rules
    assert [h.code for h in redflags.scan(["这周透析没去成"], flags)] == ["dialysis_missed"]
    assert redflags.scan(["我爸刚才晕倒了"], flags) == []
    advice = recommend_departments(["早泄"], usecases.current(store, "triage").rules)
    assert [a.department for a in advice] == ["andrology"]


def test_the_defaults_can_be_published_as_they_are(store):
    table = publish(store, "red_flags", [r.model_dump() for r in DEFAULT_RED_FLAGS])
    assert table.table_version == 1 and table.rules == DEFAULT_RED_FLAGS


def test_a_version_is_found_by_number(store):
    publish(store, "triage", TRIAGE)
    publish(store, "triage", TRIAGE[:1])
    assert len(usecases.get_version(store, "triage", 1).rules) == 4
    assert usecases.get_version(store, "triage", 0).rules == DEFAULT_TRIAGE_RULES
    with pytest.raises(NotFound):
        usecases.get_version(store, "triage", 3)
    with pytest.raises(InvalidInput):
        usecases.get_version(store, "triage", -1)


def test_only_managers_publish_and_a_refusal_stores_nothing(store):
    with pytest.raises(Forbidden):
        publish(store, "triage", TRIAGE, user(Role.team_lead, "acc_t1"))
    with pytest.raises(InvalidInput):
        publish(store, "triage", [{**TRIAGE[0], "keywords": []}])
    assert store.versions == {} and store.emitted == []


def test_unknown_tables_are_not_found(store):
    for call in (lambda: publish(store, "fees", TRIAGE), lambda: usecases.current(store, "fees"),
                 lambda: usecases.history(store, "fees")):
        with pytest.raises(NotFound):
            call()


def test_history_limit_is_checked(store):
    with pytest.raises(InvalidInput) as info:
        usecases.history(store, "triage", limit=0)
    assert fields(info) == ["limit"]


def test_a_concurrent_publish_of_the_same_version_is_a_conflict(store, monkeypatch):
    publish(store, "triage", TRIAGE)
    # the other manager's transaction read the table before version 1 was committed
    monkeypatch.setattr(store, "latest_version", lambda table, tx=None: None)
    with pytest.raises(Conflict) as info:
        publish(store, "triage", TRIAGE[:1], OTHER_MANAGER)
    assert "reload and try again" in info.value.detail
    assert list(store.versions) == [("triage", 1)] and len(store.emitted) == 1


def test_a_publish_based_on_an_old_version_is_refused(store):
    publish(store, "triage", TRIAGE, based_on=0)
    publish(store, "triage", TRIAGE[:2], OTHER_MANAGER, based_on=1)
    with pytest.raises(Conflict) as info:
        publish(store, "triage", TRIAGE[:3], based_on=1)
    assert fields(info) == ["based_on"]
    assert usecases.current(store, "triage").table_version == 2 and len(store.emitted) == 2
    with pytest.raises(InvalidInput):
        publish(store, "triage", TRIAGE, based_on=-1)


def test_what_the_desk_asks_of_triage(store):
    ask = usecases.TriageRules(store)
    assert ask.red_flags(["胸口疼得厉害，喘不上气"], ()) == (["chest_pain", "breathing"], 0)
    assert ask.red_flags(["胸口疼得厉害，喘不上气"], ("chest_pain",)) == (["breathing"], 0)  # one raised before
    assert ask.guess_department("最近尿频尿急") == "urology" and ask.guess_department("你好") is None
    assert ask.department_names()["ent"] == ("耳鼻喉科", "ENT (ear, nose and throat)")
    publish(store, "red_flags", RED_FLAGS)
    publish(store, "triage", TRIAGE)
    assert ask.red_flags(["这周透析没去成"], ()) == (["dialysis_missed"], 1)
    version, departments = ask.departments(["前列腺炎，还有点鼻炎"])
    assert version == 1 and [d.department for d in departments] == ["ent", "urology"]
    assert "120" in ask.emergency_advice("zh") and "120" in ask.emergency_advice("en")
