"""notify's public contract: what a patient reads of the messages sent to them (the gateway serves it)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class Notification(BaseModel):
    id: str
    channel: str = Field(examples=["sms"])
    template: str = Field(examples=["welcome"])
    text: str
    status: str = Field(description="queued (recorded, to be sent) or sent.")
    created_at: str = Field(description="In the hospital's time zone (ISO 8601).")
