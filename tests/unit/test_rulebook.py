"""Rule tables: versions published by managers, history, validation and concurrent publishing."""
from __future__ import annotations

from datetime import UTC

import pytest

from contracts.intake.events import RuleTablePublished
from services.intake import redflags, rulebook
from services.intake.redflags import DEFAULT_RED_FLAGS, RedFlagRule
from services.intake.triage import DEFAULT_TRIAGE_RULES, TriageRule, recommend_departments
from tests.fakes import FakeStore
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

MANAGER = user(Role.manager, "acc_m1")
OTHER_MANAGER = user(Role.manager, "acc_m2")

TRIAGE = [
    {"department": "urology", "department_zh": "泌尿外科", "department_en": "Urology",
     "keywords": ["前列腺炎", "尿频"]},
    {"department": "ent", "department_zh": "耳鼻喉科", "department_en": "ENT", "keywords": ["鼻炎"], "weight": 2},
    {"department": "dermatology", "department_zh": "皮肤科", "department_en": "Dermatology", "keywords": ["湿疹"]},
    {"department": "andrology", "department_zh": "男科", "department_en": "Andrology", "keywords": ["早泄"]},
]
RED_FLAGS = [{"code": "dialysis_missed", "label_zh": "错过透析", "label_en": "Missed dialysis",
              "any_of": [["透析", "没去"]]}]


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(indexes=rulebook.INDEXES)


def stored(store: FakeStore) -> list[dict]:
    return list(store[rulebook.RULE_TABLES].docs.values())


# before anything is published --------------------------------------------------------------------------------------
def test_the_defaults_are_version_0(store):
    triage = rulebook.current(store, "triage")
    assert triage.table_version == 0 and triage.published_at is None and triage.published_by is None
    assert triage.rules == DEFAULT_TRIAGE_RULES
    flags = rulebook.current(store, "red_flags")
    assert flags.table_version == 0 and flags.rules == DEFAULT_RED_FLAGS
    assert rulebook.history(store, "red_flags") == [] and stored(store) == []


def test_the_defaults_handed_out_are_copies(store):
    table = rulebook.current(store, "red_flags")
    table.rules[0].any_of.clear()
    assert DEFAULT_RED_FLAGS[0].any_of and rulebook.current(store, "red_flags").rules[0].any_of


def test_the_rule_book_knows_its_tables():
    assert rulebook.TABLES == {"red_flags": RedFlagRule, "triage": TriageRule}
    assert rulebook.DEFAULTS["red_flags"] is DEFAULT_RED_FLAGS and rulebook.DEFAULTS["triage"] is DEFAULT_TRIAGE_RULES
    [index] = rulebook.INDEXES
    assert index.unique and index.name == "unique_table_version"
    assert index.keys == [("table", 1), ("table_version", 1)]


# publishing --------------------------------------------------------------------------------------------------------
def test_a_manager_publishes_a_new_version(store):
    table = rulebook.publish(store, MANAGER, "triage", TRIAGE, note="  男科单独成科 ")
    assert table.table == "triage" and table.table_version == 1
    assert [r.department for r in table.rules] == ["urology", "ent", "dermatology", "andrology"]
    assert table.published_by == "acc_m1" and table.note == "男科单独成科"
    assert table.published_at.tzinfo is not None and table.published_at.utcoffset() == UTC.utcoffset(None)
    assert store.emitted == [("rules-triage", RuleTablePublished(table="triage", table_version=1, rules=4))]
    assert rulebook.current(store, "triage") == table


def test_versions_count_up_per_table_and_history_is_newest_first(store):
    rulebook.publish(store, MANAGER, "triage", TRIAGE)
    rulebook.publish(store, OTHER_MANAGER, "triage", TRIAGE[:2], note="fewer")
    rulebook.publish(store, MANAGER, "red_flags", RED_FLAGS)
    assert rulebook.current(store, "triage").table_version == 2
    assert rulebook.current(store, "red_flags").table_version == 1
    history = rulebook.history(store, "triage")
    assert [(t.table_version, len(t.rules), t.published_by) for t in history] == [(2, 2, "acc_m2"), (1, 4, "acc_m1")]
    assert [t.table_version for t in rulebook.history(store, "triage", limit=1)] == [2]
    assert [s for s, _ in store.emitted] == ["rules-triage", "rules-triage", "rules-red_flags"]
    assert [e.table_version for _, e in store.emitted] == [1, 2, 1]


def test_a_published_table_is_what_detection_and_advice_use(store):
    rulebook.publish(store, MANAGER, "red_flags", RED_FLAGS)
    rulebook.publish(store, MANAGER, "triage", TRIAGE)
    flags = rulebook.current(store, "red_flags").rules
    assert [h.code for h in redflags.scan(["这周透析没去成"], flags)] == ["dialysis_missed"]
    assert redflags.scan(["我爸刚才晕倒了"], flags) == []
    advice = recommend_departments(["早泄"], rulebook.current(store, "triage").rules)
    assert [a.department for a in advice] == ["andrology"]


