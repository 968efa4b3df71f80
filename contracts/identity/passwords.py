"""What is an acceptable password (NIST SP 800-63B style): 8 to 128 characters after Unicode NFKC normalisation,
not one of the commonest passwords, not containing the account's own phone number or username. No composition
rules (they make passwords worse, not better). Part of the contract: the sign-up, activation and reset models
refuse a weak password wherever they are validated. How passwords are kept is identity's (Argon2id).
"""
from __future__ import annotations

import unicodedata

MIN_LENGTH, MAX_LENGTH = 8, 128

# The commonest passwords in Chinese and international leaks (a stand-in for a breached-password service,
# which this deployment cannot reach).
COMMON = frozenset("""
123456 12345678 123456789 1234567890 11111111 00000000 88888888 66666666 12341234 87654321 11223344 123123123
1q2w3e4r 1qaz2wsx qwertyui qwerty123 password password1 password123 passw0rd iloveyou abcd1234 abc12345
abc123456 a1234567 a12345678 a123456789 aa123456 woaini1314 woaini520 5201314520 13145201314 wo123456
zxcvbnm123 asdfghjk asdf1234 qazwsxedc 147258369 159357456 123qweasd qweasdzxc admin123 administrator
welcome1 sunshine princess football baseball dragon123 monkey123 letmein1 trustno1 superman iloveyou1
computer internet 1234qwer qwer1234 zaq12wsx 7758521a 31415926 abcdefgh 12qwaszx q1w2e3r4 woaini123
""".split())


class PasswordRejected(ValueError):
    """The password is not acceptable; the message says why (safe to show)."""


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *identifiers: str | None) -> str:
    """Raise ValueError saying what is wrong (pydantic turns it into an error on the password field)."""
    value = normalize(password)
    if len(value) < MIN_LENGTH:
        raise ValueError(f"must be at least {MIN_LENGTH} characters")
    if len(value) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters")
    if value.lower() in COMMON or len(set(value)) <= 2:
        raise ValueError("is too common or too easy to guess")
    for ident in identifiers:
        if ident and ident.lower() in value.lower():
            raise ValueError("must not contain your phone number or username")
    return password


