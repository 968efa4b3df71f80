"""payments's settings (the README's configuration table), read once when the service starts: none yet (the invoices
need none). A capability that needs one adds a field here, ``setting("PAYMENTS_...", default)``, and its README
row."""
from __future__ import annotations

from dataclasses import dataclass

from wenzhen.config import EnvSettings


@dataclass(frozen=True)
class PaymentsSettings(EnvSettings):
    pass
