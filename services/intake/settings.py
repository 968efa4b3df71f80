"""intake's settings (the README's configuration table), read once when the service starts and passed in."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from services.intake.desk import sla
from services.intake.desk.rules import DeskPolicy
from wenzhen.config import EnvSettings, setting


@dataclass(frozen=True)
class IntakeSettings(EnvSettings):
    # the consultation desk
    consult_accept_seconds: int = setting("CONSULT_ACCEPT_SECONDS", 25)
    consult_answer_seconds: int = setting("CONSULT_ANSWER_SECONDS", 60)
    consult_unattended_seconds: int = setting("CONSULT_UNATTENDED_SECONDS", 120)
    consult_skill_wait_seconds: int = setting("CONSULT_SKILL_WAIT_SECONDS", 15)
    desk_poll_interval: float = setting("DESK_POLL_INTERVAL", 0.5)
    transcript_retention_days: int = setting("TRANSCRIPT_RETENTION_DAYS", 1096)
    attachment_max_bytes: int = setting("ATTACHMENT_MAX_BYTES", 10_485_760)

    @cached_property
    def desk(self) -> DeskPolicy:
        """The desk's policy (a service level that is not a whole number of seconds, 1 or more, is refused)."""
        return DeskPolicy(
            service_levels=sla.Policy(accept_seconds=self.consult_accept_seconds,
                                      answer_seconds=self.consult_answer_seconds,
                                      unattended_seconds=self.consult_unattended_seconds),
            skill_wait_seconds=self.consult_skill_wait_seconds,
            transcript_retention=timedelta(days=self.transcript_retention_days),
            attachment_max_bytes=self.attachment_max_bytes, poll_interval=self.desk_poll_interval)

    def check(self) -> None:
        """At start: a service with a malformed setting refuses to start rather than fail every call."""
        self.desk  # noqa: B018 - built (and validated) once
