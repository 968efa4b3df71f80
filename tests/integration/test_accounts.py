"""Accounts through the gateway: sign-up by SMS code, sign-in, sessions, staff with TOTP, abuse limits, consent."""
from __future__ import annotations

import time

import pytest

from deploy.client import CONSENT, activate_staff, code_for, sign_in_staff, totp_code
from services.identity.settings import IdentitySettings
from tests.integration.conftest import new_phone, wait_until

pytestmark = pytest.mark.integration


def identity_settings(stack) -> IdentitySettings:
    """identity's settings as the stack started it (codes, lockout)."""
    return IdentitySettings.from_env(stack.env)


def test_sign_up_confirms_the_phone_records_consent_and_signs_in(stack):
    session = stack.sign_up()
    me = session.as_user.get("/v1/me")
    assert me["role"] == "patient" and me["status"] == "active" and me["patients"] == []
    assert {(c["document"], c["version"]) for c in me["consents"]} == {
        ("privacy_notice", CONSENT["privacy_notice"]), ("sensitive_health_data", CONSENT["sensitive_health_data"])}
    account = stack.db("identity")["accounts"].find_one({"_id": session.account_id})
    # Argon2id with at least OWASP's minimum parameters (19 MiB, 2 passes, 1 lane)
    assert account["password"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_wrong_or_reused_code_is_refused_on_the_code_field(stack):
    api, phone = stack.api(), new_phone()
    code = code_for(phone, stack.inbox, api, "register")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    body = {"phone": phone, "password": "moss-garden-31", "consent": CONSENT}
    resp = api.send("POST", "/v1/auth/signup", {**body, "code": wrong})
    assert resp.status == 422 and [e["field"] for e in resp.body["errors"]] == ["code"]
    assert api.send("POST", "/v1/auth/signup", {**body, "code": code}).status == 201
    again = stack.api().send("POST", "/v1/auth/signup", {**body, "code": code})
    assert again.status == 422  # used


def test_stale_consent_versions_are_named(stack):
    api, phone = stack.api(), new_phone()
    code = code_for(phone, stack.inbox, api, "register")
    resp = api.send("POST", "/v1/auth/signup", {"phone": phone, "code": code, "password": "moss-garden-31",
                                               "consent": {"privacy_notice": "2020-01-01",
                                                           "sensitive_health_data": CONSENT["sensitive_health_data"]}})
    assert resp.status == 422 and [e["field"] for e in resp.body["errors"]] == ["consent.privacy_notice"]
    notice = api.get("/v1/privacy-notice")
    assert {d["document"] for d in notice["documents"]} == {"privacy_notice", "sensitive_health_data"}


def test_code_requests_do_not_reveal_whether_a_number_has_an_account(stack):
    existing = stack.sign_up()
    phone = existing.extra["phone"]
    unknown = new_phone()
    time.sleep(identity_settings(stack).otp_resend_seconds)  # the sign-up's code was the last one for that number
    answers = [stack.api().send("POST", "/v1/auth/otp", {"phone": p, "purpose": purpose})
               for p, purpose in ((phone, "register"), (unknown, "reset_password"))]
    assert [a.status for a in answers] == [202, 202]
    assert answers[0].body == answers[1].body
    # the account's owner learns it from their own phone instead of a code; the unknown number gets nothing
    wait_until(lambda: any("已注册" in m["text"] for m in stack.inbox.messages(phone)), what="the notice SMS")
    assert stack.inbox.messages(unknown) == []


def test_codes_are_rate_limited_per_number(stack):
    phone = new_phone()
    assert stack.api().send("POST", "/v1/auth/otp", {"phone": phone, "purpose": "register"}).status == 202
    second = stack.api().send("POST", "/v1/auth/otp", {"phone": phone, "purpose": "register"})
    assert second.status == 429
    assert 0 < int(second.headers["Retry-After"]) <= identity_settings(stack).otp_resend_seconds
    assert second.body["type"] == "urn:wenzhen:problem:too-many-requests"


def test_sign_in_failures_look_the_same_and_lock_the_login(stack):
    session = stack.sign_up()
    phone, password = session.extra["phone"], session.extra["password"]
    api = stack.api()
    wrong = api.send("POST", "/v1/auth/login", {"login": phone, "password": "not-the-password"})
    nobody = api.send("POST", "/v1/auth/login", {"login": new_phone(), "password": "not-the-password"})
    assert wrong.status == nobody.status == 401 and wrong.body["detail"] == nobody.body["detail"]
    for _ in range(identity_settings(stack).login_max_failures - 1):
        assert api.send("POST", "/v1/auth/login", {"login": phone, "password": "still-wrong-1"}).status == 401
    locked = api.send("POST", "/v1/auth/login", {"login": phone, "password": password})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 60  # even the right password, for now
    # an unknown login locks the same way: the lock does not reveal that an account exists
    ghost, ghost_api = new_phone(), stack.api()
    for _ in range(identity_settings(stack).login_max_failures):
        ghost_api.send("POST", "/v1/auth/login", {"login": ghost, "password": "whatever-1"})
    ghost_locked = ghost_api.send("POST", "/v1/auth/login", {"login": ghost, "password": "whatever-1"})
    assert ghost_locked.status == 429 and ghost_locked.body["detail"] == locked.body["detail"]


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(stack):
    session = stack.sign_up()
    first = dict(session.tokens)
    session.refresh()
    assert session.tokens["refresh_token"] != first["refresh_token"]
    assert session.as_user.get("/v1/me")["id"] == first["account_id"]
    stolen = stack.api().send("POST", "/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert stolen.status == 401
    # the reuse ended the session for the legitimate holder too, and its access token is refused at once
    assert stack.api().send("POST", "/v1/auth/refresh",
                            {"refresh_token": session.tokens["refresh_token"]}).status == 401
    wait_until(lambda: session.as_user.send("GET", "/v1/me").status == 401, timeout=10,
               what="the gateway to refuse the revoked session's access token")


def test_logout_ends_the_session_at_once(stack):
    session = stack.sign_up()
    me = session.as_user
    assert me.get("/v1/me")["id"] == session.account_id
    assert me.send("POST", "/v1/auth/logout").status == 204
    refused = wait_until(lambda: (r := me.send("GET", "/v1/me")).status == 401 and r, timeout=10,
                         what="the access token to be refused")
    assert "ended" in refused.body["detail"]
    assert stack.api().send("POST", "/v1/auth/refresh", {"refresh_token": session.tokens["refresh_token"]}
                            ).status == 401
    again = stack.api().post("/v1/auth/login", {"login": session.extra["phone"], "password": session.extra["password"]})
    assert again["account_id"] == session.account_id  # signing in again works


def test_a_password_reset_by_sms_code_ends_every_session(stack):
    session = stack.sign_up()
    phone = session.extra["phone"]
    code = code_for(phone, stack.inbox, stack.api(), "reset_password")
    api = stack.api()
    assert api.send("POST", "/v1/auth/password-reset", {"phone": phone, "code": code,
                                                        "new_password": "fresh-meadow-64"}).status == 204
    assert api.send("POST", "/v1/auth/refresh", {"refresh_token": session.tokens["refresh_token"]}).status == 401
    assert api.send("POST", "/v1/auth/login", {"login": phone, "password": session.extra["password"]}).status == 401
    assert api.post("/v1/auth/login", {"login": phone, "password": "fresh-meadow-64"})["role"] == "patient"


def test_staff_activate_enrol_totp_and_always_sign_in_with_it(stack):
    admin = stack.admin()
    created = admin.as_user.post("/v1/staff", {"username": "pharm.lin", "name": "林药师", "role": "pharmacist",
                                               "department": "pharmacy", "title": "主管药师",
                                               "licence_number": "PH20261124"})
    assert created["status"] == "pending_activation" and created["activation_code"]
    api = stack.api()
    bad = api.send("POST", "/v1/auth/activate", {"username": "pharm.lin", "activation_code": "not-the-code-000",
                                                 "password": "bright-mortar-5"})
    assert bad.status == 401
    session = activate_staff(api, "pharm.lin", created["activation_code"], "bright-mortar-5")
    me = session.as_user.get("/v1/me")
    assert me["role"] == "pharmacist" and me["staff"]["mfa_enrolled"] and me["staff"]["status"] == "active"
    # the password alone is not enough: a challenge, and the challenge wants the current code
    challenge = api.post("/v1/auth/login", {"login": "pharm.lin", "password": "bright-mortar-5"})
    assert challenge["mfa_required"] and challenge.get("enrolment") is None
    code, step = totp_code(session.extra["totp_secret"], not_step=session.extra["last_step"])
    assert api.send("POST", "/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": "000000" if code !=
                                             "000000" else "111111"}).status == 401
    tokens = api.post("/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": code})
    assert tokens["role"] == "pharmacist"
    # the same code cannot be used twice (replay), even with a new challenge
    replay = api.post("/v1/auth/login", {"login": "pharm.lin", "password": "bright-mortar-5"})
    assert api.send("POST", "/v1/auth/mfa", {"mfa_token": replay["mfa_token"], "code": code}).status == 401
    # an activation code works once
    assert api.send("POST", "/v1/auth/activate", {"username": "pharm.lin", "activation_code":
                                                  created["activation_code"], "password": "bright-mortar-5"}
                    ).status == 401


