"""A small, honest starter set for the knowledge base, so a new installation (and the demo) has something to search.

The texts follow the consultation steps in DOMAIN.md: care tips (温馨提示) per condition, the hedged scope
statement, the advice to come in person, how fees are quoted, and the closing wish. No sales scripts. The fee
amounts are examples: each carries an internal note (never shown to patients) asking the hospital to check it
against its own published prices before quoting it.

``seed(store, now)`` inserts only into an empty knowledge base, so calling it at every start is harmless; the entries
go through the same validation as a manager's.
"""
from __future__ import annotations

from datetime import datetime

from contracts.intake.knowledge import ArticleInput
from services.intake.knowledge.store import KnowledgeStore
from wenzhen.storage import Tx

SEEDED_BY = "intake:seed"
_CHECK_PRICE = "示例金额：请按本院物价公示核对后再向患者报价。"

STARTER: list[dict] = [
    {"kind": "care_tip", "title": "前列腺炎温馨提示", "condition": "前列腺炎", "department": "urology",
     "tags": ["温馨提示", "生活习惯"],
     "body": "温馨提示：前列腺炎患者请戒酒，少吃辛辣刺激的食物；避免久坐和长时间开车，每坐一小时起身活动一下；"
             "多喝水、不憋尿，注意保暖。症状持续或加重时，请及时到医院检查。"},
    {"kind": "care_tip", "title": "鼻炎温馨提示", "condition": "鼻炎", "department": "ent",
     "tags": ["温馨提示", "生活习惯"],
     "body": "温馨提示：鼻炎患者平时可以适当锻炼身体、增强体质；坚持用冷水洗脸，帮助鼻腔适应冷空气；"
             "外出注意防寒保暖，尽量避开已知的过敏原。鼻塞、流涕长期不缓解时，请到医院检查。"},
    {"kind": "reply_template", "title": "科室判断（需检查确认）", "tags": ["科室", "初步判断"],
     "body": "根据您描述的情况，可能与{department}相关，需要检查后才能确定。"},
    {"kind": "reply_template", "title": "建议到院面诊", "tags": ["面诊"],
     "body": "您的情况在线上难以作出判断，建议您到医院面诊，由医生检查后再确定诊疗方案。"},
    {"kind": "reply_template", "title": "费用说明", "tags": ["费用"],
     "body": "挂号费、诊查费等基础收费可以先告诉您；治疗费用要等医生检查后，根据您的具体情况才能确定。"},
    {"kind": "reply_template", "title": "预约确认", "tags": ["预约"],
     "body": "{surname}先生/女士，已为您预约{department}{doctor}医生，具体就诊时间以预约短信为准。"
             "请携带身份证件和以往的检查资料按时就诊。"},
    {"kind": "reply_template", "title": "结束语", "tags": ["结束语"],
     "body": "感谢您的咨询。就诊前如有任何疑问，欢迎随时联系我们。祝您早日康复！"},
    {"kind": "fee_item", "title": "普通门诊诊查费", "amount_fen": 1000, "unit": "次", "tags": ["诊查费"],
     "body": "普通门诊每次就诊的诊查费。", "internal_note": _CHECK_PRICE},
    {"kind": "fee_item", "title": "专家门诊诊查费", "amount_fen": 3000, "unit": "次", "tags": ["诊查费"],
     "body": "副主任医师及以上专家门诊每次就诊的诊查费。", "internal_note": _CHECK_PRICE},
    {"kind": "fee_item", "title": "在线咨询", "amount_fen": 0, "unit": "次", "tags": ["咨询"],
     "body": "网上咨询不收费；需要检查、诊断和治疗时请到医院就诊。", "internal_note": _CHECK_PRICE},
    {"kind": "fee_item", "title": "尿常规检查", "amount_fen": 1500, "unit": "次", "department": "urology",
     "condition": "前列腺炎", "tags": ["检查"], "body": "尿常规化验。", "internal_note": _CHECK_PRICE},
]


def seed(store: KnowledgeStore, now: datetime) -> int:
    """Insert the starter entries into an empty knowledge base; how many were inserted (0 when it had entries)."""
    entries = [ArticleInput.model_validate(raw).root for raw in STARTER]

    def body(tx: Tx) -> int:
        if not store.is_empty(tx):
            return 0
        store.insert_all(tx, entries, SEEDED_BY, now)
        return len(entries)

    return store.transact(body)
