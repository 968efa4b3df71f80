"""Red flags: emergency signs in what a patient writes, found on every chat message and in the intake.

A hit means the patient is told at once to call 120 or go to the nearest emergency department
(:data:`EMERGENCY_ADVICE`) and the team lead is alerted; the caller does both, this module only detects.

How a rule matches. A rule holds alternatives (``any_of``); an alternative is a conjunction of terms that must
all appear in the normalized text (:func:`normalize`: NFKC, so full-width input reads as half-width; casefold;
collapsed whitespace). The texts handed to one scan (a message, or the fields of one intake) are searched
together, so a conjunction may be satisfied across them. Chinese terms are plain substrings, because Chinese
does not separate words. A term that starts or ends with a Latin letter or digit matches whole words only
("ear" is not found in "early"), and a trailing letter accepts the common English endings -s, -es, -ed, -d and
-ing ("faint" finds "fainted", "droop" finds "drooping").

Why there is no negation handling. "没有呼吸困难" ("no difficulty breathing") still hits ``breathing``. Negation in
colloquial Chinese and English is easy to get wrong ("不知道是不是中风", "I can't say he isn't breathing"), and a
missed emergency costs far more than an alert a team lead dismisses in a few seconds. For the same reason the
default terms lean towards recall: ordinary phrases that often accompany an emergency are accepted as the price
of not missing one. What the defaults do avoid is words that are everyday on a hospital's desk by themselves
(a plain "喉咙肿痛" sore throat, "腿抽筋" cramps, "发烧" in a toddler): those need a second, severe sign.

Speed. Scanning runs on every chat message, so a rule list is compiled once into a :class:`RedFlagScanner`
(terms normalized and deduplicated, word-boundary patterns compiled, each term searched at most once per scan);
:func:`scan` keeps the scanners of recently seen rule lists, keyed by the rules' content.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import product
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# normalizing ---------------------------------------------------------------------------------------------------------
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")  # soft hyphen, zero-width characters
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"  # radicals, CJK punctuation, kana, ideographs, hangul
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})


def normalize(text: str) -> str:
    """The form terms are searched in: NFKC (full-width → half-width), casefold, whitespace collapsed.

    Curly apostrophes become straight ones (phones type "can’t") and a space between two Chinese characters
    is dropped ("胸口 很痛" reads as "胸口很痛"), since Chinese does not separate words.
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    return _CJK_GAP.sub("", text)


def joined(texts: Iterable[str | None] | str) -> str:
    """Several texts, normalized, as one searchable string (a newline, which no term holds, separates them).

    A single string is taken as one text, not as characters; empty and missing texts are skipped.
    """
    if isinstance(texts, str):
        texts = [texts]
    return "\n".join(norm for norm in (normalize(text) for text in texts if text) if norm)


# matching terms ------------------------------------------------------------------------------------------------------
_WORDY = re.compile(r"[a-z0-9]")
_ENDINGS = "(?:s|es|ed|d|ing)?"


def _is_wordy(char: str) -> bool:
    return bool(_WORDY.fullmatch(char))


@lru_cache(maxsize=8192)
def _pattern(term: str) -> re.Pattern | None:
    """The whole-word pattern for a normalized term with a Latin letter or digit at an end; None: a substring."""
    head, tail = _is_wordy(term[0]), _is_wordy(term[-1])
    if not head and not tail:
        return None
    start = "(?<![a-z0-9])" if head else ""
    end = (_ENDINGS if term[-1].isalpha() else "") + "(?![a-z0-9])" if tail else ""
    return re.compile(start + re.escape(term) + end)


class TermSet:
    """Normalized terms compiled once; :meth:`position` finds where one first occurs in a :func:`joined` text."""

    __slots__ = ("terms", "_patterns")

    def __init__(self, terms: Iterable[str]):
        self.terms: tuple[str, ...] = tuple(terms)
        self._patterns = tuple(_pattern(term) if term else None for term in self.terms)

    def position(self, index: int, text: str) -> int:
        """Where term ``index`` first occurs in ``text``, or -1."""
        term = self.terms[index]
        if not term:
            return -1
        at = text.find(term)  # the cheap test first: most terms are absent from most messages
        pattern = self._patterns[index]
        if at < 0 or pattern is None:
            return at
        found = pattern.search(text, at)
        return found.start() if found else -1

    def positions(self, text: str) -> dict[int, int]:
        """Every term present in ``text``: index → first position."""
        found = {}
        for index in range(len(self.terms)):
            at = self.position(index, text)
            if at >= 0:
                found[index] = at
        return found


