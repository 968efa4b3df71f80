"""The knowledge base's use cases over an in-memory store: who may change and read it, validation naming fields (at
the entrypoints' boundary), revisions, retiring, search (Chinese substrings, filters, order), filling variables
safely, the public lists and the seed."""
from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from contracts.intake.knowledge import ArticleChange, ArticleInput, KnowledgeQuery
from services.intake.knowledge import rules, usecases
from services.intake.knowledge.entrypoints import KnowledgeEntrypoints
from services.intake.knowledge.seed import STARTER, seed
from tests.people import user
from tests.unit.intake.knowledge.fakes import FakeKnowledgeStore
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
TODAY = date(2026, 3, 15)

DOCTOR_ACCOUNT = "acc_01HZX3K5V8Q2W7R4T6Y9B1C3D5"



MANAGER = user(Role.manager, "acc_m1")
OTHER_MANAGER = user(Role.manager, "acc_m2")
CONSULTANT = user(Role.consultant, "acc_c1")
TEAM_LEAD = user(Role.team_lead, "acc_t1")
DOCTOR = user(Role.doctor, "acc_d1")
PHARMACIST = user(Role.pharmacist, "acc_ph1")
PATIENT = user(Role.patient, "acc_p1")
ADMIN = user(Role.admin, "acc_a1")
NOT_EDITORS = [CONSULTANT, TEAM_LEAD, DOCTOR, PHARMACIST, PATIENT, ADMIN, Caller(), Caller.service("notify")]
NOT_READERS = [DOCTOR, PHARMACIST, PATIENT, ADMIN, Caller(), Caller.service("notify")]
NAMES = ["consultant", "team_lead", "doctor", "pharmacist", "patient", "admin", "anonymous", "service"]

PROSTATITIS_TIP = {"kind": "care_tip", "title": "前列腺炎温馨提示", "condition": "前列腺炎", "department": "urology",
                   "tags": ["温馨提示"], "body": "温馨提示：请戒酒，少吃辛辣食物，避免长时间开车。"}
RHINITIS_TIP = {"kind": "care_tip", "title": "鼻炎温馨提示", "condition": "鼻炎", "department": "ent",
                "tags": ["温馨提示"], "body": "温馨提示：适当锻炼身体，坚持用冷水洗脸。"}
SCOPE = {"kind": "reply_template", "title": "科室判断", "tags": ["科室"],
         "body": "{surname}先生/女士，根据您描述的情况，可能与{department}相关，需要检查后才能确定。"}
CLOSING = {"kind": "reply_template", "title": "结束语", "body": "感谢您的咨询，祝您早日康复！"}
FEE = {"kind": "fee_item", "title": "普通门诊诊查费", "body": "每次就诊。", "amount_fen": 1000, "unit": "次",
       "internal_note": "核对物价公示"}
PROFILE = {"kind": "doctor_profile", "title": "李明", "body": "从事泌尿外科临床工作二十年。", "department": "urology",
           "doctor_id": DOCTOR_ACCOUNT, "professional_title": "主任医师", "expertise": ["前列腺炎", "前列腺炎"],
           "sex": "male", "internal_note": "周三下午不出诊"}
PROGRAMME = {"kind": "programme", "title": "义诊活动", "body": "本月免费测血压。", "valid_from": "2026-03-01",
             "valid_until": "2026-03-31"}


@pytest.fixture
def store() -> FakeKnowledgeStore:
    return FakeKnowledgeStore()


def add(store, raw: dict, caller: Caller = MANAGER):
    return usecases.create_article(store, caller, ArticleInput.model_validate(raw), NOW)


def update(store, caller, article_id, change_):
    return usecases.update_article(store, caller, article_id, change_, NOW)


def retire(store, caller, article_id):
    return usecases.retire_article(store, caller, article_id, NOW)


def render(store, caller, article_id, values, today: date = TODAY):
    return usecases.render_article(store, caller, article_id, values, today)