def test_the_defaults_can_be_published_as_they_are(store):
    table = rulebook.publish(store, MANAGER, "red_flags", [r.model_dump() for r in DEFAULT_RED_FLAGS])
    assert table.table_version == 1 and table.rules == DEFAULT_RED_FLAGS


def test_a_version_is_found_by_number(store):
    rulebook.publish(store, MANAGER, "triage", TRIAGE)
    rulebook.publish(store, MANAGER, "triage", TRIAGE[:1])
    assert len(rulebook.get_version(store, "triage", 1).rules) == 4
    assert rulebook.get_version(store, "triage", 0).rules == DEFAULT_TRIAGE_RULES
    with pytest.raises(NotFound):
        rulebook.get_version(store, "triage", 3)
    with pytest.raises(InvalidInput):
        rulebook.get_version(store, "triage", -1)


# who may publish ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", [user(Role.consultant, "acc_c1"), user(Role.team_lead, "acc_t1"),
                                    user(Role.admin, "acc_a1"), user(Role.doctor, "acc_d1"),
                                    user(Role.patient, "acc_p1"), Caller(), Caller.service("intake")],
                         ids=["consultant", "team_lead", "admin", "doctor", "patient", "anonymous", "service"])
def test_only_managers_publish(store, caller):
    with pytest.raises(Forbidden):
        rulebook.publish(store, caller, "triage", TRIAGE)
    assert stored(store) == [] and store.emitted == []


def test_unknown_tables_are_not_found(store):
    with pytest.raises(NotFound):
        rulebook.publish(store, MANAGER, "fees", TRIAGE)
    with pytest.raises(NotFound):
        rulebook.current(store, "fees")
    with pytest.raises(NotFound):
        rulebook.history(store, "fees")


# validation --------------------------------------------------------------------------------------------------------
def fields(info) -> list[str]:
    return [error["field"] for error in info.value.errors]


def test_every_rule_is_validated_and_named_by_position(store):
    rules = [dict(rule) for rule in TRIAGE]
    rules[3]["keywords"] = []
    rules[1]["weight"] = 50
    with pytest.raises(InvalidInput) as info:
        rulebook.publish(store, MANAGER, "triage", rules)
    assert sorted(fields(info)) == ["rules.1.weight", "rules.3.keywords"]
    assert stored(store) == [] and store.emitted == []


@pytest.mark.parametrize(("table", "rules", "field"), [
    ("triage", [], "rules"),
    ("triage", "urology", "rules"),
    ("triage", [{**TRIAGE[0], "doctor": "acc_d1"}], "rules.0.doctor"),
    ("red_flags", [], "rules"),
    ("red_flags", [{**RED_FLAGS[0], "code": "Dialysis"}], "rules.0.code"),
    ("red_flags", [{**RED_FLAGS[0], "any_of": [["透析", "ab"]]}], "rules.0.any_of.0.1"),
    ("triage", [TRIAGE[0], TRIAGE[1], {**TRIAGE[2], "department": "urology"}], "rules.2.department"),
    ("red_flags", [RED_FLAGS[0], RED_FLAGS[0]], "rules.1.code"),
])
def test_bad_tables_are_refused(store, table, rules, field):
    with pytest.raises(InvalidInput) as info:
        rulebook.publish(store, MANAGER, table, rules)
    assert fields(info) == [field]
    assert stored(store) == [] and store.emitted == []


def test_the_note_is_checked(store):
    with pytest.raises(InvalidInput) as info:
        rulebook.publish(store, MANAGER, "triage", TRIAGE, note="x" * 501)
    assert fields(info) == ["note"]


def test_history_limit_is_checked(store):
    with pytest.raises(InvalidInput) as info:
        rulebook.history(store, "triage", limit=0)
    assert fields(info) == ["limit"]


# publishing at the same time ---------------------------------------------------------------------------------------
def test_a_concurrent_publish_of_the_same_version_is_a_conflict(store, monkeypatch):
    rulebook.publish(store, MANAGER, "triage", TRIAGE)
    # the other manager's transaction read the table before version 1 was committed
    monkeypatch.setattr(rulebook, "_latest", lambda target, table: None)
    with pytest.raises(Conflict) as info:
        rulebook.publish(store, OTHER_MANAGER, "triage", TRIAGE[:1])
    assert "reload and try again" in info.value.detail
    assert [d["table_version"] for d in stored(store)] == [1] and len(store.emitted) == 1


def test_a_publish_based_on_an_old_version_is_refused(store):
    rulebook.publish(store, MANAGER, "triage", TRIAGE, based_on=0)
    rulebook.publish(store, OTHER_MANAGER, "triage", TRIAGE[:2], based_on=1)
    with pytest.raises(Conflict) as info:
        rulebook.publish(store, MANAGER, "triage", TRIAGE[:3], based_on=1)
    assert fields(info) == ["based_on"]
    assert rulebook.current(store, "triage").table_version == 2 and len(store.emitted) == 2
    with pytest.raises(InvalidInput):
        rulebook.publish(store, MANAGER, "triage", TRIAGE, based_on=-1)