def shown(spellings: dict[int, str], found: dict[int, int], normalized: Sequence[str]) -> list[str]:
    """Matched terms as their rule spells them, in the order they occur in the text; a term found only as part
    of a longer matched one ("汗" inside "冷汗") is left out."""
    keep = [i for i in found
            if not any(j != i and normalized[i] in normalized[j] and normalized[i] != normalized[j] for j in found)]
    return [spellings[i] for i in sorted(keep, key=lambda i: (found[i], i))]


# the rules -----------------------------------------------------------------------------------------------------------
def _valid_term(term: str) -> str:
    if any(unicodedata.category(ch).startswith("C") for ch in term):
        raise ValueError("must not contain control characters")
    norm = normalize(term)
    if not norm:
        raise ValueError("must contain a word")
    if norm.isascii() and len(norm) < 3:
        raise ValueError("a Latin-letter term needs at least 3 characters")
    return term


Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60),
                 AfterValidator(_valid_term),
                 Field(description="A word or phrase, Chinese or English; case and full-width forms do not matter.")]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class RedFlagRule(BaseModel):
    """One emergency sign: it is present when every term of any one alternative appears in the text."""

    model_config = ConfigDict(extra="forbid")

    code: Slug = Field(description="Stable code, e.g. chest_pain (events and statistics carry it).")
    label_zh: Label
    label_en: Label
    any_of: list[Annotated[list[Term], Field(min_length=1, max_length=6)]] = Field(
        min_length=1, max_length=2000,
        description="Alternatives; each is a list of terms that must all appear.",
        examples=[[["胸痛", "冷汗"], ["chest pain", "sweating"]]])


class RedFlagHit(BaseModel):
    code: str
    label_zh: str
    label_en: str
    matched: list[str] = Field(description="The terms that matched, in the order they occur in the text.")


class RedFlagScanner:
    """A rule list compiled for scanning; build it once per rule table version and call :meth:`scan` often."""

    def __init__(self, rules: Sequence[RedFlagRule]):
        self.rules: tuple[RedFlagRule, ...] = tuple(rules)
        index: dict[str, int] = {}
        self._spellings: dict[int, str] = {}
        plans = []
        for rule in self.rules:
            # alternatives grouped by their first term: most first terms are absent, and then none of the
            # alternatives that start with it is looked at (a product of 10 × 10 terms costs 10 searches)
            by_first: dict[int, list[tuple[int, ...]]] = {}
            for alternative in rule.any_of:
                ids = []
                for term in alternative:
                    norm = normalize(term)
                    if norm not in index:
                        index[norm] = len(index)
                        self._spellings[index[norm]] = term
                    ids.append(index[norm])
                first, *rest = dict.fromkeys(ids)
                by_first.setdefault(first, []).append(tuple(rest))
            plans.append(tuple((first, tuple(rests)) for first, rests in by_first.items()))
        self._plans: tuple[tuple[tuple[int, tuple[tuple[int, ...], ...]], ...], ...] = tuple(plans)
        self._terms = TermSet(index)

    def scan(self, texts: Iterable[str | None] | str) -> list[RedFlagHit]:
        """The rules present in ``texts``, each at most once, in rule order."""
        text = joined(texts)
        if not text:
            return []
        seen: dict[int, int] = {}  # term → position (-1: absent); each term is searched at most once

        def at(term: int) -> int:
            if term not in seen:
                seen[term] = self._terms.position(term, text)
            return seen[term]

        hits = []
        for rule, plan in zip(self.rules, self._plans, strict=True):
            found: dict[int, int] = {}
            for first, rests in plan:
                if at(first) < 0:
                    continue
                for rest in rests:
                    if all(at(term) >= 0 for term in rest):
                        found[first] = seen[first]
                        found.update((term, seen[term]) for term in rest)
            if found:
                hits.append(RedFlagHit(code=rule.code, label_zh=rule.label_zh, label_en=rule.label_en,
                                       matched=shown(self._spellings, found, self._terms.terms)))
        return hits


def _fingerprint(rules: Sequence[RedFlagRule]) -> tuple:
    return tuple((r.code, r.label_zh, r.label_en, tuple(tuple(a) for a in r.any_of)) for r in rules)


@lru_cache(maxsize=16)
def _compiled(fingerprint: tuple) -> RedFlagScanner:
    return RedFlagScanner([RedFlagRule.model_construct(code=code, label_zh=zh, label_en=en,
                                                       any_of=[list(a) for a in any_of])
                           for code, zh, en, any_of in fingerprint])


def scanner_for(rules: Sequence[RedFlagRule]) -> RedFlagScanner:
    """The compiled scanner of ``rules``, shared by every rule list with the same content."""
    return _compiled(_fingerprint(rules))


