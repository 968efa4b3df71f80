from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from contracts.intake.patients import PatientRegistration
from wenzhen.fields import normalize_mobile

VALID = {"name": "张三", "sex": "male", "birth_date": "1985-04-12", "phone": "13812345678"}


@pytest.mark.parametrize("raw", ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "8613812345678"])
def test_mobile_numbers_normalize_to_eleven_digits(raw):
    assert normalize_mobile(raw) == "13812345678"


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "phone", "+1 415 555 0100", ""])
def test_non_mainland_mobile_numbers_are_rejected(raw):
    with pytest.raises(ValueError):
        normalize_mobile(raw)


def test_a_valid_registration_passes_and_is_normalized():
    reg = PatientRegistration.model_validate({**VALID, "name": "  张三 ", "phone": "+8613812345678"})
    assert reg.name == "张三" and reg.phone == "13812345678" and reg.birth_date == date(1985, 4, 12)


def fields_in_error(data) -> set[str]:
    with pytest.raises(ValidationError) as info:
        PatientRegistration.model_validate(data)
    return {".".join(map(str, e["loc"])) for e in info.value.errors()}


def test_every_bad_field_is_named():
    bad = {"name": "", "sex": "m", "birth_date": "not a date", "phone": "123"}
    assert fields_in_error(bad) == {"name", "sex", "birth_date", "phone"}


def test_birth_date_cannot_be_in_the_future_or_before_1900():
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert fields_in_error({**VALID, "birth_date": tomorrow}) == {"birth_date"}
    assert fields_in_error({**VALID, "birth_date": "1899-12-31"}) == {"birth_date"}


def test_sex_is_fhir_administrative_gender():
    for value in ("male", "female", "other", "unknown"):
        PatientRegistration.model_validate({**VALID, "sex": value})
    assert fields_in_error({**VALID, "sex": "M"}) == {"sex"}


def test_unknown_fields_and_control_characters_are_rejected():
    assert fields_in_error({**VALID, "role": "admin"}) == {"role"}
    assert fields_in_error({**VALID, "name": "张\x00三"}) == {"name"}
