"""records' settings (the README's configuration table), read once when the service starts and passed in."""
from __future__ import annotations

from dataclasses import dataclass

from wenzhen.config import EnvSettings, setting


@dataclass(frozen=True)
class RecordsSettings(EnvSettings):
    # how often the sweeper lapses prescriptions that no pharmacist approved within their validity
    sweep_seconds: float = setting("RECORDS_SWEEP_SECONDS", 30.0)