def change(article, **fields) -> ArticleChange:
    data = article.model_dump(mode="json", include=set(type(article).model_fields) - {
        "id", "status", "created_at", "created_by", "updated_at", "updated_by", "retired_at", "retired_by"})
    return ArticleChange.model_validate({**data, **fields})


def find(store, caller: Caller = CONSULTANT, today: date = TODAY, **query) -> list:
    return usecases.search(store, caller, KnowledgeQuery.model_validate(query), today)


def fields_of(exc_info) -> list[str]:
    return [e["field"] for e in exc_info.value.errors]


def invalid_fields(raw: dict, model=ArticleInput) -> list[str]:
    entrypoints = SimpleNamespace(knowledge=FakeKnowledgeStore(), caller=MANAGER)  # refused before it is used
    with pytest.raises(InvalidInput) as info:
        if model is ArticleInput:
            KnowledgeEntrypoints.create_knowledge_article(entrypoints, raw)
        else:
            KnowledgeEntrypoints.update_knowledge_article(entrypoints, "kb_x", raw)
    return fields_of(info)


# who may change and read -------------------------------------------------------------------------------------------
def test_a_manager_creates_an_entry_attributed_to_them(store):
    tip = add(store, PROSTATITIS_TIP)
    assert tip.id.startswith("kb_") and tip.revision == 1 and tip.status == "live"
    assert tip.created_by == tip.updated_by == "acc_m1" and tip.created_at.endswith("+08:00")
    assert tip.retired_at is None and tip.kind == "care_tip" and tip.condition == "前列腺炎"
    assert usecases.get_article(store, CONSULTANT, tip.id) == tip


@pytest.mark.parametrize("caller", NOT_EDITORS, ids=NAMES)
def test_only_managers_change_the_knowledge_base(store, caller):
    tip = add(store, PROSTATITIS_TIP)
    with pytest.raises(Forbidden):
        add(store, RHINITIS_TIP, caller)
    with pytest.raises(Forbidden):
        update(store, caller, tip.id, change(tip, title="改"))
    with pytest.raises(Forbidden):
        retire(store, caller, tip.id)
    assert usecases.get_article(store, MANAGER, tip.id) == tip


@pytest.mark.parametrize("caller", NOT_READERS, ids=NAMES[2:])
def test_only_consultants_team_leads_and_managers_read_it(store, caller):
    tip = add(store, SCOPE)
    with pytest.raises(Forbidden):
        find(store, caller)
    with pytest.raises(Forbidden):
        usecases.get_article(store, caller, tip.id)
    with pytest.raises(Forbidden):
        render(store, caller, tip.id, {"surname": "王", "department": "泌尿外科"})


@pytest.mark.parametrize("caller", [CONSULTANT, TEAM_LEAD, MANAGER], ids=["consultant", "team_lead", "manager"])
def test_readers_search_get_and_render(store, caller):
    tip = add(store, CLOSING)
    assert [a.id for a in find(store, caller)] == [tip.id]
    assert render(store, caller, tip.id, {}) == "感谢您的咨询，祝您早日康复！"


def test_a_missing_entry_is_not_found(store):
    with pytest.raises(NotFound):
        usecases.get_article(store, CONSULTANT, "kb_nothing")
    with pytest.raises(NotFound):
        retire(store, MANAGER, "kb_nothing")
    with pytest.raises(NotFound):
        render(store, CONSULTANT, "kb_nothing", {})
    with pytest.raises(NotFound):
        update(store, MANAGER, "kb_nothing", ArticleChange.model_validate({**CLOSING, "revision": 1}))


