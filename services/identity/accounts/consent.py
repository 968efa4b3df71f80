"""The documents a person consents to, and their current versions.

PIPL (个人信息保护法) art. 28-29: medical and health information is *sensitive
personal information*; processing it needs the person's separate consent, beside
the general privacy notice. Both are shown before an account is created, both
versions are recorded with the time and origin of the consent, and either can
be withdrawn later (art. 15).
"""
from __future__ import annotations

VERSION = "2026-11-01"

DOCUMENTS = {
    "privacy_notice": {
        "version": VERSION,
        "title": "隐私政策 / Privacy notice",
        "text": (
            "我们收集您的手机号、姓名、性别、出生日期，以及您在咨询和就诊中提供的健康信息，仅用于为您提供在线咨询、"
            "预约、诊疗、处方、配药和付款服务。您的个人信息加密存储；医院工作人员只有在为您服务时才能查看，每次查看都会"
            "被记录，您可以在“谁查看了我的记录”中查到。我们不会出售您的信息，也不会用于营销。您可以随时查询、更正、"
            "导出您的信息，或撤回同意、注销账户。\n"
            "We collect your phone number, name, sex, date of birth and the health information you give in "
            "consultations and visits, only to provide online consultation, appointments, care, prescriptions, "
            "dispensing and payment. Your personal information is stored encrypted; hospital staff can see it only "
            "while serving you, and every look is recorded — you can see who looked at your record. We do not sell "
            "your information or use it for marketing. You may access, correct or export it, withdraw consent or "
            "close your account at any time."
        ),
    },
    "sensitive_health_data": {
        "version": VERSION,
        "title": "敏感个人信息处理单独同意 / Separate consent to process health data",
        "text": (
            "健康和医疗信息属于敏感个人信息。为了给您提供诊疗服务，我们需要处理您的病史、症状、检查结果、诊断和处方。"
            "这些信息只在为您服务的医务人员之间共享，并按法律规定保存（电子病历至少15年）。不同意将无法使用在线诊疗，"
            "但您仍可以获取一般性咨询信息。\n"
            "Health and medical information is sensitive personal information. To care for you we need to process "
            "your history, symptoms, results, diagnoses and prescriptions. It is shared only among the clinicians "
            "serving you and kept as the law requires (electronic records at least 15 years). Without this consent "
            "online care is not possible, but general information remains available."
        ),
    },
}


def current_versions() -> dict[str, str]:
    return {name: doc["version"] for name, doc in DOCUMENTS.items()}
