"""Department and doctor advice for the consultant, from what the patient wrote.

This is advice shown to the consultant with its reasons, never a diagnosis: the department sentence is hedged
("可能与……相关，需要检查后才能确定", DOMAIN.md, step 4 of the consultation) and names the words it rests on.

Departments. A keyword is found the way red-flag terms are (:mod:`services.intake.triage.redflags`: normalized text,
Chinese as substrings, English as whole words). A department scores its weight for each distinct keyword found;
a keyword found only inside a longer one of the same department ("前列腺" inside "前列腺炎") does not count
twice. Ties keep the table's order.

Doctors. DOMAIN.md: consultants must not push a patient toward a particular expert. So the ranking uses only
what the listed reasons say — the doctor's stated expertise found in the patient's words, free slots in the
next days, and the patient's own stated preference (a named doctor, a sex, a title) — and never title,
seniority or price by themselves. Every point of the score has a reason line; ties go by doctor id, a neutral
order, so the order of the list handed in (often by seniority) does not rank anyone either. A doctor with no
free slot is listed last; when availability is unknown the reasons say so instead of showing a number.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.intake.consultations import DoctorPreference
from services.intake.triage.redflags import Label, Slug, Term, TermSet, joined, normalize, shown
from wenzhen.errors import InvalidInput, field_error

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TriageRule(BaseModel):
    """Keywords that point to a department."""

    model_config = ConfigDict(extra="forbid")

    department: Slug = Field(description="Department code, e.g. urology.")
    department_zh: Label
    department_en: Label
    keywords: list[Term] = Field(min_length=1, max_length=300, examples=[["前列腺炎", "尿频", "prostatitis"]])
    weight: int = Field(default=1, ge=1, le=10, description="Points per distinct keyword found.")
    reason_zh: Reason | None = Field(default=None, description="A sentence added to the advice, e.g. what the "
                                                               "department treats.")
    reason_en: Reason | None = None


class DepartmentAdvice(BaseModel):
    department: str
    department_zh: str
    department_en: str
    score: int
    matched: list[str] = Field(description="The keywords found, in the order the patient wrote them.")
    reason: str = Field(description="A hedged sentence in Chinese naming the words found; never a diagnosis.")
    reason_en: str


# departments ---------------------------------------------------------------------------------------------------------
class TriageTable:
    """A triage rule list compiled once for matching."""

    def __init__(self, rules: Sequence[TriageRule]):
        self.rules: tuple[TriageRule, ...] = tuple(rules)
        index: dict[str, int] = {}
        self._spellings: dict[int, str] = {}
        self._keywords: list[tuple[int, ...]] = []
        for rule in self.rules:
            ids = []
            for keyword in rule.keywords:
                norm = normalize(keyword)
                if norm not in index:
                    index[norm] = len(index)
                    self._spellings[index[norm]] = keyword
                ids.append(index[norm])
            self._keywords.append(tuple(dict.fromkeys(ids)))
        self._terms = TermSet(index)

    def recommend(self, texts: Iterable[str | None] | str, limit: int = 3) -> list[DepartmentAdvice]:
        _check_limit(limit)
        text = joined(texts)
        if not text:
            return []
        positions = self._terms.positions(text)
        scored = []
        for order, (rule, keywords) in enumerate(zip(self.rules, self._keywords, strict=True)):
            found = {term: positions[term] for term in keywords if term in positions}
            matched = shown(self._spellings, found, self._terms.terms)
            if matched:
                scored.append((-rule.weight * len(matched), order, _advice(rule, rule.weight * len(matched), matched)))
        scored.sort(key=lambda item: item[:2])
        return [advice for _, _, advice in scored[:limit]]


def _advice(rule: TriageRule, score: int, matched: list[str]) -> DepartmentAdvice:
    words = "、".join(matched)
    reason = f"根据您描述的“{words}”，可能与{rule.department_zh}相关，需要检查后才能确定。"
    reason_en = (f"From what you describe (“{', '.join(matched)}”), this may be a matter for "
                 f"{rule.department_en}; an examination is needed to confirm.")
    if rule.reason_zh:
        reason += rule.reason_zh
    if rule.reason_en:
        reason_en += " " + rule.reason_en
    return DepartmentAdvice(department=rule.department, department_zh=rule.department_zh,
                            department_en=rule.department_en, score=score, matched=matched, reason=reason,
                            reason_en=reason_en)


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 20:
        raise InvalidInput("The limit is out of range.", [field_error("limit", "must be a whole number from 1 to 20")])


def _fingerprint(rules: Sequence[TriageRule]) -> tuple:
    return tuple((r.department, r.department_zh, r.department_en, tuple(r.keywords), r.weight, r.reason_zh,
                  r.reason_en) for r in rules)


@lru_cache(maxsize=16)
def _compiled(fingerprint: tuple) -> TriageTable:
    return TriageTable([TriageRule.model_construct(department=d, department_zh=zh, department_en=en,
                                                   keywords=list(k), weight=w, reason_zh=rz, reason_en=ren)
                        for d, zh, en, k, w, rz, ren in fingerprint])


def table_for(rules: Sequence[TriageRule]) -> TriageTable:
    """The compiled table of ``rules``, shared by every rule list with the same content."""
    return _compiled(_fingerprint(rules))


def recommend_departments(texts: Iterable[str | None] | str, rules: Sequence[TriageRule],
                          limit: int = 3) -> list[DepartmentAdvice]:
    """Up to ``limit`` departments, best first (score, then table order); empty when no keyword is found."""
    return table_for(rules).recommend(texts, limit)


# doctors -------------------------------------------------------------------------------------------------------------
class DoctorProfile(BaseModel):
    """What the advice needs to know about a doctor (built from the staff directory)."""

    model_config = ConfigDict(extra="ignore")

    doctor_id: str = Field(min_length=1)
    department: str | None = Field(default=None, description="Department code; a doctor without one is never "
                                                             "advised")
    title: str = Field(description="Professional title, e.g. 主任医师; shown, never ranked by itself.")
    expertise: list[str] = Field(default_factory=list, description="What the doctor is good at, e.g. 前列腺炎.")
    sex: str | None = Field(default=None, description="male or female (FHIR administrative gender)")


class DoctorAdvice(BaseModel):
    doctor_id: str
    department: str
    score: float
    reasons: list[str] = Field(description="Shown to the consultant; together they explain the score.")


EXPERTISE_POINTS = 2.0  # per expertise term found in the patient's words
CHOSEN_POINTS = 5.0  # the patient asked for this doctor (allowed: it is the patient's choice, not the desk's)
PREFERENCE_POINTS = 1.0  # per stated preference the doctor meets (sex, title)
SLOT_POINTS = 0.1  # per free slot, up to SLOT_CAP slots
SLOT_CAP = 10
_SEX_ZH = {"male": "男", "female": "女"}


_LIST_SEPARATORS = re.compile(r"[、,，;；/]")


@lru_cache(maxsize=512)
def _expertise_terms(expertise: tuple[str, ...]) -> tuple[TermSet, dict[int, str]]:
    """A doctor's expertise as terms; an entry written as a list ("前列腺炎、前列腺增生") is split."""
    index: dict[str, int] = {}
    spellings: dict[int, str] = {}
    for item in (part.strip() for entry in expertise for part in _LIST_SEPARATORS.split(entry)):
        norm = normalize(item)
        if norm and norm not in index:
            index[norm] = len(index)
            spellings[index[norm]] = item
    return TermSet(index), spellings