# validation names the field ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "field"), [
    ({**SCOPE, "body": "您好{name}"}, "body"),
    ({**SCOPE, "body": "您好{surname.__class__}"}, "body"),
    ({**SCOPE, "body": "{surname!r}"}, "body"),
    ({**SCOPE, "body": "{0}"}, "body"),
    ({**SCOPE, "body": "{}"}, "body"),
    ({**SCOPE, "body": "费用{多少"}, "body"),
    ({**SCOPE, "body": "a } b"}, "body"),
    ({**SCOPE, "title": "标题{patient}"}, "title"),
    ({**SCOPE, "body": ""}, "body"),
    ({**SCOPE, "body": "带\u202e反向字符"}, "body"),
    ({**SCOPE, "title": "a\nb"}, "title"),
    ({**SCOPE, "department": "泌尿外科"}, "department"),
    ({**SCOPE, "language": "fr"}, "language"),
    ({**SCOPE, "tags": ["x" * 33]}, "tags.0"),
    ({**SCOPE, "secret": "x"}, "secret"),
    ({**SCOPE, "kind": "sales_script"}, "kind"),
    ({k: v for k, v in SCOPE.items() if k != "kind"}, "kind"),
    ({**FEE, "amount_fen": -1}, "amount_fen"),
    ({**FEE, "amount_fen": 10.5}, "amount_fen"),
    ({**FEE, "amount_fen": "1000"}, "amount_fen"),
    ({**FEE, "amount_fen": True}, "amount_fen"),
    ({k: v for k, v in FEE.items() if k != "unit"}, "unit"),
    ({**SCOPE, "amount_fen": 100}, "amount_fen"),
    ({k: v for k, v in PROSTATITIS_TIP.items() if k != "condition"}, "condition"),
    ({**PROFILE, "doctor_id": "李明"}, "doctor_id"),
    ({**PROFILE, "sex": "unknown"}, "sex"),
    ({**PROGRAMME, "valid_until": "2026-02-28"}, "valid_until"),
    ({**PROGRAMME, "valid_from": "not a date"}, "valid_from"),
])
def test_a_bad_field_is_named(raw, field):
    assert field in invalid_fields(raw)


def test_a_change_must_carry_a_revision():
    assert invalid_fields(CLOSING, ArticleChange) == ["revision"]
    assert invalid_fields({**CLOSING, "revision": 0}, ArticleChange) == ["revision"]
    assert invalid_fields({**CLOSING, "revision": "2"}, ArticleChange) == ["revision"]


def test_a_create_cannot_carry_a_revision():
    assert invalid_fields({**CLOSING, "revision": 1}) == ["revision"]


def test_literal_braces_are_doubled_and_tags_deduplicated(store):
    entry = add(store, {**CLOSING, "body": "公式 {{a}} 不是变量", "tags": ["结束", "结束", "礼貌"]})
    assert entry.tags == ["结束", "礼貌"]
    assert rules.render(entry, {}) == "公式 {a} 不是变量"


# revisions and conflicts -------------------------------------------------------------------------------------------
def test_a_change_on_the_current_revision_is_stored_with_the_next_one(store):
    tip = add(store, PROSTATITIS_TIP)
    changed = update(store, OTHER_MANAGER, tip.id, change(tip, body="温馨提示：请戒酒。"))
    assert changed.revision == 2 and changed.body == "温馨提示：请戒酒。"
    assert changed.updated_by == "acc_m2" and changed.created_by == "acc_m1" and changed.created_at == tip.created_at
    assert usecases.get_article(store, CONSULTANT, tip.id) == changed


def test_a_change_replaces_the_whole_entry(store):
    fee = add(store, FEE)
    changed = update(store, MANAGER, fee.id, ArticleChange.model_validate(
        {"kind": "fee_item", "title": "诊查费", "body": "每次。", "amount_fen": 1200, "unit": "次", "revision": 1}))
    assert changed.internal_note is None and changed.amount_fen == 1200


