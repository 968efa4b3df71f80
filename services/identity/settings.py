"""identity's settings (the README's configuration table), read once when the service starts and passed in as a
:class:`Policy`. ``ACCESS_TOKEN_TTL_SECONDS`` and ``RATE_LIMIT_ORIGIN_FACTOR`` stay the mechanics' (the gateway reads
them too); the policy takes them from there, once, at start."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from services.identity.passwords import check_parameters
from wenzhen.config import EnvSettings, Settings, setting, settings


@dataclass(frozen=True)
class Policy:
    """The numbers identity's rules work with."""

    patient_session: timedelta = timedelta(days=30)
    staff_session: timedelta = timedelta(hours=12)
    visitor_session: timedelta = timedelta(days=1)
    access_token_ttl: timedelta = timedelta(seconds=600)
    otp_ttl: timedelta = timedelta(seconds=300)
    otp_resend: timedelta = timedelta(seconds=60)
    login_max_failures: int = 5
    lockout: timedelta = timedelta(seconds=900)
    origin_factor: float = 1.0  # the per-origin limits times this (0: none)

    def __post_init__(self) -> None:
        if not (self.origin_factor >= 0 and math.isfinite(self.origin_factor)):
            raise ValueError("RATE_LIMIT_ORIGIN_FACTOR must be a number 0 or more (0: no per-origin limit), not "
                             f"{self.origin_factor}")
        for name, value, variable in (("login_max_failures", self.login_max_failures, "LOGIN_MAX_FAILURES"),
                                      ("patient_session", self.patient_session, "PATIENT_SESSION_DAYS"),
                                      ("staff_session", self.staff_session, "STAFF_SESSION_HOURS"),
                                      ("otp_ttl", self.otp_ttl, "OTP_TTL_SECONDS"),
                                      ("access_token_ttl", self.access_token_ttl, "ACCESS_TOKEN_TTL_SECONDS")):
            if value <= (0 if isinstance(value, int) else timedelta(0)):
                raise ValueError(f"{variable} must be more than 0 ({name}: {value})")

    @classmethod
    def from_settings(cls, own: IdentitySettings, mechanics: Settings) -> Policy:
        return cls(patient_session=timedelta(days=own.patient_session_days),
                   staff_session=timedelta(hours=own.staff_session_hours),
                   access_token_ttl=timedelta(seconds=mechanics.access_token_ttl),
                   otp_ttl=timedelta(seconds=own.otp_ttl), otp_resend=timedelta(seconds=own.otp_resend_seconds),
                   login_max_failures=own.login_max_failures, lockout=timedelta(seconds=own.lockout_seconds),
                   origin_factor=mechanics.rate_limit_origin_factor)


@dataclass(frozen=True)
class IdentitySettings(EnvSettings):
    patient_session_days: int = setting("PATIENT_SESSION_DAYS", 30)
    staff_session_hours: int = setting("STAFF_SESSION_HOURS", 12)
    otp_ttl: int = setting("OTP_TTL_SECONDS", 300)
    otp_resend_seconds: float = setting("OTP_RESEND_SECONDS", 60.0)
    login_max_failures: int = setting("LOGIN_MAX_FAILURES", 5)
    lockout_seconds: int = setting("LOCKOUT_SECONDS", 900)
    argon2_time_cost: int = setting("ARGON2_TIME_COST", 2)
    argon2_memory_kib: int = setting("ARGON2_MEMORY_KIB", 19_456)
    argon2_parallelism: int = setting("ARGON2_PARALLELISM", 1)

    @cached_property
    def policy(self) -> Policy:
        """The rules these settings make, with the mechanics' token lifetime and origin factor (read once)."""
        return Policy.from_settings(self, settings())

    @property
    def argon2(self) -> tuple[int, int, int]:
        return self.argon2_time_cost, self.argon2_memory_kib, self.argon2_parallelism

    def check(self) -> None:
        """At start: a malformed setting or Argon2id parameters below OWASP's minimum refuse the start."""
        self.policy  # noqa: B018 - built (and validated) once
        check_parameters(*self.argon2)
