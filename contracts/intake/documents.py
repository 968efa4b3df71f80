"""Identity documents for real-name registration (实名制): what a valid number looks like.

The mainland resident identity card number (居民身份证号码, GB 11643-1999) has 18
characters: a 6-digit address code, the birth date (YYYYMMDD), a 3-digit
sequence whose last digit is odd for men and even for women, and a check
character (ISO 7064 MOD 11-2, ``X`` standing for 10). The other documents
accepted at Chinese hospitals are checked for their published shape.
"""
from __future__ import annotations

import re
from datetime import date
from enum import StrEnum


class DocumentType(StrEnum):
    resident_id = "resident_id"  # 居民身份证
    passport = "passport"  # 护照
    hk_macao_permit = "hk_macao_permit"  # 港澳居民来往内地通行证 (回乡证)
    taiwan_permit = "taiwan_permit"  # 台湾居民来往大陆通行证 (台胞证)
    foreign_permanent_resident_id = "foreign_permanent_resident_id"  # 外国人永久居留身份证


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# provinces, autonomous regions and municipalities (first two digits of the address code)
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53,
              54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
_SHAPES = {
    DocumentType.passport: (re.compile(r"^[A-Z0-9]{5,17}$"), "5-17 letters or digits"),
    DocumentType.hk_macao_permit: (re.compile(r"^[HM]\d{8,10}$"), "H or M followed by 8-10 digits"),
    DocumentType.taiwan_permit: (re.compile(r"^\d{8}(\d{2})?$"), "8 or 10 digits"),
    DocumentType.foreign_permanent_resident_id: (re.compile(r"^([A-Z]{3}\d{12}|9\d{17})$"),
                                                 "3 letters and 12 digits, or 18 digits starting with 9"),
}


def resident_id_check_char(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


class ResidentId:
    """A parsed, valid resident identity card number."""

    def __init__(self, number: str, birth_date: date, sex: str):
        self.number = number
        self.birth_date = birth_date
        self.sex = sex  # FHIR gender: male / female

    @classmethod
    def parse(cls, raw: str, today: date) -> ResidentId:
        """Raise ValueError saying what is wrong (safe to show: it never echoes the number)."""
        number = raw.strip().upper()
        if not re.fullmatch(r"\d{17}[\dX]", number):
            raise ValueError("must be 18 characters: 17 digits and a digit or X")
        if int(number[:2]) not in _PROVINCES:
            raise ValueError("does not start with a valid region code")
        try:
            born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            raise ValueError("does not contain a valid birth date") from None
        if born > today or born.year < 1900:
            raise ValueError("contains an impossible birth date")
        if resident_id_check_char(number[:17]) != number[17]:
            raise ValueError("has a wrong check character (a digit was mistyped?)")
        return cls(number, born, "male" if int(number[16]) % 2 else "female")


def normalize(document_type: DocumentType, raw: str, today: date) -> tuple[str, ResidentId | None]:
    """The number as stored and looked up, and for a resident ID its parsed content."""
    if document_type == DocumentType.resident_id:
        parsed = ResidentId.parse(raw, today)
        return parsed.number, parsed
    number = re.sub(r"[\s-]", "", raw).upper()
    pattern, shape = _SHAPES[document_type]
    if not pattern.match(number):
        raise ValueError(f"must be {shape}")
    return number, None


def masked(number: str) -> str:
    """What the API shows: enough to recognise a document, not enough to use it — at most 7 characters of an
    18-character resident ID (region and check digits), at most 3 of anything shorter."""
    if len(number) >= 15:
        return f"{number[:3]}{'*' * (len(number) - 7)}{number[-4:]}"
    shown = min(3, len(number) // 3)
    return "*" * (len(number) - shown) + number[len(number) - shown:]
