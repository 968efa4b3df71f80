"""Settings from the environment, with documented defaults (one place).

Every knob here appears in the README's configuration table; nothing else in
the code reads ``os.environ`` directly (except fault injection, see faults.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

SERVICES = ("intake", "booking", "records", "pharmacy", "payments", "notify", "reports")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = field(default_factory=lambda: _env("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    mongo_uri: str = field(
        default_factory=lambda: _env("MONGO_URI", "mongodb://127.0.0.1:27017/?replicaSet=secantus")
    )
    db_prefix: str = field(default_factory=lambda: _env("WENZHEN_DB_PREFIX", "wenzhen_"))
    hospital_tz: str = field(default_factory=lambda: _env("HOSPITAL_TZ", "Asia/Shanghai"))
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    # services
    service_max_workers: int = field(default_factory=lambda: _int("SERVICE_MAX_WORKERS", 10))
    outbox_poll_interval: float = field(default_factory=lambda: _float("OUTBOX_POLL_INTERVAL", 0.5))
    outbox_batch: int = field(default_factory=lambda: _int("OUTBOX_BATCH", 200))
    outbox_lease_seconds: float = field(default_factory=lambda: _float("OUTBOX_LEASE_SECONDS", 10.0))
    outbox_retry_max: float = field(default_factory=lambda: _float("OUTBOX_RETRY_MAX_SECONDS", 30.0))
    handler_max_attempts: int = field(default_factory=lambda: _int("HANDLER_MAX_ATTEMPTS", 5))
    handler_retry_base: float = field(default_factory=lambda: _float("HANDLER_RETRY_BASE_SECONDS", 0.2))
    # gateway
    gateway_host: str = field(default_factory=lambda: _env("GATEWAY_HOST", "127.0.0.1"))
    gateway_port: int = field(default_factory=lambda: _int("GATEWAY_PORT", 8000))
    gateway_workers: int = field(default_factory=lambda: _int("GATEWAY_WORKERS", 2))
    gateway_threads: int = field(default_factory=lambda: _int("GATEWAY_THREADS", 16))
    rpc_timeout: float = field(default_factory=lambda: _float("RPC_TIMEOUT_SECONDS", 5.0))
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 1_048_576))

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"


def settings() -> Settings:
    """Fresh settings from the current environment (cheap; call at start-up)."""
    return Settings()