def test_an_admin_disabling_a_staff_account_ends_its_sessions(stack):
    consultant = stack.staff("consultant")
    assert consultant.as_user.get("/v1/me")["role"] == "consultant"
    changed = stack.admin().as_user.call("PATCH", f"/v1/staff/{consultant.account_id}", {"status": "disabled"})
    assert changed["status"] == "disabled"
    wait_until(lambda: consultant.as_user.send("GET", "/v1/me").status == 401, timeout=10,
               what="the disabled account's token to be refused")
    extra = consultant.extra
    refused = stack.api().send("POST", "/v1/auth/login", {"login": extra["username"], "password": extra["password"]})
    assert refused.status == 401 and "disabled" in refused.body["detail"]


def test_a_staff_account_missing_what_its_role_needs_is_named(stack):
    resp = stack.admin().as_user.send("POST", "/v1/staff", {"username": "dr.who", "name": "某医生", "role": "doctor"})
    assert resp.status == 422
    assert {e["field"] for e in resp.body["errors"]} == {"licence_number", "title", "department"}
    taken = stack.admin().as_user.send("POST", "/v1/staff", {"username": "admin", "name": "重复", "role": "admin"})
    assert taken.status == 409 and [e["field"] for e in taken.body["errors"]] == ["username"]


def test_a_manager_may_be_hospital_wide_but_a_consultant_needs_a_department(stack):
    admin = stack.admin().as_user
    manager = admin.send("POST", "/v1/staff", {"username": "mgr.wide", "name": "院级经理", "role": "manager"})
    assert manager.status == 201 and manager.body["department"] is None
    refused = admin.send("POST", "/v1/staff", {"username": "cons.nodept", "name": "某咨询", "role": "consultant"})
    assert refused.status == 422 and [e["field"] for e in refused.body["errors"]] == ["department"]
    # a new role must find what it needs: the hospital-wide manager made a consultant names a department
    path = f"/v1/staff/{manager.body['id']}"
    changed = admin.send("PATCH", path, {"role": "consultant"})
    assert changed.status == 422 and [e["field"] for e in changed.body["errors"]] == ["department"]
    assert admin.get(path)["role"] == "manager"  # rolled back
    assert admin.call("PATCH", path, {"role": "consultant", "department": "urology"})["department"] == "urology"
    described = stack.http.get(f"{stack.url}/openapi.json").json()["components"]["schemas"]["StaffCreate"]
    assert "managers, finance staff and admins may leave it out" in described["properties"]["department"]["description"]


