"""Department and doctor advice: hedged, explained by its reasons, never steering to an expert."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.triage.advice import (
    DEFAULT_TRIAGE_RULES,
    DoctorPreference,
    DoctorProfile,
    TriageRule,
    recommend_departments,
    recommend_doctors,
)
from wenzhen.errors import InvalidInput


def departments(texts, rules=DEFAULT_TRIAGE_RULES, limit=3) -> list[str]:
    return [advice.department for advice in recommend_departments(texts, rules, limit)]


def rule(department: str, *keywords: str, weight: int = 1, **extra) -> TriageRule:
    return TriageRule(department=department, department_zh=department.upper(), department_en=department.title(),
                      keywords=list(keywords), weight=weight, **extra)


# the default table -------------------------------------------------------------------------------------------------
def test_the_default_table_covers_a_general_hospitals_desk():
    codes = [r.department for r in DEFAULT_TRIAGE_RULES]
    assert len(codes) == len(set(codes)) >= 12
    assert {"urology", "gynaecology", "dermatology", "ent", "gastroenterology", "cardiology", "respiratory",
            "neurology", "orthopaedics", "paediatrics", "ophthalmology", "stomatology", "endocrinology",
            "psychiatry", "general_surgery"} <= set(codes)
    for r in DEFAULT_TRIAGE_RULES:
        TriageRule.model_validate(r.model_dump())


@pytest.mark.parametrize(("text", "department"), [
    ("前列腺炎复查", "urology"),
    ("鼻炎犯了，一直打喷嚏", "ent"),
    ("我有点咳嗽，想问问挂哪个科", "respiratory"),
    ("最近老是胃疼，还反酸", "gastroenterology"),
    ("脸上长了很多痘痘", "dermatology"),
    ("月经不调，痛经很厉害", "gynaecology"),
    ("牙疼好几天了，智齿发炎", "stomatology"),
    ("血糖有点高，是不是糖尿病", "endocrinology"),
    ("最近老是失眠，心情不好", "psychiatry"),
    ("膝盖疼，上下楼梯更明显", "orthopaedics"),
    ("看东西模糊，近视加深了", "ophthalmology"),
    ("经常偏头痛", "neurology"),
    ("心慌心悸，血压高", "cardiology"),
    ("痔疮出血", "proctology"),
    ("右下腹疼，怀疑阑尾炎", "general_surgery"),
    ("I have had prostatitis for a year", "urology"),
    ("my allergic rhinitis is back", "ent"),
    ("I have a bad toothache", "stomatology"),
])
def test_complaints_point_to_their_department(text, department):
    assert departments([text])[0] == department


def test_a_childs_symptoms_lean_to_paediatrics():
    assert departments(["孩子咳嗽三天了"]) == ["paediatrics", "respiratory"]


# scoring and ordering ----------------------------------------------------------------------------------------------
def test_the_advice_is_hedged_and_names_the_words_found():
    [advice] = recommend_departments(["最近尿频、尿痛，很难受"], DEFAULT_TRIAGE_RULES)
    assert advice.department == "urology" and advice.matched == ["尿频", "尿痛"] and advice.score == 2
    assert advice.reason == "根据您描述的“尿频、尿痛”，可能与泌尿外科相关，需要检查后才能确定。"
    assert "may be" in advice.reason_en and "examination is needed" in advice.reason_en
    assert "“尿频, 尿痛”" in advice.reason_en


def test_a_rules_own_reason_follows_the_hedged_sentence():
    [advice] = recommend_departments(["鼻炎"], DEFAULT_TRIAGE_RULES)
    assert advice.reason.startswith("根据您描述的“鼻炎”，可能与耳鼻喉科相关，需要检查后才能确定。")
    assert advice.reason.endswith("鼻、耳、咽喉的问题多在耳鼻喉科就诊。")


def test_departments_are_ordered_by_score_then_table_order():
    rules = [rule("aaa", "头疼"), rule("bbb", "尿频", "尿痛"), rule("ccc", "发烧")]
    assert departments(["尿频尿痛，还有点头疼，发烧"], rules) == ["bbb", "aaa", "ccc"]
    assert departments(["头疼发烧"], rules) == ["aaa", "ccc"]
    assert departments(["头疼发烧"], list(reversed(rules))) == ["ccc", "aaa"]


def test_weight_counts_per_distinct_keyword():
    rules = [rule("aaa", "咳嗽", "发烧"), rule("bbb", "孩子", weight=3)]
    advice = recommend_departments(["孩子咳嗽，咳嗽，发烧，孩子"], rules)
    assert [(a.department, a.score) for a in advice] == [("bbb", 3), ("aaa", 2)]


def test_a_keyword_inside_a_longer_one_is_not_counted_twice():
    [advice] = recommend_departments(["前列腺炎复查"], DEFAULT_TRIAGE_RULES)
    assert advice.matched == ["前列腺炎"] and advice.score == 1


def test_limit_and_nothing_found():
    assert len(recommend_departments(["孩子咳嗽发烧，头疼，牙疼，胃疼"], DEFAULT_TRIAGE_RULES, limit=2)) == 2
    assert recommend_departments(["请问周六有没有号"], DEFAULT_TRIAGE_RULES) == []
    assert recommend_departments([], DEFAULT_TRIAGE_RULES) == []
    with pytest.raises(InvalidInput) as info:
        recommend_departments(["咳嗽"], DEFAULT_TRIAGE_RULES, limit=0)
    assert info.value.errors[0]["field"] == "limit"


def test_full_width_and_whole_english_words():
    assert departments(["ＲＨＩＮＩＴＩＳ"]) == ["ent"]
    assert departments(["my ear hurts"]) == ["ent"]
    assert departments(["an early appointment please"]) == []


@pytest.mark.parametrize(("changes", "field"), [
    ({"department": "Urology"}, "department"),
    ({"keywords": []}, "keywords"),
    ({"keywords": ["尿频", " "]}, "keywords.1"),
    ({"weight": 0}, "weight"),
    ({"weight": 11}, "weight"),
    ({"department_zh": ""}, "department_zh"),
    ({"doctor": "acc_1"}, "doctor"),
])
def test_a_triage_rule_is_validated(changes, field):
    data = {"department": "urology", "department_zh": "泌尿外科", "department_en": "Urology",
            "keywords": ["尿频"], **changes}
    with pytest.raises(ValidationError) as info:
        TriageRule.model_validate(data)
    assert field in {".".join(str(part) for part in err["loc"]) for err in info.value.errors()}


# doctors -----------------------------------------------------------------------------------------------------------
WANG = DoctorProfile(doctor_id="acc_d1", department="urology", title="主任医师", expertise=["前列腺炎"], sex="male")
LI = DoctorProfile(doctor_id="acc_d2", department="urology", title="主治医师",
                   expertise=["尿路结石、前列腺增生"], sex="female")
ZHAO = DoctorProfile(doctor_id="acc_d3", department="urology", title="副主任医师", expertise=[], sex="female")
CHEN = DoctorProfile(doctor_id="acc_d4", department="ent", title="主任医师", expertise=["鼻炎", "前列腺炎"],
                     sex="male")
DOCTORS = [WANG, LI, ZHAO, CHEN]


def ranked(advice) -> list[str]:
    return [a.doctor_id for a in advice]


def test_only_doctors_of_the_department_are_advised():
    assert set(ranked(recommend_doctors("urology", ["前列腺炎"], DOCTORS))) == {"acc_d1", "acc_d2", "acc_d3"}
    assert recommend_doctors("cardiology", ["前列腺炎"], DOCTORS) == []


def test_expertise_in_the_patients_words_ranks_first_and_says_so():
    advice = recommend_doctors("urology", ["前列腺炎复查"], DOCTORS)
    assert ranked(advice) == ["acc_d1", "acc_d2", "acc_d3"]
    assert advice[0].reasons[0] == "擅长：前列腺炎" and advice[0].score == 2.0
    second = recommend_doctors("urology", ["前列腺增生，尿路结石"], DOCTORS)  # a list-like expertise entry is split
    assert second[0].doctor_id == "acc_d2" and second[0].reasons[0] == "擅长：前列腺增生、尿路结石"


def test_unknown_availability_is_said_and_no_number_invented():
    advice = recommend_doctors("urology", ["尿频"], DOCTORS)
    for item in advice:
        assert item.reasons == ["未来3天号源情况未知"] and item.score == 0.0
    partly = recommend_doctors("urology", ["尿频"], DOCTORS, availability={"acc_d1": 2})
    assert {a.doctor_id: a.reasons[-1] for a in partly}["acc_d3"] == "未来3天号源情况未知"


def test_free_slots_count_and_a_fully_booked_doctor_ranks_last():
    availability = {"acc_d1": 0, "acc_d2": 5, "acc_d3": 12}
    advice = recommend_doctors("urology", ["前列腺炎"], DOCTORS, availability=availability)
    assert ranked(advice) == ["acc_d3", "acc_d2", "acc_d1"]  # the expert with no slot is last despite expertise
    by_id = {a.doctor_id: a for a in advice}
    assert by_id["acc_d1"].reasons == ["擅长：前列腺炎", "未来3天已无号"]
    assert by_id["acc_d2"].reasons == ["未来3天有号：5个"] and by_id["acc_d2"].score == 0.5
    assert by_id["acc_d3"].reasons == ["未来3天有号：12个"] and by_id["acc_d3"].score == 1.0  # capped
    week = recommend_doctors("urology", [], DOCTORS, availability=availability, days=7)
    assert {a.doctor_id: a.reasons for a in week}["acc_d2"] == ["未来7天有号：5个"]


def test_the_patients_preference_counts_and_is_named():
    women = recommend_doctors("urology", ["前列腺炎"], DOCTORS, preference=DoctorPreference(sex="female"))
    assert ranked(women) == ["acc_d1", "acc_d2", "acc_d3"]
    assert "患者希望女医生" in women[1].reasons and "患者希望女医生" not in women[0].reasons
    chosen = recommend_doctors("urology", ["前列腺炎"], DOCTORS, preference=DoctorPreference(doctor_id="acc_d3"))
    assert chosen[0].doctor_id == "acc_d3" and chosen[0].reasons[0] == "患者指定了这位医生"
    title = recommend_doctors("urology", [], DOCTORS, preference=DoctorPreference(title="副主任医师"))
    assert title[0].doctor_id == "acc_d3" and title[0].reasons[0] == "患者希望看副主任医师"


def test_title_and_list_order_never_rank_a_doctor_by_themselves():
    senior = DoctorProfile(doctor_id="acc_z9", department="ent", title="主任医师", expertise=[])
    junior = DoctorProfile(doctor_id="acc_a1", department="ent", title="住院医师", expertise=[])
    assert ranked(recommend_doctors("ent", ["鼻炎"], [senior, junior])) == ["acc_a1", "acc_z9"]
    assert ranked(recommend_doctors("ent", ["鼻炎"], [junior, senior])) == ["acc_a1", "acc_z9"]
    swapped = [senior.model_copy(update={"title": "住院医师"}), junior.model_copy(update={"title": "主任医师"})]
    assert ranked(recommend_doctors("ent", ["鼻炎"], swapped)) == ["acc_a1", "acc_z9"]


def test_every_point_of_a_score_has_a_reason():
    advice = recommend_doctors("urology", ["前列腺炎"], DOCTORS, availability={"acc_d1": 3},
                               preference=DoctorPreference(sex="male", title="主任医师", doctor_id="acc_d1"))
    assert advice[0].doctor_id == "acc_d1" and advice[0].score == 2.0 + 5.0 + 1.0 + 1.0 + 0.3
    assert advice[0].reasons == ["擅长：前列腺炎", "患者指定了这位医生", "患者希望男医生", "患者希望看主任医师",
                                 "未来3天有号：3个"]


def test_doctor_advice_input_is_checked():
    with pytest.raises(InvalidInput) as info:
        recommend_doctors("urology", [], DOCTORS, availability={"acc_d2": -1})
    assert info.value.errors[0]["field"] == "availability.acc_d2"
    with pytest.raises(InvalidInput) as info:
        recommend_doctors("urology", [], DOCTORS, limit=0)
    assert info.value.errors[0]["field"] == "limit"
    with pytest.raises(ValidationError):
        DoctorPreference(sex="unknown")
    assert len(recommend_doctors("urology", [], DOCTORS, limit=1)) == 1
