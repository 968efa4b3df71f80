"""notify's settings (the README's configuration table), read once when the service starts."""
from __future__ import annotations

from dataclasses import dataclass

from wenzhen.config import EnvSettings, setting


@dataclass(frozen=True)
class NotifySettings(EnvSettings):
    # development SMS channel: messages are appended to this file instead of being sent; unset, they stay queued
    sms_sink_file: str = setting("SMS_SINK_FILE", "")