def test_a_stale_revision_is_a_conflict_naming_it(store):
    tip = add(store, PROSTATITIS_TIP)
    update(store, MANAGER, tip.id, change(tip, title="前列腺炎 温馨提示"))
    with pytest.raises(Conflict) as info:
        update(store, OTHER_MANAGER, tip.id, change(tip, title="覆盖"))
    assert fields_of(info) == ["revision"] and "revision 2" in info.value.errors[0]["message"]
    assert usecases.get_article(store, CONSULTANT, tip.id).title == "前列腺炎 温馨提示"


def test_the_kind_cannot_change(store):
    tip = add(store, CLOSING)
    with pytest.raises(InvalidInput) as info:
        update(store, MANAGER, tip.id, ArticleChange.model_validate(
            {**PROSTATITIS_TIP, "revision": 1}))
    assert fields_of(info) == ["kind"]
    assert usecases.get_article(store, MANAGER, tip.id).revision == 1


# retiring ----------------------------------------------------------------------------------------------------------
def test_retiring_keeps_the_entry_but_hides_it(store):
    fee, tip = add(store, FEE), add(store, CLOSING)
    retired = retire(store, MANAGER, fee.id)
    assert retired.status == "retired" and retired.retired_by == "acc_m1" and retired.retired_at.endswith("+08:00")
    assert retired.revision == 2 and fee.id in store.docs
    assert [a.id for a in find(store)] == [tip.id]
    assert {a.id for a in find(store, include_retired=True)} == {fee.id, tip.id}
    assert usecases.fee_schedule(store) == []
    assert usecases.get_article(store, CONSULTANT, fee.id).status == "retired"


def test_retiring_twice_changes_nothing(store):
    tip = add(store, CLOSING)
    first = retire(store, MANAGER, tip.id)
    assert retire(store, OTHER_MANAGER, tip.id) == first


def test_a_retired_entry_is_neither_changed_nor_rendered(store):
    tip = add(store, CLOSING)
    retire(store, MANAGER, tip.id)
    with pytest.raises(Conflict) as info:
        update(store, MANAGER, tip.id, change(tip, revision=2))
    assert fields_of(info) == ["status"]
    with pytest.raises(Conflict):
        render(store, CONSULTANT, tip.id, {})


# search ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def base(store) -> dict:
    return {name: add(store, raw).id for name, raw in [
        ("prostatitis", PROSTATITIS_TIP), ("rhinitis", RHINITIS_TIP), ("scope", SCOPE), ("closing", CLOSING),
        ("fee", FEE), ("profile", PROFILE), ("programme", PROGRAMME),
        ("urology_fee", {**FEE, "title": "尿常规检查", "department": "urology", "condition": "前列腺炎",
                         "amount_fen": 1500, "body": "化验。"}),
        ("english", {**CLOSING, "title": "Closing (English)", "language": "en",
                     "body": "Thank you. Prostatitis patients should avoid alcohol."}),
    ]}


def ids_of(articles) -> list[str]:
    return [a.id for a in articles]


def test_chinese_substrings_are_found_in_body_title_condition_and_tags(store, base):
    assert ids_of(find(store, q="冷水")) == [base["rhinitis"]]  # in the body
    assert ids_of(find(store, q="早日康复")) == [base["closing"]]
    assert set(ids_of(find(store, q="温馨"))) == {base["prostatitis"], base["rhinitis"]}  # titles and tags
    assert ids_of(find(store, q="主任")) == []  # profile fields other than title, body, condition, tags: no
    assert ids_of(find(store, q="不存在的词")) == []


def test_every_word_must_occur(store, base):
    assert ids_of(find(store, q="温馨提示 开车")) == [base["prostatitis"]]
    assert ids_of(find(store, q="温馨提示 开车 冷水")) == []


def test_title_matches_come_first_then_condition_and_tags_then_body(store, base):
    # 前列腺炎 is in one tip's title, the urology fee's condition, a tip's body (its title sorts first: 一 < 前 < 尿)
    # and the profile's expertise only (not searched)
    in_body = add(store, {**CLOSING, "title": "一般生活建议", "body": "前列腺炎和鼻炎患者都应注意休息。"}).id
    assert ids_of(find(store, q="前列腺炎")) == [base["prostatitis"], base["urology_fee"], in_body]
    assert ids_of(find(store, q="前列腺炎 休息")) == [in_body]