def scan(texts: Iterable[str | None] | str, rules: Sequence[RedFlagRule]) -> list[RedFlagHit]:
    """The red flags in ``texts`` (each rule at most once, in rule order); rule lists are compiled once."""
    return scanner_for(rules).scan(texts)


# the default rules ---------------------------------------------------------------------------------------------------
def _each(*groups: Sequence[str]) -> list[list[str]]:
    """Every combination taking one term from each group (a conjunction per combination)."""
    return [list(combination) for combination in product(*groups)]


def _alone(*terms: str) -> list[list[str]]:
    return [[term] for term in terms]


_ZH_BREATHLESS = ("喘不上气", "喘不过气", "呼吸困难", "呼吸急促", "气短", "气促", "憋气", "透不过气", "上不来气")
_EN_BREATHLESS = ("short of breath", "shortness of breath", "breathless", "can't breathe", "cant breathe",
                  "cannot breathe", "hard to breathe", "difficulty breathing", "trouble breathing",
                  "can't catch my breath")

_CHEST_PAIN = RedFlagRule(
    code="chest_pain", label_zh="胸痛伴出汗或气短", label_en="Chest pain with sweating or breathlessness",
    any_of=[
        *_each(("胸痛", "胸疼", "胸口", "心口", "胸闷", "心前区", "心绞痛", "胸部痛", "胸部疼"),
               ("汗", "冷汗", "大汗", *_ZH_BREATHLESS)),
        *_each(("chest pain", "pain in my chest", "pain in his chest", "pain in her chest", "chest hurts",
                "chest is hurting", "chest tightness", "tight chest", "chest feels tight", "chest pressure",
                "pressure in my chest"),
               ("sweat", "sweaty", "clammy", *_EN_BREATHLESS)),
        *_alone("胸口剧痛", "剧烈胸痛", "胸痛剧烈", "胸口压榨", "压榨样", "胸口像压了", "心脏病发作", "心梗了",
                "是不是心梗", "急性心梗", "crushing chest pain", "having a heart attack", "is it a heart attack",
                "it's a heart attack"),
    ])

_STROKE = RedFlagRule(
    code="stroke", label_zh="中风征象（口角歪斜、一侧无力、说话不清）",
    label_en="Stroke signs (face droop, one-sided weakness, slurred speech)",
    any_of=[
        *_alone("口角歪斜", "口眼歪斜", "嘴歪", "嘴巴歪", "嘴角歪", "脸歪", "半身不遂", "一侧肢体无力", "肢体无力",
                "说话不清", "口齿不清", "说不出话", "说话含糊", "讲话不清", "说话不利索", "大舌头", "舌头不灵",
                "中风了", "是不是中风", "脑梗了", "是不是脑梗", "脑出血"),
        *_each(("半边", "一侧", "一边", "左边", "右边", "左侧", "右侧", "半身"),
               ("没力", "无力", "动不了", "不能动", "抬不起", "麻木", "发麻", "不听使唤", "没知觉")),
        *_each(("face", "mouth", "one side"), ("droop", "droopy")),
        *_each(("one side",), ("weak", "weakness", "numb", "paralysed", "paralyzed", "can't move")),
        *_alone("slurred", "slurring", "can't speak", "cant speak", "cannot speak", "can't talk", "unable to speak",
                "trouble speaking", "arm weakness", "weak arm", "arm is weak", "having a stroke", "is it a stroke",
                "is this a stroke", "it's a stroke", "signs of a stroke", "stroke symptoms"),
        *_each(("can't lift", "cant lift", "can't raise", "cannot lift"), ("arm",)),
    ])

_PREGNANCY_BLEEDING = RedFlagRule(
    code="pregnancy_bleeding", label_zh="孕期大量出血", label_en="Heavy bleeding in pregnancy",
    any_of=[
        *_each(("怀孕", "孕", "妊娠", "怀了"),
               ("大出血", "出血很多", "出血好多", "出血多", "出血特别多", "流血很多", "流血好多", "流血多", "很多血",
                "好多血", "大量出血", "大量流血", "出血不止", "流血不止", "血止不住", "血流不止")),
        *_each(("宫外孕",), ("痛", "疼", "出血", "流血", "晕")),
        *_each(("pregnant", "pregnancy", "weeks along", "expecting a baby"),
               ("heavy bleeding", "bleeding heavily", "bleeding a lot", "lot of blood", "lots of blood", "soaking",
                "gushing", "blood clots", "haemorrhage", "hemorrhage", "haemorrhaging", "hemorrhaging")),
        *_alone("ectopic"),
    ])