def _availability(doctor_id: str, availability: Mapping[str, int] | None, days: int) -> tuple[float, str, bool]:
    """Points, the reason line, and whether the doctor is fully booked."""
    slots = None if availability is None else availability.get(doctor_id)
    if slots is None:
        return 0.0, f"未来{days}天号源情况未知", False
    if slots == 0:
        return 0.0, f"未来{days}天已无号", True
    return min(slots, SLOT_CAP) * SLOT_POINTS, f"未来{days}天有号：{slots}个", False


def _check_availability(availability: Mapping[str, int] | None) -> None:
    for doctor_id, slots in (availability or {}).items():
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
            raise InvalidInput("Free slots must be whole numbers, 0 or more.",
                               [field_error(f"availability.{doctor_id}", "must be a whole number, 0 or more")])


def recommend_doctors(department: str, texts: Iterable[str | None] | str, doctors: Sequence[DoctorProfile],
                      availability: Mapping[str, int] | None = None, preference: DoctorPreference | None = None,
                      limit: int = 3, *, days: int = 3) -> list[DoctorAdvice]:
    """Up to ``limit`` doctors of ``department``, best first, each with the reasons for its place.

    ``availability``: free slots per doctor id in the next ``days`` days; None (or a doctor missing from it)
    means unknown. A doctor with 0 free slots ranks after every other.
    """
    _check_limit(limit)
    _check_availability(availability)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInput("The number of days is out of range.", [field_error("days", "must be 1 or more")])
    preference = preference or DoctorPreference()
    text = joined(texts)
    ranked = []
    for doctor in doctors:
        if doctor.department != department:
            continue
        score, reasons = 0.0, []
        terms, spellings = _expertise_terms(tuple(doctor.expertise))
        matched = shown(spellings, terms.positions(text), terms.terms) if text else []
        if matched:
            score += EXPERTISE_POINTS * len(matched)
            reasons.append("擅长：" + "、".join(matched))
        if preference.doctor_id and preference.doctor_id == doctor.doctor_id:
            score += CHOSEN_POINTS
            reasons.append("患者指定了这位医生")
        if preference.sex and preference.sex == doctor.sex:
            score += PREFERENCE_POINTS
            reasons.append(f"患者希望{_SEX_ZH[preference.sex]}医生")
        if preference.title and doctor.title and normalize(preference.title) == normalize(doctor.title):
            score += PREFERENCE_POINTS
            reasons.append(f"患者希望看{preference.title}")
        points, line, booked_up = _availability(doctor.doctor_id, availability, days)
        score += points
        reasons.append(line)
        ranked.append((booked_up, -round(score, 2), doctor.doctor_id,
                       DoctorAdvice(doctor_id=doctor.doctor_id, department=doctor.department, score=round(score, 2),
                                    reasons=reasons)))
    ranked.sort(key=lambda item: item[:3])
    return [advice for *_, advice in ranked[:limit]]


