"""The knowledge base's pure rules: who edits and reads, how a search matches and ranks, when a programme has ended,
and how a template is filled (values inserted as text, once; a missing value named)."""
from datetime import date

import pytest

from contracts.intake.knowledge import ArticleInput
from services.intake.knowledge import rules
from services.intake.knowledge.rules import Searchable, Template
from tests.people import user
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput

SCOPE = {"kind": "reply_template", "title": "科室判断", "tags": ["科室"],
         "body": "{surname}先生/女士，根据您描述的情况，可能与{department}相关，需要检查后才能确定。"}


def entry(id_: str, kind: str = "care_tip", title: str = "t", body: str = "", **more) -> Searchable:
    return Searchable(id=id_, kind=kind, title=title, body=body, **more)


def test_managers_edit_and_consultants_team_leads_and_managers_read():
    rules.require_editor(user(Role.manager, "acc_m1").principal)
    for caller in (user(Role.consultant, "acc_c1"), user(Role.team_lead, "acc_t1"), Caller()):
        with pytest.raises(Forbidden):
            rules.require_editor(caller.principal)
    for role in (Role.consultant, Role.team_lead, Role.manager):
        rules.require_reader(user(role, "acc_x").principal)
    for caller in (user(Role.doctor, "acc_d1"), user(Role.patient, "acc_p1"), Caller(), Caller.service("notify")):
        with pytest.raises(Forbidden):
            rules.require_reader(caller.principal)


def test_words_match_title_then_condition_and_tags_then_body_folding_case_and_width():
    tip = entry("kb_1", title="前列腺炎温馨提示", body="请戒酒")
    fee = entry("kb_2", kind="fee_item", title="尿常规检查", condition="前列腺炎", body="化验")
    note = entry("kb_3", title="一般生活建议", body="前列腺炎和鼻炎患者都应注意休息。")
    english = entry("kb_4", title="Closing", body="Prostatitis patients should avoid alcohol.")
    assert rules.ordered([note, fee, tip], ["前列腺炎"]) == [tip, fee, note]
    assert rules.ordered([note, fee, tip], ["前列腺炎", "休息"]) == [note]
    assert rules.rank(english, rules.terms("ＰＲＯＳＴＡＴＩＴＩＳ")) == (0, 0)
    assert rules.rank(tip, ["不存在"]) is None


def test_without_words_entries_come_by_kind_then_department_then_title():
    found = rules.ordered([entry("kb_1", "programme"), entry("kb_2", "care_tip", department="ent"),
                           entry("kb_3", "care_tip", department=None), entry("kb_4", "reply_template")], [])
    assert [e.id for e in found] == ["kb_4", "kb_3", "kb_2", "kb_1"]


def test_a_search_has_bounded_words():
    assert rules.terms("温馨 提示 温馨") == ["温馨", "提示"]
    with pytest.raises(InvalidInput) as info:
        rules.terms(" ".join(f"词{n}" for n in range(rules.MAX_TERMS + 1)))
    assert info.value.errors[0]["field"] == "q"


def test_a_programme_shows_until_its_last_day():
    assert not rules.ended("programme", "2026-03-31", date(2026, 3, 31))
    assert rules.ended("programme", "2026-03-31", date(2026, 4, 1))
    assert not rules.ended("care_tip", "2026-03-31", date(2026, 4, 1)) and not rules.ended("programme", None,
                                                                                            date(2026, 4, 1))


def test_render_fills_the_variables_names_a_missing_one_and_inserts_values_once():
    scope = ArticleInput.model_validate(SCOPE).root
    assert rules.render(scope, {"surname": "王", "department": "泌尿外科", "doctor": "unused"}).startswith("王先生")
    with pytest.raises(InvalidInput) as info:
        rules.render(scope, {"department": "泌尿外科", "surname": "  "})
    assert [e["field"] for e in info.value.errors] == ["values.surname"]
    with pytest.raises(InvalidInput) as info:
        rules.render(scope, {})
    assert [e["field"] for e in info.value.errors] == ["values.surname", "values.department"]
    text = rules.render(scope, {"surname": "{doctor}", "department": "{surname.__class__}"})
    assert text.startswith("{doctor}先生/女士") and "{surname.__class__}相关" in text


def test_an_attribute_lookup_stored_behind_validation_is_still_refused():
    with pytest.raises(InvalidInput) as info:
        rules.render({"body": "{surname.__class__.__mro__}"}, {"surname": "王"})
    assert [e["field"] for e in info.value.errors] == ["body"]


def test_only_a_live_entry_of_a_running_programme_is_rendered():
    today = date(2026, 4, 1)
    live = Template(id="kb_1", kind="reply_template", status="live", body="x")
    assert rules.renderable(live, today) is live
    with pytest.raises(Conflict) as retired:
        rules.renderable(Template(id="kb_1", kind="reply_template", status="retired", body="x"), today)
    with pytest.raises(Conflict) as ended:
        rules.renderable(Template(id="kb_2", kind="programme", status="live", body="x", valid_until="2026-03-31"),
                         today)
    assert [retired.value.errors[0]["field"], ended.value.errors[0]["field"]] == ["status", "valid_until"]
