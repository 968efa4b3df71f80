"""identity's contract: staff accounts per role, usernames, and passwords checked against the account's own data."""
import pytest
from pydantic import ValidationError

from contracts.identity.schemas import Activation, OtpRequest, PasswordReset, PatientSignup, StaffCreate, StaffUpdate

CONSENT = {"privacy_notice": "2026-11-01", "sensitive_health_data": "2026-11-01"}
SIGNUP = {"phone": "13812345678", "code": "123456", "password": "correct horse battery", "consent": CONSENT}


def errors(model, data) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def staff(**fields) -> StaffCreate:
    return StaffCreate.model_validate({"username": "wang.fang", "name": "王芳", **fields})


# staff accounts ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "missing"), [
    ("doctor", ["licence_number", "title", "department"]),
    ("pharmacist", ["licence_number", "title", "department"]),
    ("consultant", ["department"]),
    ("team_lead", ["department"]),
    ("manager", []),  # hospital-wide: nothing scopes a manager by department
    ("admin", []),
])
def test_each_role_needs_its_own_fields(role, missing):
    assert staff(role=role).missing_for_role() == missing


def test_a_complete_licensed_account_misses_nothing_and_a_partial_one_names_the_rest():
    complete = staff(role="doctor", licence_number="110110000123", title="主治医师", department="urology")
    assert complete.missing_for_role() == []
    assert staff(role="pharmacist", licence_number="P1234").missing_for_role() == ["title", "department"]
    assert staff(role="consultant", department="urology").missing_for_role() == []


def test_the_schema_says_which_roles_need_a_department_and_that_is_the_rule():
    """The OpenAPI document and the behaviour agree: a department is optional in the schema, and its description
    names exactly the roles that are refused without one (a manager without one used to be a 422)."""
    described = StaffCreate.model_json_schema()["properties"]["department"]["description"]
    plural = {"consultant": "consultants", "team_lead": "team leads", "doctor": "doctors",
              "pharmacist": "pharmacists", "manager": "managers", "finance": "finance staff", "admin": "admins"}
    needs, may_omit = described.split("required for ")[1].split(";")
    for role, words in plural.items():
        required = "department" in staff(role=role).missing_for_role()
        assert (words in needs) == required and (words in may_omit) == (not required), role
    assert "department" not in StaffCreate.model_json_schema().get("required", [])


def test_staff_roles_exclude_patients_and_unknown_roles():
    assert set(errors(StaffCreate, {"username": "wang.fang", "name": "王芳", "role": "patient"})) == {"role"}
    assert set(errors(StaffCreate, {"username": "wang.fang", "name": "王芳", "role": "root"})) == {"role"}
    assert set(errors(StaffUpdate, {"role": "patient"})) == {"role"}


@pytest.mark.parametrize(("raw", "stored"), [("Wang.Fang", "wang.fang"), ("  li_na-2 ", "li_na-2"), ("abc", "abc"),
                                             ("a" * 32, "a" * 32)])
def test_usernames_are_lowercased_and_trimmed(raw, stored):
    assert staff(role="admin", username=raw).username == stored


@pytest.mark.parametrize("raw", ["ab", "a" * 33, "1wang", ".wang", "wang fang", "王芳", "wang@fang", "wang/fang",
                                 "", "_wang"])
def test_bad_usernames_are_refused(raw):
    assert set(errors(StaffCreate, {"username": raw, "name": "王芳", "role": "admin"})) == {"username"}


def test_staff_fields_have_bounds_and_unknown_fields_are_refused():
    base = {"username": "wang.fang", "name": "王芳", "role": "doctor"}
    assert set(errors(StaffCreate, {**base, "licence_number": "123"})) == {"licence_number"}
    assert set(errors(StaffCreate, {**base, "phone": "12345"})) == {"phone"}
    assert set(errors(StaffCreate, {**base, "name": "王\x07芳"})) == {"name"}
    assert set(errors(StaffCreate, {**base, "status": "active"})) == {"status"}
    assert staff(role="doctor", phone="+86 139 1234 5678").phone == "13912345678"


# passwords checked against the account's own data ------------------------------------------------------------------
def test_a_valid_signup_passes_with_the_phone_normalised():
    signup = PatientSignup.model_validate({**SIGNUP, "phone": "+86 138-1234-5678"})
    assert signup.phone == "13812345678" and signup.password == "correct horse battery"


def test_a_signup_password_containing_the_phone_is_refused_even_when_the_phone_was_typed_with_a_prefix():
    found = errors(PatientSignup, {**SIGNUP, "phone": "+86 138 1234 5678", "password": "me13812345678!"})
    assert found == {"password": "Value error, must not contain your phone number or username"}


def test_a_signup_password_is_checked_even_when_the_phone_is_bad():
    assert set(errors(PatientSignup, {**SIGNUP, "phone": "12345", "password": "password"})) == {"phone", "password"}
    assert set(errors(PatientSignup, {**SIGNUP, "phone": "12345"})) == {"phone"}


@pytest.mark.parametrize(("password", "message"), [("short", "at least 8"), ("password123", "too common"),
                                                   ("x" * 129, "at most 128")])
def test_signup_passwords_follow_the_password_rules(password, message):
    assert message in errors(PatientSignup, {**SIGNUP, "password": password})["password"]


def test_signup_needs_a_six_digit_code_and_both_consents():
    assert set(errors(PatientSignup, {**SIGNUP, "code": "12345"})) == {"code"}
    assert set(errors(PatientSignup, {**SIGNUP, "code": "12345a"})) == {"code"}
    assert set(errors(PatientSignup, {**SIGNUP, "consent": {"privacy_notice": "2026-11-01"}})) == {
        "consent.sensitive_health_data"}


def test_a_password_reset_checks_the_new_password_against_the_phone():
    ok = PasswordReset.model_validate({"phone": "13812345678", "code": "123456", "new_password": "new horse pw"})
    assert ok.new_password == "new horse pw"
    found = errors(PasswordReset, {"phone": "13812345678", "code": "123456", "new_password": "x13812345678"})
    assert set(found) == {"new_password"}


def test_an_activation_password_must_not_contain_the_username():
    ok = Activation.model_validate({"username": "wang.fang", "activation_code": "abcdefgh",
                                    "password": "correct horse battery"})
    assert ok.username == "wang.fang"
    found = errors(Activation, {"username": "wang.fang", "activation_code": "abcdefgh", "password": "WANG.FANG.2026"})
    assert "username" in found["password"]


def test_a_code_is_for_registering_or_resetting_only():
    assert OtpRequest.model_validate({"phone": "13812345678", "purpose": "register"}).purpose == "register"
    assert set(errors(OtpRequest, {"phone": "13812345678", "purpose": "login"})) == {"purpose"}
