"""Settings from the environment, with documented defaults (one place).

Every knob here appears in the README's configuration table; nothing else in
the code reads ``os.environ`` directly (except fault injection, see faults.py).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

SERVICES = ("identity", "intake", "booking", "records", "pharmacy", "payments", "notify", "reports")
# The embedded SecantusDB without retryable writes: SecantusDB 0.7 keeps every retryable write's reply (up to 10,000,
# for 30 minutes) and scans and sorts them all on each write, so a write gets slower with every write before it
# (docs/secantusdb.md). Transactions keep their own commit retries; a real MongoDB keeps its own URI's settings.
EMBEDDED_URI = "mongodb://127.0.0.1:{port}/?replicaSet=secantus&retryWrites=false"


def embedded_uri(port: int) -> str:
    return EMBEDDED_URI.format(port=port)


def setting(env_var: str, default):
    """A field of a settings class, read from ``env_var`` (empty or unset: ``default``)."""
    return field(default=default, metadata={"env": env_var})


_setting = setting
_CASTS = {"str": str, "int": int, "float": float, "bool": lambda raw: raw.strip().lower() in ("1", "true", "yes", "on")}


class EnvSettings:
    """Base of every settings class (these mechanics here; each service's own in ``services/<name>/settings.py``):
    frozen dataclasses whose fields name their environment variable. Read once at start and passed in."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None):
        """Settings from ``environ`` (default: the process environment); empty values mean the default."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw:
                values[f.name] = _CASTS[f.type](raw)
        return cls(**values)

    @classmethod
    def variables(cls) -> dict[str, object]:
        """Environment variable -> default, for the README's table and its check."""
        return {f.metadata["env"]: f.default for f in fields(cls)}


@dataclass(frozen=True)
class Settings(EnvSettings):
    amqp_uri: str = _setting("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    mongo_uri: str = _setting("MONGO_URI", EMBEDDED_URI.format(port=27017))
    db_prefix: str = _setting("WENZHEN_DB_PREFIX", "wenzhen_")
    hospital_tz: str = _setting("HOSPITAL_TZ", "Asia/Shanghai")
    log_level: str = _setting("LOG_LEVEL", "INFO")
    # services
    service_max_workers: int = _setting("SERVICE_MAX_WORKERS", 10)
    outbox_poll_interval: float = _setting("OUTBOX_POLL_INTERVAL", 0.5)
    outbox_batch: int = _setting("OUTBOX_BATCH", 200)
    outbox_lease_seconds: float = _setting("OUTBOX_LEASE_SECONDS", 10.0)
    outbox_retry_max: float = _setting("OUTBOX_RETRY_MAX_SECONDS", 30.0)
    handler_max_attempts: int = _setting("HANDLER_MAX_ATTEMPTS", 5)
    handler_retry_base: float = _setting("HANDLER_RETRY_BASE_SECONDS", 0.2)
    audit_checkpoint_seconds: float = _setting("AUDIT_CHECKPOINT_SECONDS", 10.0)
    # gateway
    gateway_host: str = _setting("GATEWAY_HOST", "127.0.0.1")
    gateway_port: int = _setting("GATEWAY_PORT", 8000)
    gateway_workers: int = _setting("GATEWAY_WORKERS", 2)
    gateway_threads: int = _setting("GATEWAY_THREADS", 64)  # a live chat stream holds one
    rpc_timeout: float = _setting("RPC_TIMEOUT_SECONDS", 5.0)
    max_body_bytes: int = _setting("MAX_BODY_BYTES", 1_048_576)
    gateway_trusted_proxies: int = _setting("GATEWAY_TRUSTED_PROXIES", 0)
    gateway_requests_per_minute: int = _setting("GATEWAY_REQUESTS_PER_MINUTE", 600)
    # the per-origin (per-address) limits of sign-up, codes, sign-in, visitors' chats and the gateway's budget for
    # callers without a token, times this (0: none); the per-phone and per-account limits stay as they are
    rate_limit_origin_factor: float = _setting("RATE_LIMIT_ORIGIN_FACTOR", 1.0)
    # access tokens: identity signs them for this long, the gateway keeps revoked sessions as long (identity's own
    # settings are in services/identity/settings.py)
    access_token_ttl: int = _setting("ACCESS_TOKEN_TTL_SECONDS", 600)

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"


def settings() -> Settings:
    """Fresh settings from the current environment (cheap; call at start-up)."""
    return Settings.from_env()
