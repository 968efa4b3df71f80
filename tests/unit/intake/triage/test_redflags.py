"""Red-flag detection: every default sign in patients' own Chinese and English words, and the quiet cases."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.triage import redflags
from services.intake.triage.redflags import (
    DEFAULT_RED_FLAGS,
    EMERGENCY_ADVICE,
    RedFlagRule,
    RedFlagScanner,
    normalize,
    scan,
    scanner_for,
)

# what patients and relatives actually type, per red flag
SENTENCES = {
    "chest_pain": [
        "我胸口很痛，一直在冒冷汗",
        "胸口闷痛，喘不上气，怎么办",
        "我爸说胸痛，出了一身大汗",
        "心口疼得厉害，呼吸困难",
        "My chest hurts and I'm sweating a lot",
        "crushing chest pain and short of breath",
        "I have chest pain and feel clammy",
    ],
    "stroke": [
        "我妈突然嘴歪了，说话也不清楚",
        "我爸左边手脚没力气，说话含糊",
        "奶奶口齿不清，右边胳膊抬不起来",
        "爷爷早上起来半身不遂，是不是中风",
        "my dad's face is drooping and he can't speak properly",
        "her speech is slurred and one side of her body is weak",
        "sudden arm weakness, is this a stroke?",
    ],
    "pregnancy_bleeding": [
        "怀孕8周，现在出血很多",
        "我老婆怀孕三个月，下面流了很多血",
        "孕32周大出血",
        "I'm 10 weeks pregnant and bleeding heavily",
        "pregnant and there is a lot of blood",
    ],
    "breathing": [
        "喘不过气来，憋得难受",
        "孩子呼吸很困难，嘴唇发紫",
        "我妈突然上不来气",
        "I can't breathe properly",
        "he is gasping for air",
        "my son's lips are turning blue",
    ],
    "unconscious": [
        "我爸刚才晕倒了",
        "奶奶叫不醒了",
        "他意识不清，叫他没反应了",
        "my mother passed out in the kitchen",
        "he is unconscious",
        "she fainted and won't wake up",
    ],
    "suicide": [
        "我真的不想活了",
        "最近总想自杀",
        "活着没意思，想结束自己的生命",
        "I want to kill myself",
        "I've been having suicidal thoughts",
        "I don't want to live anymore",
    ],
    "poisoning": [
        "孩子误服了奶奶的降压药",
        "我爸喝了农药",
        "她吃了很多安眠药",
        "my son swallowed bleach",
        "I think she took an overdose",
        "he drank pesticide",
        "we ate a poisonous mushroom",
    ],
    "anaphylaxis": [
        "吃了虾过敏，现在喉咙肿得说不出话",
        "打完针过敏了，呼吸困难",
        "过敏性休克怎么办",
        "I think it's anaphylaxis",
        "allergic reaction and my throat is closing",
        "my tongue is swelling after eating peanuts",
    ],
    "seizure": [
        "孩子突然抽搐，口吐白沫",
        "我爸癫痫发作了",
        "宝宝高烧惊厥",
        "my son is having a seizure",
        "she is convulsing",
        "he fell down and is foaming at the mouth",
    ],
    "major_bleeding": [
        "切菜切到手，血止不住",
        "车祸了，腿在流血",
        "他被刀砍伤了，流了很多血",
        "我爸吐血了",
        "he cut his arm and it won't stop bleeding",
        "she was hit by a car",
        "I'm coughing up blood",
        "car accident, he is bleeding",
    ],
    "infant_fever": [
        "宝宝高烧39度不退",
        "婴儿发高烧了",
        "两个月的宝宝发烧38度",
        "新生儿发热",
        "my 6 month old baby has a high fever",
        "my newborn has a fever",
        "infant with a temperature of 40",
    ],
}

QUIET = [
    "我有点咳嗽，想问问挂哪个科",
    "前列腺炎复查",
    "鼻炎犯了，一直打喷嚏",
    "请问周六有没有号",
    "我想问一下做胃镜要空腹吗",
    "腿抽筋是缺钙吗",
    "嗓子疼，喉咙肿痛好几天了",
    "孩子三岁，发烧37.8度",
    "月经量有点多，想看妇科",
    "What are your opening hours?",
    "I'd like to book a dental check-up",
    "I have had a mild headache since yesterday",
    "Can I get an early appointment for my ear?",
]


def codes(texts, rules=DEFAULT_RED_FLAGS) -> list[str]:
    return [hit.code for hit in scan(texts, rules)]


# every default red flag, in both languages -------------------------------------------------------------------------
def test_every_default_red_flag_is_tested_here():
    assert [rule.code for rule in DEFAULT_RED_FLAGS] == list(SENTENCES)


@pytest.mark.parametrize(("code", "sentence"),
                         [(code, sentence) for code, sentences in SENTENCES.items() for sentence in sentences])
def test_a_patient_sentence_raises_its_red_flag(code, sentence):
    assert code in codes([sentence])


@pytest.mark.parametrize("code", list(SENTENCES))
def test_each_red_flag_has_chinese_and_english_phrasings(code):
    chinese = [s for s in SENTENCES[code] if not s.isascii()]
    english = [s for s in SENTENCES[code] if s.isascii()]
    assert len(chinese) >= 2 and len(english) >= 2


@pytest.mark.parametrize("sentence", QUIET)
def test_everyday_questions_raise_nothing(sentence):
    assert codes([sentence]) == []


def test_full_width_input_is_read_as_half_width():
    assert codes(["ＭＹ ＣＨＥＳＴ ＨＵＲＴＳ　ａｎｄ　Ｉ ａｍ ＳＷＥＡＴＩＮＧ"]) == ["chest_pain"]
    assert codes(["宝宝高烧３９度"]) == ["infant_fever"]
    assert codes(["I can’t breathe"]) == ["breathing"]  # a phone's curly apostrophe


def test_negation_does_not_suppress_a_hit():
    # deliberate: a missed emergency costs far more than an alert the team lead dismisses
    assert codes(["没有呼吸困难"]) == ["breathing"]
    assert codes(["he is not unconscious"]) == ["unconscious"]


# how matching works ------------------------------------------------------------------------------------------------
def test_normalize():
    assert normalize("  ＣＨＥＳＴ\u3000Pain\n\t！ ") == "chest pain !"
    assert normalize("胸口 很痛") == "胸口很痛"
    assert normalize("can’t") == "can't"
    assert normalize("zero\u200bwidth") == "zerowidth"


def test_a_hit_names_its_terms_in_text_order_without_the_shorter_ones_inside_longer_ones():
    [hit] = scan(["出了一身冷汗，胸口疼"], DEFAULT_RED_FLAGS)
    assert hit.code == "chest_pain" and hit.label_zh and hit.label_en
    assert hit.matched == ["冷汗", "胸口"]  # "汗" also matched, but only inside "冷汗"


def test_each_rule_hits_at_most_once_and_in_rule_order():
    hits = scan(["他一直想自杀，刚才吃了很多安眠药，现在叫不醒，叫不醒"], DEFAULT_RED_FLAGS)
    assert [h.code for h in hits] == ["unconscious", "suicide", "poisoning"]


def test_a_conjunction_needs_every_term():
    assert codes(["胸口疼"]) == []
    assert codes(["出了很多汗"]) == []
    assert codes(["胸口疼", "出了很多汗"]) == ["chest_pain"]  # the texts of one intake are read together


def test_texts_may_be_one_string_and_may_hold_gaps():
    assert codes("我爸刚才晕倒了") == ["unconscious"]
    assert codes([None, "", "我爸刚才晕倒了"]) == ["unconscious"]
    assert codes([]) == [] and codes(["   "]) == []


def test_english_terms_match_whole_words_with_common_endings():
    rule = RedFlagRule(code="test_rule", label_zh="测试", label_en="Test", any_of=[["faint"], ["ear"]])
    assert codes(["she fainted"], [rule]) == ["test_rule"]
    assert codes(["feeling faint"], [rule]) == ["test_rule"]
    assert codes(["an early visit", "a pear", "restraint"], [rule]) == []


def test_a_custom_rule_list_replaces_the_defaults():
    rule = RedFlagRule(code="dialysis_missed", label_zh="错过透析", label_en="Missed dialysis",
                       any_of=[["透析", "没去"], ["missed", "dialysis"]])
    assert codes(["这周透析没去成"], [rule]) == ["dialysis_missed"]
    assert codes(["I missed my dialysis"], [rule]) == ["dialysis_missed"]
    assert codes(["我爸刚才晕倒了"], [rule]) == []


# speed: a rule list is compiled once -------------------------------------------------------------------------------
def test_scan_compiles_each_rule_list_once(monkeypatch):
    built = []
    original = RedFlagScanner.__init__

    def counting(self, rules):
        built.append(len(rules))
        original(self, rules)

    monkeypatch.setattr(RedFlagScanner, "__init__", counting)
    redflags._compiled.cache_clear()
    for text in ["你好", "我爸刚才晕倒了", "请问几点上班"]:
        scan([text], DEFAULT_RED_FLAGS)
    # equal content in new objects (what the rule book hands out on every message) reuses the scanner
    copies = [rule.model_copy(deep=True) for rule in DEFAULT_RED_FLAGS]
    assert codes(["我爸刚才晕倒了"], copies) == ["unconscious"]
    assert scanner_for(copies) is scanner_for(DEFAULT_RED_FLAGS)
    assert built == [len(DEFAULT_RED_FLAGS)]

    # different content is compiled anew, never served from a stale scanner
    copies[4].any_of.append(["zzz_new_term"])
    assert codes(["zzz_new_term"], copies) == ["unconscious"]
    assert built == [len(DEFAULT_RED_FLAGS), len(DEFAULT_RED_FLAGS)]


def test_a_scanner_can_be_kept_and_reused():
    scanner = RedFlagScanner(DEFAULT_RED_FLAGS)
    assert [h.code for h in scanner.scan(["我真的不想活了"])] == ["suicide"]
    assert scanner.scan(["请问几点上班"]) == []


# the rules and the advice ------------------------------------------------------------------------------------------
def test_default_rules_are_valid_and_uniquely_coded():
    assert len({rule.code for rule in DEFAULT_RED_FLAGS}) == len(DEFAULT_RED_FLAGS) >= 11
    for rule in DEFAULT_RED_FLAGS:
        RedFlagRule.model_validate(rule.model_dump())


@pytest.mark.parametrize(("changes", "field"), [
    ({"code": "Chest-Pain"}, "code"),
    ({"code": "x"}, "code"),
    ({"label_zh": " "}, "label_zh"),
    ({"any_of": []}, "any_of"),
    ({"any_of": [[]]}, "any_of.0"),
    ({"any_of": [["胸痛", "  "]]}, "any_of.0.1"),
    ({"any_of": [["ab"]]}, "any_of.0.0"),
    ({"severity": "high"}, "severity"),
])
def test_a_rule_is_validated(changes, field):
    data = {"code": "chest_pain", "label_zh": "胸痛", "label_en": "Chest pain", "any_of": [["胸痛", "汗"]],
            **changes}
    with pytest.raises(ValidationError) as info:
        RedFlagRule.model_validate(data)
    assert field in {".".join(str(part) for part in err["loc"]) for err in info.value.errors()}


def test_a_single_chinese_character_is_a_valid_term():
    assert RedFlagRule(code="sweat", label_zh="出汗", label_en="Sweat", any_of=[["汗"]]).any_of == [["汗"]]


def test_the_emergency_advice_says_what_to_do_calmly():
    assert "120" in EMERGENCY_ADVICE["zh"] and "急诊" in EMERGENCY_ADVICE["zh"]
    assert "在线咨询不能代替急救" in EMERGENCY_ADVICE["zh"]
    assert "120" in EMERGENCY_ADVICE["en"] and "emergency department" in EMERGENCY_ADVICE["en"]
