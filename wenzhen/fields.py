"""Field types shared by several services' contracts (validation only, no domain rules)."""
from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wenzhen.ids import ALPHABET


class Strict(BaseModel):
    """A request body or query: unknown fields are refused (a misspelt field is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_mobile(value: str) -> str:
    """A mainland China mobile number as 11 digits (accepts +86/0086 and separators)."""
    digits = re.sub(r"[\s\-()]", "", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    if not _MOBILE.match(digits):
        raise ValueError("must be a mainland China mobile number: 11 digits starting with 13-19")
    return digits


def printable(value: str) -> str:
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("must not contain control characters")
    return value


Mobile = Annotated[str, AfterValidator(normalize_mobile),
                   Field(description="Mainland China mobile number; +86 prefix allowed.", examples=["13812345678"])]
PersonName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(printable)]
SmsCode = Annotated[str, Field(pattern=r"^\d{6}$", description="6 digits.", examples=["123456"])]
PatientId = Annotated[str, Field(pattern=f"^pat_[{ALPHABET}]{{26}}$", description="A patient record's id (pat_…).",
                                 examples=["pat_01JD3Q5X7C9V2B8N4M6K1H0G2F"])]
