"""Identity document numbers: the resident ID checksum (GB 11643-1999) and the other documents' shapes."""
from datetime import date

import pytest

from contracts.intake.documents import DocumentType, ResidentId, masked, normalize, resident_id_check_char

VALID = "11010519491231002X"  # the standard's own example: Beijing (110105), born 1949-12-31, female
TODAY = date(2026, 11, 23)


def iso7064(first17: str) -> str:
    """ISO 7064 MOD 11-2 written from the definition (weights 2^(17-i) mod 11), independent of the code."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def with_check(first17: str) -> str:
    return first17 + iso7064(first17)


def refusal(raw: str, today: date = TODAY) -> str:
    with pytest.raises(ValueError) as info:
        ResidentId.parse(raw, today)
    message = str(info.value)
    assert raw.strip()[:6] not in message and raw.strip()[-4:] not in message  # never echoes the number
    return message


def test_the_standards_example_is_valid_and_parsed():
    parsed = ResidentId.parse(VALID, TODAY)
    assert parsed.number == VALID and parsed.birth_date == date(1949, 12, 31) and parsed.sex == "female"
    assert iso7064(VALID[:17]) == "X" == resident_id_check_char(VALID[:17])


def test_a_lowercase_x_and_surrounding_spaces_are_accepted():
    assert ResidentId.parse(f"  {VALID.lower()} ", TODAY).number == VALID


@pytest.mark.parametrize("first17", ["32010219800101123", "44030419991231456", "65010220000229001"])
def test_the_check_character_follows_iso_7064(first17):
    assert resident_id_check_char(first17) == iso7064(first17)
    assert ResidentId.parse(with_check(first17), TODAY).number == with_check(first17)


def test_every_single_mistyped_digit_is_refused():
    for position in range(17):
        for digit in "0123456789":
            if digit == VALID[position]:
                continue
            typo = VALID[:position] + digit + VALID[position + 1:]
            with pytest.raises(ValueError):
                ResidentId.parse(typo, TODAY)


def test_a_mistyped_sequence_digit_is_a_wrong_check_character():
    assert "check character" in refusal("11010519491231003X")
    assert "check character" in refusal(VALID[:17] + "0")


def test_swapped_neighbouring_digits_are_refused():
    swapped = VALID[:15] + VALID[16] + VALID[15] + VALID[17]  # ...002X -> ...020X
    assert swapped != VALID and "check character" in refusal(swapped)


def test_the_sex_digit_decides_the_sex():
    assert ResidentId.parse(with_check("11010519491231001"), TODAY).sex == "male"
    assert ResidentId.parse(with_check("11010519491231009"), TODAY).sex == "male"
    assert ResidentId.parse(with_check("11010519491231008"), TODAY).sex == "female"


def test_an_unknown_region_is_refused_even_with_a_correct_check_character():
    assert "region" in refusal(with_check("99010519491231002"))
    assert "region" in refusal(with_check("00010519491231002"))


@pytest.mark.parametrize("birth", ["19490230", "19491301", "19490001", "19490100"])
def test_impossible_calendar_dates_are_refused(birth):
    assert "valid birth date" in refusal(with_check(f"110105{birth}002"))


def test_birth_dates_in_the_future_or_before_1900_are_refused():
    assert "impossible birth date" in refusal(with_check("11010520261124002"))  # TODAY + 1 day
    assert ResidentId.parse(with_check("11010520261123002"), TODAY).birth_date == TODAY  # born today: fine
    assert "impossible birth date" in refusal(with_check("11010518991231002"))
    assert "impossible birth date" in refusal("440524188001010014")  # a well-known number of an 1880 birth


@pytest.mark.parametrize("raw", ["", "1101051949123100", "11010519491231002XX", "1101051949123100Y2",
                                 "X1010519491231002X", "11010519491231002 X"])
def test_numbers_of_the_wrong_shape_are_refused(raw):
    with pytest.raises(ValueError, match="18 characters"):
        ResidentId.parse(raw, TODAY)


def test_normalize_a_resident_id_returns_its_parsed_content():
    number, parsed = normalize(DocumentType.resident_id, f" {VALID.lower()}", TODAY)
    assert number == VALID and parsed.birth_date == date(1949, 12, 31)
    with pytest.raises(ValueError):
        normalize(DocumentType.resident_id, "11010519491231003X", TODAY)


@pytest.mark.parametrize(("kind", "raw", "stored"), [
    (DocumentType.passport, "e1234 5678", "E12345678"),
    (DocumentType.passport, "G1234", "G1234"),
    (DocumentType.hk_macao_permit, "h-1234-5678", "H12345678"),
    (DocumentType.hk_macao_permit, "M1234567890", "M1234567890"),
    (DocumentType.taiwan_permit, "12345678", "12345678"),
    (DocumentType.taiwan_permit, "12345678 90", "1234567890"),
    (DocumentType.foreign_permanent_resident_id, "usa123456789012", "USA123456789012"),
    (DocumentType.foreign_permanent_resident_id, "912345678901234567", "912345678901234567"),
])
def test_other_documents_are_normalised_to_their_published_shape(kind, raw, stored):
    assert normalize(kind, raw, TODAY) == (stored, None)


@pytest.mark.parametrize(("kind", "raw"), [
    (DocumentType.passport, "E123"),
    (DocumentType.passport, "E1234567890123456789"),
    (DocumentType.passport, "E1234/5678"),
    (DocumentType.hk_macao_permit, "X12345678"),
    (DocumentType.hk_macao_permit, "H1234567"),
    (DocumentType.taiwan_permit, "123456789"),
    (DocumentType.taiwan_permit, "T1234567"),
    (DocumentType.foreign_permanent_resident_id, "US1234567890123"),
    (DocumentType.foreign_permanent_resident_id, "812345678901234567"),
])
def test_other_documents_of_the_wrong_shape_are_refused(kind, raw):
    with pytest.raises(ValueError, match="must be"):
        normalize(kind, raw, TODAY)


def test_masked_shows_little_of_a_long_number_and_less_of_a_short_one():
    assert masked(VALID) == "110***********002X" and len(masked(VALID)) == len(VALID)
    assert masked("USA123456789012") == "USA********9012"
    assert masked("12345678") == "******78"  # a Taiwan permit: at most a quarter shows
    assert masked("H12345678") == "******678"
    assert masked("12") == "**"
    assert masked("") == ""
