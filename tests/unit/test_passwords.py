"""Passwords: what is acceptable (NIST SP 800-63B style) and Argon2id storage, with the real argon2."""
import pytest
from argon2 import PasswordHasher

from contracts.identity.passwords import MAX_LENGTH, MIN_LENGTH, check_password
from services.identity.passwords import OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST, Passwords

PHONE = "13812345678"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(OWASP_MIN_TIME_COST, OWASP_MIN_MEMORY_KIB, 1)


def refused(password: str, *identifiers) -> str:
    with pytest.raises(ValueError) as info:
        check_password(password, *identifiers)
    return str(info.value)


# what is acceptable ------------------------------------------------------------------------------------------------
def test_a_long_enough_uncommon_password_is_accepted_as_given():
    assert check_password("correct horse battery", PHONE) == "correct horse battery"
    assert check_password("x" * 3 + "yz12345") == "xxxyz12345"  # exactly 10, no composition rules


def test_length_limits_count_characters_not_bytes():
    assert "at least 8" in refused("Ab3$eF7")
    assert check_password("Ab3$eF7g") == "Ab3$eF7g"  # 8
    assert check_password("问诊密码安全可靠") == "问诊密码安全可靠"  # 8 characters, 24 bytes
    assert check_password("abc" * (MAX_LENGTH // 3) + "ab"[: MAX_LENGTH % 3])  # exactly 128
    assert "at most 128" in refused("abc" * 43)  # 129
    assert (MIN_LENGTH, MAX_LENGTH) == (8, 128)


@pytest.mark.parametrize("common", ["12345678", "password", "PASSWORD1", "Passw0rd", "woaini1314", "1qaz2wsx",
                                    "88888888", "qwer1234"])
def test_common_passwords_are_refused_whatever_their_case(common):
    assert "too common" in refused(common)


@pytest.mark.parametrize("easy", ["aaaaaaaa", "abababab", "zzzzzzzzzzzzzzzzzzzz"])
def test_passwords_of_one_or_two_distinct_characters_are_refused(easy):
    assert "too common" in refused(easy)


def test_a_password_containing_the_phone_or_username_is_refused():
    assert "phone number or username" in refused(f"my{PHONE}!", PHONE)
    assert "phone number or username" in refused("Wang.Fang-2026", "wang.fang")  # case-insensitive
    assert check_password(f"my{PHONE}!", None, "") == f"my{PHONE}!"  # no identifiers: nothing to compare with
    assert check_password("wang-fang-2026", "wang.fang")


def test_nfkc_normalisation_applies_before_the_rules():
    # fullwidth digits are the same password as ASCII ones: still too common, still the phone number
    assert "too common" in refused("１２３４５６７８")
    assert "phone number or username" in refused("ｍｙ１３８１２３４５６７８", PHONE)
    # the ligature ﬃ is three letters after NFKC: 6 code points make 8 characters, 5 make only 7
    assert len("ﬃxy123") == 6 and check_password("ﬃxy123") == "ﬃxy123"
    assert "at least 8" in refused("ﬃxy12")


# how they are kept -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("time_cost", "memory_kib", "parallelism"), [
    (OWASP_MIN_TIME_COST - 1, OWASP_MIN_MEMORY_KIB, 1),
    (OWASP_MIN_TIME_COST, OWASP_MIN_MEMORY_KIB - 1, 1),
    (OWASP_MIN_TIME_COST, OWASP_MIN_MEMORY_KIB, 0),
    (1, 1024, 1),
])
def test_parameters_below_owasps_minimum_are_refused(time_cost, memory_kib, parallelism):
    with pytest.raises(ValueError, match="OWASP"):
        Passwords(time_cost, memory_kib, parallelism)


def test_a_hash_is_argon2id_with_the_configured_parameters_and_salted(passwords):
    first, second = passwords.hash("correct horse battery"), passwords.hash("correct horse battery")
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert first != second and "correct horse" not in first


def test_verify_round_trip(passwords):
    stored = passwords.hash("correct horse battery")
    assert passwords.verify(stored, "correct horse battery") is True
    assert passwords.verify(stored, "correct horse batterY") is False
    assert passwords.verify(stored, "") is False


def test_verify_normalises_like_hash(passwords):
    stored = passwords.hash("ｃｏｒｒｅｃｔ horse")  # fullwidth letters
    assert passwords.verify(stored, "correct horse") is True


def test_verify_without_a_stored_hash_runs_the_decoy_and_is_false(passwords):
    assert passwords.verify(None, "decoy password for timing") is False  # even the decoy's own password
    assert passwords.verify(None, "anything at all") is False
    assert passwords.verify("", "anything at all") is False


def test_a_malformed_stored_hash_is_a_failed_verification_not_an_error(passwords):
    assert passwords.verify("not a hash", "correct horse battery") is False
    assert passwords.verify("$argon2id$v=19$m=19456,t=2,p=1$broken", "correct horse battery") is False


def test_the_hashing_work_goes_through_offload():
    calls = []

    def offload(fn, *args):
        calls.append(fn.__name__)
        return fn(*args)

    pw = Passwords(OWASP_MIN_TIME_COST, OWASP_MIN_MEMORY_KIB, 1, offload=offload)
    assert pw.verify(pw.hash("correct horse battery"), "correct horse battery")
    assert calls == ["hash", "verify"]


def test_a_hash_made_with_other_parameters_needs_rehash(passwords):
    assert passwords.needs_rehash(passwords.hash("correct horse battery")) is False
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    assert passwords.needs_rehash(weak) is True
    assert passwords.verify(weak, "correct horse battery") is True  # still accepted: replaced at sign-in
    stronger = Passwords(OWASP_MIN_TIME_COST + 1, OWASP_MIN_MEMORY_KIB, 1)
    assert stronger.needs_rehash(passwords.hash("correct horse battery")) is True
