"""Retention and legal holds (records' RPCs and the gateway's routes).

Wenzhen deletes no clinical record. Each record carries the earliest day its retention allows it to be disposed of
(records at least 15 years; prescriptions 1, 2 or 3 years by category, 处方管理办法 art. 50; chats and audio/video at
least 3 years, kept by intake), and a legal hold on a patient suspends any disposal of their record, whatever those
dates say, until it is released. The hold and its release are recorded with who, when and why."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from wenzhen.fields import Strict, printable

Reason = Annotated[str, Field(min_length=2, max_length=500), AfterValidator(printable)]

RECORD_YEARS = 15  # 互联网诊疗管理办法 / 医疗机构病历管理规定: online records at least 15 years
CHAT_YEARS = 3  # chat, audio and video at least 3 years (intake's TRANSCRIPT_RETENTION_DAYS)


class HoldRequest(Strict):
    reason: Reason = Field(description="Why (a claim, an inquiry, a court order): kept encrypted, never in an event.")


class LegalHold(BaseModel):
    id: str
    patient_id: str
    active: bool
    placed_by: str
    placed_at: str
    reason: str
    released_by: str | None = None
    released_at: str | None = None
    release_reason: str | None = None


class RecordRetention(BaseModel):
    """What keeps a patient's record, and until when at least."""

    patient_id: str
    records_until: str | None = Field(description=f"The newest encounter's opening plus {RECORD_YEARS} years (local "
                                                  "date); None without encounters.")
    prescriptions_until: str | None = Field(description="The latest retention end of the patient's prescriptions.")
    encounters: int
    prescriptions: int
    hold: LegalHold | None = Field(default=None, description="The active legal hold: nothing is disposed of while it "
                                                             "lasts.")