def test_case_and_full_width_letters_do_not_matter(store, base):
    assert ids_of(find(store, q="PROSTATITIS")) == [base["english"]]
    assert ids_of(find(store, q="ｐｒｏｓｔａｔｉｔｉｓ")) == [base["english"]]


def test_filters_by_kind_department_and_condition(store, base):
    assert set(ids_of(find(store, kind="fee_item"))) == {base["fee"], base["urology_fee"]}
    assert set(ids_of(find(store, department="urology"))) == {base["prostatitis"], base["profile"],
                                                              base["urology_fee"]}
    assert set(ids_of(find(store, condition="前列腺炎"))) == {base["prostatitis"], base["urology_fee"]}
    assert ids_of(find(store, kind="care_tip", department="ent", q="洗脸")) == [base["rhinitis"]]


def test_without_words_entries_come_by_kind_then_department_then_title(store, base):
    kinds = [a.kind for a in find(store, limit=100)]
    assert kinds == sorted(kinds, key=["reply_template", "care_tip", "fee_item", "doctor_profile",
                                       "programme"].index)
    assert len(find(store, limit=3)) == 3


def test_a_programme_shows_until_its_last_day(store, base):
    assert base["programme"] in ids_of(find(store, today=date(2026, 3, 31), kind="programme"))
    assert find(store, today=date(2026, 4, 1), kind="programme") == []
    assert ids_of(find(store, today=date(2026, 4, 1), kind="programme", include_retired=True)) == [base["programme"]]
    with pytest.raises(Conflict) as info:
        render(store, CONSULTANT, base["programme"], {}, today=date(2026, 4, 1))
    assert fields_of(info) == ["valid_until"]


def test_a_search_has_bounded_words(store, base):
    with pytest.raises(InvalidInput) as info:
        find(store, q=" ".join(f"词{n}" for n in range(rules.MAX_TERMS + 1)))
    assert fields_of(info) == ["q"]


def test_the_number_of_live_entries_is_bounded(store, monkeypatch):
    monkeypatch.setattr(rules, "MAX_LIVE", 2)
    first = add(store, CLOSING)
    add(store, SCOPE)
    with pytest.raises(Conflict):
        add(store, FEE)
    retire(store, MANAGER, first.id)
    assert add(store, FEE).kind == "fee_item"


# filling the variables ---------------------------------------------------------------------------------------------
def test_render_fills_the_variables(store):
    scope = add(store, SCOPE)
    text = render(store, CONSULTANT, scope.id, {"surname": "王", "department": "泌尿外科",
                                                                   "doctor": "unused"})
    assert text == "王先生/女士，根据您描述的情况，可能与泌尿外科相关，需要检查后才能确定。"


def test_a_variable_without_a_value_is_named(store):
    scope = add(store, SCOPE)
    with pytest.raises(InvalidInput) as info:
        render(store, CONSULTANT, scope.id, {"department": "泌尿外科", "surname": "  "})
    assert fields_of(info) == ["values.surname"]
    with pytest.raises(InvalidInput) as info:
        rules.render(scope, {})
    assert fields_of(info) == ["values.surname", "values.department"]


def test_values_are_inserted_as_text_once(store):
    scope = add(store, SCOPE)
    text = rules.render(scope, {"surname": "{doctor}", "department": "{surname.__class__}"})
    assert text.startswith("{doctor}先生/女士") and "{surname.__class__}相关" in text


def test_an_attribute_lookup_stored_behind_validation_is_still_refused(store):
    store.docs["kb_old"] = {"_id": "kb_old", "kind": "reply_template", "title": "旧",
                            "body": "{surname.__class__.__mro__}", "status": "live"}
    with pytest.raises(InvalidInput) as info:
        render(store, CONSULTANT, "kb_old", {"surname": "王"})
    assert fields_of(info) == ["body"]


