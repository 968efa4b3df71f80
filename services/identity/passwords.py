"""Passwords: what is acceptable (NIST SP 800-63B style) and how they are kept (Argon2id).

Acceptable: 8 to 128 characters after Unicode NFKC normalisation, not one of the
commonest passwords, not containing the account's own phone number or username.
No composition rules (they make passwords worse, not better).

Kept as Argon2id hashes with at least OWASP's minimum parameters (19 MiB, 2
passes, 1 lane); the parameters are configurable upwards only, and a hash made
with weaker parameters is replaced at the next successful sign-in.
"""
from __future__ import annotations

from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contracts.identity.passwords import (  # noqa: F401 - identity's own use
    MAX_LENGTH,
    PasswordRejected,
    check_password,
    normalize,
)

# OWASP Password Storage Cheat Sheet, Argon2id minimum (m=19 MiB, t=2, p=1)
OWASP_MIN_MEMORY_KIB = 19_456
OWASP_MIN_TIME_COST = 2


def check_parameters(time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Refuse Argon2id parameters below OWASP's minimum (``ARGON2_*``)."""
    if memory_kib < OWASP_MIN_MEMORY_KIB or time_cost < OWASP_MIN_TIME_COST or parallelism < 1:
        raise ValueError(f"Argon2id parameters below OWASP's minimum (m={OWASP_MIN_MEMORY_KIB} KiB, "
                         f"t={OWASP_MIN_TIME_COST}, p=1)")


class Passwords:
    """Argon2id hashing; ``offload`` runs the CPU-heavy part off the event loop (eventlet's tpool in services)."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int,
                 offload: Callable = lambda fn, *args: fn(*args)):
        check_parameters(time_cost, memory_kib, parallelism)
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self.offload = offload
        # verified against when an account does not exist, so "no such account" takes as long as a wrong password
        self.decoy = self.hasher.hash("decoy password for timing")

    def hash(self, password: str) -> str:
        return self.offload(self.hasher.hash, normalize(password))

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.offload(self.hasher.verify, stored or self.decoy, normalize(password)) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)