_BREATHING = RedFlagRule(
    code="breathing", label_zh="严重呼吸困难", label_en="Severe difficulty breathing",
    any_of=[
        *_alone("喘不过气", "喘不上气", "憋气", "呼吸很困难", "呼吸困难", "呼吸费劲", "上不来气", "透不过气",
                "喘不动", "嘴唇发紫", "嘴唇青紫", "嘴唇发青", "脸色发紫", "呼吸急促", "没有呼吸", "没呼吸",
                "不喘气", "快憋死", "呼吸不了", "不能呼吸", "没法呼吸"),
        *_alone("can't breathe", "cant breathe", "cannot breathe", "can't breath", "unable to breathe",
                "struggling to breathe", "fighting for breath", "gasping for air", "gasping for breath",
                "difficulty breathing", "trouble breathing", "hard to breathe", "not breathing", "stopped breathing",
                "lips are blue", "lips turning blue", "blue lips", "turning blue", "severely short of breath",
                "very short of breath", "choking"),
    ])

_UNCONSCIOUS = RedFlagRule(
    code="unconscious", label_zh="昏迷或晕倒", label_en="Unconsciousness or fainting",
    any_of=[
        *_alone("昏迷", "晕倒", "昏倒", "晕过去", "昏过去", "晕厥", "叫不醒", "喊不醒", "叫不应", "意识不清",
                "神志不清", "不省人事", "人事不省", "没有意识", "没意识", "失去意识", "意识模糊", "休克",
                "没反应了", "没有反应了", "突然倒地", "倒地不起"),
        *_alone("unconscious", "passed out", "fainted", "fainting", "collapsed", "unresponsive", "won't wake up",
                "wont wake up", "can't wake him", "can't wake her", "can't wake them", "not waking up",
                "blacked out", "lost consciousness", "losing consciousness", "knocked out", "not responding"),
    ])

_SUICIDE = RedFlagRule(
    code="suicide", label_zh="自杀或自伤念头", label_en="Suicidal thoughts or self-harm",
    any_of=[
        *_alone("想死", "自杀", "不想活", "轻生", "结束生命", "结束自己", "活着没意思", "活着没有意思",
                "活着没意义", "活着没有意义", "割腕", "跳楼", "寻死", "了结自己", "一了百了", "不如死了",
                "死了算了", "自我了断", "自残", "伤害自己", "自尽", "遗书"),
        *_alone("kill myself", "killing myself", "kill himself", "kill herself", "suicide", "suicidal",
                "end my life", "ending my life", "end it all", "want to die", "wanna die", "don't want to live",
                "dont want to live", "do not want to live", "take my own life", "better off dead", "hurt myself",
                "hurting myself", "self harm", "self-harm", "cut myself", "cutting myself", "no reason to live"),
    ])

_POISONING = RedFlagRule(
    code="poisoning", label_zh="中毒或药物过量", label_en="Poisoning or overdose",
    any_of=[
        *_alone("中毒", "喝了农药", "喝农药", "吃了农药", "百草枯", "敌敌畏", "老鼠药", "耗子药", "吃了很多安眠药",
                "吃了好多安眠药", "吃了一瓶", "吃了一整瓶", "吞了一瓶", "药吃多了", "吃多了药", "吃错药", "误服",
                "误食", "误吞", "服毒", "喝了消毒水", "喝了84", "一氧化碳", "毒蘑菇"),
        *_each(("安眠药", "安定片", "止痛药", "退烧药"), ("很多", "好多", "一瓶", "一板", "一把", "整瓶", "一盒")),
        *_alone("overdose", "overdosing", "took too many pills", "taken too many pills", "too many pills",
                "whole bottle of", "swallowed a bottle", "poison", "poisonous", "drank bleach", "swallowed bleach",
                "pesticide", "weed killer", "carbon monoxide", "antifreeze"),
    ])

_ANAPHYLAXIS = RedFlagRule(
    code="anaphylaxis", label_zh="严重过敏反应", label_en="Severe allergic reaction",
    any_of=[
        *_alone("过敏性休克", "喉头水肿", "喉咙肿得", "喉咙肿起来", "嗓子肿得", "喉咙发紧", "喉咙被堵", "舌头肿"),
        *_each(("过敏",), ("呼吸困难", "喘不上气", "喘不过气", "憋气", "透不过气", "喉咙肿", "嗓子肿", "喉咙紧",
                         "嘴唇肿", "脸肿", "舌头肿", "晕")),
        *_each(("喉咙肿", "嗓子肿"), ("呼吸", "喘不", "憋", "说不出话")),
        *_alone("anaphylaxis", "anaphylactic", "throat is swelling", "throat swelling", "throat is closing",
                "throat closing", "tongue is swelling", "swollen tongue", "tongue swelling", "epipen", "epi-pen"),
        *_each(("allergic", "allergy", "allergies"),
               ("can't breathe", "cannot breathe", "difficulty breathing", "trouble breathing", "hard to breathe",
                "throat", "lips swelling", "lips are swelling", "swollen lips", "face swelling")),
    ])

