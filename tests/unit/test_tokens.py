"""Access tokens: EdDSA JWTs that identity issues and the gateway verifies, and the usual attacks on JWTs."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wenzhen.auth import Principal, Role
from wenzhen.crypto import KeyringError
from wenzhen.tokens import AUDIENCE, ISSUER, LEEWAY_SECONDS, InvalidToken, Signer, Verifier, new_signing_settings

SETTINGS = new_signing_settings("t1")
SIGNER = Signer.from_env(SETTINGS)
VERIFIER = Verifier.from_env(SETTINGS)
PRIVATE = SIGNER.private_keys["t1"]
RAW_PUBLIC = base64.b64decode(SETTINGS["WENZHEN_JWT_PUBLIC_KEYS"].partition(":")[2])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unpart(value: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "acc_1", "role": "patient", "sid": "ses_1", "iat": now,
            "nbf": now, "exp": now + 300, "jti": "j1", "pat": ["pat_1"]}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(payload: dict, key=PRIVATE, algorithm: str = "EdDSA", kid: str = "t1") -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def issued(**kwargs) -> str:
    args = {"sub": "acc_1", "role": Role.patient, "sid": "ses_1", "now": datetime.now(UTC),
            "ttl": timedelta(minutes=10)}
    return SIGNER.issue(**{**args, **kwargs})


def refused(token: str, reason: str = "") -> str:
    with pytest.raises(InvalidToken) as info:
        VERIFIER.verify(token)
    assert reason in str(info.value)
    return str(info.value)


# what is accepted --------------------------------------------------------------------------------------------------
def test_a_token_the_signer_issues_verifies_with_its_claims():
    now = datetime.now(UTC)
    token = issued(now=now, patients=("pat_1", "pat_2"), department=None, amr=("pwd", "sms"))
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": "t1", "typ": "at+jwt"}
    verified = VERIFIER.verify(token)
    assert verified["iss"] == ISSUER and verified["aud"] == AUDIENCE and verified["sub"] == "acc_1"
    assert verified["role"] == "patient" and verified["sid"] == "ses_1" and verified["pat"] == ["pat_1", "pat_2"]
    assert verified["exp"] - verified["iat"] == 600 and verified["amr"] == ["pwd", "sms"]
    assert "dept" not in verified and len(verified["jti"]) == 32
    assert VERIFIER.verify(issued())["jti"] != verified["jti"]


def test_a_token_expired_within_the_leeway_is_still_accepted():
    past = datetime.now(UTC) - timedelta(minutes=10, seconds=LEEWAY_SECONDS - 10)
    assert VERIFIER.verify(issued(now=past))["sub"] == "acc_1"


def test_the_principal_is_built_from_the_claims():
    token = issued(sub="acc_doc", role=Role.doctor, sid="ses_9", department="urology")
    assert VERIFIER.principal(token) == Principal(kind="user", sub="acc_doc", role=Role.doctor, sid="ses_9",
                                                  patients=(), department="urology")
    patient = VERIFIER.principal(issued(patients=("pat_1", "pat_2")))
    assert patient.patients == ("pat_1", "pat_2") and patient.acts_for("pat_2") and not patient.acts_for("pat_3")


def test_a_signed_token_with_an_unknown_role_gives_no_principal():
    with pytest.raises(InvalidToken, match="role"):
        VERIFIER.principal(signed(claims(role="superuser")))


def test_jwks_publishes_the_public_key_as_an_okp_key():
    (key,) = VERIFIER.jwks()["keys"]
    assert key == {"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "t1", "x": key["x"]}
    assert base64.urlsafe_b64decode(key["x"] + "=") == RAW_PUBLIC and "=" not in key["x"]
    public = jwt.PyJWK(key).key  # a standard JWK client can use it
    assert jwt.decode(issued(), public, algorithms=["EdDSA"], audience=AUDIENCE)["sub"] == "acc_1"


def test_keys_rotate_by_kid():
    new = new_signing_settings("t2")
    both = Verifier.from_env({"WENZHEN_JWT_PUBLIC_KEYS": f"{SETTINGS['WENZHEN_JWT_PUBLIC_KEYS']},"
                                                         f"{new['WENZHEN_JWT_PUBLIC_KEYS']}"})
    old_token = issued()
    new_token = Signer.from_env(new).issue(sub="acc_2", role=Role.doctor, sid="s", now=datetime.now(UTC),
                                           ttl=timedelta(minutes=1))
    assert both.verify(old_token)["sub"] == "acc_1" and both.verify(new_token)["sub"] == "acc_2"
    assert [k["kid"] for k in both.jwks()["keys"]] == ["t1", "t2"]
    with pytest.raises(InvalidToken, match="unknown signing key"):
        VERIFIER.verify(new_token)


@pytest.mark.parametrize(("env", "message"), [
    ({}, "not set"),
    ({"WENZHEN_JWT_KEYS": "t1:not base64!"}, "not base64"),
    ({"WENZHEN_JWT_KEYS": f"t1:{base64.b64encode(b'short').decode()}"}, "32 bytes"),
    ({"WENZHEN_JWT_KEYS": f":{base64.b64encode(bytes(32)).decode()}"}, "32 bytes"),
    ({"WENZHEN_JWT_KEYS": SETTINGS["WENZHEN_JWT_KEYS"], "WENZHEN_JWT_KEY_ID": "t9"}, "t9"),
])
def test_bad_signing_key_settings_are_refused(env, message):
    with pytest.raises(KeyringError, match=message):
        Signer.from_env(env)


def test_the_verifier_needs_public_keys_and_holds_no_private_one():
    with pytest.raises(KeyringError, match="not set"):
        Verifier.from_env({"WENZHEN_JWT_KEYS": SETTINGS["WENZHEN_JWT_KEYS"]})
    assert "WENZHEN_JWT_KEYS" not in str(VERIFIER.jwks())
    assert set(VERIFIER.jwks()["keys"][0]) == {"kty", "crv", "use", "alg", "kid", "x"}  # no "d"


# what is refused ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "...", "eyJ.eyJ.sig"])
def test_malformed_tokens_are_refused(token):
    refused(token)


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "none", "kid": "t1"}, {"alg": "None", "kid": "t1"},
                                    {"alg": "NONE", "typ": "JWT", "kid": "t1"}])
def test_an_unsigned_alg_none_token_is_refused(header):
    token = f"{part(header)}.{part(claims())}."
    assert refused(token) == "token algorithm not accepted"


def test_hs256_signed_with_the_raw_public_key_is_refused():
    """Key confusion: a verifier that let the token pick HMAC would use the public key as the secret."""
    token = signed(claims(role="admin"), key=RAW_PUBLIC, algorithm="HS256")
    assert jwt.decode(token, RAW_PUBLIC, algorithms=["HS256"], audience=AUDIENCE)["role"] == "admin"  # well formed
    assert refused(token) == "token algorithm not accepted"


@pytest.mark.parametrize("secret", [
    RAW_PUBLIC,
    PRIVATE.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    PRIVATE.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    b64url(RAW_PUBLIC).encode(),
], ids=["raw", "pem", "openssh", "base64url"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "EdDSA"])
def test_hmac_signatures_made_by_hand_with_the_public_key_are_refused(secret, alg):
    """PyJWT will not HMAC with a PEM key, an attacker's tool will: build the signature by hand, whatever alg the
    header claims (an EdDSA header over an HMAC signature must fail on the signature)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512, "EdDSA": hashlib.sha256}
    signing_input = f"{part({'alg': alg, 'typ': 'JWT', 'kid': 't1'})}.{part(claims(role='admin'))}"
    signature = b64url(hmac.new(secret, signing_input.encode(), digest[alg]).digest())
    refused(f"{signing_input}.{signature}")


