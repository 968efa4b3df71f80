"""Signing up, signing in and out, the signed-in account and its consents."""
from __future__ import annotations

import time

from contracts.identity.schemas import (
    Account,
    Activation,
    Login,
    MfaChallenge,
    MfaVerify,
    OtpAccepted,
    OtpRequest,
    PasswordReset,
    PatientSignup,
    PrivacyNotice,
    RefreshRequest,
    Tokens,
)
from contracts.intake.patients import LinkedPatient
from gateway.api import Call, Reply
from gateway.app_api import api
from gateway.auth import PUBLIC, verifier
from gateway.revocations import revocations
from wenzhen.auth import Role

ANYONE_SIGNED_IN = frozenset(Role)
TAGS = ["accounts"]


@api.route("GET", "/v1/privacy-notice", summary="The privacy notice and the health-data consent", tags=TAGS,
           allow=PUBLIC, response=PrivacyNotice)
def privacy_notice(call: Call) -> dict:
    """Shown before sign-up; `POST /v1/auth/signup` must accept the current version of both documents."""
    return call.rpc("identity", "privacy_notice")


@api.route("POST", "/v1/auth/otp", summary="Send a one-time code by SMS", tags=TAGS, allow=PUBLIC,
           request=OtpRequest, response=OtpAccepted, status=202,
           errors={429: "Too many codes for this number or from this origin; `Retry-After` says when to retry."})
def request_otp(call: Call) -> Reply:
    """The answer is the same whether or not the number has an account. For sign-up, a number that has an account
    receives a notice instead of a code."""
    return Reply(call.rpc("identity", "request_otp", call.body.model_dump(mode="json")), 202)


@api.route("POST", "/v1/auth/signup", summary="Create a patient account", tags=TAGS, allow=PUBLIC,
           request=PatientSignup, response=Tokens, status=201,
           errors={409: "The number has an account already.", 422: "A field is invalid (a wrong or expired code "
                                                                    "is reported on `code`).",
                   429: "Too many sign-ups from this origin."})
def signup(call: Call) -> Reply:
    """Confirms the phone with the code from `POST /v1/auth/otp`, records both consents and signs the account in.
    Then register the patient record with `POST /v1/patients` (`relationship: self`)."""
    return Reply(call.rpc("identity", "signup", call.body.model_dump(mode="json")), 201)


@api.route("POST", "/v1/auth/login", summary="Sign in", tags=TAGS, allow=PUBLIC, request=Login,
           response=Tokens | MfaChallenge,
           errors={401: "The login or password is wrong (the same answer for an unknown login).",
                   429: "Locked after repeated failures, or too many attempts from this origin."})
def login(call: Call) -> dict:
    """Patients receive tokens. Staff receive an MFA challenge: continue at `POST /v1/auth/mfa` with a code from
    their authenticator app."""
    return call.rpc("identity", "login", call.body.model_dump(mode="json"))


@api.route("POST", "/v1/auth/mfa", summary="Complete a staff sign-in with a TOTP code", tags=TAGS, allow=PUBLIC,
           request=MfaVerify, response=Tokens,
           errors={401: "The code is wrong, was used already, or the challenge expired.",
                   429: "Locked after repeated failures."})
def verify_mfa(call: Call) -> dict:
    return call.rpc("identity", "verify_mfa", call.body.model_dump(mode="json"))


@api.route("POST", "/v1/auth/refresh", summary="New tokens for a session", tags=TAGS, allow=PUBLIC,
           request=RefreshRequest, response=Tokens, errors={401: "The session has ended."})
def refresh(call: Call) -> dict:
    """Returns a new refresh token too: keep only the newest. Presenting a replaced one ends the session."""
    return call.rpc("identity", "refresh", call.body.model_dump(mode="json"))


@api.route("POST", "/v1/auth/logout", summary="End this session", tags=TAGS, allow=ANYONE_SIGNED_IN, status=204)
def logout(call: Call) -> Reply:
    """The refresh token stops working and the access token is refused from now on."""
    call.rpc("identity", "logout")
    return Reply(None, 204)


@api.route("POST", "/v1/auth/password-reset", summary="Set a new password with an SMS code", tags=TAGS,
           allow=PUBLIC, request=PasswordReset, status=204,
           errors={422: "A field is invalid (a wrong or expired code is reported on `code`)."})
def reset_password(call: Call) -> Reply:
    """For patients (ask for the code with `purpose: reset_password`). Every session of the account ends."""
    call.rpc("identity", "reset_password", call.body.model_dump(mode="json"))
    return Reply(None, 204)


@api.route("POST", "/v1/auth/activate", summary="Activate a staff account", tags=TAGS, allow=PUBLIC,
           request=Activation, response=MfaChallenge,
           errors={401: "The username or activation code is wrong or expired."})
def activate(call: Call) -> dict:
    """Sets the password with the admin's activation code and starts the TOTP enrolment: add the secret to an
    authenticator app, then send its first code to `POST /v1/auth/mfa`."""
    return call.rpc("identity", "activate", call.body.model_dump(mode="json"))


@api.route("GET", "/.well-known/jwks.json", summary="Public keys that verify access tokens", tags=TAGS,
           allow=PUBLIC)
def jwks(call: Call) -> dict:
    return verifier().jwks()


@api.route("GET", "/v1/me", summary="The signed-in account", tags=TAGS, allow=ANYONE_SIGNED_IN, response=Account)
def me(call: Call) -> dict:
    return call.rpc("identity", "me")


@api.route("DELETE", "/v1/me/consents/{document}", summary="Withdraw a consent", tags=TAGS,
           allow={Role.patient}, status=204, errors={404: "No standing consent to that document."})
def withdraw_consent(call: Call, document: str) -> Reply:
    """`document`: `privacy_notice` or `sensitive_health_data`. The withdrawal is recorded and published."""
    call.rpc("identity", "withdraw_consent", document)
    return Reply(None, 204)


@api.route("GET", "/v1/me/patients", summary="Patient records this account acts for", tags=TAGS,
           allow={Role.patient}, response=list[LinkedPatient])
def linked_patients(call: Call) -> list:
    return call.rpc("intake", "linked_patients")


@api.route("DELETE", "/v1/me/patients/{patient_id}", summary="Stop acting for a relative's record", tags=TAGS,
           allow={Role.patient}, status=204, errors={404: "No such link (your own record cannot be unlinked)."})
def unlink_patient(call: Call, patient_id: str) -> Reply:
    """At once, everywhere: an access token issued before no longer acts for the record in any service (the gateway
    takes it out of the caller it passes on: this worker now, the others when intake's event reaches them)."""
    call.rpc("intake", "remove_link", patient_id)
    revocations().unlink(call.principal.sub, patient_id, time.time())
    return Reply(None, 204)