_SEIZURE = RedFlagRule(
    code="seizure", label_zh="抽搐或癫痫发作", label_en="Seizure",
    any_of=[
        *_alone("抽搐", "抽风", "癫痫发作", "癫痫犯了", "犯癫痫", "羊癫疯", "羊角风", "口吐白沫", "全身抽",
                "浑身抽", "四肢抽", "手脚抽动", "惊厥"),
        *_alone("seizure", "seizing", "convulsion", "convulsing", "having a fit", "epileptic fit",
                "foaming at the mouth"),
    ])

_MAJOR_BLEEDING = RedFlagRule(
    code="major_bleeding", label_zh="严重外伤或大出血", label_en="Major injury or heavy bleeding",
    any_of=[
        *_alone("大出血", "血止不住", "止不住血", "血流不止", "流血不止", "出血不止", "流了很多血", "流了好多血",
                "流了一地血", "大量出血", "大量流血", "喷血", "骨头露出来", "骨头都露出来", "被刀砍", "被捅",
                "被车撞", "从楼上摔", "从高处摔", "高处坠落", "坠楼", "头破血流", "吐血", "呕血", "大口咳血"),
        *_each(("车祸",), ("流血", "出血", "昏", "晕", "骨折", "动不了", "受伤", "起不来")),
        *_alone("bleeding heavily", "heavy bleeding", "won't stop bleeding", "wont stop bleeding",
                "bleeding won't stop", "bleeding wont stop", "can't stop the bleeding", "can't stop bleeding",
                "cant stop the bleeding", "lot of blood", "lots of blood", "blood everywhere", "spurting blood",
                "vomiting blood", "throwing up blood", "coughing up blood", "stabbed", "gunshot", "hit by a car",
                "fell from", "bone sticking out", "head injury", "severe injury"),
        *_each(("car accident", "car crash"),
               ("bleeding", "blood", "unconscious", "can't move", "broken", "injured", "hurt")),
    ])

_INFANT_FEVER = RedFlagRule(
    code="infant_fever", label_zh="婴儿高烧", label_en="High fever in an infant",
    any_of=[
        *_each(("婴儿", "新生儿", "宝宝", "个月大", "个月的", "满月", "刚出生"),
               ("高烧", "高热", "烧到39", "烧到40", "烧到41", "39度", "40度", "41度", "39.5", "39℃", "40℃")),
        # under three months any fever needs a doctor at once
        *_each(("新生儿", "刚出生", "未满月", "没满月", "满月", "一个月", "两个月", "1个月", "2个月", "3个月",
                "三个月", "几周大"),
               ("发烧", "发热", "烧到", "体温高")),
        *_each(("baby", "infant", "newborn", "month old", "months old", "month-old", "weeks old", "week old"),
               ("high fever", "high temperature", "fever of 39", "fever of 40", "temperature of 39",
                "temperature of 40", "39 degrees", "40 degrees", "39.5", "103", "104")),
        *_each(("newborn", "weeks old", "week old", "1 month old", "one month old", "2 month old", "2 months old",
                "two month old", "two months old"),
               ("fever", "temperature")),
    ])

DEFAULT_RED_FLAGS: list[RedFlagRule] = [
    _CHEST_PAIN, _STROKE, _PREGNANCY_BLEEDING, _BREATHING, _UNCONSCIOUS, _SUICIDE, _POISONING, _ANAPHYLAXIS,
    _SEIZURE, _MAJOR_BLEEDING, _INFANT_FEVER,
]

EMERGENCY_ADVICE: dict[str, str] = {
    "zh": "您描述的情况可能是急症。请立即拨打120急救电话，或尽快前往最近医院的急诊科。"
          "在线咨询不能代替急救。如果身边有人，请让他们陪着您；等待救护车时请保持电话畅通。"
          "我们的工作人员会继续在这里协助您。",
    "en": "What you describe may be an emergency. Please call 120 for an ambulance now, or go to the emergency "
          "department of the nearest hospital as soon as you can. An online consultation cannot replace emergency "
          "care. If someone is with you, ask them to stay with you, and keep your phone on while you wait for the "
          "ambulance. Our staff will keep helping you here.",
}