def test_render_values_are_checked_at_the_boundary(store):
    scope = add(store, SCOPE)
    entrypoints = SimpleNamespace(knowledge=store, caller=CONSULTANT)
    with pytest.raises(InvalidInput) as info:
        KnowledgeEntrypoints.render_knowledge_article(entrypoints, scope.id, {"values": {"surname": "王" * 65}})
    assert fields_of(info) == ["values.surname"]
    with pytest.raises(InvalidInput):
        KnowledgeEntrypoints.render_knowledge_article(entrypoints, scope.id, {"values": {"__class__": "x"}})
    assert KnowledgeEntrypoints.render_knowledge_article(
        entrypoints, scope.id, {"values": {"surname": "李", "department": "耳鼻喉科"}})["text"].startswith("李先生")


# public lists ------------------------------------------------------------------------------------------------------
def test_the_fee_schedule_lists_live_fee_items_without_internal_notes(store, base):
    fees = usecases.fee_schedule(store)
    assert [f.id for f in fees] == [base["fee"], base["urology_fee"]]  # hospital-wide first
    assert fees[0].amount_fen == 1000 and fees[0].unit == "次"
    assert "internal_note" not in fees[0].model_dump() and "updated_by" not in fees[0].model_dump()
    assert [f.id for f in usecases.fee_schedule(store, "urology")] == [base["urology_fee"]]


def test_doctor_profiles_show_the_profile_fields_only(store, base):
    [profile] = usecases.doctor_profiles(store)
    assert profile.model_dump() == {"id": base["profile"], "doctor_id": DOCTOR_ACCOUNT, "name": "李明",
                                    "title": "主任医师", "department": "urology", "expertise": ["前列腺炎"],
                                    "sex": "male", "introduction": "从事泌尿外科临床工作二十年。", "language": "zh"}
    assert usecases.doctor_profiles(store, "ent") == []


def test_one_live_profile_per_doctor(store):
    first = add(store, PROFILE)
    with pytest.raises(Conflict) as info:
        add(store, {**PROFILE, "title": "李明医生"})
    assert fields_of(info) == ["doctor_id"]
    retire(store, MANAGER, first.id)
    assert add(store, {**PROFILE, "title": "李明医生"}).revision == 1


def test_the_public_entrypoints_need_no_role(store, base):
    anonymous = SimpleNamespace(knowledge=store, caller=Caller())
    fees = KnowledgeEntrypoints.fee_schedule(anonymous, {})
    assert [f["amount_fen"] for f in fees] == [1000, 1500]
    assert KnowledgeEntrypoints.doctor_profiles(anonymous, {"department": "urology"})[0]["title"] == "主任医师"
    with pytest.raises(InvalidInput) as info:
        KnowledgeEntrypoints.fee_schedule(anonymous, {"department": "泌尿"})
    assert fields_of(info) == ["department"]


# the seed ----------------------------------------------------------------------------------------------------------
def test_the_seed_fills_an_empty_base_once(store):
    assert seed(store, NOW) == len(STARTER)
    assert seed(store, NOW) == 0
    assert len(store.docs) == len(STARTER)
    closing = find(store, q="祝您早日康复")
    assert [a.title for a in closing] == ["结束语"]
    scope = find(store, q="需要检查后才能确定")[0]
    assert rules.render(scope, {"department": "泌尿外科"}) == ("根据您描述的情况，可能与泌尿外科相关，"
                                                                  "需要检查后才能确定。")
    assert {a.condition for a in find(store, kind="care_tip")} == {"前列腺炎", "鼻炎"}
    assert all(f.amount_fen >= 0 for f in usecases.fee_schedule(store))


def test_the_seed_leaves_a_maintained_base_alone(store):
    add(store, CLOSING)
    assert seed(store, NOW) == 0
    assert len(store.docs) == 1
