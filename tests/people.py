"""Callers for unit tests: a signed-in person of a role, as the gateway would put them in context data."""
from __future__ import annotations

from wenzhen.auth import Caller, Principal, PurposeOfUse, Role


def user(role: Role, sub: str, patients: tuple[str, ...] = ()) -> Caller:
    """``sub`` with ``role`` (a patient account acting for ``patients``), from a fixed origin, with a request id."""
    return Caller(principal=Principal.user(sub, role, sid=f"ses_{sub}", patients=patients),
                  purpose=PurposeOfUse.HOPERAT, origin_ip="198.51.100.7", request_id=f"req_{sub}")