# the default table ---------------------------------------------------------------------------------------------------
def _rule(department: str, zh: str, en: str, keywords: list[str], weight: int = 1,
          reason_zh: str | None = None, reason_en: str | None = None) -> TriageRule:
    return TriageRule(department=department, department_zh=zh, department_en=en, keywords=keywords, weight=weight,
                      reason_zh=reason_zh, reason_en=reason_en)


DEFAULT_TRIAGE_RULES: list[TriageRule] = [
    # children and pregnancy first: a child's cough goes to paediatrics, hence the higher weights
    _rule("paediatrics", "儿科", "Paediatrics",
          ["宝宝", "婴儿", "新生儿", "小孩", "孩子", "儿童", "幼儿", "小朋友", "baby", "infant", "newborn", "toddler",
           "my child", "my son", "my daughter", "kid"], weight=2,
          reason_zh="儿童的不适一般先看儿科。", reason_en="Children are usually seen in paediatrics first."),
    _rule("obstetrics", "产科", "Obstetrics",
          ["怀孕", "孕期", "孕周", "孕妇", "早孕", "产检", "孕吐", "胎动", "胎儿", "产后", "pregnant", "pregnancy",
           "prenatal", "antenatal", "morning sickness", "postpartum"], weight=2),
    _rule("urology", "泌尿外科", "Urology",
          ["前列腺炎", "前列腺", "尿频", "尿急", "尿痛", "尿血", "血尿", "排尿困难", "尿不尽", "肾结石", "尿路结石",
           "输尿管结石", "尿路感染", "阳痿", "早泄", "勃起", "包皮", "睾丸", "阴囊", "prostatitis", "prostate",
           "frequent urination", "painful urination", "blood in urine", "kidney stone", "urinary tract infection",
           "erectile", "testicle", "foreskin"]),
    _rule("gynaecology", "妇科", "Gynaecology",
          ["月经", "痛经", "白带", "阴道", "宫颈", "子宫", "卵巢", "妇科", "外阴", "盆腔炎", "不孕", "备孕", "绝经",
           "更年期", "period", "menstrual", "vaginal", "uterus", "ovary", "ovarian", "menopause", "infertility"]),
    _rule("dermatology", "皮肤科", "Dermatology",
          ["湿疹", "皮疹", "疹子", "痘痘", "痤疮", "青春痘", "皮肤痒", "瘙痒", "荨麻疹", "脱发", "癣", "白癜风",
           "银屑病", "牛皮癣", "长斑", "色斑", "rash", "acne", "eczema", "itchy skin", "hives", "psoriasis",
           "hair loss", "fungal infection"]),
    _rule("ent", "耳鼻喉科", "ENT (ear, nose and throat)",
          ["鼻炎", "鼻塞", "流鼻涕", "打喷嚏", "鼻窦炎", "流鼻血", "鼻出血", "耳鸣", "耳聋", "听力下降", "中耳炎",
           "耳朵", "咽炎", "扁桃体", "嗓子", "喉咙", "声音嘶哑", "打鼾", "打呼噜", "rhinitis", "blocked nose",
           "runny nose", "sinusitis", "nosebleed", "tinnitus", "hearing loss", "ear", "sore throat", "tonsil",
           "hoarse", "snoring"],
          reason_zh="鼻、耳、咽喉的问题多在耳鼻喉科就诊。", reason_en="Nose, ear and throat problems are seen in ENT."),
    _rule("gastroenterology", "消化内科", "Gastroenterology",
          ["胃痛", "胃疼", "胃胀", "胃不舒服", "反酸", "烧心", "腹泻", "拉肚子", "便秘", "恶心", "呕吐", "消化不良",
           "胃炎", "胃溃疡", "肝炎", "脂肪肝", "幽门螺杆菌", "肚子胀", "stomach ache", "stomachache",
           "diarrhoea", "diarrhea", "constipation", "heartburn", "acid reflux", "nausea", "vomiting", "indigestion",
           "gastritis", "hepatitis", "fatty liver"]),
    _rule("cardiology", "心血管内科", "Cardiology",
          ["心慌", "心悸", "胸闷", "胸痛", "心跳快", "心跳慢", "高血压", "血压高", "心律不齐", "早搏", "冠心病",
           "心脏", "palpitations", "high blood pressure", "hypertension", "chest pain", "heart"]),
    _rule("respiratory", "呼吸内科", "Respiratory medicine",
          ["咳嗽", "咳痰", "有痰", "气喘", "哮喘", "肺炎", "支气管", "肺结节", "慢阻肺", "cough", "phlegm",
           "asthma", "bronchitis", "pneumonia", "wheezing", "lung nodule"]),
    _rule("neurology", "神经内科", "Neurology",
          ["头痛", "头疼", "偏头痛", "头晕", "眩晕", "手麻", "脚麻", "手脚麻", "记忆力下降", "帕金森", "中风",
           "脑梗", "癫痫", "headache", "migraine", "dizzy", "dizziness", "vertigo", "numbness", "parkinson",
           "epilepsy"]),
    _rule("orthopaedics", "骨科", "Orthopaedics",
          ["骨折", "腰疼", "腰痛", "腰椎", "颈椎", "椎间盘", "膝盖", "关节痛", "关节疼", "扭伤", "骨质疏松",
           "肩周炎", "脖子疼", "fracture", "back pain", "knee", "joint pain", "sprain", "neck pain", "shoulder pain",
           "osteoporosis"]),
    _rule("ophthalmology", "眼科", "Ophthalmology",
          ["眼睛", "视力", "近视", "散光", "白内障", "青光眼", "眼干", "眼红", "看不清", "飞蚊症", "结膜炎",
           "eye", "vision", "blurred", "cataract", "glaucoma", "short-sighted", "myopia"]),
    _rule("stomatology", "口腔科", "Stomatology (dental)",
          ["牙疼", "牙痛", "蛀牙", "龋齿", "牙龈", "智齿", "口腔溃疡", "牙齿", "拔牙", "补牙", "种植牙", "种牙",
           "正畸", "牙套", "toothache", "tooth", "teeth", "gum", "wisdom tooth", "dental", "braces",
           "mouth ulcer"]),
    _rule("endocrinology", "内分泌科", "Endocrinology",
          ["糖尿病", "血糖", "甲状腺", "甲亢", "甲减", "痛风", "尿酸", "肥胖", "diabetes", "blood sugar", "thyroid",
           "gout", "uric acid", "obesity"]),
    _rule("psychiatry", "精神心理科", "Psychiatry and psychology",
          ["失眠", "睡不着", "焦虑", "抑郁", "心情不好", "情绪低落", "压力大", "惊恐", "强迫症", "insomnia",
           "can't sleep", "anxiety", "anxious", "depression", "depressed", "panic", "low mood", "ocd"]),
    _rule("general_surgery", "普通外科", "General surgery",
          ["阑尾炎", "疝气", "胆结石", "胆囊", "乳腺", "乳房", "脂肪瘤", "肿块", "包块", "伤口", "甲状腺结节",
           "appendicitis", "hernia", "gallstone", "gallbladder", "breast lump", "lump", "lipoma", "wound"]),
    _rule("proctology", "肛肠科", "Proctology (colorectal)",
          ["痔疮", "肛裂", "肛瘘", "肛门", "肛周", "便血", "大便出血", "haemorrhoids", "hemorrhoids", "piles",
           "anal fissure", "blood in stool"]),
]