def test_the_first_admin_can_be_bootstrapped_only_once(stack):
    from deploy.admin import bootstrap
    from wenzhen.rpc_client import RemoteError

    stack.admin()
    with pytest.raises(RemoteError) as refused:
        bootstrap(stack.cfg.amqp_uri, "second.admin", "第二管理员")
    assert refused.value.exc_type == "Conflict"


def test_withdrawing_consent_is_recorded_and_published(stack):
    session = stack.sign_up()
    assert session.as_user.send("DELETE", "/v1/me/consents/sensitive_health_data").status == 204
    consents = {c["document"]: c for c in session.as_user.get("/v1/me")["consents"]}
    assert consents["sensitive_health_data"]["withdrawn_at"] and not consents["privacy_notice"]["withdrawn_at"]
    assert session.as_user.send("DELETE", "/v1/me/consents/sensitive_health_data").status == 404
    wait_until(lambda: stack.db("reports")["event_log"].find_one({"type": "consent_withdrawn",
                                                                  "subject": session.account_id}),
               what="the consent_withdrawn event")


def test_staff_sign_in_again_needs_a_fresh_code(stack):
    doctor = stack.staff("doctor")
    extra = doctor.extra
    again = sign_in_staff(stack.api(), extra["username"], extra["password"], extra["totp_secret"], extra["last_step"])
    assert again.tokens["role"] == "doctor" and again.extra["last_step"] > extra["last_step"]


def test_a_known_staff_password_does_not_allow_guessing_totp_codes(stack):
    doctor = stack.staff("doctor")
    extra, api = doctor.extra, stack.api()
    code, _ = totp_code(extra["totp_secret"])
    wrong = f"{(int(code) + 500_000) % 10**6:06d}"
    for _ in range(identity_settings(stack).login_max_failures):
        challenge = api.post("/v1/auth/login", {"login": extra["username"], "password": extra["password"]})
        assert api.send("POST", "/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": wrong}).status == 401
    locked = api.send("POST", "/v1/auth/login", {"login": extra["username"], "password": extra["password"]})
    assert locked.status == 429


def test_an_account_disabled_between_password_and_code_gets_no_session(stack):
    consultant = stack.staff("consultant")
    extra, api = consultant.extra, stack.api()
    challenge = api.post("/v1/auth/login", {"login": extra["username"], "password": extra["password"]})
    stack.admin().as_user.call("PATCH", f"/v1/staff/{consultant.account_id}", {"status": "disabled"})
    code, _ = totp_code(extra["totp_secret"], not_step=extra["last_step"])
    resp = api.send("POST", "/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": code})
    assert resp.status == 401 and "disabled" in resp.body["detail"]