def test_rs256_with_a_fresh_rsa_key_is_refused():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = signed(claims(), key=rsa_key, algorithm="RS256")
    assert refused(token) == "token algorithm not accepted"


@pytest.mark.parametrize("algorithm", ["ES256", "PS256"])
def test_other_asymmetric_algorithms_are_refused(algorithm):
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else rsa.generate_private_key(65537, 2048)
    assert refused(signed(claims(), key=key, algorithm=algorithm)) == "token algorithm not accepted"


def test_a_token_expired_beyond_the_leeway_is_refused():
    now = int(time.time())
    refused(signed(claims(iat=now - 700, nbf=now - 700, exp=now - LEEWAY_SECONDS - 5)), "expired")
    past = datetime.now(UTC) - timedelta(minutes=10, seconds=LEEWAY_SECONDS + 5)
    refused(issued(now=past), "expired")


def test_a_token_not_yet_valid_is_refused():
    now = int(time.time())
    refused(signed(claims(nbf=now + 600, iat=now + 600, exp=now + 900)))


@pytest.mark.parametrize("audience", ["urn:wenzhen:other", ["urn:wenzhen:other"], "urn:wenzhen:api "])
def test_a_token_for_another_audience_is_refused(audience):
    refused(signed(claims(aud=audience)), "not meant for this API")


@pytest.mark.parametrize("issuer", ["urn:evil", "urn:wenzhen:identity2", ""])
def test_a_token_from_another_issuer_is_refused(issuer):
    refused(signed(claims(iss=issuer)), "issuer")


def test_a_tampered_payload_is_refused():
    header, payload, signature = issued().split(".")
    changed = {**unpart(payload), "role": "admin"}
    refused(f"{header}.{part(changed)}.{signature}", "signature")
    more = {**unpart(payload), "pat": ["pat_1", "pat_someone_else"]}
    refused(f"{header}.{part(more)}.{signature}", "signature")


def test_a_tampered_header_is_refused():
    header, payload, signature = issued().split(".")
    refused(f"{part({**unpart(header), 'typ': 'JWT'})}.{payload}.{signature}", "signature")


def test_a_token_with_an_unknown_kid_is_refused():
    refused(signed(claims(), kid="t9"), "unknown signing key")
    no_kid = jwt.encode(claims(), PRIVATE, algorithm="EdDSA")
    refused(no_kid, "unknown signing key")


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "exp", "iat", "jti", "role", "sid"])
def test_a_token_missing_a_required_claim_is_refused(missing):
    refused(signed(claims(**{missing: None})), missing)


def test_a_token_signed_by_another_ed25519_key_with_the_same_kid_is_refused():
    impostor = Signer.from_env(new_signing_settings("t1"))
    token = impostor.issue(sub="acc_1", role=Role.admin, sid="ses_x", now=datetime.now(UTC), ttl=timedelta(minutes=5))
    assert jwt.get_unverified_header(token)["kid"] == "t1"
    refused(token, "signature")
