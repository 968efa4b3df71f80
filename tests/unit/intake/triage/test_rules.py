"""What a rule table is: its kinds and defaults (version 0, handed out as copies), a new version's validation
(named by position, keys unique) and the version a publish makes."""
from __future__ import annotations

import pytest

from services.intake.triage import rules, store
from services.intake.triage.advice import DEFAULT_TRIAGE_RULES, TriageRule
from services.intake.triage.redflags import DEFAULT_RED_FLAGS, RedFlagRule
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

TRIAGE = [
    {"department": "urology", "department_zh": "泌尿外科", "department_en": "Urology",
     "keywords": ["前列腺炎", "尿频"]},
    {"department": "ent", "department_zh": "耳鼻喉科", "department_en": "ENT", "keywords": ["鼻炎"], "weight": 2},
    {"department": "dermatology", "department_zh": "皮肤科", "department_en": "Dermatology", "keywords": ["湿疹"]},
    {"department": "andrology", "department_zh": "男科", "department_en": "Andrology", "keywords": ["早泄"]},
]
RED_FLAGS = [{"code": "dialysis_missed", "label_zh": "错过透析", "label_en": "Missed dialysis",
              "any_of": [["透析", "没去"]]}]


def fields(info) -> list[str]:
    return [error["field"] for error in info.value.errors]


def test_the_rule_book_knows_its_tables_and_their_index():
    assert rules.TABLES == {"red_flags": RedFlagRule, "triage": TriageRule}
    assert rules.DEFAULTS["red_flags"] is DEFAULT_RED_FLAGS and rules.DEFAULTS["triage"] is DEFAULT_TRIAGE_RULES
    [index] = store.INDEXES
    assert index.unique and index.name == "unique_table_version"
    assert index.keys == [("table", 1), ("table_version", 1)]
    with pytest.raises(NotFound):
        rules.model("fees")


def test_the_defaults_are_version_0_and_handed_out_as_copies():
    flags = rules.defaults("red_flags")
    assert flags.table_version == 0 and flags.published_at is None and flags.rules == DEFAULT_RED_FLAGS
    flags.rules[0].any_of.clear()
    assert DEFAULT_RED_FLAGS[0].any_of and rules.defaults("red_flags").rules[0].any_of
    assert rules.defaults("triage").rules == DEFAULT_TRIAGE_RULES


@pytest.mark.parametrize("caller", [user(Role.consultant, "acc_c1"), user(Role.team_lead, "acc_t1"),
                                    user(Role.admin, "acc_a1"), user(Role.doctor, "acc_d1"),
                                    user(Role.patient, "acc_p1"), Caller(), Caller.service("intake")],
                         ids=["consultant", "team_lead", "admin", "doctor", "patient", "anonymous", "service"])
def test_only_managers_publish(caller):
    with pytest.raises(Forbidden):
        rules.require_publisher(caller.principal)
    rules.require_publisher(user(Role.manager, "acc_m1").principal)


def test_every_rule_is_validated_and_named_by_position():
    bad = [dict(rule) for rule in TRIAGE]
    bad[3]["keywords"] = []
    bad[1]["weight"] = 50
    with pytest.raises(InvalidInput) as info:
        rules.parse("triage", bad, None)
    assert sorted(fields(info)) == ["rules.1.weight", "rules.3.keywords"]


@pytest.mark.parametrize(("table", "items", "field"), [
    ("triage", [], "rules"),
    ("triage", "urology", "rules"),
    ("triage", [{**TRIAGE[0], "doctor": "acc_d1"}], "rules.0.doctor"),
    ("red_flags", [], "rules"),
    ("red_flags", [{**RED_FLAGS[0], "code": "Dialysis"}], "rules.0.code"),
    ("red_flags", [{**RED_FLAGS[0], "any_of": [["透析", "ab"]]}], "rules.0.any_of.0.1"),
    ("triage", [TRIAGE[0], TRIAGE[1], {**TRIAGE[2], "department": "urology"}], "rules.2.department"),
    ("red_flags", [RED_FLAGS[0], RED_FLAGS[0]], "rules.1.code"),
])
def test_bad_tables_are_refused(table, items, field):
    with pytest.raises(InvalidInput) as info:
        rules.parse(table, items, None)
    assert fields(info) == [field]


def test_the_note_is_checked_and_trimmed():
    with pytest.raises(InvalidInput) as info:
        rules.parse("triage", TRIAGE, "x" * 501)
    assert fields(info) == ["note"]
    assert rules.parse("triage", TRIAGE, "  男科单独成科 ")[1] == "男科单独成科"


def test_versions_limits_and_the_base_version_are_checked():
    assert rules.next_version(None, "triage", None) == 1 and rules.next_version(4, "triage", 4) == 5
    with pytest.raises(Conflict) as info:
        rules.next_version(2, "triage", 1)
    assert fields(info) == ["based_on"]
    for check, field in ((rules.check_version, "table_version"), (rules.check_based_on, "based_on")):
        with pytest.raises(InvalidInput) as info:
            check(-1)
        assert fields(info) == [field]
    with pytest.raises(InvalidInput) as info:
        rules.check_history_limit(0)
    assert fields(info) == ["limit"]
